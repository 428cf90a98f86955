"""ERP reads for time-to-bill, cached per process with a short TTL, and the posting calls.

Reads: the project (NetSuite ``job`` / Business Central ``projects``) as
:class:`~.validation.ProjectFacts`, the closed accounting periods of a legal entity (NetSuite
``accountingPeriod`` through SuiteQL / BC ``accountingPeriods``), employees and currencies.
Each is cached for ``cache_ttl_s`` (``time_to_bill.cache_ttl_s``) keyed by the connection's
base URL, so the thousands of submissions of a quarter-end burst read each project and each
period table once a minute, not once per entry.

NetSuite's period record says ``closed`` only when the period is closed for every
subsidiary; a period closed for one subsidiary is learnt from the ERP's own refusal
(:meth:`PeriodCache.note_closed`) and the rest of the burst then avoids it.

Posting: NetSuite ``PUT /record/v1/{timeBill|expenseReport}/eid:<id>`` is sent directly
(:func:`put_by_external_id`): the connector's ``upsert`` looks the external id up first to
report ``created``, which would double the calls of a burst for a value nobody reads here.
The PUT is the same idempotent upsert either way.
"""

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import replace
from datetime import date
from functools import partial
from typing import Any, TypeVar

import httpx
import sqlalchemy as sa

from accord.connectors.base import Connector
from accord.domain import BillingModel, ErpSystem
from accord.errors import NotFoundError, PermanentError, RetryableError
from accord.flows.billing.validation import PeriodTable, ProjectFacts, month_of
from accord.rules import Rules
from accord.store import journal, xref

__all__ = [
    "TtlCache",
    "employee",
    "netsuite_currencies",
    "periods",
    "project_facts",
    "put_by_external_id",
    "with_retries",
]

logger = logging.getLogger(__name__)

_T = TypeVar("_T")
_MISSING = object()


class TtlCache:
    """A thread-safe dictionary whose values expire ``ttl`` seconds after they were stored."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._values: dict[Any, tuple[float, Any]] = {}

    def get_or_load(self, key: Any, ttl: float, load: Callable[[], _T]) -> _T:  # noqa: ANN401 - any hashable
        """The cached value of ``key``, or ``load()`` stored for ``ttl`` seconds."""
        now = self._clock()
        with self._lock:
            found = self._values.get(key)
        if found is not None and found[0] > now:
            value: _T = found[1]
            return value
        loaded = load()
        if ttl > 0:
            with self._lock:
                self._values[key] = (now + ttl, loaded)
        return loaded

    def update(self, key: Any, change: Callable[[Any], Any]) -> None:  # noqa: ANN401 - any hashable
        """Replace a cached value with ``change(value)`` (nothing when it is not cached)."""
        with self._lock:
            found = self._values.get(key)
            if found is not None:
                self._values[key] = (found[0], change(found[1]))


_projects = TtlCache()
_periods = TtlCache()
_employees = TtlCache()
_currencies = TtlCache()


def _where(connector: Connector[Any]) -> str:
    return f"{connector.name}@{connector.config.base_url}"


def with_retries(call: Callable[[], _T], *, attempts: int = 8, sleep: float = 0.2) -> _T:
    """``call()``, retried on :class:`RetryableError` with backoff (429s, 5xx, timeouts).

    Retrying one call here keeps a burst going: letting the error end the step would re-send
    every posting of the submission.
    """
    for attempt in range(attempts):
        try:
            return call()
        except RetryableError as exc:
            if attempt == attempts - 1:
                raise
            wait = exc.retry_after or min(5.0, sleep * 2**attempt)
            time.sleep(wait)
    raise AssertionError("unreachable")  # pragma: no cover


def _ref(record: dict[str, Any], name: str) -> str | None:
    value = record.get(name)
    if isinstance(value, dict) and value.get("id") is not None:
        return str(value["id"])
    return str(value) if isinstance(value, str | int) and value != "" else None


def _date(value: object) -> date | None:
    if not value:
        return None
    try:
        return date.fromisoformat(str(value)[:10])
    except ValueError:
        return None


# ---------------------------------------------------------------------- projects
_NS_BILLING = {
    "TM": BillingModel.TIME_AND_MATERIALS,
    "CB": BillingModel.TIME_AND_MATERIALS,
    "FBI": BillingModel.FIXED_FEE,
    "FBM": BillingModel.MILESTONE,
}
_NS_ACTIVE = "2"
"""``entityStatus`` In Progress: the only NetSuite status that takes new time."""
_NS_STATUS = {"1": "Closed", "2": "In Progress", "3": "Not Awarded", "4": "Pending"}
_BC_BILLING = {
    "Time and Materials": BillingModel.TIME_AND_MATERIALS,
    "Fixed Fee": BillingModel.FIXED_FEE,
    "Milestone": BillingModel.MILESTONE,
    "Retainer": BillingModel.RETAINER,
}


def _netsuite_billing(record: dict[str, Any]) -> BillingModel:
    model = _NS_BILLING.get(_ref(record, "jobBillingType") or "TM", BillingModel.TIME_AND_MATERIALS)
    # NetSuite bills a retainer like a fixed fee ("FBI"); lead-to-project notes the canonical
    # model in the job's comments, which tells the two apart.
    if model is BillingModel.FIXED_FEE and "Billing: retainer" in str(record.get("comments", "")):
        return BillingModel.RETAINER
    return model


def _netsuite_project(
    connector: Connector[Any], rules: Rules, connection: str, project_id: str, erp_id: str
) -> ProjectFacts | None:
    try:
        record = with_retries(lambda: connector.get("job", erp_id))
    except NotFoundError:
        return None
    subsidiary = _ref(record, "subsidiary")
    entities = rules.spec.legal_entities
    candidates = [c for c, e in entities.items() if e.netsuite_subsidiary_id == subsidiary]
    # DE01 also has a NetSuite subsidiary (consolidation): prefer the entity booked here.
    native = [c for c in candidates if entities[c].erp is ErpSystem.NETSUITE]
    legal_entity = (native or candidates or [subsidiary or "?"])[0]
    department, klass = _ref(record, "department"), _ref(record, "class")
    practice = next(
        (c for c, p in rules.spec.practices.items() if p.netsuite_department_id == department),
        None,
    )
    region = next((c for c, r in rules.spec.regions.items() if r.netsuite_class_id == klass), None)
    status = _ref(record, "entityStatus") or _NS_ACTIVE
    entity = entities.get(legal_entity)
    return ProjectFacts(
        project_id=project_id,
        erp="netsuite",
        connection=connection,
        erp_id=erp_id,
        legal_entity=legal_entity,
        active=status == _NS_ACTIVE and record.get("allowTime", True) is not False,
        status=_NS_STATUS.get(status, status),
        start_date=_date(record.get("startDate")),
        end_date=_date(record.get("projectedEndDate") or record.get("endDate")),
        billing_model=_netsuite_billing(record),
        practice=practice,
        region=region,
        currency=entity.currency if entity else "USD",
    )


def _bc_project(
    connector: Connector[Any], rules: Rules, connection: str, project_id: str, number: str
) -> ProjectFacts | None:
    entities = rules.spec.legal_entities
    for code, entity in entities.items():
        if entity.erp is not ErpSystem.BUSINESS_CENTRAL or entity.connection != connection:
            continue
        company: Any = connector.for_company(code)  # type: ignore[attr-defined]
        record = with_retries(partial(company.get_by_external_id, "projects", number))
        if record is None:
            continue
        status = str(record.get("status") or "Open")
        blocked = str(record.get("blocked") or " ").strip()
        department, area = record.get("departmentCode"), record.get("areaCode")
        return ProjectFacts(
            project_id=project_id,
            erp="business_central",
            connection=connection,
            erp_id=number,
            legal_entity=code,
            active=status == "Open" and not blocked,
            status=f"{status} (blocked: {blocked})" if blocked else status,
            start_date=_date(record.get("startDate")),
            end_date=_date(record.get("endDate")),
            billing_model=_BC_BILLING.get(
                str(record.get("billingModel")), BillingModel.TIME_AND_MATERIALS
            ),
            practice=next(
                (c for c, p in rules.spec.practices.items() if p.bc_department_code == department),
                None,
            ),
            region=next((c for c, r in rules.spec.regions.items() if r.bc_area_code == area), None),
            currency=str(record.get("currencyCode") or entity.currency),
        )
    return None


def _deal(engine: sa.Engine, project_id: str) -> dict[str, Any] | None:
    """The won opportunity a project was provisioned from (its journaled event), if any.

    Practice, region and billing model are the CRM's (field ownership); the ERP holds them
    only as mapped ids, and NetSuite bills a retainer like a fixed fee.
    """
    opportunity_id = project_id.removeprefix("PRJ-")
    with engine.connect() as conn:
        found = journal.list_(
            conn, type_="opportunity.won", business_key=f"opportunity:{opportunity_id}", limit=100
        )
        got = journal.get(conn, seq=found[-1].seq) if found else None
    if got is None:
        return None
    data = got[1]
    return data if isinstance(data, dict) else None


def project_facts(
    engine: sa.Engine,
    connector_for: Callable[[str], Connector[Any]],
    rules: Rules,
    project_id: str,
    *,
    ttl: float,
) -> ProjectFacts | None:
    """What the ERP says about a canonical project; ``None`` when no ERP knows it.

    The ERP connection is the one lead-to-project created the project in (xref
    ``erp_project``), which the rules chose by the project's legal entity.
    """
    with engine.connect() as conn:
        rows = xref.list_for(conn, entity_type="erp_project", canonical_ids=[project_id])
    if not rows:
        return None
    row = rows[-1]
    connector = connector_for(row.connection)

    def load() -> ProjectFacts | None:
        if row.system == "business_central":
            facts = _bc_project(connector, rules, row.connection, project_id, row.external_id)
        else:
            facts = _netsuite_project(connector, rules, row.connection, project_id, row.external_id)
        hint = _deal(engine, project_id)
        if facts is None or not hint:
            return facts
        # The deal's own codes win over codes mapped back from ERP ids: after a rules change
        # (a practice moved to another department) the old ids no longer map back.
        return replace(
            facts,
            practice=str(hint.get("practice") or facts.practice),
            region=str(hint.get("region") or facts.region),
            billing_model=BillingModel(hint.get("billing_model") or facts.billing_model),
        )

    key = (_where(connector), project_id, rules.version)
    return _projects.get_or_load(key, ttl, load)


# ---------------------------------------------------------------------- periods
def _period_key(connector: Connector[Any], legal_entity: str) -> tuple[str, str]:
    return (_where(connector), legal_entity)


def periods(connector: Connector[Any], facts: ProjectFacts, *, ttl: float) -> PeriodTable:
    """The closed months of the project's legal entity, as its ERP reports them."""

    def load() -> PeriodTable:
        closed: set[str] = set()
        if facts.erp == "business_central":
            company: Any = connector.for_company(facts.legal_entity)  # type: ignore[attr-defined]
            page = with_retries(lambda: company.read_page("accountingPeriods", limit=1000))
            for r in page.records:
                start = _date(r.get("startingDate"))
                if start and (r.get("closed") is True or r.get("dateLocked") is True):
                    closed.add(month_of(start))
            return PeriodTable(closed=frozenset(closed))
        cursor: str | None = None
        for _ in range(20):
            page = with_retries(
                partial(connector.read_page, "accountingPeriod", cursor=cursor, limit=1000)
            )
            for r in page.records:
                start = _date(r.get("startdate") or r.get("startDate"))
                if start and str(r.get("closed")) in {"T", "True", "true"}:
                    closed.add(month_of(start))
            cursor = page.next_cursor
            if cursor is None:
                break
        return PeriodTable(closed=frozenset(closed))

    return _periods.get_or_load(_period_key(connector, facts.legal_entity), ttl, load)


def note_closed(connector: Connector[Any], legal_entity: str, day: date) -> None:
    """Remember a period the ERP refused as closed (until the cached table expires)."""
    _periods.update(_period_key(connector, legal_entity), lambda t: t.with_closed(month_of(day)))


# ---------------------------------------------------------------------- employees, currencies
def employee(connector: Connector[Any], resource_id: str, *, ttl: float) -> dict[str, str] | None:
    """NetSuite employee ``{"id", "subsidiary"}`` of a canonical resource (``eid:`` lookup)."""

    def load() -> dict[str, str] | None:
        try:
            found = with_retries(lambda: connector.get_by_external_id("employee", resource_id))
        except (PermanentError, ValueError):
            return None
        if found is None:
            return None
        return {"id": str(found["id"]), "subsidiary": _ref(found, "subsidiary") or ""}

    return _employees.get_or_load((_where(connector), resource_id), max(ttl, 300.0), load)


def netsuite_currencies(connector: Connector[Any], *, ttl: float) -> dict[str, str]:
    """ISO code -> NetSuite currency id."""

    def load() -> dict[str, str]:
        page = with_retries(lambda: connector.read_page("currency", limit=200))
        return {
            str(r.get("symbol") or r.get("name")): str(r.get("id"))
            for r in page.records
            if r.get("id") is not None
        }

    return _currencies.get_or_load(_where(connector), max(ttl, 300.0), load)


# ---------------------------------------------------------------------- posting
def put_by_external_id(
    connector: Connector[Any], record_type: str, external_id: str, body: dict[str, Any]
) -> str:
    """NetSuite ``PUT /record/v1/{type}/eid:{external_id}``; returns the internal id.

    Raises:
        PermanentError: The ERP refused it (a :class:`~accord.errors.BusinessRuleError` for
            a closed period or an invalid reference), or answered without a ``Location``.
    """
    response = connector.send(
        "PUT", f"/record/v1/{record_type}/eid:{external_id}", resource=record_type, json=body
    )
    connector.raise_for_status(response, resource=record_type, external_id=external_id)
    location = response.headers.get("location", "")
    record_id = httpx.URL(location).path.rstrip("/").rsplit("/", 1)[-1] if location else ""
    if not record_id.isdigit():
        raise PermanentError(
            "write answered without a usable Location header",
            connector=connector.name,
            resource=record_type,
            external_id=external_id,
            status_code=response.status_code,
        )
    return record_id
