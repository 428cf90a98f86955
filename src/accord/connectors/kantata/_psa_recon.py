"""Kantata in the PSA role, reconciliation half: approved work and project terms in bulk.

- **Approved work**: ``GET /time_entries`` and ``GET /expenses`` filtered by ``workspace_id``
  and ``approved=true`` (and ``updated_after``), 200 a page; entries named by canonical id
  (``kantata-te-<id>``, ``kantata-ex-<id>``) by ``only=``. Each maps as its approval does
  (:mod:`accord.connectors.kantata.mapping`: minutes to hours half-up, cents to the rate), so
  what is read compares with what the approval event carried.
- **Terms**: workspaces by ``only=``: the budget is ``price_in_cents`` of a budgeted
  workspace, the dates ``start_date`` and ``due_date``.
- **Existence**: workspaces, users and invoices by ``only=``.
"""

import datetime as dt
from collections.abc import Collection, Iterator, Mapping
from decimal import Decimal
from typing import Final

from accord.connectors.kantata.connector import KantataConnector
from accord.connectors.kantata.mapping import (
    KantataLookups,
    expense_to_canonical,
    time_entry_to_canonical,
)
from accord.connectors.roles import BACKGROUND, HeldTerms, HeldWork, Lane
from accord.connectors.roles.recon import held_date, held_moment
from accord.connectors.types import RawRecord

__all__ = ["KantataReconciliation"]

_PAGE: Final = 200
_PREFIXES: Final = {"time_entries": "kantata-te-", "expenses": "kantata-ex-"}
"""Collection -> the prefix of its records' canonical ids (see ``_psa_billing``)."""
_EXISTING: Final = {"psa_project": "workspaces", "resource": "users", "invoice": "invoices"}


def _numbers(values: Collection[str]) -> list[str]:
    return sorted({v for v in values if v.isdigit()}, key=int)


class KantataReconciliation:
    """The reconciliation methods of :class:`~accord.connectors.kantata.psa.KantataPsa`."""

    _connector: KantataConnector

    # --- reconciliation ------------------------------------------------------------------
    def _all(
        self,
        collection: str,
        filters: Mapping[str, str],
        *,
        since: dt.datetime | None = None,
        lane: Lane,
    ) -> Iterator[RawRecord]:
        cursor: str | None = None
        while True:
            page = self._connector.query_page(
                collection, filters=filters, cursor=cursor, since=since, limit=_PAGE, lane=lane
            )
            yield from page.records
            cursor = page.next_cursor
            if cursor is None:
                return

    def _only(
        self, collection: str, ids: Collection[str], extra: Mapping[str, str], *, lane: Lane
    ) -> Iterator[RawRecord]:
        numbers = _numbers(ids)
        for start in range(0, len(numbers), _PAGE):
            only = ",".join(numbers[start : start + _PAGE])
            yield from self._all(collection, {"only": only, **extra}, lane=lane)

    def approved_work(
        self,
        projects: Collection[str],
        *,
        changed_since: dt.datetime | None = None,
        entry_ids: Collection[str] = (),
        lane: Lane = BACKGROUND,
    ) -> list[HeldWork]:
        """Approved time entries and expenses (module docstring)."""
        found: dict[str, HeldWork] = {}
        approved = {"approved": "true"}
        for collection in ("time_entries", "expenses"):
            records: list[RawRecord] = []
            for workspace in _numbers(projects):
                filters = {"workspace_id": workspace, **approved}
                records += self._all(collection, filters, since=changed_since, lane=lane)
            prefix = _PREFIXES[collection]
            named = [i.removeprefix(prefix) for i in entry_ids if i.startswith(prefix)]
            records += self._only(collection, named, approved, lane=lane)
            for record in records:
                work = _work(collection, record)
                found[work.key] = work
        return list(found.values())

    def project_terms(
        self, projects: Collection[str], *, lane: Lane = BACKGROUND
    ) -> dict[str, HeldTerms]:
        """Budgeted ``price_in_cents`` and dates of the workspaces."""
        out: dict[str, HeldTerms] = {}
        for record in self._only("workspaces", projects, {}, lane=lane):
            price = record.get("price_in_cents")
            budget = (
                Decimal(int(price)) / 100 if record.get("budgeted") and price is not None else None
            )
            out[str(record["id"])] = HeldTerms(
                project=str(record["id"]),
                budget=budget,
                currency=str(record.get("currency") or "") or None,
                start_date=held_date(record.get("start_date")),
                end_date=held_date(record.get("due_date")),
            )
        return out

    def existing(
        self, entity_type: str, ids: Collection[str], *, lane: Lane = BACKGROUND
    ) -> set[str] | None:
        """Workspaces, users and invoices found by ``only=``."""
        collection = _EXISTING.get(entity_type)
        if collection is None:
            return None
        return {str(r["id"]) for r in self._only(collection, ids, {}, lane=lane)}


def _work(collection: str, record: RawRecord) -> HeldWork:
    """One approved time entry or expense, mapped as its approval maps it."""
    kantata_id = str(record.get("id"))
    key = _PREFIXES[collection] + kantata_id
    # Only the entry's own id needs its canonical form; the rest keep Kantata's ids.
    lookups = KantataLookups(records={collection: {key: kantata_id}})
    project = str(record.get("workspace_id") or "")
    changed = held_moment(record.get("updated_at"))
    if collection == "time_entries":
        entry = time_entry_to_canonical(record, lookups=lookups)
        worth = entry.billable_amount()
        return HeldWork(
            kind="time",
            key=key,
            record_id=kantata_id,
            project=project,
            date=entry.date,
            hours=entry.hours,
            amount=worth.amount if worth else None,
            currency=worth.currency if worth else None,
            billable=entry.billable,
            changed_at=changed,
        )
    expense = expense_to_canonical(record, lookups=lookups)
    return HeldWork(
        kind="expense",
        key=key,
        record_id=kantata_id,
        project=project,
        date=expense.date,
        hours=None,
        amount=expense.amount.amount,
        currency=expense.amount.currency,
        billable=expense.billable,
        changed_at=changed,
    )
