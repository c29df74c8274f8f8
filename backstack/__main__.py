"""`python -m backstack` runs the CLI, exactly as the `backstack` console script does."""

from backstack.cli.main import main

if __name__ == "__main__":  # not when a spawned worker process re-imports the main module
    main()
