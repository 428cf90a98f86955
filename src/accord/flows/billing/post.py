"""Posting units to the ERP, in parallel, and what each answer means.

A :class:`Unit` is one ERP posting: one entry (``posting: per_entry``) or the entries of one
project, day and submission with the same billable flag and rate
(``summary_per_project_day``). :func:`post_units` sends them through a thread pool bounded by
``max_workers`` (the connection's budget still caps what reaches the ERP, across processes)
and returns one :class:`Outcome` per unit; a refusal is an outcome, not an exception, and
:func:`classify` says which exception code it becomes.

Idempotency: NetSuite ``PUT .../eid:<external id>``; Business Central journal lines are
verified before they are created by their document number (the connector's ``upsert``), and
the journal batch is posted afterwards (:func:`post_bc_journal`).
"""

import hashlib
import re
import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from decimal import Decimal
from functools import partial
from typing import Any, Final

from accord.connectors.base import Connector
from accord.connectors.business_central.mapping import (
    BusinessCentralLookups,
    bc_number,
    journal_line_from_time_entry,
)
from accord.connectors.netsuite.errors import classify_user_error
from accord.connectors.netsuite.mapping import (
    NetSuiteLookups,
    expense_report_from_canonical,
    time_bill_from_canonical,
)
from accord.domain import Expense, Money, TimeEntry
from accord.errors import MappingError, PermanentError
from accord.flows.billing import erp
from accord.flows.billing.validation import (
    INACTIVE,
    PERIOD_CLOSED,
    EntryPlan,
    ProjectFacts,
    redate_memo,
)

__all__ = [
    "INVALID_DIMENSION",
    "POSTING_REJECTED",
    "RESOURCE_UNKNOWN",
    "Outcome",
    "Unit",
    "amount_of",
    "classify",
    "external_id_for",
    "make_units",
    "post_bc_journal",
    "post_units",
    "redated",
]

INVALID_DIMENSION: Final = "erp.dimension.invalid"
RESOURCE_UNKNOWN: Final = "erp.resource.unknown"
POSTING_REJECTED: Final = "erp.posting.rejected"

_EID = re.compile(r"^[A-Za-z0-9_-]{1,80}$")
_FIELD = re.compile(r"following field: (\w+)", re.IGNORECASE)
_DIMENSION_FIELDS = frozenset({"department", "class", "location", "subsidiary"})
_NS_EXPENSE_CATEGORIES: Final = {
    "travel": "1",
    "lodging": "2",
    "meals": "3",
    "mileage": "4",
    "software": "5",
    "supplies": "6",
    "other": "7",
}
"""[inferred] NetSuite expense category ids of the sandbox account, by canonical category."""

Entry = TimeEntry | Expense


def external_id_for(entry_id: str) -> str:
    """The ERP external id of an entry: its own id when NetSuite accepts it, else a hash."""
    if _EID.match(entry_id):
        return entry_id
    return "ACC-" + hashlib.sha256(entry_id.encode()).hexdigest()[:32]


@dataclass(frozen=True)
class Unit:
    """One ERP posting and the entries it carries."""

    external_id: str
    entries: tuple[Entry, ...]
    plan: EntryPlan
    redated_from: Any = None
    """The entries' own date when the posting date is a re-date (memo keeps it)."""


@dataclass
class Outcome:
    """What the ERP said to one unit."""

    unit: Unit
    record_id: str | None = None
    error: PermanentError | MappingError | None = None
    code: str | None = None
    detail: dict[str, Any] = field(default_factory=dict)

    @property
    def posted(self) -> bool:
        """The ERP holds it."""
        return self.record_id is not None


def make_units(
    planned: Sequence[tuple[Entry, EntryPlan]],
    *,
    summary: bool,
    submission_id: str,
) -> list[Unit]:
    """The postings for the planned entries: one each, or one per project, day and flag."""
    if not summary:
        return [
            Unit(
                external_id=external_id_for(entry.id),
                entries=(entry,),
                plan=plan,
                redated_from=entry.date if plan.posting_date != entry.date else None,
            )
            for entry, plan in planned
        ]
    groups: dict[tuple[Any, ...], list[tuple[Entry, EntryPlan]]] = {}
    for entry, plan in planned:
        rate = entry.bill_rate if isinstance(entry, TimeEntry) else None
        key = (
            type(entry).__name__,
            entry.project_id,
            entry.date,
            plan.posting_date,
            plan.billable,
            str(rate.amount) if rate else "",
        )
        groups.setdefault(key, []).append((entry, plan))
    units = []
    for key, members in groups.items():
        digest = hashlib.sha256("|".join(str(k) for k in (*key, submission_id)).encode())
        plan = members[0][1]
        units.append(
            Unit(
                external_id="SUM-" + digest.hexdigest()[:28],
                entries=tuple(e for e, _ in members),
                plan=plan,
                redated_from=members[0][0].date if plan.posting_date != key[2] else None,
            )
        )
    return units


def _memo(unit: Unit) -> str:
    first = unit.entries[0]
    text = first.notes if isinstance(first, TimeEntry) else first.description
    if len(unit.entries) > 1:
        text = f"Summary of {len(unit.entries)} entries ({first.date.isoformat()})"
    extra = "; ".join(unit.plan.notes)
    if extra:
        text = f"{text} [{extra}]"
    if unit.redated_from is not None:
        text = redate_memo(text, unit.redated_from)
    return text[:999]


def _time_entry(unit: Unit) -> TimeEntry:
    first = unit.entries[0]
    assert isinstance(first, TimeEntry)
    hours = sum((e.hours for e in unit.entries if isinstance(e, TimeEntry)), Decimal(0))
    return first.model_copy(
        update={
            "id": unit.external_id,
            "date": unit.plan.posting_date,
            "hours": hours,
            "billable": unit.plan.billable,
            "notes": _memo(unit),
        }
    )


def _post_netsuite(
    connector: Connector[Any], facts: ProjectFacts, unit: Unit, ttl: float
) -> str | None:
    first = unit.entries[0]
    resource = first.resource_id
    found = erp.employee(connector, resource, ttl=ttl) if resource else None
    if found is None:
        return None
    records = {"employee": {resource or "": found["id"]}, "job": {facts.project_id: facts.erp_id}}
    dims = unit.plan.dimensions
    if isinstance(first, TimeEntry):
        body = time_bill_from_canonical(
            _time_entry(unit),
            lookups=NetSuiteLookups(subsidiaries={}, currencies={}, records=records),
            department=dims["department"],
            class_=dims["class"],
        )
        return erp.put_by_external_id(connector, "timeBill", unit.external_id, body)
    expense = first.model_copy(
        update={
            "date": unit.plan.posting_date,
            "billable": unit.plan.billable,
            "description": _memo(unit),
        }
    )
    lookups = NetSuiteLookups(
        # An expense report belongs to its employee's subsidiary (NetSuite refuses another).
        subsidiaries={facts.legal_entity: found["subsidiary"]},
        currencies=erp.netsuite_currencies(connector, ttl=ttl),
        expense_categories=_NS_EXPENSE_CATEGORIES,
        records=records,
    )
    body = expense_report_from_canonical(
        [expense], employee_id=resource or "", legal_entity=facts.legal_entity, lookups=lookups
    )
    for line in body["expense"]["items"]:
        line["department"] = {"id": dims["department"]}
        line["class"] = {"id": dims["class"]}
    return erp.put_by_external_id(connector, "expenseReport", unit.external_id, body)


def _post_bc(company: Connector[Any], facts: ProjectFacts, unit: Unit) -> str | None:
    first = unit.entries[0]
    number = bc_number(unit.external_id)
    if isinstance(first, TimeEntry):
        resource = first.resource_id
        lookups = BusinessCentralLookups(
            legal_entity=facts.legal_entity,
            resources={resource: bc_number(resource)},
            records={"projects": {facts.project_id: facts.erp_id}},
        )
        body = journal_line_from_time_entry(_time_entry(unit), lookups=lookups)
    else:
        amount = first.amount.amount
        body = {
            "postingDate": unit.plan.posting_date.isoformat(),
            "projectNumber": facts.erp_id,
            "quantity": 1,
            "unitCost": float(amount),
            "unitPrice": float(amount) if unit.plan.billable else 0,
            "description": _memo(unit)[:100],
            "externalDocumentNumber": bc_number(unit.external_id, length=35),
        }
    with_key = {k: v for k, v in body.items() if k != "documentNumber"}
    erp.with_retries(lambda: company.upsert("journalLines", number, with_key))
    return number


_FIELD_CODES: Final = {
    **dict.fromkeys(_DIMENSION_FIELDS, INVALID_DIMENSION),
    "customer": INACTIVE,
    "employee": RESOURCE_UNKNOWN,
}
"""Refused reference field -> exception code (a refused job is an inactive project)."""


def classify(error: PermanentError | MappingError) -> str:
    """The exception code of an ERP refusal (closed period, invalid dimension, inactive ...)."""
    detail = str(error) if isinstance(error, MappingError) else (error.detail or str(error))
    kind = classify_user_error(detail)
    lowered = detail.lower()
    code = POSTING_REJECTED
    if isinstance(error, MappingError):
        pass
    elif kind == "closed_period" or "allowed posting dates" in lowered:
        code = PERIOD_CLOSED
    elif "blocked" in lowered:
        code = INACTIVE
    elif kind == "invalid_reference":
        found = _FIELD.search(detail)
        code = _FIELD_CODES.get(found.group(1).lower() if found else "", POSTING_REJECTED)
    return code


def _error_detail(error: PermanentError | MappingError) -> dict[str, Any]:
    if isinstance(error, PermanentError):
        return {
            "error": type(error).__name__,
            "code": error.code,
            "detail": error.detail or str(error),
            "status_code": error.status_code,
        }
    return {"error": type(error).__name__, "detail": str(error)}


def post_units(
    connector: Connector[Any],
    facts: ProjectFacts,
    units: Sequence[Unit],
    *,
    max_workers: int,
    ttl: float,
) -> list[Outcome]:
    """Post every unit (in parallel); one outcome each, in order.

    Retryable failures are retried per call (:func:`~.erp.with_retries`); one that persists
    propagates, ending the step so that DBOS retries it (every PUT is idempotent).
    """
    target: Any = connector
    if facts.erp == "business_central":
        target = connector.for_company(facts.legal_entity)  # type: ignore[attr-defined]

    def one(unit: Unit) -> Outcome:
        try:
            if facts.erp == "business_central":
                record_id = _post_bc(target, facts, unit)
            else:
                record_id = erp.with_retries(lambda: _post_netsuite(target, facts, unit, ttl))
        except (PermanentError, MappingError) as exc:
            return Outcome(unit=unit, error=exc, code=classify(exc), detail=_error_detail(exc))
        if record_id is None:
            return Outcome(
                unit=unit,
                code=RESOURCE_UNKNOWN,
                detail={"detail": f"no ERP employee for resource {unit.entries[0].resource_id}"},
            )
        return Outcome(unit=unit, record_id=record_id)

    if len(units) <= 1 or max_workers <= 1:
        return [one(u) for u in units]
    return list(_pool(connector, max_workers).map(one, units))


_pools: dict[str, ThreadPoolExecutor] = {}
_pools_lock = threading.Lock()


def _pool(connector: Connector[Any], max_workers: int) -> ThreadPoolExecutor:
    """One thread pool per connection and process, twice as wide as the connection's concurrency.

    Shared by every run of the process: the runs' postings queue here rather than as dozens
    of threads waiting at the connection's budget. Twice the concurrency, so that a thread is
    always waiting at the budget when a call ends: each thread also spends time outside its
    slot (building the body, reading the answer), and with only as many threads as slots the
    ERP's slots sat idle meanwhile (about 30% of the time at quarter-end volumes).
    """
    key = f"{connector.name}@{connector.config.base_url}"
    width = max(1, min(max_workers, 2 * connector.config.concurrency))
    with _pools_lock:
        pool = _pools.get(key)
        if pool is None:
            pool = _pools[key] = ThreadPoolExecutor(
                max_workers=width, thread_name_prefix=f"ttb-{connector.name}"
            )
        return pool


def post_bc_journal(
    connector: Connector[Any], facts: ProjectFacts, outcomes: list[Outcome]
) -> list[Outcome]:
    """Post the company's time journal after its lines were staged; a refusal fails them all.

    BC posts a batch all or nothing, so a refused post turns every staged line of this
    submission into a refusal (their lines are removed from the batch, so the next
    submission's post is not blocked by them).
    """
    staged = [o for o in outcomes if o.posted]
    if facts.erp != "business_central" or not staged:
        return outcomes
    company: Any = connector.for_company(facts.legal_entity)  # type: ignore[attr-defined]
    try:
        erp.with_retries(lambda: company.post_journal("time"))
    except PermanentError as exc:
        for outcome in staged:
            line = erp.with_retries(
                partial(company.get_by_external_id, "journalLines", outcome.record_id)
            )
            if line is not None:
                erp.with_retries(partial(company.delete, "journalLines", str(line["id"])))
            outcome.record_id = None
            outcome.error = exc
            outcome.code = classify(exc)
            outcome.detail = _error_detail(exc)
    return outcomes


def amount_of(entry: Entry) -> Money | None:
    """What an entry is worth to the customer: hours x rate, or the expense amount."""
    if isinstance(entry, TimeEntry):
        return entry.billable_amount()
    return entry.amount


def redated(unit: Unit, plan: EntryPlan) -> Unit:
    """The unit posted on ``plan``'s date (a re-date after the ERP refused its period)."""
    return replace(unit, plan=plan, redated_from=unit.entries[0].date)
