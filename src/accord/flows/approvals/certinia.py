"""Certinia approvals: approved timecards and expenses -> ``timesheet.approved`` and so on.

Certinia lives on Salesforce, so approvals are ordinary change capture: the pairs
``<connection>/pse__Timecard_Header__c`` and ``<connection>/pse__Expense__c`` read SOQL pages
that the Certinia connector already filters to ``pse__Status__c = 'Approved'`` (approving moves
``SystemModstamp``, so an approval is a change). :func:`timecard_mapper` and
:func:`expense_mapper` are their ``to_events``:

- an approved timecard header becomes one ``timesheet.approved`` event with one entry per day
  that has hours (entry ids ``<timecard id>-<yyyy-mm-dd>``, where the timecard id is its
  ``Accord_Id__c`` or ``SF-<Salesforce id>``), event id ``certinia:timecard:<id>@approved``:
  later edits of the approved card (billing marks) repeat the id and the journal drops them;
- an approved expense becomes one ``expense.approved`` event, id
  ``certinia:expense:<id>@approved``.

Project and person resolve as :mod:`accord.flows.approvals.resolve` says (the page nests the
project's and the Contact's ``Accord_Id__c``); what does not resolve becomes a delivery-ops
exception, and a timecard that does not map (no hours, bad hours) too.
"""

import time
from collections.abc import Callable
from decimal import Decimal

from accord.connectors.certinia import CertiniaConnector
from accord.connectors.certinia.mapping import (
    RATE_CARDS,
    RecordMappingError,
    expense_to_canonical,
    timecard_to_timesheet,
)
from accord.connectors.types import RawRecord
from accord.flows import stepkit
from accord.flows.approvals.resolve import (
    Unmapped,
    report_unmapped,
    resolve_mapped,
)
from accord.flows.capture import canonical_event
from accord.store.journal import NewEvent

__all__ = ["EXPENSES", "TIMECARDS", "expense_mapper", "timecard_mapper"]

TIMECARDS = "pse__Timecard_Header__c"
"""The polled timecard object."""
EXPENSES = "pse__Expense__c"
"""The polled expense object."""
SYSTEM = "certinia"
APPROVED = "Approved"
RATE_CARD_SECONDS = 60.0
"""How long a read of the rate cards prices timecards without an assignment rate."""


def _nested(record: RawRecord, relationship: str) -> str | None:
    parent = record.get(relationship)
    value = parent.get("Accord_Id__c") if isinstance(parent, dict) else None
    return value if isinstance(value, str) and value else None


def _resolve(
    record: RawRecord, connection: str
) -> tuple[dict[str, dict[str, str]], dict[str, str]]:
    """Lookups for the record's project and resource, and what did not resolve."""
    problems: dict[str, str] = {}
    lookups: dict[str, dict[str, str]] = {"pse__Proj__c": {}, "Contact": {}}
    project_sf = str(record.get("pse__Project__c") or "")
    # Accord's own xref first: it is what lead-to-project provisioned.
    project = (
        stepkit.canonical_of("psa_project", connection, project_sf) if project_sf else None
    ) or _nested(record, "pse__Project__r")
    if project is None:
        problems["project"] = f"Certinia project {project_sf or '(none)'} is not known"
    else:
        lookups["pse__Proj__c"][project_sf] = project
    contact = str(record.get("pse__Resource__c") or "")
    resource = _nested(record, "pse__Resource__r") or (
        stepkit.canonical_of("resource", connection, contact) if contact else None
    )
    if resource is None:
        problems["resource"] = f"Certinia resource {contact or '(none)'} has no consultant id"
    else:
        lookups["Contact"][contact] = resource
    return lookups, problems


class _Mapper:
    def __init__(self, connection: str, kind: str) -> None:
        self.connection = connection
        self.kind = kind
        self._rates: dict[str, tuple[float, dict[str, Decimal]]] = {}

    def rate_cards(self, record: RawRecord) -> dict[str, str]:
        """Rate-card rates for a timecard without an assignment rate (``RATE_CARDS`` lookups).

        Read once a minute per currency: one SOQL page prices every such timecard of a poll.
        """
        assignment = record.get("pse__Assignment__r")
        if isinstance(assignment, dict) and assignment.get("pse__Bill_Rate__c") is not None:
            return {}
        resource = record.get("pse__Resource__r")
        currency = resource.get("CurrencyIsoCode") if isinstance(resource, dict) else None
        if not isinstance(currency, str) or not currency:
            return {}
        read_at, rates = self._rates.get(currency, (0.0, {}))
        if time.monotonic() - read_at > RATE_CARD_SECONDS:
            connector = stepkit.connections().connector(self.connection)
            if not isinstance(connector, CertiniaConnector):
                return {}
            rates = connector.rate_card_rates(currency)
            self._rates[currency] = (time.monotonic(), rates)
        return {f"{role}|{currency}": str(rate) for role, rate in rates.items()}

    def __call__(self, record: RawRecord) -> list[NewEvent]:
        if record.get("pse__Status__c") != APPROVED:
            return []
        sf_id = str(record.get("Id") or "")
        lookups, problems = _resolve(record, self.connection)
        if self.kind == "timesheet":
            lookups[RATE_CARDS] = self.rate_cards(record)
        unmapped = Unmapped(
            kind=self.kind,
            system=SYSTEM,
            connection=self.connection,
            psa_id=sf_id,
            label=str(record.get("Name") or sf_id),
            problems=problems,
            record={
                "pse__Project__c": record.get("pse__Project__c"),
                "pse__Resource__c": record.get("pse__Resource__c"),
            },
        )
        if not problems:
            try:
                event = self.event(record, lookups, sf_id)
            except RecordMappingError as exc:
                problems.update(exc.problems)
            else:
                resolve_mapped(unmapped.business_key, unmapped.dedupe_key)
                return [event]
        report_unmapped(unmapped)
        return []

    def event(self, record: RawRecord, lookups: dict[str, dict[str, str]], sf_id: str) -> NewEvent:
        if self.kind == "timesheet":
            timesheet = timecard_to_timesheet(record, lookups=lookups)
            return canonical_event(
                "timesheet.approved",
                timesheet,
                subject=timesheet.id,
                time=timesheet.approved_at,
                event_id=f"certinia:timecard:{sf_id}@approved",
            )
        expense = expense_to_canonical(record, lookups=lookups)
        return canonical_event(
            "expense.approved",
            expense,
            subject=expense.id,
            time=expense.approved_at,
            event_id=f"certinia:expense:{sf_id}@approved",
        )


def timecard_mapper(connection: str) -> Callable[[RawRecord], list[NewEvent]]:
    """The ``to_events`` mapper of a Certinia connection's timecard pair."""
    return _Mapper(connection, "timesheet")


def expense_mapper(connection: str) -> Callable[[RawRecord], list[NewEvent]]:
    """The ``to_events`` mapper of a Certinia connection's expense pair."""
    return _Mapper(connection, "expense")
