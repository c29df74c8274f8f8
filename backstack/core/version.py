"""The package's version, in the kernel so that any layer may name it (`backstack.__version__` is this)."""

__version__ = "0.1.0"
