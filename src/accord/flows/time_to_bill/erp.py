"""ERP reads for time-to-bill through the ERP role, cached per process with a short TTL.

Reads: the project (:meth:`~accord.connectors.roles.Erp.project`) as
:class:`~.validation.ProjectFacts`, and the closed accounting periods of a legal entity
(:meth:`~accord.connectors.roles.Erp.closed_periods`). Each is cached for ``cache_ttl_s``
(``time_to_bill.cache_ttl_s``) keyed by the connection, so the thousands of submissions of a
quarter-end burst read each project and each period table once a minute, not once per entry.

An ERP's period table may say open where the ERP refuses a period for one legal entity
(NetSuite's is account-wide); such a period is learnt from the ERP's own refusal
(:func:`note_closed`) and the rest of the burst then avoids it.
"""

import datetime as dt
import logging
import time
from collections.abc import Callable
from dataclasses import replace
from functools import partial
from typing import Any, TypeVar

import sqlalchemy as sa

from accord.connectors.cache import TtlCache
from accord.connectors.roles import Erp, ErpProject
from accord.domain import BillingModel
from accord.errors import RetryableError
from accord.flows.shared.shadow import booked_view
from accord.flows.time_to_bill.validation import PeriodTable, ProjectFacts, month_of
from accord.rules import Rules
from accord.store import journal, xref
from accord.store.xref import XrefRow

__all__ = [
    "TtlCache",
    "erp_project",
    "note_closed",
    "periods",
    "project_facts",
    "with_retries",
]

logger = logging.getLogger(__name__)

_T = TypeVar("_T")

_projects = TtlCache()
_periods = TtlCache()


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


def _deal(engine: sa.Engine, project_id: str) -> dict[str, Any] | None:
    """The won opportunity a project was provisioned from (its journaled event), if any.

    Practice, region and billing model are the CRM's (field ownership); the ERP holds them
    only as mapped ids, and an ERP may bill a retainer like a fixed fee.
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


def _read_project(erp_for: Callable[[str], Erp], row: XrefRow) -> ErpProject | None:
    return erp_for(row.connection).project(row.external_id)


def _read_migrating(
    erp_as: Callable[[str, Rules], Erp], rules: Rules, row: XrefRow
) -> ErpProject | None:
    """The project of ``row`` read as a migrating entity's other ERP, if it is one."""
    for code, entity in rules.spec.legal_entities.items():
        migration = entity.migration
        if migration is None or migration.shadow_connection != row.connection:
            continue
        view = booked_view(rules, code, migration.shadow.value, row.connection)
        found = erp_as(row.connection, view).project(row.external_id)
        if found is not None and found.legal_entity == code:
            return found
    return None


def project_facts(
    engine: sa.Engine,
    erp_for: Callable[[str], Erp],
    project_id: str,
    *,
    rules_version: str,
    ttl: float,
    rules: Rules | None = None,
    erp_as: Callable[[str, Rules], Erp] | None = None,
) -> ProjectFacts | None:
    """What the ERP says about a canonical project; ``None`` when no ERP knows it.

    The ERP connection is the one lead-to-project created the project in (xref
    ``erp_project``), which the rules chose by the project's legal entity. A project held by
    two ERPs (a legal entity migrating, docs/migration.md) is read from the one ``rules``
    book its legal entity on, so that a cut-over or rollback routes the run's postings; one
    only the entity's other ERP holds (not carried over yet) is read there through
    ``erp_as(connection, rules)``, and its postings go there.
    """
    with engine.connect() as conn:
        rows = xref.list_for(conn, entity_type="erp_project", canonical_ids=[project_id])
    if not rows:
        return None

    def routed() -> tuple[XrefRow, ErpProject] | None:
        # Newest first, but a migrating entity's other ERP last: the system of record's copy
        # is then read first and the other ERP not at all (its outage or slowness must not
        # reach the system of record's path).
        others = {
            e.migration.shadow_connection
            for e in (rules.spec.legal_entities.values() if rules else ())
            if e.migration is not None
        }
        candidates = list(reversed(rows))
        candidates.sort(key=lambda r: r.connection in others)  # stable: newest first still
        fallback: tuple[XrefRow, ErpProject] | None = None
        for row in candidates:
            found = with_retries(partial(_read_project, erp_for, row))
            if found is None and erp_as is not None and rules is not None:
                found = with_retries(partial(_read_migrating, erp_as, rules, row))
            if found is None:
                continue
            booked = rules.spec.legal_entities.get(found.legal_entity) if rules else None
            if len(candidates) == 1 or (booked and booked.connection == row.connection):
                return row, found
            fallback = fallback or (row, found)
        return fallback

    def load() -> ProjectFacts | None:
        hit = routed()
        if hit is None:
            return None
        row, found = hit
        facts = ProjectFacts(
            project_id=project_id,
            erp=row.system,
            connection=row.connection,
            erp_id=found.erp_id,
            legal_entity=found.legal_entity,
            active=found.active,
            status=found.status,
            start_date=found.start_date,
            end_date=found.end_date,
            billing_model=found.billing_model,
            practice=found.practice,
            region=found.region,
            currency=found.currency,
        )
        hint = _deal(engine, project_id)
        if not hint:
            return facts
        # The deal's own codes win over codes mapped back from ERP ids: after a rules change
        # (a practice moved to another department) the old ids no longer map back.
        return replace(
            facts,
            practice=str(hint.get("practice") or facts.practice),
            region=str(hint.get("region") or facts.region),
            billing_model=BillingModel(hint.get("billing_model") or facts.billing_model),
        )

    # The database is in the key: a process that serves another database (a test module's
    # fresh installation reusing the same project ids) must not read this one's ERP ids.
    key = (str(engine.url), ",".join(r.connection for r in rows), project_id, rules_version)
    return _projects.get_or_load(key, ttl, load)


def erp_project(facts: ProjectFacts) -> ErpProject:
    """The ERP role's view of a project, from the facts a run validated against."""
    return ErpProject(
        erp_id=facts.erp_id,
        legal_entity=facts.legal_entity,
        active=facts.active,
        status=facts.status,
        start_date=facts.start_date,
        end_date=facts.end_date,
        billing_model=facts.billing_model,
        practice=facts.practice,
        region=facts.region,
        currency=facts.currency,
    )


def periods(erp: Erp, facts: ProjectFacts, *, ttl: float) -> PeriodTable:
    """The closed months of the project's legal entity, as its ERP reports them."""

    def load() -> PeriodTable:
        return PeriodTable(closed=with_retries(lambda: erp.closed_periods(facts.legal_entity)))

    return _periods.get_or_load((erp.connection, facts.legal_entity), ttl, load)


def note_closed(erp: Erp, legal_entity: str, day: dt.date) -> None:
    """Remember a period the ERP refused as closed (until the cached table expires)."""
    _periods.update((erp.connection, legal_entity), lambda t: t.with_closed(month_of(day)))
