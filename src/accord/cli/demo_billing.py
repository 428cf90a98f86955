"""The demo's billing clerk: invoices the billable time posted in NetSuite, in NetSuite.

Once Accord has posted approved time to the ERP, finance bills it. In a firm that is a weekly or
monthly billing run; in the demo, :class:`BillingTraffic` does it every
:data:`BILLING_INTERVAL_S`: it reads the time bills posted since its last pass through
NetSuite's REST API (SuiteQL, as any ERP user's report would), keeps the billable ones, and
creates one invoice per project with a line per time bill, naming the entry it bills in the
custom line columns ``custcol_accord_source_id`` / ``custcol_accord_source_kind`` [inferred
firm convention, ``docs/flows/cash.md``]. Accord's cash capture then brings each invoice back
(``invoice.posted``), which is what the Business page's billing cycle and work in progress
read.

Business Central is not billed here: its v2.0 sales invoice lines carry no such column, so an
invoice there could not name the entries it bills.

What does *not* belong here: the other actors of the demo (:mod:`accord.cli.demo_traffic`).
"""

import datetime as dt
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Final

from accord.connectors.base import Connector

__all__ = ["BILLING_INTERVAL_S", "BillingTraffic"]

logger = logging.getLogger(__name__)

BILLING_INTERVAL_S: Final = 40.0
"""Seconds between two billing runs of the demo's clerk."""
SERVICE_ITEM: Final = "1"
"""The service item of an invoice line (the sandbox's; a real account has its own)."""
PAYMENT_DAYS: Final = 30
OVERLAP: Final = dt.timedelta(seconds=2)
"""Re-read this much before the last pass: NetSuite's stamps have one-second precision."""


@dataclass
class BillingTraffic:
    """Invoices billable NetSuite time bills, one invoice per project per pass.

    Attributes:
        connector: The NetSuite connector.
        invoices: Invoices created so far.
        lines: Time bills invoiced so far.
    """

    connector: Connector[Any]
    clock: Callable[[], dt.datetime] = field(default=lambda: dt.datetime.now(dt.UTC))
    """Today's source (injected in tests)."""
    invoices: int = 0
    lines: int = 0
    _since: dt.datetime | None = None
    _billed: set[str] = field(default_factory=set)
    _jobs: dict[str, tuple[str, str]] = field(default_factory=dict)
    """Project (job) internal id -> (subsidiary id, currency id)."""

    def tick(self, *, cancelled: Callable[[], bool] = lambda: False) -> int:
        """One billing pass; returns how many invoices it created."""
        by_project: dict[str, list[dict[str, Any]]] = {}
        for row in self._new_time():
            if str(row.get("isbillable")) != "T" or not row.get("customer"):
                continue
            if str(row["id"]) in self._billed or not row.get("externalid"):
                continue
            by_project.setdefault(str(row["customer"]), []).append(row)
        created = 0
        for project, rows in by_project.items():
            if cancelled():
                break
            self.connector.create("invoice", self._invoice(project, rows))
            self._billed.update(str(r["id"]) for r in rows)
            created += 1
            self.lines += len(rows)
        self.invoices += created
        return created

    def _new_time(self) -> list[dict[str, Any]]:
        since = self._since - OVERLAP if self._since else None
        rows: list[dict[str, Any]] = []
        cursor: str | None = None
        while True:
            page = self.connector.read_page("timeBill", since=since, cursor=cursor)
            rows.extend(page.records)
            if page.high_watermark and (self._since is None or page.high_watermark > self._since):
                self._since = page.high_watermark
            cursor = page.next_cursor
            if cursor is None:
                return rows

    def _invoice(self, project: str, rows: list[dict[str, Any]]) -> dict[str, Any]:
        today = self.clock().date()
        # The project's subsidiary and currency: a consultant of another subsidiary books
        # time in theirs, but the customer is billed by the project's entity.
        subsidiary, currency = self._job(project)
        return {
            "entity": {"id": project},
            "subsidiary": {"id": subsidiary},
            "currency": {"id": currency},
            "tranDate": today.isoformat(),
            "dueDate": (today + dt.timedelta(days=PAYMENT_DAYS)).isoformat(),
            "memo": "Time and materials, as approved",
            "item": {
                "items": [
                    {
                        "item": {"id": SERVICE_ITEM},
                        "quantity": float(r["hours"]),
                        "rate": float(r["rate"]),
                        "description": f"Consulting {r.get('trandate', '')}".strip(),
                        "job": {"id": project},
                        "custcol_accord_source_id": str(r["externalid"]),
                        "custcol_accord_source_kind": "time",
                    }
                    for r in rows
                ]
            },
        }

    def _job(self, project: str) -> tuple[str, str]:
        if project not in self._jobs:
            job = self.connector.get("job", project)
            self._jobs[project] = (
                str((job.get("subsidiary") or {}).get("id") or ""),
                str((job.get("currency") or {}).get("id") or "1"),
            )
        return self._jobs[project]
