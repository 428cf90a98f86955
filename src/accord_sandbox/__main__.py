"""``python -m accord_sandbox``: the same command as ``accord sandbox``, without the core CLI.

Only the CLI wrapper comes from :mod:`accord.cli.sandbox_cmd` (typer, rich, logging setup);
it imports nothing from the rest of the core.
"""

from accord.cli.sandbox_cmd import sandbox_app

if __name__ == "__main__":
    sandbox_app(prog_name="python -m accord_sandbox")
