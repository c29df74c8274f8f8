"""`python -m backstack` runs the CLI."""

from backstack.cli.main import main

main()
