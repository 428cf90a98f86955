"""``python -m accord.rules [PATH]``: write the rules JSON Schema (``rules/schema.json``)."""

import sys
from pathlib import Path

from accord.rules.loader import export_schema


def main(argv: list[str]) -> int:
    """Write the schema to ``argv[0]`` (or ``rules/schema.json``); returns the exit code."""
    target = Path(argv[0]) if argv else Path("rules/schema.json")
    export_schema(target)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
