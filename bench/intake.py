"""Intake benchmark: sustained accepted events/s and time to the 202 at concurrency 8 and 32.

Starts ``accord run`` on a fresh SQLite file (the embedded default, workers included), then
drives ``POST /api/v1/events`` (structured mode, unique events) from a separate process with a
small raw-socket HTTP/1.1 client, so the load generator costs little CPU next to the server.

    .venv/bin/python bench/intake.py [--seconds 20] [--concurrency 8 32]
"""

import argparse
import asyncio
import json
import multiprocessing as mp
import tempfile
import time
import uuid
from pathlib import Path

from _common import (
    cpu_seconds,
    create_key,
    machine,
    peak_rss_mib,
    percentile,
    start_accord,
    write_section,
)

PORT = 18765
API_PROCS = [1]
"""How many API processes listen (on PORT, PORT+1, ...); set by main, read by the workers."""


def _body(i: int, run: str) -> bytes:
    event = {
        "specversion": "1.0",
        "id": f"{run}-{i}",
        "source": "bench/crm",
        "type": "opportunity.updated",
        "time": "2026-11-27T10:00:00Z",
        "data": {
            "id": f"006{run[:6]}{i:09d}",
            "name": "Benchmark deal",
            "customer_id": f"001{i % 500:09d}",
            "stage": "closed_won",
            "won": True,
            "amount": {"amount": "120000.00", "currency": "USD"},
            "service_package": "ADVISORY-TM",
            "billing_model": "time_and_materials",
            "close_date": "2026-11-01",
            "practice": "TECH",
            "region": "NA-EAST",
            "legal_entity": "US01",
        },
    }
    return json.dumps(event).encode()


async def _conn_loop(
    key: str,
    run: str,
    start_index: int,
    step: int,
    stop_at: float,
    out: list[tuple[float, float, int]],
) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", PORT + start_index % API_PROCS[0])
    i = start_index
    head = (
        f"POST /api/v1/events HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {key}\r\n"
        "Content-Type: application/cloudevents+json\r\nContent-Length: "
    ).encode()
    while time.perf_counter() < stop_at:
        body = _body(i, run)
        t0 = time.perf_counter()
        writer.write(head + str(len(body)).encode() + b"\r\n\r\n" + body)
        status_line = await reader.readline()
        length = 0
        while True:
            line = await reader.readline()
            if line in (b"\r\n", b""):
                break
            if line.lower().startswith(b"content-length:"):
                length = int(line.split(b":")[1])
        await reader.readexactly(length)
        out.append((t0, time.perf_counter() - t0, int(status_line.split()[1])))
        i += step
    writer.close()


def _worker(
    key: str,
    run: str,
    offset: int,
    conns: int,
    total_conns: int,
    seconds: float,
    q: "mp.Queue[list]",
    api_procs: int,
) -> None:
    API_PROCS[0] = api_procs
    out: list[tuple[float, float, int]] = []

    async def main() -> None:
        stop_at = time.perf_counter() + seconds
        await asyncio.gather(
            *(_conn_loop(key, run, offset + c, total_conns, stop_at, out) for c in range(conns))
        )

    asyncio.run(main())
    q.put(out)


def run_level(key: str, concurrency: int, seconds: float, pids: list[int]) -> dict:
    run = uuid.uuid4().hex
    q: mp.Queue = mp.Queue()
    procs = 1 if concurrency <= 8 else 2
    per = concurrency // procs
    cpu0 = sum(cpu_seconds(pid) for pid in pids)
    workers = [
        mp.Process(
            target=_worker, args=(key, run, p * per, per, concurrency, seconds, q, API_PROCS[0])
        )
        for p in range(procs)
    ]
    for w in workers:
        w.start()
    results: list[tuple[float, float, int]] = []
    for _ in workers:
        results.extend(q.get())
    for w in workers:
        w.join()
    cpu1 = sum(cpu_seconds(pid) for pid in pids)
    ok = [r for r in results if r[2] == 202]
    lat = sorted(r[1] for r in ok)
    # Sustained rate over the steady middle of the run (the first second warms up).
    t_first = min(r[0] for r in results)
    steady = [r for r in ok if r[0] >= t_first + 1.0]
    span = (max(r[0] + r[1] for r in steady) - (t_first + 1.0)) if steady else 1.0
    return {
        "concurrency": concurrency,
        "accepted": len(ok),
        "errors": len(results) - len(ok),
        "rate": len(steady) / span,
        "p50": percentile(lat, 50) * 1000,
        "p95": percentile(lat, 95) * 1000,
        "p99": percentile(lat, 99) * 1000,
        "cpu_ms_per_event": (cpu1 - cpu0) / max(1, len(ok)) * 1000,
    }


LAYOUTS = {
    "embedded": "one `accord run` (API and workers in one process, the embedded default)",
    "split": "{n} `accord run --role api` processes (connections spread over them) and one "
    "`accord run --role worker`",
}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--concurrency", type=int, nargs="+", default=[8, 32])
    parser.add_argument("--layout", choices=sorted(LAYOUTS), default="embedded")
    parser.add_argument("--api-procs", type=int, default=2, help="API processes for --layout split")
    parser.add_argument("--no-record", action="store_true")
    args = parser.parse_args()
    n_api = args.api_procs if args.layout == "split" else 1
    API_PROCS[0] = n_api
    with tempfile.TemporaryDirectory() as tmp:
        db_url = f"sqlite:///{Path(tmp) / 'bench.db'}"
        key = create_key(db_url)
        procs = []
        try:
            if args.layout == "embedded":
                procs.append(start_accord(db_url, PORT, Path(tmp) / "accord.log"))
            else:
                for i in range(n_api):
                    procs.append(
                        start_accord(db_url, PORT + i, Path(tmp) / f"api{i}.log", "--role", "api")
                    )
                procs.append(
                    start_accord(
                        db_url,
                        PORT + n_api,
                        Path(tmp) / "worker.log",
                        "--role",
                        "worker",
                        wait=False,
                    )
                )
            pids = [p.pid for p in procs]
            rows = [run_level(key, c, args.seconds, pids) for c in args.concurrency]
            peak = sum(peak_rss_mib(pid) for pid in pids)
        finally:
            for p in procs:
                p.terminate()
            for p in procs:
                p.wait(timeout=30)
    layout = LAYOUTS[args.layout].format(n=n_api)
    lines = [
        f"### Layout `{args.layout}`",
        "",
        f"Machine: {machine()}.",
        f"Command: `.venv/bin/python bench/intake.py --layout {args.layout}"
        + (f" --api-procs {n_api}" if args.layout == "split" else "")
        + f" --seconds {args.seconds:g} --concurrency {' '.join(map(str, args.concurrency))}`",
        f"Setup: {layout} on a fresh SQLite file; unique structured-mode `opportunity.updated` events (each starts a `record_event` run); "
        "load from separate processes over keep-alive HTTP/1.1 on the same machine (it shares the "
        "2 cores).",
        "",
        "| concurrency | accepted | errors | sustained events/s | p50 ms | p95 ms | p99 ms | server CPU ms/event |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(
            f"| {r['concurrency']} | {r['accepted']} | {r['errors']} | {r['rate']:.0f} | {r['p50']:.1f} | {r['p95']:.1f} | {r['p99']:.1f} | {r['cpu_ms_per_event']:.2f} |"
        )
    lines += ["", f"Server peak RSS (sum over processes): {peak:.0f} MiB."]
    text = "\n".join(lines)
    print(text)
    if not args.no_record:
        write_section(f"intake-{args.layout}", text)


if __name__ == "__main__":
    main()
