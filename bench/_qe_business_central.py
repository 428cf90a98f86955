"""Business Central's half of the ``quarter-end-large`` drain (``bench/_quarter_end.py``).

In ``quarter-end-large`` DE01 stays on Business Central, so its postings go to the BC emulator,
whose documented limit is 6,000 requests per 5-minute sliding window per principal, a
``$batch`` counting each of its operations (``accord_sandbox.business_central.batch``). This
module sets BC's latency, reads which DE01 projects BC holds, and after the drain reads BC's
counters and project ledger:

- **throughput as a ratio of the limit**: the operations BC's window counted during the drain
  (``window_units``) per second, over 6,000 / 300 s = 20 per second;
- **duplicates**, in total and by the identity that matched (document number or business
  fact: project, resource, date, quantity and source document);
- **posted hours per project** from ``projectLedgerEntries`` (project number = the BC number
  of the canonical project id), for the tie-out against the approved hours.
"""

from collections import defaultdict
from collections.abc import Iterable
from decimal import Decimal
from typing import Any

import httpx
from _common import set_latency

from accord.connectors.business_central.mapping import bc_number

WINDOW = 6_000
WINDOW_S = 300.0
MAX_UNITS_PER_S = WINDOW / WINDOW_S
"""BC's limit in operations per second (reference 5.3)."""
LATENCY_MS = 50
"""Per request and per ``$batch`` operation (BC runs a batch's operations one after another)."""
CONCURRENCY = 10
"""Accord's concurrency towards BC (BC allows 100 connections)."""


def limit_business_central(bc_url: str) -> None:
    """50 ms per BC request and per operation, on top of BC's own limits (kept).

    Raises:
        RuntimeError: BC's 6,000-per-5-minutes window is not active.
    """
    active = set_latency(bc_url, "/v2.0/*/api/*", LATENCY_MS)
    windows = [(f.get("limit_per_window"), f.get("window_s")) for f in active]
    if (WINDOW, WINDOW_S) not in windows:
        raise RuntimeError(f"Business Central's windows are {windows}, not 6,000 per 300 s")


def connection_settings() -> dict[str, Any]:
    """``accord.yaml`` settings of the BC connection: paced at BC's limit in operations."""
    return {"concurrency": CONCURRENCY, "rate_per_s": MAX_UNITS_PER_S}


def provisioned(bc_url: str, candidates: Iterable[str]) -> set[str]:
    """The canonical projects among ``candidates`` that BC holds (by their BC number)."""
    records = httpx.get(f"{bc_url}/__sandbox/records/projects", timeout=60).json()["records"]
    numbers = {str(r.get("number")) for r in records}
    return {c for c in candidates if bc_number(c) in numbers}


def outcome(bc_url: str, projects: Iterable[str]) -> tuple[dict[str, Any], dict[str, Decimal]]:
    """BC's counters and the posted hours per canonical project (of ``projects``)."""
    stats = httpx.get(f"{bc_url}/__sandbox/stats", timeout=10).json()
    ledger = httpx.get(f"{bc_url}/__sandbox/records/projectLedgerEntries", timeout=300).json()
    by_number = {bc_number(p): p for p in projects}
    hours: dict[str, Decimal] = defaultdict(Decimal)
    for entry in ledger["records"]:
        number = str(entry.get("projectNumber"))
        project = by_number.get(number, f"bc:{number}")
        hours[project] += Decimal(str(entry.get("quantity"))).quantize(Decimal("0.01"))
    stats["ledger_entries"] = len(ledger["records"])
    return stats, dict(hours)


def reset(bc_url: str) -> int:
    """Zero BC's counters before the drain; the ledger entries it holds already."""
    before = int(outcome(bc_url, ())[0]["ledger_entries"])
    httpx.post(f"{bc_url}/__sandbox/stats/reset", timeout=10).raise_for_status()
    return before


def report(
    bc_url: str,
    projects: Iterable[str],
    posted: dict[str, Decimal],
    drain_s: float,
    before: int,
) -> dict[str, Any]:
    """BC's measurements after the drain; adds its posted hours to ``posted`` (per project)."""
    stats, hours = outcome(bc_url, projects)
    for project, value in hours.items():
        posted[project] = posted.get(project, Decimal(0)) + value
    return measurements(stats, drain_s, before)


def measurements(stats: dict[str, Any], drain_s: float, before: int) -> dict[str, Any]:
    """What the drain report says about BC (``before``: ledger entries before the drain)."""
    units = int(stats["window_units"])
    requests = int(stats["requests"])
    return {
        "bc_entries": int(stats["ledger_entries"]) - before,
        "bc_requests": requests,
        "bc_operations": int(stats["operations"]),
        "bc_units": units,
        "bc_units_per_s": units / drain_s,
        "bc_ratio": units / drain_s / MAX_UNITS_PER_S,
        "bc_throttled": int(stats["throttled"]),
        "bc_duplicates": int(stats["duplicates"]),
        "bc_duplicates_by_identity": dict(stats.get("duplicates_by_identity", {})),
        "bc_errors": int(stats["errors"]),
    }


def rows(result: dict[str, Any]) -> list[tuple[str, str]]:
    """Report rows (metric, value) of BC's measurements."""
    entries = max(1, result["bc_entries"])
    return [
        ("Business Central: ledger entries written", f"{result['bc_entries']:,}"),
        (
            "Business Central: HTTP requests / $batch operations",
            f"{result['bc_requests']:,} / {result['bc_operations']:,}",
        ),
        (
            "Business Central: operations its limit counted (per 100 entries)",
            f"{result['bc_units']:,} ({100 * result['bc_units'] / entries:.0f})",
        ),
        ("Business Central: counted operations per second", f"{result['bc_units_per_s']:.1f}"),
        (
            "Business Central: ratio to its limit (6,000 / 5 min = 20/s)",
            f"**{result['bc_ratio']:.2f}**",
        ),
        ("Business Central: 429s", f"{result['bc_throttled']:,}"),
        ("Business Central: duplicates", f"**{result['bc_duplicates']}** (must be 0)"),
        (
            "Business Central: duplicates by identity",
            str(result["bc_duplicates_by_identity"] or "{}"),
        ),
        ("Business Central: other errors", f"{result['bc_errors']:,}"),
    ]
