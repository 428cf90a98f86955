"""Reconciliation benchmark: reconcile the ``quarter-end`` firm after its drain (issue #17).

Drains the quarter-end backlog (77,268 approved entries, ``bench/_quarter_end.py``) with the
PSA holding the approved time too, then times ``accord reconcile`` over the whole firm on the
embedded default (SQLite, one process) with the emulators at their default latency; records
the result in ``bench/RESULTS.md``. See ``bench/_reconcile.py`` for the steps. Target: 60 s.

    .venv/bin/python bench/reconcile.py [--keep DIR] [--reuse DIR [--trim]] [--no-record]

``--keep DIR`` keeps the drained firm (the sandbox's state and Accord's database) in DIR;
``--reuse DIR`` reconciles a firm kept earlier without draining again; ``--trim`` with it, for a
drain that was interrupted (Ctrl-C stops Accord and saves the sandbox), first removes from
Kantata the approved entries Accord never took in, so that a consistent, smaller firm is
reconciled.
"""

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

from cryptography.fernet import Fernet


def _credentials_key(folder: Path) -> None:
    """One credentials key per kept folder, set before the benchmark plumbing is imported:
    the Kantata token stored in a reused database must stay readable."""
    path = folder / "credentials.key"
    if not path.exists():
        path.write_text(Fernet.generate_key().decode(), encoding="ascii")
    os.environ["ACCORD_CREDENTIALS_KEY"] = path.read_text(encoding="ascii").strip()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keep", type=Path, default=None, help="keep the drained firm here")
    parser.add_argument("--reuse", type=Path, default=None, help="reconcile a kept firm")
    parser.add_argument("--entries", type=int, default=None, help="drain about N entries only")
    parser.add_argument(
        "--trim",
        action="store_true",
        help="with --reuse, after a drain stopped early: drop the PSA's unposted entries first",
    )
    parser.add_argument("--no-record", action="store_true", help="do not write RESULTS.md")
    args = parser.parse_args()
    folder = args.reuse or args.keep or Path(tempfile.mkdtemp(prefix="accord-recon-"))
    folder.mkdir(parents=True, exist_ok=True)
    _credentials_key(folder)
    from _common import machine, write_section
    from _reconcile import describe, drain, reconcile

    drained = None if args.reuse else drain(folder, limit=args.entries)
    result = reconcile(folder, trim=args.trim and args.reuse is not None)
    table = describe(drained, result)
    print(table)
    if result["run"]["drift"]:
        print(json.dumps(result["run"]["drift"][:20], indent=1, default=str))
    if args.no_record:
        return
    command = "python bench/reconcile.py" + (f" --entries {args.entries}" if args.entries else "")
    write_section(
        "reconciliation",
        f"""## Reconciliation of the quarter-end firm (`bench/reconcile.py`, issue #17)

Machine: {machine()}. Command: `{command}`, {time.strftime("%Y-%m-%d")}. The quarter-end
drain of `bench/quarter_end.py`, with the approved time also held by the PSA (Kantata), then
`accord reconcile --json` over the whole firm on the embedded default (SQLite, one process, no
worker running) against the sandbox at its default latency (no injected delay; NetSuite's
account limit of 10 concurrent requests).

| metric | value |
|---|---|
{table}
""",
    )


if __name__ == "__main__":
    main()
