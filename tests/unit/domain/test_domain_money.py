from decimal import Decimal

import pytest
from pydantic import ValidationError

from accord.domain import CURRENCY_MINOR_UNITS, CurrencyMismatchError, Money, minor_unit, money_sum


@pytest.mark.parametrize(
    ("currency", "raw", "expected"),
    [
        ("JPY", "1234", "1234"),
        ("JPY", "1.5", "2"),
        ("JPY", "1.4", "1"),
        ("KRW", 1000, "1000"),
        ("USD", "1.005", "1.01"),
        ("USD", "1", "1.00"),
        ("USD", "-1.005", "-1.01"),
        ("GBP", "2.344", "2.34"),
        ("EUR", Decimal("19.999"), "20.00"),
        ("BHD", "1.0005", "1.001"),
        ("KWD", 7, "7.000"),
        ("CLF", "0.12345", "0.1235"),
    ],
)
def test_amount_is_quantized_to_the_currency_minor_unit(currency, raw, expected):
    money = Money.model_validate({"amount": raw, "currency": currency})
    assert str(money.amount) == expected
    assert money.amount.as_tuple().exponent == -CURRENCY_MINOR_UNITS[currency]


def test_minor_units_of_common_currencies():
    assert [minor_unit(c) for c in ("JPY", "USD", "GBP", "EUR", "BHD", "KWD")] == [0, 2, 2, 2, 3, 3]
    with pytest.raises(KeyError):
        minor_unit("XXX")


@pytest.mark.parametrize("bad", [1.5, 1.0, float("nan")])
def test_float_amount_is_refused(bad):
    with pytest.raises(ValidationError, match="float refused"):
        Money.model_validate({"amount": bad, "currency": "USD"})


def test_float_amount_in_json_is_refused_but_strings_and_integers_are_accepted():
    with pytest.raises(ValidationError, match="float refused"):
        Money.model_validate_json('{"amount": 10.5, "currency": "USD"}')
    assert Money.model_validate_json('{"amount": "10.5", "currency": "USD"}').amount == Decimal(
        "10.50"
    )
    assert Money.model_validate_json('{"amount": 10, "currency": "USD"}').amount == Decimal(10)


@pytest.mark.parametrize("bad", ["1e3", "NaN", "Infinity", " 1.00", "1,00", "", True, None, []])
def test_non_plain_or_non_numeric_amounts_are_refused(bad):
    with pytest.raises(ValidationError):
        Money.model_validate({"amount": bad, "currency": "USD"})


@pytest.mark.parametrize("bad", [Decimal("NaN"), Decimal("Infinity"), Decimal("-Infinity")])
def test_non_finite_decimal_is_refused(bad):
    with pytest.raises(ValidationError, match="finite"):
        Money(amount=bad, currency="USD")


@pytest.mark.parametrize("bad", ["usd", "US", "USDX", "XXX", "ABC", ""])
def test_unknown_or_malformed_currency_is_refused(bad):
    with pytest.raises(ValidationError):
        Money.model_validate({"amount": "1", "currency": bad})


def test_too_large_amount_is_a_validation_error_not_a_crash():
    with pytest.raises(ValidationError, match="too large"):
        Money.model_validate({"amount": "9" * 40, "currency": "USD"})


def test_money_serialises_amount_as_string_and_round_trips():
    money = Money.of("1234.5", "EUR")
    assert money.model_dump(mode="json") == {"amount": "1234.50", "currency": "EUR"}
    assert Money.model_validate_json(money.model_dump_json()) == money


def test_money_is_immutable_and_hashable():
    money = Money.of(1, "USD")
    with pytest.raises(ValidationError):
        money.amount = Decimal(2)  # type: ignore[misc]
    assert len({money, Money.of("1.00", "USD"), Money.of(1, "EUR")}) == 2


def test_arithmetic_in_one_currency():
    a, b = Money.of("10.10", "USD"), Money.of("0.95", "USD")
    assert a.add(b) == a + b == Money.of("11.05", "USD")
    assert a.sub(b) == a - b == Money.of("9.15", "USD")
    assert (-a).amount == Decimal("-10.10")
    assert Money.zero("JPY").is_zero
    assert money_sum([a, b, b], "USD") == Money.of("12.00", "USD")
    assert money_sum([], "GBP") == Money.zero("GBP")


@pytest.mark.parametrize(
    ("price", "factor", "expected"),
    [
        ("150.00", Decimal("7.25"), "1087.50"),
        ("10.00", Decimal("0.333"), "3.33"),
        ("10.00", Decimal("0.3335"), "3.34"),
        ("99.99", 3, "299.97"),
    ],
)
def test_multiplication_by_decimal_is_quantized(price, factor, expected):
    result = Money.of(price, "USD").mul(factor)
    assert result == Money.of(expected, "USD")
    assert str(result.amount) == expected
    assert (Money.of(price, "USD") * factor) == (factor * Money.of(price, "USD")) == result


def test_multiplication_by_jpy_rounds_to_whole_yen():
    assert Money.of(1000, "JPY").mul(Decimal("1.0815")) == Money.of(1082, "JPY")


@pytest.mark.parametrize("bad", [1.5, True, "2", None])
def test_multiplication_refuses_floats_and_non_numbers(bad):
    with pytest.raises(TypeError):
        Money.of(1, "USD").mul(bad)


def test_currency_mismatch_is_refused_for_arithmetic_and_ordering():
    usd, eur = Money.of(1, "USD"), Money.of(1, "EUR")
    for operation in (
        lambda: usd + eur,
        lambda: usd - eur,
        lambda: usd < eur,
        lambda: usd <= eur,
        lambda: usd > eur,
        lambda: usd >= eur,
        lambda: money_sum([usd, eur], "USD"),
    ):
        with pytest.raises(CurrencyMismatchError) as info:
            operation()
        assert {info.value.left, info.value.right} == {"USD", "EUR"}
    assert isinstance(CurrencyMismatchError("USD", "EUR", operation="add"), ValueError)


def test_equality_across_currencies_is_false_not_an_error():
    assert Money.of(1, "USD") != Money.of(1, "EUR")
    assert Money.of(1, "USD") == Money.of("1.000", "USD")


def test_ordering_in_one_currency():
    small, big = Money.of("1.00", "GBP"), Money.of("1.01", "GBP")
    same = Money.of("1.010", "GBP")
    assert small < big <= same
    assert big > small
    assert big >= same
    assert sorted([big, small]) == [small, big]


def test_adding_a_non_money_is_a_type_error():
    with pytest.raises(TypeError):
        Money.of(1, "USD").add(Decimal(1))  # type: ignore[arg-type]
