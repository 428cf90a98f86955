"""Multi-entity delivery end to end: helpers shared by the NetSuite and Business Central suites.

Each module starts the sandbox and one in-process Accord (the time-to-bill harness,
:func:`tests.e2e.time_to_bill.conftest.start_billing`); the Business Central module rewrites the
rules so that US01 and UK01 book in Business Central too (one company per entity).
"""

import datetime as dt
from collections.abc import Callable, Iterator
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any

import pytest
import yaml
from tests.e2e.time_to_bill.conftest import (
    CONSULTANT,
    PROJECT_START,
    Billing,
    start_billing,
    uid,
)

from accord.flows.capture import canonical_event
from accord.store import journal, postings
from accord.store.journal import NewEvent
from accord_sandbox.server import Sandbox, SandboxHandle

__all__ = ["CONSULTANT", "Billing", "cents", "rejournal", "won"]

WEEK = ["2026-09-07", "2026-09-08", "2026-09-09", "2026-09-10", "2026-09-11"]
"""A week in September 2026, the sandbox's open period."""


def cents(value: Decimal) -> Decimal:
    """Half-up to the cent, as the ERPs round."""
    return value.quantize(Decimal("0.01"), ROUND_HALF_UP)


@pytest.fixture(scope="module")
def sandbox() -> Iterator[SandboxHandle]:
    """The four emulators on free ports, scenario firm."""
    handle = Sandbox(base_port=0, scenario="firm", seed=7).start_in_thread()
    yield handle
    handle.stop()


def start(
    folder: Path, sandbox: SandboxHandle, edit: Callable[[dict[str, Any]], None] | None = None
) -> Iterator[Billing]:
    """The time-to-bill harness, its rules edited by ``edit`` before Accord starts."""
    harness = start_billing(folder, sandbox)
    billing = next(harness)
    if edit is not None:
        rules = yaml.safe_load(billing.rules.read_text(encoding="utf-8"))
        edit(rules)
        billing.rules.write_text(yaml.safe_dump(rules, sort_keys=False), encoding="utf-8")
    try:
        yield billing
    finally:
        harness.close()


def won(
    billing: Billing,
    account: str,
    entity: str,
    *,
    currency: str | None = None,
    package: tuple[str, str] = ("ADVISORY-TM", "Time and Materials"),
) -> dict[str, Any]:
    """Win an opportunity of ``account`` for ``entity`` and provision it; the run's output."""
    fields: dict[str, Any] = {"Start_Date__c": PROJECT_START, "CloseDate": "2026-05-20"}
    if currency is not None:
        fields["CurrencyIsoCode"] = currency
    opp = billing.accord.opportunity(
        account, entity=entity, package=package[0], model=package[1], amount=90000.0, **fields
    )
    return billing.accord.provision(opp)


def rejournal(billing: Billing, event_type: str, business_key: str) -> list[str]:
    """Journal every event of a kind and key again under new ids (a redelivery); run ids."""
    with billing.engine.connect() as conn:
        entries = journal.list_(conn, type_=event_type, business_key=business_key)
        events = [journal.get(conn, seq=e.seq) for e in entries]
    runs = []
    for found in events:
        assert found is not None
        entry, data = found
        event = canonical_event(event_type, data, subject=str(entry.subject))
        new = NewEvent(
            source="test/redelivery",
            ce_id=uid("ce"),
            type=event.type,
            subject=event.subject,
            business_key=event.business_key,
            time=None,
            data_json=event.data_json,
        )
        (future,) = billing.services.writer.submit([new])
        runs.append(future.result(timeout=10).run_id)
    return runs


def week(
    billing: Billing, project: str, resource: str, *, rate: str, currency: str
) -> dict[str, Any]:
    """A resource's approved week (8 h a day) on a project, at ``rate`` in ``currency``."""
    return billing.timesheet(
        project,
        [(day, "8.00") for day in WEEK],
        resource=resource,
        rate=rate,
        currency=currency,
    )


def posted_rows(billing: Billing, submission_id: str) -> list[postings.Posting]:
    """The submission's ledger rows, each posted."""
    rows = list(billing.ledger(submission_id).values())
    assert rows, submission_id
    assert {r.status for r in rows} == {postings.POSTED}, [(r.status, r.code) for r in rows]
    return rows


def money(detail: dict[str, Any]) -> tuple[Decimal, str]:
    """A ledger money value as (amount, currency)."""
    return Decimal(detail["amount"]), str(detail["currency"])


def first_of_month(day: str) -> str:
    """The effective date of the sandbox's monthly rate for a day."""
    return dt.date.fromisoformat(day).replace(day=1).isoformat()
