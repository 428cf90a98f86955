"""NetSuite in the ERP role (:class:`~accord.connectors.roles.Erp`).

- Projects are ``job`` records: the subsidiary gives the legal entity (through the rules'
  ``netsuite_subsidiary_id``), department and class give practice and region, ``entityStatus``
  In Progress (``2``) is the only status that takes new time, and ``jobBillingType`` gives the
  billing model (a retainer bills like a fixed fee, ``FBI``; lead-to-project notes the canonical
  model in the job's comments, which tells the two apart).
- Periods: ``accountingPeriod`` through SuiteQL; a period says ``closed`` only when it is
  closed for every subsidiary (a period closed for one subsidiary is learnt from the refusal).
- Postings: ``PUT /record/v1/{timeBill|expenseReport}/eid:<key>``, one per posting, sent in
  parallel on a pool per connection twice as wide as the connection's concurrency (so that a
  call always waits at the budget when a slot frees). The PUT is the idempotent upsert: a
  posting sent twice books once. An expense report belongs to its employee's subsidiary
  (NetSuite refuses another), so the employee is read first (cached). Each posting is planned
  before anything is written: its amounts in the project entity's base currency and, for an
  employee of another subsidiary, its intercompany journal (``PUT .../eid:IC-<key>``, after
  the posting): :mod:`accord.connectors.netsuite._entities`.
- Cash and billing (invoices and payments, receivables, milestone invoices):
  :mod:`accord.connectors.netsuite._erp_billing`; delivery (project status and fields, tasks,
  resources, vendor bills): :mod:`accord.connectors.netsuite._erp_delivery`.
- Reconciliation (postings, billing plans and Accord's records read in bulk):
  :mod:`accord.connectors.netsuite._erp_recon`.
"""

import asyncio
import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from typing import Any, Final

from typing_extensions import override

from accord.connectors.aio import AsyncWire
from accord.connectors.budget import slot_held
from accord.connectors.netsuite._entities import (
    INTERCOMPANY,
    NetSuiteEntities,
    Planned,
    _ref,
    intercompany_key,
)
from accord.connectors.netsuite._erp_billing import NetSuiteBilling
from accord.connectors.netsuite._erp_delivery import NetSuiteDelivery
from accord.connectors.netsuite._erp_recon import NetSuiteReconciliation
from accord.connectors.netsuite._reference import currency_ids
from accord.connectors.netsuite.connector import NetSuiteConnector
from accord.connectors.netsuite.mapping import (
    NetSuiteLookups,
    expense_report_from_canonical,
    time_bill_from_canonical,
)
from accord.connectors.netsuite.masters import NetSuiteMasterData
from accord.connectors.roles import (
    AsyncPoster,
    CallGate,
    EntryPosting,
    Erp,
    ErpProject,
    PostingBatch,
    PostingKind,
    PostingOutcome,
)
from accord.connectors.roles.recon import held_date
from accord.domain import BillingModel, ErpSystem, TimeEntry
from accord.errors import ConnectorError, MappingError, NotFoundError, PermanentError
from accord.rules import Rules

__all__ = ["NetSuiteErp", "NetSuitePoster", "outcome_of"]

_BILLING: Final = {
    "TM": BillingModel.TIME_AND_MATERIALS,
    "CB": BillingModel.TIME_AND_MATERIALS,
    "FBI": BillingModel.FIXED_FEE,
    "FBM": BillingModel.MILESTONE,
}
_ACTIVE: Final = "2"
"""``entityStatus`` In Progress: the only NetSuite status that takes new time."""
_STATUS: Final = {
    "1": "Closed",
    "2": "In Progress",
    "3": "Not Awarded",
    "4": "Pending",
    "5": "On Hold",
}
_RECORD_TYPES: Final = {"time": "timeBill", "expense": "expenseReport"}

_pools: dict[str, ThreadPoolExecutor] = {}
_pools_lock = threading.Lock()


class NetSuiteErp(
    NetSuiteDelivery,
    NetSuiteBilling,
    NetSuiteMasterData,
    NetSuiteEntities,
    NetSuiteReconciliation,
    Erp,
):
    """A NetSuite connection as an ERP; ``rules`` place entities, practices and regions."""

    def __init__(self, connector: NetSuiteConnector, rules: Rules) -> None:
        self._connector = connector
        self._rules = rules
        self.where = f"{connector.name}@{connector.config.base_url}"
        """The cache key of this connection's reference data."""

    @override
    def record_type(self, kind: PostingKind) -> str:
        return f"{ErpSystem.NETSUITE.value}:{_RECORD_TYPES[kind]}"

    # ----------------------------------------------------------------- projects, periods
    @override
    def project(self, erp_id: str) -> ErpProject | None:
        try:
            record = self._connector.get("job", erp_id)
        except NotFoundError:
            return None
        spec = self._rules.spec
        subsidiary = _ref(record, "subsidiary")
        entities = spec.legal_entities
        candidates = [c for c, e in entities.items() if e.netsuite_subsidiary_id == subsidiary]
        # An entity booked elsewhere may also have a NetSuite subsidiary (consolidation):
        # prefer the entity booked here.
        native = [c for c in candidates if entities[c].erp is ErpSystem.NETSUITE]
        legal_entity = (native or candidates or [subsidiary or "?"])[0]
        department, klass = _ref(record, "department"), _ref(record, "class")
        active = self.config.project_statuses.get("active", _ACTIVE)
        status = _ref(record, "entityStatus") or active
        entity = entities.get(legal_entity)
        # A project may bill in another currency than its subsidiary's (a foreign customer).
        iso = {v: k for k, v in currency_ids(self._connector).items()}
        currency = iso.get(_ref(record, "currency") or "") or (entity.currency if entity else "USD")
        return ErpProject(
            erp_id=erp_id,
            legal_entity=legal_entity,
            active=status == active and record.get("allowTime", True) is not False,
            status=_STATUS.get(status, status),
            start_date=held_date(record.get("startDate")),
            end_date=held_date(record.get("projectedEndDate") or record.get("endDate")),
            billing_model=self._billing(record),
            practice=next(
                (c for c, p in spec.practices.items() if p.netsuite_department_id == department),
                None,
            ),
            region=next((c for c, r in spec.regions.items() if r.netsuite_class_id == klass), None),
            currency=currency,
        )

    @staticmethod
    def _billing(record: dict[str, Any]) -> BillingModel:
        model = _BILLING.get(
            _ref(record, "jobBillingType") or "TM", BillingModel.TIME_AND_MATERIALS
        )
        if model is BillingModel.FIXED_FEE and "Billing: retainer" in str(
            record.get("comments", "")
        ):
            return BillingModel.RETAINER
        return model

    @override
    def closed_periods(self, legal_entity: str) -> frozenset[str]:
        del legal_entity  # NetSuite's period record is account-wide (see the module docstring)
        closed: set[str] = set()
        cursor: str | None = None
        for _ in range(20):
            page = self._connector.read_page("accountingPeriod", cursor=cursor, limit=1000)
            for r in page.records:
                start = held_date(r.get("startdate") or r.get("startDate"))
                if start and str(r.get("closed")) in {"T", "True", "true"}:
                    closed.add(f"{start:%Y-%m}")
            cursor = page.next_cursor
            if cursor is None:
                break
        return frozenset(closed)

    # ----------------------------------------------------------------- postings
    @override
    def post_entries(self, batch: PostingBatch) -> list[PostingOutcome]:
        def one(posting: EntryPosting) -> PostingOutcome:
            try:
                planned = self.plan(batch, posting)
                record_id = self._connector.put(planned.record_type, posting.key, planned.body)
                journal = None
                if planned.journal is not None:
                    journal = self._connector.put(
                        INTERCOMPANY, intercompany_key(posting.key), planned.journal
                    )
            except (ConnectorError, MappingError) as exc:
                return PostingOutcome(key=posting.key, error=_as_connector_error(exc, posting))
            return outcome_of(posting, planned, record_id, journal)

        postings = batch.postings
        if len(postings) <= 1:
            return [one(p) for p in postings]
        return list(self._pool().map(one, postings))

    @override
    def posted_entries(self, project: ErpProject, keys: Sequence[str]) -> dict[str, str]:
        found: dict[str, str] = {}
        for key in keys:
            for record_type in _RECORD_TYPES.values():
                record = self._connector.get_by_external_id(record_type, key)
                if record is not None:
                    found[key] = str(record["id"])
                    break
        return found

    def plan(self, batch: PostingBatch, posting: EntryPosting) -> Planned:
        """The posting's record, amounts and intercompany journal; nothing is written.

        Raises:
            PermanentError: A reference or a rate is missing (reason set).
            MappingError: The posting cannot be expressed in NetSuite's terms.
        """
        record_type, body = self.body(batch, posting)
        amounts = self.amounts(batch, posting)
        employee = self._employee(posting.entry.resource_id or "")
        pair = self.intercompany(batch, posting, employee)
        if pair is None:
            return Planned(record_type, body, amounts)
        return Planned(record_type, body, amounts, charge=pair[0], journal=pair[1])

    def body(self, batch: PostingBatch, posting: EntryPosting) -> tuple[str, dict[str, Any]]:
        """The record type and ``PUT`` body of one posting (reads the employee, cached).

        Raises:
            PermanentError: No employee for the resource (reason ``resource_unknown``).
            MappingError: The expense's category or currency has no NetSuite id.
        """
        entry = posting.entry
        resource = entry.resource_id or ""
        employee = self._employee(resource)
        records = {
            "employee": {resource: employee["id"]},
            "job": {entry.project_id: batch.project.erp_id},
        }
        dims = posting.dimensions
        if isinstance(entry, TimeEntry):
            body = time_bill_from_canonical(
                entry,
                lookups=NetSuiteLookups(subsidiaries={}, currencies={}, records=records),
                department=dims.get("department"),
                class_=dims.get("class"),
            )
            return "timeBill", body
        legal_entity = batch.project.legal_entity
        lookups = NetSuiteLookups(
            subsidiaries={legal_entity: employee["subsidiary"]},
            currencies=currency_ids(self._connector),
            expense_categories=self.config.expense_categories,
            records=records,
        )
        body = expense_report_from_canonical(
            [entry], employee_id=resource, legal_entity=legal_entity, lookups=lookups
        )
        for line in body["expense"]["items"]:
            if "department" in dims:
                line["department"] = {"id": dims["department"]}
            if "class" in dims:
                line["class"] = {"id": dims["class"]}
        return "expenseReport", body

    @override
    def posting_body(self, batch: PostingBatch, posting: EntryPosting) -> dict[str, Any]:
        record_type, body = self.body(batch, posting)
        return {"recordType": record_type, **body}

    @override
    def poster(self, gate: CallGate) -> AsyncPoster:
        return NetSuitePoster(self, self._connector, gate)

    def _pool(self) -> ThreadPoolExecutor:
        """One pool per connection and process, shared by every batch (module docstring)."""
        width = max(1, 2 * self.config.concurrency)
        with _pools_lock:
            pool = _pools.get(self.where)
            if pool is None:
                pool = _pools[self.where] = ThreadPoolExecutor(
                    max_workers=width, thread_name_prefix=f"erp-{self.connection}"
                )
            return pool


class NetSuitePoster(AsyncPoster):
    """Postings sent as concurrent ``PUT ... eid:<key>`` from the dispatcher's event loop."""

    def __init__(self, erp: NetSuiteErp, connector: NetSuiteConnector, gate: CallGate) -> None:
        self._erp = erp
        self._connector = connector
        self._gate = gate
        self._wire = AsyncWire(connector, limit=2 * connector.config.concurrency)

    @override
    async def post(self, batch: PostingBatch) -> list[PostingOutcome]:
        return list(await asyncio.gather(*(self._one(batch, p) for p in batch.postings)))

    async def _one(self, batch: PostingBatch, posting: EntryPosting) -> PostingOutcome:
        try:
            planned = await self._plan(batch, posting)
            record_id = await self._put(planned.record_type, posting.key, planned.body)
            journal = None
            if planned.journal is not None:
                journal = await self._put(
                    INTERCOMPANY, intercompany_key(posting.key), planned.journal
                )
        except (ConnectorError, MappingError) as exc:
            return PostingOutcome(key=posting.key, error=_as_connector_error(exc, posting))
        return outcome_of(posting, planned, record_id, journal)

    async def _put(self, record_type: str, key: str, body: dict[str, Any]) -> str:
        async with self._gate():
            response = await self._wire.request(
                "PUT", f"/record/v1/{record_type}/eid:{key}", resource=record_type, json=body
            )
        self._connector.raise_for_status(response, resource=record_type, external_id=key)
        return self._connector.located_id(response, resource=record_type, external_id=key)

    async def _plan(self, batch: PostingBatch, posting: EntryPosting) -> Planned:
        if not self._erp.ready(batch, posting):
            # The first posting of an employee reads it (then cached), the rates and an
            # expense the currency ids: off the event loop, inside one of the dispatcher's slots.
            async with self._gate():
                with slot_held():
                    return await asyncio.to_thread(self._erp.plan, batch, posting)
        return self._erp.plan(batch, posting)

    @override
    async def aclose(self) -> None:
        await self._wire.aclose()


def outcome_of(
    posting: EntryPosting, planned: Planned, record_id: str, journal: str | None
) -> PostingOutcome:
    """The outcome of a posting NetSuite holds, with its amounts and intercompany pair."""
    charge = planned.charge
    if charge is not None and journal is not None:
        charge = replace(charge, record_id=journal)
    return PostingOutcome(
        key=posting.key, record_id=record_id, amounts=planned.amounts, intercompany=charge
    )


def _as_connector_error(
    exc: ConnectorError | MappingError, posting: EntryPosting
) -> ConnectorError:
    """A mapping failure (an unmapped category, currency ...) as a refusal of the posting."""
    if isinstance(exc, ConnectorError):
        return exc
    return PermanentError(str(exc), external_id=posting.key, detail=str(exc), reason="validation")
