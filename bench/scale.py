"""Scale-out benchmark: the quarter-end drain on PostgreSQL with one and with two workers.

One ``accord run --role api`` process takes the events; one, then two ``--role worker``
processes (each its own ``ACCORD_WORKER_ID``) drain them into the same rate-limited NetSuite
as ``bench/quarter_end.py``. Each run gets a fresh database. Needs a PostgreSQL server:
``bash scripts/pg.sh .venv/bin/python bench/scale.py`` starts a throw-away one and exports
``ACCORD_TEST_POSTGRES_URL``; or pass ``--database-url``.

    bash scripts/pg.sh .venv/bin/python bench/scale.py [--entries N] [--workers 1 2]
"""

import argparse
import os
import time
import uuid

import sqlalchemy as sa
from _common import machine, write_section
from _quarter_end import describe, drain


def _fresh_database(server_url: str) -> str:
    """Create an empty database on the server and return its URL."""
    name = f"accord_scale_{uuid.uuid4().hex[:8]}"
    url = sa.make_url(server_url)
    admin = sa.create_engine(url.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return url.set(database=name).render_as_string(hide_password=False)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", default=os.environ.get("ACCORD_TEST_POSTGRES_URL"))
    parser.add_argument("--entries", type=int, default=None, help="stop after N entries")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--no-record", action="store_true", help="do not write RESULTS.md")
    args = parser.parse_args()
    if not args.database_url:
        parser.error("no PostgreSQL: pass --database-url or run under scripts/pg.sh")
    tables = []
    for workers in args.workers:
        db_url = _fresh_database(args.database_url)
        result = drain(db_url=db_url, workers=workers, limit=args.entries)
        print(f"--- {workers} worker(s)\n{describe(result)}")
        tables.append(
            f"### {workers} worker process(es)\n\n| metric | value |\n|---|---|\n{describe(result)}\n"
        )
    if args.no_record:
        return
    command = "bash scripts/pg.sh .venv/bin/python bench/scale.py" + (
        f" --entries {args.entries}" if args.entries else ""
    )
    body = "\n".join(tables)
    write_section(
        "scale",
        f"""## Scale-out on PostgreSQL (`bench/scale.py`, issue #9)

Machine: {machine()}. Command: `{command}`, {time.strftime("%Y-%m-%d")}. One API process and
N worker processes on one PostgreSQL (Debian's, a throw-away cluster on loopback); the same
quarter-end drain and NetSuite limit as `bench/quarter_end.py`.

{body}
""",
    )


if __name__ == "__main__":
    main()
