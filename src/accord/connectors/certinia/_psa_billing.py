"""Certinia in the PSA role, cash and billing half: approvals, milestones, billing events.

**Approvals.** Certinia lives on Salesforce, so approvals are ordinary change reads: the feeds
``pse__Timecard_Header__c`` and ``pse__Expense__c`` read SOQL pages that the connector filters
to ``pse__Status__c = 'Approved'`` (approving moves ``SystemModstamp``, so an approval is a
change):

- an approved timecard header is one timesheet with one entry per day that has hours (entry
  ids ``<timecard id>-<yyyy-mm-dd>``, the timecard id being its ``Accord_Id__c`` or
  ``SF-<Salesforce id>``), key ``certinia:timecard:<id>@approved``: later edits of the
  approved card (billing marks) repeat the key;
- an approved expense is one expense, key ``certinia:expense:<id>@approved``.

The project is the one Accord provisioned (xref ``psa_project``), else the project's own
``Accord_Id__c`` (nested in the page); the person is the resource Contact's ``Accord_Id__c``
(nested), else xref ``resource``. A timecard that does not fit the model (no hours, bad hours)
maps with ``missing`` naming its fields.

**Milestones**: ``pse__Milestone__c`` approved (``pse__Status__c = 'Approved'`` or
``pse__Approved__c``) and not yet invoiced; invoiced means ``pse__Invoiced__c = true``.

**Invoice status**: a ``pse__Billing_Event__c`` upserted by ``Accord_Id__c`` = the canonical
invoice id, released, approved and invoiced, with the ERP's number, date and amount.
"""

import time
from dataclasses import replace
from decimal import Decimal
from typing import Any, Final

from accord.connectors.certinia.connector import CertiniaConnector
from accord.connectors.certinia.mapping import (
    RATE_CARDS,
    expense_to_canonical,
    milestone_to_canonical,
    timecard_rate_currency,
    timecard_to_timesheet,
)
from accord.connectors.roles import ApprovalKind, ChangeFeed, KnownIds, Mapped, collection_feed
from accord.connectors.salesforce.records import Lookups, RecordMappingError, canonical_id
from accord.connectors.types import RawRecord
from accord.domain import Expense, Invoice, Milestone, MilestoneStatus, System, Timesheet
from accord.errors import MappingError

__all__ = ["APPROVALS", "MILESTONES", "CertiniaBilling"]

APPROVALS: Final[dict[ApprovalKind, str]] = {
    "timesheet": "pse__Timecard_Header__c",
    "expense": "pse__Expense__c",
}
"""The object each kind of approval is read from (one feed each)."""
MILESTONES: Final = "pse__Milestone__c"
"""The object milestones are read from."""
_APPROVED: Final = "Approved"
_KEYS: Final[dict[ApprovalKind, str]] = {"timesheet": "timecard", "expense": "expense"}

Approval = Mapped[Timesheet | Expense]

RATE_CARD_SECONDS: Final = 60.0
"""How long a read of the rate cards prices timecards without an assignment rate."""
_rate_cards: dict[tuple[str, str], tuple[float, dict[str, Decimal]]] = {}
"""(connection, currency) -> (read at, role -> rate): one SOQL page prices a poll's timecards."""


def _nested(record: RawRecord, relationship: str) -> str | None:
    parent = record.get(relationship)
    value = parent.get("Accord_Id__c") if isinstance(parent, dict) else None
    return value if isinstance(value, str) and value else None


def _resolve(record: RawRecord, ids: KnownIds) -> tuple[dict[str, dict[str, str]], dict[str, str]]:
    """Lookups for the record's project and resource, and what did not resolve."""
    problems: dict[str, str] = {}
    lookups: dict[str, dict[str, str]] = {"pse__Proj__c": {}, "Contact": {}}
    project_sf = str(record.get("pse__Project__c") or "")
    # Accord's own xref first: it is what lead-to-project provisioned.
    project = (ids.canonical("psa_project", project_sf) if project_sf else None) or _nested(
        record, "pse__Project__r"
    )
    if project is None:
        problems["project"] = f"Certinia project {project_sf or '(none)'} is not known"
    else:
        lookups["pse__Proj__c"][project_sf] = project
    contact = str(record.get("pse__Resource__c") or "")
    resource = _nested(record, "pse__Resource__r") or (
        ids.canonical("resource", contact) if contact else None
    )
    if resource is None:
        problems["resource"] = f"Certinia resource {contact or '(none)'} has no consultant id"
    else:
        lookups["Contact"][contact] = resource
    return lookups, problems


class CertiniaBilling:
    """The cash-and-billing methods of :class:`~accord.connectors.certinia.psa.CertiniaPsa`."""

    _connector: CertiniaConnector

    # ----------------------------------------------------------------- approvals
    def approval_feeds(self, ids: KnownIds) -> tuple[ChangeFeed[Approval | None], ...]:
        """Approved timecards, then approved expenses."""
        return tuple(self._feed(kind, ids) for kind in APPROVALS)

    def _feed(self, kind: ApprovalKind, ids: KnownIds) -> ChangeFeed[Approval | None]:
        return collection_feed(
            self._connector, APPROVALS[kind], lambda record: self._approval(record, kind, ids)
        )

    def approval(self, kind: ApprovalKind, record_id: str, ids: KnownIds) -> Approval | None:
        """The timecard or expense read again (as its page selects it), if still approved."""
        try:
            record = self._connector.read_record(APPROVALS[kind], record_id)
        except ValueError:
            return None  # not a Salesforce id: nothing of Certinia's
        return self._approval(record, kind, ids) if record is not None else None

    def resolve_approval(self, kind: ApprovalKind, record_id: str, *, approve: bool) -> None:
        """Set the timecard's or expense's status to ``Approved`` or ``Rejected``."""
        resource = APPROVALS[kind]
        status = _APPROVED if approve else "Rejected"
        if self._connector.get(resource, record_id).get("pse__Status__c") == status:
            return
        self._connector.update(resource, record_id, {"pse__Status__c": status})

    def _approval(self, record: RawRecord, kind: ApprovalKind, ids: KnownIds) -> Approval | None:
        if record.get("pse__Status__c") != _APPROVED:
            return None
        sf_id = str(record.get("Id") or "")
        lookups, problems = _resolve(record, ids)
        if kind == "timesheet":
            lookups[RATE_CARDS] = self._rate_cards(record)
        value: Timesheet | Expense | None = None
        if not problems:
            try:
                value = _map(record, kind, lookups)
            except RecordMappingError as exc:
                problems.update(exc.problems)
        return Mapped(
            kind=kind,
            record_id=sf_id,
            canonical_id=value.id if value else canonical_id(sf_id, record.get("Accord_Id__c")),
            label=str(record.get("Name") or sf_id),
            value=value,
            missing=problems,
            context={
                "pse__Project__c": record.get("pse__Project__c"),
                "pse__Resource__c": record.get("pse__Resource__c"),
            },
            key=f"certinia:{_KEYS[kind]}:{sf_id}@approved",
        )

    def _rate_cards(self, record: RawRecord) -> dict[str, str]:
        """Rate-card rates for a timecard without an assignment rate (``RATE_CARDS`` lookups)."""
        assignment = record.get("pse__Assignment__r")
        if isinstance(assignment, dict) and assignment.get("pse__Bill_Rate__c") is not None:
            return {}
        currency = timecard_rate_currency(record)
        if currency is None:
            return {}
        key = (self._connector.name, currency)
        read_at, rates = _rate_cards.get(key, (0.0, {}))
        if time.monotonic() - read_at > RATE_CARD_SECONDS:
            rates = self._connector.rate_card_rates(currency)
            _rate_cards[key] = (time.monotonic(), rates)
        return {f"{role}|{currency}": str(rate) for role, rate in rates.items()}

    # ----------------------------------------------------------------- milestones
    def completed_milestones(self, ids: KnownIds) -> ChangeFeed[Mapped[Milestone] | None]:
        """Changed milestones; the approved, not yet invoiced ones map."""
        del ids  # the page nests the project's Accord_Id__c
        return collection_feed(self._connector, MILESTONES, _milestone)

    def mark_milestone_invoiced(self, milestone: Milestone, *, invoice_id: str, note: str) -> bool:
        """``pse__Invoiced__c = true`` on the milestone (``pse__`` records have no note)."""
        del invoice_id, note
        ref = next(
            (r.id for r in milestone.refs if r.system in {System.CERTINIA, System.SALESFORCE}),
            None,
        )
        if ref is None:
            return False
        self._connector.update(MILESTONES, ref, {"pse__Invoiced__c": True})
        return True

    # ----------------------------------------------------------------- invoices
    def record_invoice(self, project: str, invoice: Invoice, *, note: str) -> str:
        """Upsert the invoice's billing event (``note`` has no field on it)."""
        del note
        fields: dict[str, Any] = {
            "pse__Project__c": project,
            "pse__Date__c": invoice.issue_date.isoformat(),
            "pse__Status__c": "Invoiced",
            "pse__Is_Released__c": True,
            "pse__Is_Approved__c": True,
            "pse__Invoiced__c": True,
            "pse__Invoice_Number__c": invoice.number or invoice.id,
            "pse__Invoice_Date__c": invoice.issue_date.isoformat(),
            # The wire needs a JSON number; two decimals survive the float.
            "pse__Summary_Amount__c": float(invoice.total.amount),
        }
        return self._connector.upsert("pse__Billing_Event__c", invoice.id, fields).id


def _map(record: RawRecord, kind: ApprovalKind, lookups: Lookups) -> Timesheet | Expense:
    if kind == "timesheet":
        return timecard_to_timesheet(record, lookups=lookups)
    return expense_to_canonical(record, lookups=lookups)


def _milestone(record: RawRecord) -> Mapped[Milestone] | None:
    sf_id = str(record.get("Id") or "")
    base: Mapped[Milestone] = Mapped(
        kind="milestone",
        record_id=sf_id,
        canonical_id=canonical_id(sf_id, record.get("Accord_Id__c")),
        label=str(record.get("Name") or sf_id),
        context={"pse__Project__c": record.get("pse__Project__c")},
    )
    try:
        milestone = milestone_to_canonical(record)
    except (RecordMappingError, MappingError) as exc:
        if record.get("pse__Status__c") == _APPROVED or record.get("pse__Approved__c"):
            return replace(base, missing={"record": str(exc)})
        return None
    if milestone.status is not MilestoneStatus.COMPLETED:
        return None
    return replace(base, value=milestone)
