"""The ``accord`` command line (typer)."""
