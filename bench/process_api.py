"""Process API benchmark: p50/p99 of each process API against the sandbox (default latency).

Starts the sandbox in this process (scenario ``firm``, no injected latency: the emulators'
default), writes its ``accord.yaml``, seeds a NetSuite customer and invoice (the emulator seeds
none) and links them in the xref, then starts ``accord run`` (API and workers) and calls each
process API one request at a time from one client:

- ``POST /api/v1/accounts/validate`` with a CRM account id (cold: first read of each account;
  warm: answered from the short-lived cache) and with a canonical customer;
- ``GET /api/v1/invoices/{id}`` by a PSA id joined through the xref (warm cache);
- ``GET /api/v1/customers/{id}/receivables`` by the CRM id;
- ``POST /api/v1/projects``: each open NetSuite-booked opportunity won in the CRM and
  provisioned synchronously through the lead-to-project flow (201), then the same request again
  (an ``Idempotency-Key`` replay).

Rate limits are off for the run (``ACCORD_API__RATE_LIMIT_PER_S=0``): one client sends far
more than the default per-key budget.

    .venv/bin/python bench/process_api.py [--requests 200] [--provision 10] [--no-record]
"""

import argparse
import datetime as dt
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
from _common import (
    authorize_kantata,
    create_key,
    machine,
    percentile,
    start_accord,
    win_opportunity,
    write_section,
)

from accord.connectors.config import load_connections
from accord.connectors.registry import create_connector
from accord.store import create_db_engine, migrate, xref
from accord_sandbox.accord_config import write_accord_config
from accord_sandbox.server import Sandbox

PORT = 18791
ADDRESS = {
    "items": [
        {
            "defaultBilling": True,
            "label": "HQ",
            "addressBookAddress": {
                "addr1": "1 Main St",
                "city": "Springfield",
                "zip": "12345",
                "country": "US",
            },
        }
    ]
}


def _seed(config: Path, db_url: str) -> dict[str, Any]:
    configs = load_connections(config, {})
    today = dt.datetime.now(dt.UTC).date()
    with create_connector(configs["netsuite"]) as ns:
        customer = ns.upsert(
            "customer",
            "bench-cust",
            {
                "companyName": "Bench Corp",
                "subsidiary": {"id": "2"},
                "addressBook": ADDRESS,
                "custentity_accord_tax_region": "US-EAST",
            },
        )
        invoice = ns.upsert(
            "invoice",
            "bench-inv-1",
            {
                "entity": {"id": customer.id},
                "tranDate": (today - dt.timedelta(days=40)).isoformat(),
                "dueDate": (today - dt.timedelta(days=10)).isoformat(),
                "subsidiary": {"id": "2"},
                "item": {"items": [{"item": {"id": "1"}, "quantity": 4, "rate": 250}]},
            },
        )
    with create_connector(configs["salesforce"]) as sf:
        accounts = sf.read_page("Account", limit=200).records
        opportunities = sf.read_page("Opportunity", limit=2000).records
    engine = create_db_engine(db_url)
    migrate(engine)
    with engine.begin() as conn:
        for etype, canonical, system, external in (
            ("Customer", "bench-cust", "netsuite", customer.id),
            ("Customer", "bench-cust", "salesforce", "001BENCHXXXXXXXAAA"),
            ("Invoice", "bench-inv-1", "netsuite", invoice.id),
            ("Invoice", "bench-inv-1", "kantata", "K-BENCH-1"),
        ):
            xref.link(
                conn,
                entity_type=etype,
                canonical_id=canonical,
                system=system,
                connection=system,
                external_id=external,
            )
    engine.dispose()
    open_opps = [
        o
        for o in opportunities
        if not o.get("IsClosed")
        and o.get("Legal_Entity__c") in ("US01", "UK01")
        and o.get("Billing_Model__c") != "Milestone"
    ]
    return {"accounts": accounts, "open": open_opps, "configs": configs}


def _time(call: Callable[[], httpx.Response], expect: int) -> float:
    started = time.perf_counter()
    resp = call()
    elapsed = (time.perf_counter() - started) * 1000
    if resp.status_code != expect:
        raise RuntimeError(f"expected {expect}, got {resp.status_code}: {resp.text[:300]}")
    return elapsed


def _row(name: str, samples: list[float]) -> str:
    s = sorted(samples)
    return f"| {name} | {len(s)} | {percentile(s, 50):.1f} | {percentile(s, 99):.1f} |"


def run(requests: int, provision: int) -> dict[str, list[float]]:
    """Measure each process API; samples in milliseconds by row name."""
    results: dict[str, list[float]] = {}
    with tempfile.TemporaryDirectory() as tmp, Sandbox(base_port=0).start_in_thread() as sb:
        config = write_accord_config(Path(tmp) / "accord.yaml", sb.urls)
        db_url = f"sqlite:///{Path(tmp) / 'bench.db'}"
        seeded = _seed(config, db_url)
        authorize_kantata(db_url, config)
        key = create_key(db_url, role="process")
        proc = start_accord(
            db_url,
            PORT,
            Path(tmp) / "accord.log",
            ACCORD_CONFIG_FILE=str(config),
            ACCORD_API__RATE_LIMIT_PER_S="0",
        )
        try:
            with httpx.Client(
                base_url=f"http://127.0.0.1:{PORT}",
                headers={"Authorization": f"Bearer {key}"},
                timeout=120,
            ) as http:
                accounts = [a["Id"] for a in seeded["accounts"]]
                results["validate, CRM id, cold"] = [
                    _time(
                        lambda a=a: http.post(
                            "/api/v1/accounts/validate", json={"crm_account_id": a}
                        ),
                        200,
                    )
                    for a in accounts
                ]
                results["validate, CRM id, warm"] = [
                    _time(
                        lambda i=i: http.post(
                            "/api/v1/accounts/validate",
                            json={"crm_account_id": accounts[i % len(accounts)]},
                        ),
                        200,
                    )
                    for i in range(requests)
                ]
                customer = {
                    "id": "bench-cust",
                    "name": "Bench Corp",
                    "legal_entity": "US01",
                    "bill_to": {"line1": "1 Main St", "city": "X", "country": "US"},
                    "tax_region": "US-EAST",
                    "currency": "USD",
                }
                results["validate, canonical customer (ERP credit check)"] = [
                    _time(
                        lambda: http.post("/api/v1/accounts/validate", json={"customer": customer}),
                        200,
                    )
                    for _ in range(requests)
                ]
                results["invoice by PSA id (xref join)"] = [
                    _time(lambda: http.get("/api/v1/invoices/K-BENCH-1"), 200)
                    for _ in range(requests)
                ]
                results["receivables by CRM id"] = [
                    _time(lambda: http.get("/api/v1/customers/001BENCHXXXXXXXAAA/receivables"), 200)
                    for _ in range(requests)
                ]
                provisioned: list[float] = []
                replayed: list[float] = []
                for i, opp in enumerate(seeded["open"][:provision]):
                    body = {
                        "opportunity": win_opportunity(seeded["configs"]["salesforce"], opp),
                        "wait_seconds": 60,
                    }
                    headers = {"Idempotency-Key": f"bench-{i}"}
                    provisioned.append(
                        _time(
                            lambda b=body, h=headers: http.post(
                                "/api/v1/projects", json=b, headers=h
                            ),
                            201,
                        )
                    )
                    replayed.append(
                        _time(
                            lambda b=body, h=headers: http.post(
                                "/api/v1/projects", json=b, headers=h
                            ),
                            201,
                        )
                    )
                results["provision project (lead-to-project, awaited)"] = provisioned
                results["provision replay (same Idempotency-Key)"] = replayed
        finally:
            proc.terminate()
            proc.wait(timeout=30)
    return results


def main() -> None:
    """Run the benchmark and record it in bench/RESULTS.md."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--provision", type=int, default=10)
    parser.add_argument("--no-record", action="store_true")
    args = parser.parse_args()
    results = run(args.requests, args.provision)
    lines = [
        "### Process APIs against the sandbox",
        "",
        f"Machine: {machine()}.",
        f"Command: `.venv/bin/python bench/process_api.py --requests {args.requests} "
        f"--provision {args.provision}`",
        "Setup: `accord run` (API and workers, SQLite) against the in-process sandbox "
        "(scenario `firm`, default latency: none injected), one client, one request at a time, "
        "rate limits off. Warm rows are answered from the system tier's short-lived cache "
        "(see docs/api.md, Caching). Reads that reach a system are paced by the connection's "
        "shared request budget (`rate_per_s`, 5/s by default), which is most of a cold read's "
        "time; provisioning is the whole lead-to-project run (customer, PSA and ERP writes).",
        "",
        "| API | requests | p50 ms | p99 ms |",
        "|---|---:|---:|---:|",
        *(_row(name, samples) for name, samples in results.items() if samples),
    ]
    text = "\n".join(lines)
    print(text)
    if not args.no_record:
        write_section("process-api", text)


if __name__ == "__main__":
    main()
