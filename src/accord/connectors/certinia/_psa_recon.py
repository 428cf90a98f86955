"""Certinia in the PSA role, reconciliation half: approved work and project terms in bulk.

Read by SOQL in batches (:mod:`accord.connectors.salesforce._recon`), never one call per entry:

- **Approved work**: ``pse__Timecard_Header__c`` and ``pse__Expense__c`` with
  ``pse__Status__c = 'Approved'`` of the projects (``pse__Project__c IN (...)``, and
  ``SystemModstamp`` for changes since), mapped as their approvals map them: a timecard gives
  one entry per day with hours (``<timecard id>-<date>``), priced as the approval prices it.
  Entries named by canonical id are read by the timecard's (or expense's) ``Id`` or
  ``Accord_Id__c``.
- **Terms**: ``pse__Proj__c``: the budget is ``pse__Bookings__c``, the dates
  ``pse__Start_Date__c`` and ``pse__End_Date__c``. Provisioning writes the budget into
  bookings and a contract amendment the contract's value, so bookings is read as either.
- **Existence**: projects, resources (``Contact``) and billing events by ``Id IN (...)``.
"""

import datetime as dt
import re
from collections.abc import Collection, Iterator
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Final

from accord.connectors.certinia.connector import CertiniaConnector
from accord.connectors.certinia.mapping import (
    RATE_CARDS,
    expense_to_canonical,
    timecard_to_timesheet,
)
from accord.connectors.roles import BACKGROUND, HeldTerms, HeldWork, Lane
from accord.connectors.roles.recon import held_date, held_moment
from accord.connectors.salesforce._recon import records_in
from accord.connectors.salesforce.records import (
    EXTERNAL_ID_FIELD,
    RecordMappingError,
    salesforce_id_of,
)
from accord.connectors.salesforce.rest import format_soql_datetime
from accord.connectors.types import RawRecord
from accord.errors import MappingError

__all__ = ["CertiniaReconciliation"]

_TIMECARD: Final = "pse__Timecard_Header__c"
_EXPENSE: Final = "pse__Expense__c"
_PROJECT: Final = "pse__Proj__c"
_APPROVED: Final = "pse__Status__c = 'Approved'"
_DATED = re.compile(r"^(?P<card>.+)-\d{4}-\d{2}-\d{2}$")
_EXISTING: Final = {
    "psa_project": _PROJECT,
    "resource": "Contact",
    "invoice": "pse__Billing_Event__c",
}


def _split(ids: Collection[str]) -> tuple[list[str], list[str]]:
    """Salesforce ids and ``Accord_Id__c`` values behind canonical record ids."""
    by_id = [i for i in (salesforce_id_of(c) for c in ids) if i]
    by_key = [c for c in ids if salesforce_id_of(c) is None]
    return by_id, by_key


class CertiniaReconciliation:
    """The reconciliation methods of :class:`~accord.connectors.certinia.psa.CertiniaPsa`."""

    _connector: CertiniaConnector

    if TYPE_CHECKING:

        def _rate_cards(self, record: RawRecord) -> dict[str, str]:
            """Rate-card rates pricing a timecard (the billing half's)."""
            ...

    # --- reconciliation ------------------------------------------------------------------
    def _named(self, resource: str, ids: Collection[str], *, lane: Lane) -> Iterator[RawRecord]:
        by_id, by_key = _split(ids)
        yield from records_in(self._connector, resource, by_id, where=_APPROVED, lane=lane)
        yield from records_in(
            self._connector, resource, by_key, field=EXTERNAL_ID_FIELD, where=_APPROVED, lane=lane
        )

    def approved_work(
        self,
        projects: Collection[str],
        *,
        changed_since: dt.datetime | None = None,
        entry_ids: Collection[str] = (),
        lane: Lane = BACKGROUND,
    ) -> list[HeldWork]:
        """Approved timecards and expenses (module docstring)."""
        where = _APPROVED
        if changed_since is not None:
            where += f" AND SystemModstamp >= {format_soql_datetime(changed_since)}"
        cards = list(
            records_in(
                self._connector,
                _TIMECARD,
                projects,
                field="pse__Project__c",
                where=where,
                lane=lane,
            )
        )
        expenses = list(
            records_in(
                self._connector, _EXPENSE, projects, field="pse__Project__c", where=where, lane=lane
            )
        )
        dated = [m["card"] for m in map(_DATED.match, entry_ids) if m]
        named = self._named(_TIMECARD, dated, lane=lane)
        expenses += self._named(_EXPENSE, [i for i in entry_ids if not _DATED.match(i)], lane=lane)
        found: dict[str, HeldWork] = {}
        for card in cards:
            for work in self._timecard(card):
                found[work.key] = work
        wanted = set(entry_ids)
        for card in named:
            # A named card holds a week: only the days asked for.
            found.update({w.key: w for w in self._timecard(card) if w.key in wanted})
        for record in expenses:
            spent = _expense(record)
            if spent is not None:
                found[spent.key] = spent
        return list(found.values())

    def _timecard(self, record: RawRecord) -> list[HeldWork]:
        """A timecard's days with hours; one that does not map (an approval exception) none."""
        project = str(record.get("pse__Project__c") or "")
        contact = str(record.get("pse__Resource__c") or "")
        lookups = {
            # Only the entries' own ids matter here: project and person keep Salesforce's ids.
            _PROJECT: {project: project},
            "Contact": {contact: contact},
            RATE_CARDS: self._rate_cards(record),
        }
        try:
            sheet = timecard_to_timesheet(record, lookups=lookups)
        except (RecordMappingError, MappingError):
            return []
        changed = held_moment(record.get("SystemModstamp"))
        out = []
        for entry in sheet.entries:
            worth = entry.billable_amount()
            out.append(
                HeldWork(
                    kind="time",
                    key=entry.id,
                    record_id=str(record.get("Id") or ""),
                    project=project,
                    date=entry.date,
                    hours=entry.hours,
                    amount=worth.amount if worth else None,
                    currency=worth.currency if worth else None,
                    billable=entry.billable,
                    changed_at=changed,
                )
            )
        return out

    def project_terms(
        self, projects: Collection[str], *, lane: Lane = BACKGROUND
    ) -> dict[str, HeldTerms]:
        """``pse__Bookings__c`` and dates of the projects."""
        out: dict[str, HeldTerms] = {}
        for record in records_in(self._connector, _PROJECT, projects, lane=lane):
            bookings = record.get("pse__Bookings__c")
            try:
                budget = Decimal(str(bookings)) if bookings is not None else None
            except InvalidOperation:
                budget = None
            sf_id = str(record.get("Id"))
            out[sf_id] = HeldTerms(
                project=sf_id,
                budget=budget,
                currency=str(record.get("CurrencyIsoCode") or "") or None,
                start_date=held_date(record.get("pse__Start_Date__c")),
                end_date=held_date(record.get("pse__End_Date__c")),
                contract_value=budget,
            )
        return out

    def existing(
        self, entity_type: str, ids: Collection[str], *, lane: Lane = BACKGROUND
    ) -> set[str] | None:
        """Projects, resources and billing events found by ``Id IN (...)``."""
        resource = _EXISTING.get(entity_type)
        if resource is None:
            return None
        return {str(r.get("Id")) for r in records_in(self._connector, resource, ids, lane=lane)}


def _expense(record: RawRecord) -> HeldWork | None:
    project = str(record.get("pse__Project__c") or "")
    contact = str(record.get("pse__Resource__c") or "")
    lookups = {_PROJECT: {project: project}, "Contact": {contact: contact}}
    try:
        expense = expense_to_canonical(record, lookups=lookups)
    except (RecordMappingError, MappingError):
        return None
    return HeldWork(
        kind="expense",
        key=expense.id,
        record_id=str(record.get("Id") or ""),
        project=project,
        date=expense.date,
        hours=None,
        amount=expense.amount.amount,
        currency=expense.amount.currency,
        billable=expense.billable,
        changed_at=held_moment(record.get("SystemModstamp")),
    )
