"""What the roles read back for reconciliation: work and terms as each system holds them now.

Reconciliation (``accord.flows.reconciliation``) proves that the CRM, the PSA and the ERP still
agree with each other and with what Accord wrote. It reads each system through its role, in
bulk (SOQL, SuiteQL, OData pages, never one call per entry), and compares these values:

- :class:`HeldWork`: one time entry or expense as a system holds it: the PSA's approved entry
  (keyed by the entry's canonical id) or the ERP's posting (keyed by the idempotency key it
  carries, in the ERP's own spelling: :meth:`~accord.connectors.roles.Erp.held_key`);
- :class:`HeldTerms`: the commercial terms of a project as the PSA holds them (budget, dates).

Every read takes a ``lane``: the connection budget's priority lane its calls belong to.
Reconciliation is background work (:data:`BACKGROUND`), below what flows and people wait for.

:func:`held_date`, :func:`held_moment` and :func:`held_decimal` read a value as a system holds
it, leniently (``None`` or ``0`` when unreadable); every role implementation reads its dates,
timestamps and amounts through them. Mappers that must refuse a bad value use
:mod:`accord.connectors.mapping` instead.

What does not belong here: deciding what disagrees (the flow) and the vendors' field names
(their packages).
"""

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Final, Literal

from accord.connectors.budget import Lane

__all__ = [
    "BACKGROUND",
    "HeldTerms",
    "HeldWork",
    "Lane",
    "WorkKind",
    "held_date",
    "held_decimal",
    "held_moment",
]

BACKGROUND: Final = Lane.BACKGROUND
"""The lane of reconciliation's reads: they wait behind every other call of the connection."""

WorkKind = Literal["time", "expense"]
"""Hours (a time entry) or an expense."""


@dataclass(frozen=True)
class HeldWork:
    """One time entry or expense as a system holds it now, in canonical terms.

    Attributes:
        kind: ``time`` or ``expense``.
        key: The PSA: the entry's canonical id (the id its approval event carried). The ERP:
            the key the posting carries (:meth:`~accord.connectors.roles.Erp.held_key` of the
            key Accord posted it under), or the ERP's own key of a record Accord did not post.
        record_id: The system's id of the record (opaque; for people and lineage).
        project: The system's id of the project it books to (as the caller named it).
        date: The work's date (the ERP: the posting date).
        hours: Hours of a time entry; ``None`` for an expense.
        amount: What it is worth in ``currency``, as Accord's posting ledger counts it: a
            time entry's billable value (hours x bill rate; ``None`` when it is not billable
            or has no rate), an expense's amount (billable or not).
        currency: ISO 4217 code of ``amount`` (``None`` with no amount).
        billable: Whether it is billed.
        changed_at: When the system last changed the record, if it says.
    """

    kind: WorkKind
    key: str
    record_id: str
    project: str
    date: dt.date
    hours: Decimal | None
    amount: Decimal | None
    currency: str | None
    billable: bool
    changed_at: dt.datetime | None = None


@dataclass(frozen=True)
class HeldTerms:
    """A project's commercial terms as the PSA holds them.

    Attributes:
        project: The PSA's id of the project.
        budget: The budget (``None``: the PSA holds none).
        currency: Its currency.
        start_date: The project's start, if set.
        end_date: The project's end, if set.
        contract_value: The contract's value, where the PSA keeps it in the same field as the
            budget (``None``: it keeps none, or keeps the budget only).
    """

    project: str
    budget: Decimal | None
    currency: str | None
    start_date: dt.date | None
    end_date: dt.date | None
    contract_value: Decimal | None = None


def held_date(value: object) -> dt.date | None:
    """The date at the start of a system's date or timestamp text; ``None`` if there is none."""
    try:
        return dt.date.fromisoformat(str(value)[:10])
    except ValueError:
        return None


def held_decimal(value: object) -> Decimal:
    """A system's number (JSON number or text) exactly; ``0`` when empty or unreadable."""
    try:
        return Decimal(str(value)) if value not in (None, "") else Decimal(0)
    except InvalidOperation:
        return Decimal(0)


def held_moment(value: object) -> dt.datetime | None:
    """A system's timestamp text in UTC (one without a zone is UTC); ``None`` if unreadable.

    Salesforce's ``+0000`` offset is read as ``+00:00``.
    """
    try:
        moment = dt.datetime.fromisoformat(str(value).replace("+0000", "+00:00"))
    except ValueError:
        return None
    return moment.astimezone(dt.UTC) if moment.tzinfo else moment.replace(tzinfo=dt.UTC)
