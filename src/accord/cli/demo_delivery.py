"""The demo's project managers and AP clerks: what delivery sync carries (docs/flows/delivery.md).

Once a project is provisioned, its project manager plans it in the PSA (a task with an
estimate, a consultant on the team and on the task); on every few projects a subcontractor's
cost is approved in the PSA (a Kantata expense of a vendor, or a Certinia vendor invoice), an
AP clerk keys a vendor's bill against the project in its ERP (a NetSuite vendor bill, a
Business Central purchase invoice), and, a little later, the project manager completes the
project. :class:`DeliveryTraffic` does all of it through the systems' own APIs, never through
Accord, which carries each change across (``accord.flows.delivery``).

A project's legal entity is read from its currency (the demo firm has one entity per
currency), which picks the vendors (``VEND-<entity>-1`` in the PSA, ``-2`` in the ERP) and
the consultants.

:func:`read_delivery_status` reads back what Accord did, from its own store.
"""

import datetime as dt
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Final

import httpx
import sqlalchemy as sa

from accord.cli.demo_traffic import provisioned_projects
from accord.connectors.base import Connector
from accord.connectors.business_central import BusinessCentralConnector
from accord.connectors.kantata import KantataConnector
from accord.errors import AccordError
from accord.store import progress, xref

__all__ = ["DeliveryStatus", "DeliveryTraffic", "read_delivery_status"]

logger = logging.getLogger(__name__)

PLANS_PER_TICK: Final = 2
"""Projects planned per tick (the time traffic's pace)."""
COST_EVERY: Final = 2
"""One planned project in this many gets a subcontractor's cost in the PSA and a vendor's bill
in the ERP."""
COMPLETE_EVERY: Final = 3
"""One planned project in this many is completed, :data:`COMPLETE_AFTER` ticks later."""
COMPLETE_AFTER: Final = 3
_ENTITY: Final = {"USD": "US01", "GBP": "UK01", "EUR": "DE01"}


@dataclass(frozen=True)
class _Project:
    psa_id: str
    erp: str
    erp_id: str
    currency: str

    @property
    def entity(self) -> str:
        return _ENTITY.get(self.currency, "US01")


def _placed(engine: sa.Engine, psa_connection: str, psa_id: str) -> tuple[str, str] | None:
    """``(ERP connection, ERP id)`` of a provisioned PSA project."""
    with engine.connect() as conn:
        canonical = xref.get_canonical(
            conn, entity_type="psa_project", connection=psa_connection, external_id=psa_id
        )
        rows = (
            xref.list_for(conn, entity_type="erp_project", canonical_ids=[canonical])
            if canonical is not None
            else []
        )
    return (rows[0].connection, rows[0].external_id) if rows else None


@dataclass
class DeliveryTraffic:
    """Plans provisioned projects, books vendor costs on some and completes others.

    Attributes:
        psa: ``kantata`` or ``certinia``.
        connector: The PSA's connector.
        erps: The ERP connectors by connection name.
        engine: Accord's database (provisioned projects and their ERP ids).
        planned: Projects planned so far.
        costs: Vendor costs approved in the PSA so far.
        bills: Vendor bills keyed in the ERPs so far.
        completed: Projects completed so far.
    """

    psa: str
    connector: Connector[Any]
    erps: dict[str, Connector[Any]]
    engine: sa.Engine
    planned: int = 0
    costs: int = 0
    bills: int = 0
    completed: int = 0
    clock: Callable[[], dt.datetime] = field(default=lambda: dt.datetime.now(dt.UTC))
    _done: set[str] = field(default_factory=set)
    _to_complete: list[tuple[int, str]] = field(default_factory=list)
    _ticks: int = 0
    _people: dict[str, str] = field(default_factory=dict)

    def tick(self, *, cancelled: Callable[[], bool] = lambda: False) -> int:
        """Plan up to :data:`PLANS_PER_TICK` new projects and complete those due; returns plans."""
        self._ticks += 1
        self._complete_due(cancelled)
        planned = 0
        for psa_id in provisioned_projects(self.engine, self.psa):
            if planned >= PLANS_PER_TICK or cancelled():
                break
            if psa_id in self._done:
                continue
            self._done.add(psa_id)
            placed = _placed(self.engine, self.psa, psa_id)
            if placed is None:
                continue
            try:
                self._plan(_Project(psa_id, placed[0], placed[1], self._currency(psa_id)))
            except (AccordError, httpx.HTTPError, ValueError, KeyError) as exc:
                logger.warning("could not plan %s project %s: %s", self.psa, psa_id, exc)
                continue
            planned += 1
        return planned

    # ----------------------------------------------------------------- the project manager
    def _currency(self, psa_id: str) -> str:
        if self.psa == "kantata":
            return str(self.connector.get("workspaces", psa_id).get("currency") or "USD")
        return str(self.connector.get("pse__Proj__c", psa_id).get("CurrencyIsoCode") or "USD")

    def _plan(self, project: _Project) -> None:
        self.planned += 1
        if self.psa == "kantata":
            self._kantata_plan(project)
        else:
            self._certinia_plan(project)
        if self.planned % COST_EVERY == 0:
            self._cost(project)
            self._bill(project)
        if self.planned % COMPLETE_EVERY == 0:
            self._to_complete.append((self._ticks + COMPLETE_AFTER, project.psa_id))

    def _person(self, entity: str) -> str:
        """The PSA id of a consultant of the entity (the first one, cached)."""
        if entity not in self._people:
            if self.psa == "kantata":
                found = next(
                    (
                        str(u["id"])
                        for u in self.connector.read_page("users").records
                        if self.connector.describe("users", u).external_id
                        and _ENTITY.get(str(u.get("currency"))) == entity
                    ),
                    None,
                )
            else:
                found = next(
                    (
                        str(c["Id"])
                        for c in self.connector.read_page("Contact").records
                        if c.get("Accord_Id__c") and c.get("Legal_Entity__c") == entity
                    ),
                    None,
                )
            if found is None:
                # Caught by tick, which leaves the project unplanned (a seed without people).
                msg = f"no consultant of {entity} in {self.psa}"
                raise ValueError(msg)
            self._people[entity] = found
        return self._people[entity]

    def _kantata_plan(self, project: _Project) -> None:
        assert isinstance(self.connector, KantataConnector)
        story = self.connector.create(
            "stories",
            {"workspace_id": project.psa_id, "title": "Design and build", "story_type": "task",
             "time_estimate_in_minutes": 80 * 60, "percentage_complete": 10},
        ).id  # fmt: skip
        person = self._person(project.entity)
        self.connector.create("participations", {"workspace_id": project.psa_id,
                                                 "user_id": person})  # fmt: skip
        self.connector.create(
            "assignments", {"story_id": story, "assignee_id": person, "estimated_minutes": 2400}
        )

    def _certinia_plan(self, project: _Project) -> None:
        task = self.connector.create(
            "pse__Project_Task__c",
            {"Name": "Design and build", "pse__Project__c": project.psa_id,
             "pse__Estimated_Hours__c": 80, "pse__Percent_Complete_Hours__c": 10},
        ).id  # fmt: skip
        self.connector.create(
            "pse__Project_Task_Assignment__c",
            {"pse__Project_Task__c": task, "pse__Project__c": project.psa_id,
             "pse__Resource__c": self._person(project.entity), "pse__Estimated_Hours__c": 40},
        )  # fmt: skip

    def _cost(self, project: _Project) -> None:
        """A subcontractor's cost approved in the PSA (billed by Accord as a vendor bill)."""
        today = self.clock().date().isoformat()
        vendor_key = f"VEND-{project.entity}-1"
        if isinstance(self.connector, KantataConnector):
            vendor = self.connector.get_by_external_id("vendors", vendor_key)
            if vendor is None:
                return
            expense = self.connector.create(
                "expenses",
                {"workspace_id": project.psa_id, "date": today, "category": "Other",
                 "amount_in_cents": 250_000, "vendor_id": vendor["id"],
                 "notes": "Subcontracted security review"},
            ).id  # fmt: skip
            report = self.connector.create("expense_report_submissions",
                                           {"expense_ids": [expense]}).id  # fmt: skip
            self.connector.resolve_submission("expense_report_submissions", report, approve=True)
        else:
            account = self.connector.get_by_external_id("Account", vendor_key)
            if account is None:
                return
            invoice = self.connector.create(
                "pse__Vendor_Invoice__c",
                {"pse__Account__c": account["Id"], "pse__Date__c": today,
                 "CurrencyIsoCode": project.currency},
            ).id  # fmt: skip
            self.connector.create(
                "pse__Vendor_Invoice_Item__c",
                {"pse__Vendor_Invoice__c": invoice, "pse__Project__c": project.psa_id,
                 "pse__Amount__c": 2500.0, "pse__Description__c": "Subcontracted security review",
                 "CurrencyIsoCode": project.currency},
            )  # fmt: skip
            self.connector.update("pse__Vendor_Invoice__c", invoice, {"pse__Status__c": "Approved"})
        self.costs += 1

    def _bill(self, project: _Project) -> None:
        """An AP clerk keys a vendor's bill against the project in its ERP."""
        erp = self.erps.get(project.erp)
        if erp is None:
            return
        today = self.clock().date().isoformat()
        vendor_key = f"VEND-{project.entity}-2"
        if isinstance(erp, BusinessCentralConnector):
            company = erp.for_company(project.entity)
            draft = company.create(
                "purchaseInvoices",
                {"vendorNumber": vendor_key, "vendorInvoiceNumber": f"CDS-{project.erp_id}",
                 "invoiceDate": today,
                 "purchaseInvoiceLines": [{"lineType": "Account", "description": "Data licences",
                                           "quantity": 1, "directUnitCost": 1200.0,
                                           "projectNumber": project.erp_id}]},
            ).id  # fmt: skip
            company.post_document("purchaseInvoices", draft)
        else:
            vendor = erp.get_by_external_id("vendor", vendor_key)
            if vendor is None:
                return
            erp.create(
                "vendorBill",
                {"entity": {"id": vendor["id"]}, "tranDate": today,
                 "tranId": f"CDS-{project.erp_id}",
                 "expense": {"items": [{"amount": 1200.0, "memo": "Data licences",
                                        "customer": {"id": project.erp_id}}]}},
            )  # fmt: skip
        self.bills += 1

    def _complete_due(self, cancelled: Callable[[], bool]) -> None:
        due = [p for at, p in self._to_complete if at <= self._ticks]
        self._to_complete = [(at, p) for at, p in self._to_complete if at > self._ticks]
        for psa_id in due:
            if cancelled():
                return
            try:
                if self.psa == "kantata":
                    self.connector.update("workspaces", psa_id, {"status": "Completed"})
                else:
                    self.connector.update("pse__Proj__c", psa_id, {"pse__Stage__c": "Completed"})
            except (AccordError, httpx.HTTPError) as exc:
                logger.warning("could not complete %s project %s: %s", self.psa, psa_id, exc)
                continue
            self.completed += 1


# --------------------------------------------------------------------------- what Accord did
DeliveryStatus = progress.DeliveryCounts
"""What Accord's store says delivery sync did (statuses, tasks, people, bills, recorded)."""


def read_delivery_status(engine: sa.Engine) -> DeliveryStatus:
    """Read delivery's counts from the xref and lineage."""
    with engine.connect() as conn:
        return progress.delivery_counts(conn)
