"""Lanes benchmark: people's calls during the quarter-end drain, against an idle system.

The quarter-end drain of ``bench/quarter_end.py`` (embedded ``accord run`` on SQLite, NetSuite
10 concurrent / 50 ms) keeps NetSuite's budget full of ``bulk`` postings. Meanwhile one client
makes the synchronous calls a person makes, one at a time, each in the ``interactive`` lane:

- ``POST /api/v1/projects``: an open NetSuite-booked opportunity is won in the CRM (not timed)
  and provisioned through the durable lead-to-project flow, awaited (a 202 is followed to the
  run's end: the time is until the project exists);
- ``POST /api/v1/accounts/validate`` by CRM account id: the CRM read, the rules and, for a
  customer NetSuite knows, its credit-hold read (customers are cached 60 s per process).

The same calls are first made on the idle system (projects provisioned, nothing submitted),
on disjoint opportunities and accounts so that neither phase reads what the other cached.
Targets (issue 15): provisioning p50 during the drain at most 1.5x its idle p50; account
validation p99 under 500 ms. Nothing is written to ``bench/RESULTS.md``: the figures print.

    .venv/bin/python bench/lanes.py [--entries 30000] [--provision 8] [--validations 200]
"""

import argparse
import json
import os
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
from _common import create_key, machine, percentile, win_opportunity
from _quarter_end import Drain, describe, drain

from accord.connectors.config import load_connections
from accord.connectors.registry import create_connector

_VALIDATE_EVERY_S = 0.25
"""Pace of the validation client (a person's screen, not a load test)."""
_SETTLED_BUSY = 5
"""Calls in flight at NetSuite from which the drain counts as under way."""


class Caller:
    """One client of the process APIs: provisions projects and validates accounts, timed."""

    def __init__(self, state: Drain, *, provision: int, validations: int) -> None:
        key = create_key(state.db_url, role="process")
        self.http = httpx.Client(
            base_url=state.api, headers={"Authorization": f"Bearer {key}"}, timeout=120
        )
        configs = load_connections(state.folder / "accord.yaml", {})
        self.sf_config = configs["salesforce"]
        with create_connector(self.sf_config) as sf:
            accounts = sf.read_page("Account", limit=2000).records
            opportunities = sf.read_page("Opportunity", limit=2000).records
        # US01 and UK01 only: in the all-NetSuite firm one DE01 customer family spans two
        # subsidiaries (see _quarter_end.wait_provisioned); milestone deals wait for a schedule.
        opens = [
            o
            for o in opportunities
            if not o.get("IsClosed")
            and o.get("Legal_Entity__c") in ("US01", "UK01")
            and o.get("Billing_Model__c") != "Milestone"
        ]
        if len(opens) < 2 * provision:
            raise RuntimeError(f"only {len(opens)} open opportunities for 2 x {provision}")
        ids = [a["Id"] for a in accounts]
        self.opportunities = {"idle": opens[:provision], "drain": opens[provision : 2 * provision]}
        self.accounts = {"idle": ids[::2], "drain": ids[1::2]}
        self.validations = validations
        self.samples: dict[str, list[float]] = {}
        self.statuses: dict[str, list[int]] = {}
        self.load: list[str] = []

    def _timed(self, row: str, call: Callable[[], httpx.Response]) -> httpx.Response:
        started = time.perf_counter()
        response = call()
        elapsed = (time.perf_counter() - started) * 1000
        self.samples.setdefault(row, []).append(elapsed)
        self.statuses.setdefault(row, []).append(response.status_code)
        return response

    def provision(self, phase: str, stop: threading.Event | None = None) -> None:
        """Provision the phase's opportunities one after the other, each awaited to the end."""
        row = f"POST /api/v1/projects, {phase}"
        for n, opp in enumerate(self.opportunities[phase]):
            if stop is not None and stop.is_set():
                return
            body = {"opportunity": win_opportunity(self.sf_config, opp), "wait_seconds": 60}
            headers = {"Idempotency-Key": f"lanes-{phase}-{n}"}
            started = time.perf_counter()
            response = self.http.post("/api/v1/projects", json=body, headers=headers)
            while response.status_code == 202:
                # Still running after 60 s: the same request again (same Idempotency-Key) is
                # the same run, awaited another 60 s, as a client retries.
                response = self.http.post("/api/v1/projects", json=body, headers=headers)
            if response.status_code != 201:
                raise RuntimeError(f"provisioning said {response.status_code}: {response.text}")
            if stop is not None and stop.is_set():
                return  # finished after the drain: not a sample of the drain
            self.samples.setdefault(row, []).append((time.perf_counter() - started) * 1000)
            self.statuses.setdefault(row, []).append(response.status_code)

    def validate(self, phase: str, stop: threading.Event | None = None) -> None:
        """Validate the phase's accounts round-robin at a person's pace."""
        row = f"POST /api/v1/accounts/validate, {phase}"
        accounts = self.accounts[phase]
        for n in range(self.validations):
            if stop is not None and stop.is_set():
                return
            account = accounts[n % len(accounts)]
            self._timed(
                row,
                lambda a=account: self.http.post(
                    "/api/v1/accounts/validate", json={"crm_account_id": a}
                ),
            )
            time.sleep(_VALIDATE_EVERY_S)

    def idle(self, state: Drain) -> None:
        """The idle phase: provisioning, then validations (nothing else is running)."""
        del state
        self.provision("idle")
        self.validate("idle")
        self.load.append(_load())

    def during(self, state: Drain, drained: threading.Event) -> None:
        """The drain phase: both kinds of call at once, from when NetSuite is busy."""
        ns = state.urls["netsuite"]
        while not drained.is_set():
            stats = httpx.get(f"{ns}/__sandbox/stats", timeout=10).json()
            if int(stats["in_flight"]) >= _SETTLED_BUSY:
                break
            time.sleep(0.2)
        callers = [
            threading.Thread(target=self.provision, args=("drain", drained)),
            threading.Thread(target=self.validate, args=("drain", drained)),
        ]
        for thread in callers:
            thread.start()
        while any(t.is_alive() for t in callers):
            self.load.append(_load())
            drained.wait(30)
            if drained.is_set():
                break
        for thread in callers:
            thread.join()


def _load() -> str:
    one, five, fifteen = os.getloadavg()
    return f"{time.strftime('%H:%M:%S')} {one:.2f} {five:.2f} {fifteen:.2f}"


def report(caller: Caller, result: dict[str, Any]) -> str:
    """The samples as a Markdown table, with the targets' verdicts."""
    lines = [
        "| call | phase | n | statuses | p50 ms | p99 ms | max ms |",
        "|---|---|---:|---|---:|---:|---:|",
    ]
    p50: dict[str, float] = {}
    for row, samples in caller.samples.items():
        s = sorted(samples)
        call, phase = row.rsplit(", ", 1)
        statuses = json.dumps(
            {str(k): caller.statuses[row].count(k) for k in set(caller.statuses[row])}
        )
        p50[row] = percentile(s, 50)
        lines.append(
            f"| {call} | {phase} | {len(s)} | {statuses} | {percentile(s, 50):.0f} | "
            f"{percentile(s, 99):.0f} | {s[-1]:.0f} |"
        )
    idle = p50.get("POST /api/v1/projects, idle", float("nan"))
    busy = p50.get("POST /api/v1/projects, drain", float("nan"))
    validate = sorted(caller.samples.get("POST /api/v1/accounts/validate, drain", []))
    lines += [
        "",
        f"Provisioning p50, drain / idle: **{busy / idle:.2f}x** (target <= 1.5x).",
        f"Account validation p99 during the drain: **{percentile(validate, 99):.0f} ms** "
        "(target < 500 ms).",
        "",
        "Load average (1/5/15 min) while measuring: " + "; ".join(caller.load),
        "",
        "The drain itself:",
        "",
        "| metric | value |",
        "|---|---|",
        describe(result),
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entries", type=int, default=30000, help="entries in the drain")
    parser.add_argument("--provision", type=int, default=8, help="projects per phase")
    parser.add_argument("--validations", type=int, default=200, help="validations per phase")
    parser.add_argument("--keep", type=Path, default=None, help="keep logs in this folder")
    parser.add_argument("--base-port", type=int, default=19400, help="the sandbox's base port")
    args = parser.parse_args()
    folder = args.keep or Path(tempfile.mkdtemp(prefix="accord-lanes-"))
    holder: dict[str, Caller] = {}

    def idle(state: Drain) -> None:
        holder["caller"] = Caller(state, provision=args.provision, validations=args.validations)
        holder["caller"].idle(state)

    def during(state: Drain, drained: threading.Event) -> None:
        holder["caller"].during(state, drained)

    result = drain(
        db_url=f"sqlite:///{folder / 'accord.db'}",
        workers=1,
        limit=args.entries,
        keep=folder,
        base_port=args.base_port,
        api_port=args.base_port - 20,
        idle=idle,
        during=during,
        env={"ACCORD_API__RATE_LIMIT_PER_S": "0"},
    )
    print(f"Machine: {machine()}. Logs: {folder}")
    print(report(holder["caller"], result))


if __name__ == "__main__":
    main()
