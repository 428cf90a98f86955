"""Rates as of a day, inverted when held the other way round, conversions exact to the cent."""

import datetime as dt
from decimal import Decimal

import pytest

from accord.connectors.roles.fx import Conversion, Rate, RateBook, rate_missing
from accord.domain import Money
from accord.errors import PermanentError, Reason

D = dt.date


def book() -> RateBook:
    return RateBook(
        [
            Rate("USD", "GBP", Decimal("1.25"), D(2026, 8, 1)),
            Rate("USD", "GBP", Decimal("1.30"), D(2026, 9, 1)),
            Rate("GBP", "EUR", Decimal("0.84"), D(2026, 9, 1)),
            Rate("USD", "JPY", Decimal(0), D(2026, 9, 1)),  # a zero rate is no rate
        ]
    )


def test_the_rate_of_a_day_is_the_latest_effective_on_or_before_it():
    rates = book()
    assert len(rates) == 3
    assert rates.conversion("GBP", "USD", D(2026, 8, 31)) == Conversion(
        "GBP", "USD", Decimal("1.25"), D(2026, 8, 1)
    )
    assert rates.conversion("GBP", "USD", D(2026, 9, 1)).rate == Decimal("1.30")
    assert rates.conversion("GBP", "USD", D(2026, 7, 31)) is None
    assert rates.conversion("JPY", "USD", D(2026, 9, 2)) is None


def test_a_rate_held_the_other_way_round_is_inverted():
    found = book().conversion("GBP", "EUR", D(2026, 9, 14))
    assert found is not None
    assert found.inverted
    assert found.effective == D(2026, 9, 1)
    assert found.convert(Money.of("84.00", "GBP")) == Money.of("100.00", "EUR")


def test_conversion_rounds_half_up_to_the_target_minor_unit():
    rate = Conversion("GBP", "USD", Decimal("1.265825"), D(2026, 9, 1))
    assert rate.convert(Money.of("10.00", "GBP")) == Money.of("12.66", "USD")  # 12.65825
    assert Conversion("USD", "JPY", Decimal("149.5")).convert(Money.of("1.01", "USD")) == (
        Money.of("151", "JPY")  # 150.995
    )
    assert Conversion.identity("EUR").convert(Money.of("3.33", "EUR")) == Money.of("3.33", "EUR")
    assert book().conversion("EUR", "EUR", D(2020, 1, 1)) == Conversion.identity("EUR")
    with pytest.raises(ValueError, match="cannot convert"):
        rate.convert(Money.of("1", "EUR"))


def test_a_missing_rate_names_the_pair_and_the_day():
    error = rate_missing("GBP", "USD", D(2026, 9, 14), connector="netsuite", where="NetSuite")
    assert isinstance(error, PermanentError)
    assert error.reason == Reason.RATE_MISSING
    assert error.external_id == "GBP/USD@2026-09-14"
    assert "GBP/USD on or before 2026-09-14 in NetSuite" in (error.detail or "")
