"""Time and expense: what the PSA approved = what Accord's ledger holds = what the ERP posted.

Pure: the check (:mod:`.checks`) reads each side and hands it here. Entries are matched by
their canonical id between the PSA and the ledger, and by the key they were posted under
between the ledger and the ERP (the ERP role's :meth:`~accord.connectors.roles.Erp.held_key`
of the ledger's external id; a summary posting carries several entries under one key).

Entry by entry (each a :class:`~accord.store.reconciliation.Drift` of kind ``time_expense``):

- ``not_in_ledger``: approved in the PSA, unknown to Accord;
- ``withdrawn_in_psa``: posted, but the PSA no longer holds it approved;
- ``changed_in_psa``: the PSA's hours or amount differ from what was posted;
- ``missing_in_erp``: posted, and the ERP holds nothing under its key (the one drift with a
  repair: the ledger row is marked so that a retry of its event posts it again);
- ``changed_in_erp``: the ERP's hours or amount (or project) under the key differ;
- ``duplicate_in_erp``: the ERP holds the posting twice: two records under its key, or a
  record under another key with the same project, date, hours and amount;
- ``extra_in_erp``: a record on one of Accord's projects that Accord did not post;
- ``invoiced_twice`` / ``invoiced_amount_differs``: an invoice line naming the entry bills
  it a second time, or not at the amount posted.

Work changed less than the settle window ago on the side that is ahead (an approval not yet
posted, a posting not yet recorded) is not drift yet; entries still queued for the ERP are
skipped. Amounts compare to the cent; a missing amount counts as zero.

The ERP's billable value of a posting is compared with the ledger's: the approved value of an
expense, or of time on a project billed by the hour; the rules' revenue policy posts other
projects' time non-billable, so their hours are compared, not a value.

Totals, per project and currency: approved in the PSA, posted (and the part posted billable)
and pending in the ledger, billable in the ERP, invoiced. They agree when approved = posted +
pending and posted billable = ERP.
"""

import datetime as dt
from collections import defaultdict
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Final

from accord.connectors.roles import HeldWork
from accord.store.postings import HELD, POSTED, QUEUED, REJECTED, Posting
from accord.store.reconciliation import Drift, InvoicedLine

__all__ = [
    "KIND",
    "MISSING_CODE",
    "ErpItem",
    "PsaItem",
    "WorkOutcome",
    "compare_work",
    "second_look",
]

KIND: Final = "time_expense"
MISSING_CODE: Final = "erp.recon.posting_missing"
"""The ledger code of a posted row whose ERP record is gone (and the exception's code)."""
_CENT: Final = Decimal("0.01")
_LISTED: Final = 50
"""Most records one drift item's detail lists."""


@dataclass(frozen=True)
class PsaItem:
    """Approved work as the PSA holds it, placed in Accord's terms."""

    work: HeldWork
    project_id: str
    """Canonical project."""
    connection: str


@dataclass(frozen=True)
class ErpItem:
    """A posting as the ERP holds it, placed in Accord's terms."""

    work: HeldWork
    project_id: str | None
    """Canonical project (``None``: a project Accord does not know)."""


@dataclass
class WorkOutcome:
    """What one comparison found."""

    drifts: list[Drift] = field(default_factory=list)
    missing: list[Posting] = field(default_factory=list)
    """Posted rows whose ERP record is gone (to mark, so that a retry posts them again)."""
    found_again: list[Posting] = field(default_factory=list)
    """Rows marked missing earlier whose record the ERP holds again."""
    totals: list[dict[str, Any]] = field(default_factory=list)
    checked: int = 0


def _cents(value: Decimal | None) -> Decimal:
    return (value or Decimal(0)).quantize(_CENT)


def _sum(values: Iterable[Decimal | None]) -> Decimal:
    return sum((_cents(v) for v in values), Decimal(0))


def _entry_label(row: Posting) -> str:
    return f"{row.kind}:{row.entry_id}"


def _late(moment: dt.datetime | None, settle_before: dt.datetime) -> bool:
    return moment is not None and moment > settle_before


def _record(item: ErpItem) -> dict[str, Any]:
    w = item.work
    return {
        "record_id": w.record_id,
        "key": w.key,
        "project": item.project_id or w.project,
        "date": w.date.isoformat(),
        "hours": str(w.hours) if w.hours is not None else None,
        "amount": str(w.amount) if w.amount is not None else None,
    }


def second_look(
    ledger: Sequence[Posting],
    psa: Sequence[PsaItem],
    erp: Sequence[ErpItem],
    *,
    held_key: Callable[[str], str],
    psa_projects: Collection[str],
) -> tuple[set[str], set[tuple[str, str]]]:
    """Posting keys the ERP read did not find, and entries the PSA read did not find.

    Before calling them missing or withdrawn, the check reads them again by key or id
    wherever they are (a record moved to another project is changed, not missing).
    """
    keys = {w.work.key for w in erp}
    entries = {(p.work.kind, p.work.key) for p in psa}
    missing_keys = {
        r.external_id
        for r in ledger
        if r.status == POSTED and r.external_id and held_key(r.external_id) not in keys
    }
    missing_entries = {
        (r.kind, r.entry_id)
        for r in ledger
        if r.status in (POSTED, HELD)
        and r.project_id in psa_projects
        and (r.kind, r.entry_id) not in entries
    }
    return missing_keys, missing_entries


def compare_work(
    *,
    connection: str,
    system: str,
    ledger: Sequence[Posting],
    psa: Sequence[PsaItem],
    erp: Sequence[ErpItem],
    held_key: Callable[[str], str],
    psa_projects: Collection[str],
    hourly: Collection[str],
    settle_before: dt.datetime,
    invoiced: Sequence[InvoicedLine] = (),
    totals: bool = True,
) -> WorkOutcome:
    """Compare the three sides of one ERP connection's projects (see the module docstring).

    Args:
        connection: The ERP connection.
        system: The ERP's system name (for people).
        ledger: Accord's ledger rows of the projects (every status).
        psa: What the PSA holds approved (of the projects, and entries read again by id).
        erp: What the ERP holds (of the projects, and keys read again).
        held_key: The ERP role's :meth:`~accord.connectors.roles.Erp.held_key`.
        psa_projects: The projects whose approved work was read from their PSA (so that an
            entry's absence there means something).
        hourly: The projects whose billing model bills time by the hour: their time posts
            billable as approved; other projects' time posts non-billable (the rules'
            revenue policy), so the ERP holds no billable value for it.
        settle_before: Work changed after this may still be on its way.
        invoiced: Invoice lines naming entries (Accord's journal of the ERP's invoices).
        totals: Add the per project and currency totals (a full comparison).
    """
    out = WorkOutcome()
    comparer = _Comparer(connection, system, held_key, settle_before, set(hourly), out)
    comparer.psa_side(ledger, psa, set(psa_projects))
    comparer.erp_side(ledger, erp)
    comparer.invoices(ledger, invoiced)
    if totals:
        out.totals = _totals(
            ledger, psa, erp, invoiced, psa_projects=set(psa_projects), hourly=set(hourly)
        )
    out.checked = len(ledger) + sum(1 for p in psa if p.work.key) + len(erp)
    return out


@dataclass
class _Comparer:
    connection: str
    system: str
    held_key: Callable[[str], str]
    settle_before: dt.datetime
    hourly: set[str]
    out: WorkOutcome

    def _drift(self, code: str, ident: str, **values: Any) -> None:  # noqa: ANN401 - Drift's fields
        self.out.drifts.append(
            Drift(kind=KIND, code=code, fingerprint=f"{KIND}:{code}:{ident}", **values)
        )

    # ----------------------------------------------------------------- PSA <-> ledger
    def psa_side(
        self, ledger: Sequence[Posting], psa: Sequence[PsaItem], psa_projects: set[str]
    ) -> None:
        rows = {(r.kind, r.entry_id): r for r in ledger}
        for item in psa:
            w = item.work
            row = rows.get((w.kind, w.key))
            if row is None:
                if not _late(w.changed_at, self.settle_before):
                    self._drift(
                        "not_in_ledger",
                        f"{w.kind}:{w.key}",
                        project_id=item.project_id,
                        business_key=w.key,
                        system="psa",
                        connection=item.connection,
                        record_id=w.record_id,
                        found=w.amount,
                        currency=w.currency,
                        detail={"entry": w.key, "kind": w.kind, "psa_hours": str(w.hours)},
                    )
                continue
            if row.status == QUEUED or _late(w.changed_at, self.settle_before):
                continue
            if (
                _cents(row.hours) != _cents(w.hours)
                or _cents(row.amount) != _cents(w.amount)
                or row.project_id != item.project_id
            ):
                self._drift(
                    "changed_in_psa",
                    _entry_label(row),
                    project_id=row.project_id,
                    business_key=row.entry_id,
                    system="psa",
                    connection=item.connection,
                    record_id=w.record_id,
                    expected=row.amount,
                    found=w.amount,
                    currency=row.currency or w.currency,
                    detail={
                        "entry": row.entry_id,
                        "kind": row.kind,
                        "hours": {"ledger": str(row.hours), "psa": str(w.hours)},
                        "amount": {"ledger": str(row.amount), "psa": str(w.amount)},
                        "project": {"ledger": row.project_id, "psa": item.project_id},
                        "submission_id": row.submission_id,
                    },
                )
        held = {(p.work.kind, p.work.key) for p in psa}
        for row in ledger:
            if (
                row.status != POSTED
                or row.project_id not in psa_projects
                or (row.kind, row.entry_id) in held
            ):
                continue
            self._drift(
                "withdrawn_in_psa",
                _entry_label(row),
                project_id=row.project_id,
                business_key=row.entry_id,
                system="psa",
                expected=row.amount,
                currency=row.currency,
                detail={
                    "entry": row.entry_id,
                    "kind": row.kind,
                    "submission_id": row.submission_id,
                    "erp_record_id": row.erp_record_id,
                },
            )

    # ----------------------------------------------------------------- ledger <-> ERP
    def erp_side(self, ledger: Sequence[Posting], erp: Sequence[ErpItem]) -> None:
        units: dict[str, list[Posting]] = defaultdict(list)
        pending: set[str] = set()
        for row in ledger:
            if not row.external_id:
                continue
            key = self.held_key(row.external_id)
            marked = row.status == REJECTED and row.code == MISSING_CODE
            if row.status == POSTED or marked:
                units[key].append(row)
            else:
                pending.add(key)  # queued, held or refused: the ERP may hold it any moment
        records: dict[str, list[ErpItem]] = defaultdict(list)
        for item in erp:
            records[item.work.key].append(item)
        for key, rows in units.items():
            if key in pending:
                continue
            self._unit(key, rows, records.get(key, []))
        facts = _facts(units, records)
        for key, items in records.items():
            if key in units or key in pending:
                continue
            for item in items:
                if not _late(item.work.changed_at, self.settle_before):
                    self._extra(item, facts)

    def _unit(self, key: str, rows: list[Posting], held: list[ErpItem]) -> None:
        first = rows[0]
        label = f"{first.kind}:{key}"
        base: dict[str, Any] = {
            "project_id": first.project_id,
            "business_key": key,
            "system": self.system,
            "connection": self.connection,
            "currency": first.currency,
        }
        entries = [r.entry_id for r in rows]
        expected = _billed(rows, self.hourly)
        if not held:
            self.out.missing += [r for r in rows if r.status == POSTED]
            self._drift(
                "missing_in_erp",
                label,
                expected=expected,
                detail={
                    "key": key,
                    "kind": first.kind,
                    "entries": entries,
                    "submission_id": first.submission_id,
                    "event_id": first.event_id,
                    "run_id": first.run_id,
                    "erp_record_id": first.erp_record_id,
                    "hours": str(_sum(r.hours for r in rows)) if first.kind == "time" else None,
                },
                **base,
            )
            return
        self.out.found_again += [r for r in rows if r.status == REJECTED]
        if len(held) > 1:
            self._drift(
                "duplicate_in_erp",
                label,
                expected=expected,
                found=_sum(i.work.amount for i in held),
                record_id=held[1].work.record_id,
                detail={"key": key, "entries": entries, "records": [_record(i) for i in held]},
                **base,
            )
        record = held[0]
        hours = _sum(r.hours for r in rows)
        moved = record.project_id is not None and record.project_id != first.project_id
        if (
            moved
            or (first.kind == "time" and hours != _cents(record.work.hours))
            or _cents(expected) != _cents(record.work.amount)
        ):
            self._drift(
                "changed_in_erp",
                label,
                expected=expected,
                found=record.work.amount,
                record_id=record.work.record_id,
                detail={
                    "key": key,
                    "entries": entries,
                    "hours": {"ledger": str(hours), "erp": str(record.work.hours)},
                    "amount": {"ledger": str(expected), "erp": str(record.work.amount)},
                    "project": {"ledger": first.project_id, "erp": record.project_id},
                },
                **base,
            )

    def _extra(self, item: ErpItem, facts: Mapping[tuple[Any, ...], list[str]]) -> None:
        w = item.work
        twin = facts.get(_fact(item))
        self._drift(
            "duplicate_in_erp" if twin else "extra_in_erp",
            f"{w.kind}:record:{w.record_id}",
            project_id=item.project_id,
            business_key=w.key or w.record_id,
            system=self.system,
            connection=self.connection,
            record_id=w.record_id,
            found=w.amount,
            currency=w.currency,
            detail={"record": _record(item), **({"duplicates_key": twin[0]} if twin else {})},
        )

    # ----------------------------------------------------------------- invoices
    def invoices(self, ledger: Sequence[Posting], invoiced: Sequence[InvoicedLine]) -> None:
        lines: dict[tuple[str, str], list[InvoicedLine]] = defaultdict(list)
        for line in invoiced:
            lines[(line.kind, line.entry_id)].append(line)
        for row in ledger:
            billed = lines.get((row.kind, row.entry_id))
            if not billed or row.status != POSTED:
                continue
            invoices = sorted({line.invoice_id for line in billed})
            base: dict[str, Any] = {
                "project_id": row.project_id,
                "business_key": row.entry_id,
                "system": self.system,
                "connection": self.connection,
                "expected": row.amount,
                "found": _sum(line.amount for line in billed),
                "currency": row.currency,
            }
            detail = {"entry": row.entry_id, "kind": row.kind, "invoices": invoices}
            if len(invoices) > 1:
                self._drift("invoiced_twice", _entry_label(row), detail=detail, **base)
            elif _cents(base["found"]) != _cents(row.amount):
                self._drift("invoiced_amount_differs", _entry_label(row), detail=detail, **base)


def _billed(rows: Sequence[Posting], hourly: set[str]) -> Decimal | None:
    """What the ERP holds as billable value for these rows (one posting).

    The approved value of an expense, or of time on an hourly project; nothing for other time.
    """
    worth = [r.amount for r in rows if r.kind == "expense" or r.project_id in hourly]
    return _sum(worth) if any(worth) else None


def _fact(item: ErpItem) -> tuple[Any, ...]:
    w = item.work
    return (item.project_id, w.kind, w.date, _cents(w.hours), _cents(w.amount))


def _facts(
    units: Mapping[str, list[Posting]], records: Mapping[str, list[ErpItem]]
) -> dict[tuple[Any, ...], list[str]]:
    """The business fact of each posting the ERP holds under its key -> those keys."""
    out: dict[tuple[Any, ...], list[str]] = defaultdict(list)
    for key in units:
        for item in records.get(key, [])[:1]:
            out[_fact(item)].append(key)
    return out


def _totals(
    ledger: Sequence[Posting],
    psa: Sequence[PsaItem],
    erp: Sequence[ErpItem],
    invoiced: Sequence[InvoicedLine],
    *,
    psa_projects: set[str],
    hourly: set[str],
) -> list[dict[str, Any]]:
    """Per project and currency: approved, posted, pending, ERP, invoiced (module docstring).

    ``posted_billable`` is the part of ``posted`` the ERP holds as billable (time of a project
    not billed by the hour posts non-billable). A project not read from a PSA has no approved
    total (``None``) and agrees when the ERP holds what was posted.
    """
    sides = ("psa", "posted", "posted_billable", "pending", "erp", "invoiced")
    sums: dict[tuple[str, str], dict[str, Decimal]] = defaultdict(
        lambda: dict.fromkeys(sides, Decimal("0.00"))
    )
    project_of = {(r.kind, r.entry_id): r.project_id for r in ledger}
    for item in psa:
        if item.work.amount is not None and item.work.currency:
            sums[(item.project_id, item.work.currency)]["psa"] += _cents(item.work.amount)
    for row in ledger:
        if row.amount is None or not row.currency:
            continue
        side = "posted" if row.status == POSTED else "pending"
        sums[(row.project_id, row.currency)][side] += _cents(row.amount)
        if side == "posted":
            billed = _billed([row], hourly)
            sums[(row.project_id, row.currency)]["posted_billable"] += _cents(billed)
    for rec in erp:
        if rec.project_id and rec.work.amount is not None and rec.work.currency:
            sums[(rec.project_id, rec.work.currency)]["erp"] += _cents(rec.work.amount)
    for line in invoiced:
        project = project_of.get((line.kind, line.entry_id))
        if project is not None:
            sums[(project, line.currency)]["invoiced"] += _cents(line.amount)
    out = []
    for (project, currency), s in sorted(sums.items()):
        read = project in psa_projects
        agree = s["posted_billable"] == s["erp"] and (
            not read or s["psa"] == s["posted"] + s["pending"]
        )
        values: dict[str, Any] = {k: str(v) for k, v in s.items()}
        if not read:
            values["psa"] = None
        out.append({"project_id": project, "currency": currency, **values, "agree": agree})
    return out
