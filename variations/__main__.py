"""`python -m variations` runs the CLI."""

from .cli import main

main()
