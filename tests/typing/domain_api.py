"""Static checks of ``accord.domain``'s public types: run ``mypy --strict tests/typing``.

Nothing here is executed (pytest does not collect this file). ``assert_type`` fails under mypy
if a public type drifts; each ``type: ignore[...]`` marks a call that must stay a type error,
and strict mode's ``warn_unused_ignores`` reports it if the API starts accepting it.
"""

import datetime as dt
from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import Any, assert_type

from pydantic import BaseModel

from accord.domain import (
    EVENT_TYPES,
    CloudEvent,
    Money,
    Opportunity,
    OpportunityWonEvent,
    TimeEntry,
    business_key,
    make_event,
    parse_event,
    parse_event_data,
)


def money(usd: Money) -> None:
    assert_type(usd.amount, Decimal)
    assert_type(usd.currency, str)
    assert_type(usd + usd, Money)
    assert_type(usd - usd, Money)
    assert_type(usd.mul(Decimal(2)), Money)
    assert_type(usd < Money.zero("USD"), bool)
    assert_type(Money.of("1.00", "USD"), Money)
    usd.mul(1.5)  # type: ignore[arg-type]
    Money(amount=1.5, currency="USD")  # type: ignore[arg-type]


def registry(raw: bytes) -> None:
    assert_type(EVENT_TYPES, Mapping[str, type[BaseModel]])
    assert_type(parse_event_data("customer.upserted", raw), BaseModel)
    key: Callable[[str, BaseModel], str] = business_key
    assert_type(key("customer.upserted", parse_event_data("customer.upserted", raw)), str)
    event = parse_event(raw)
    assert_type(event, CloudEvent[Any])
    assert_type(event.time, dt.datetime)
    assert_type(event.business_key, str)


def entities(entry: TimeEntry, opp: Opportunity, won: OpportunityWonEvent) -> None:
    assert_type(entry.hours, Decimal)
    assert_type(entry.date, dt.date)
    assert_type(entry.bill_rate, Money | None)
    assert_type(opp.lines[0].amount, Money)
    assert_type(won.data, Opportunity)
    made = make_event("opportunity.won", opp, event_id="e", source="s", time=won.time)
    assert_type(made, CloudEvent[Any])
    make_event("opportunity.won", opp, id="e", source="s", time=won.time)  # type: ignore[call-arg]
