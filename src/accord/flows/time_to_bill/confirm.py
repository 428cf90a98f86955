"""Refusals the ERP did not mean: rejected entries the ERP in fact holds become posted.

An answer can be wrong about what the ERP holds: a post whose response was lost, or (before
postings were checked against the ERP's ledger) a Business Central journal posted by another
run's post, which answered "There is nothing to post." to this one. The ledger then says
``rejected`` and an exception asks finance to act on entries that are booked; following its
advice would book them twice.

:func:`confirm_rejections` (run on the hold-release schedule) asks each ERP, read only, which
of the entries rejected with an ERP-side code it holds (:meth:`~accord.connectors.roles.Erp.
posted_entries`, by the entries' keys). A submission whose rejected entries are all held is
recorded as posted (ledger, lineage) and its exceptions resolve themselves, through the same
recording as a run. Partly held submissions are left to the owner's retry, which posts only
what the ERP does not hold.
"""

import logging
from collections import defaultdict
from functools import partial
from typing import Final

from accord.domain import Expense, TimeEntry
from accord.flows import stepkit
from accord.flows.time_to_bill import erp
from accord.flows.time_to_bill.post import (
    POSTING_REJECTED,
    UNCLASSIFIED,
    Outcome,
    Unit,
    external_id_for,
)
from accord.flows.time_to_bill.settings import billing_settings
from accord.flows.time_to_bill.steps import PassResult, Submission, record_pass
from accord.flows.time_to_bill.validation import EntryPlan
from accord.store import postings
from accord.store.postings import REJECTED, Posting

__all__ = ["ERP_SIDE_CODES", "confirm_rejections"]

logger = logging.getLogger(__name__)

ERP_SIDE_CODES: Final = (POSTING_REJECTED, UNCLASSIFIED)
"""Codes of refusals the ERP answered without a specific reason: the ones to double-check.
(A closed period or an unknown resource is a real refusal; validation never reached the ERP.)"""
_BATCH: Final = 500


def _entry(row: Posting) -> TimeEntry | Expense:
    model = TimeEntry if row.kind == "time" else Expense
    return model.model_validate_json(row.entry_json or "{}")


def confirm_rejections() -> dict[str, int]:
    """Record as posted the rejected submissions the ERP holds in full; returns counts."""
    engine = stepkit.engine()
    with engine.connect() as conn:
        rows = postings.list_(conn, status=REJECTED, codes=ERP_SIDE_CODES, limit=_BATCH)
    groups: dict[tuple[str, str], list[Posting]] = defaultdict(list)
    for row in rows:
        if row.entry_json:
            groups[(row.kind, row.submission_id)].append(row)
    rules = stepkit.rules()
    settings = billing_settings(stepkit.config_file())
    confirmed = 0
    for (kind, submission_id), members in groups.items():
        facts = erp.project_facts(
            engine,
            stepkit.erp,
            members[0].project_id,
            rules_version=rules.version,
            rules=rules,
            ttl=settings.cache_ttl_s,
        )
        if facts is None:
            continue
        target = stepkit.erp(facts.connection)
        keys = {external_id_for(r.entry_id): r for r in members}
        project = erp.erp_project(facts)
        held = erp.with_retries(partial(target.posted_entries, project, list(keys)))
        if len(held) < len(keys):
            continue
        entries = tuple(_entry(r) for r in members)
        sub = Submission(kind, submission_id, members[0].project_id, entries)
        result = PassResult(
            posted=[], rejected=defaultdict(list), held=[], run_id=members[0].run_id
        )
        for key, row in keys.items():
            entry = _entry(row)
            plan = EntryPlan(
                posting_date=row.entry_date,
                billable=entry.billable,
                period_closed=False,
                dimensions={},
                treatment={"confirmed": "found in the ERP after a refusal"},
            )
            unit = Unit(external_id=key, entries=(entry,), plan=plan)
            result.posted.append((entry, Outcome(unit=unit, record_id=held[key])))
        codes = {r.code for r in members if r.code}
        event_type = "timesheet.approved" if kind == "time" else "expense.approved"
        with engine.begin() as conn:
            record_pass(
                conn,
                sub,
                result,
                event_id=members[0].event_id,
                event_type=event_type,
                facts=facts,
                settings=settings,
                rules=rules,
                previous_codes=codes,
            )
        confirmed += len(members)
        logger.info(
            "%d rejected %s entries of %s are in the ERP: recorded as posted",
            len(members),
            kind,
            submission_id,
        )
    return {"checked": len(rows), "confirmed": confirmed}
