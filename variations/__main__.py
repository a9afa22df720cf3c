"""`python -m variations` runs the CLI."""

from .cli import entry

# Guarded: a spawned worker process imports this module again.
if __name__ == "__main__":
    entry()
