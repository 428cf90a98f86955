"""Exchange rates as an ERP holds them, looked up as of a posting date, and exact conversion.

An ERP keeps rates against a base currency: NetSuite's currency rate record says one unit of
the *transaction* currency is ``exchangeRate`` units of the *base* currency from its
effective date; Business Central's currency exchange rate says ``exchangeRateAmount`` of the
currency equal ``relationalExchangeRateAmount`` of the company's local currency from its
starting date. Each ERP role reads its rates into a :class:`RateBook` of :class:`Rate` rows
(base, currency, rate, effective date); :meth:`RateBook.conversion` finds the rate in effect on
a day (the latest effective on or before it) and :meth:`Conversion.convert` turns an exact
amount into the target currency, rounded half-up to the target's minor unit.

What does *not* belong here: reading the rates (each ERP role), and deciding what to convert
(the role's posting).
"""

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal, localcontext

from accord.domain import Money
from accord.errors import PermanentError, Reason

__all__ = ["Conversion", "Rate", "RateBook", "rate_missing"]

_PRECISION = 28
"""Significant digits of an inverted rate (1 / rate): far beyond any minor unit."""


@dataclass(frozen=True)
class Rate:
    """One rate row: from ``effective`` on, 1 ``currency`` = ``rate`` ``base``.

    Attributes:
        base: The currency the rate is expressed in (a subsidiary's or company's base).
        currency: The foreign currency.
        rate: Units of ``base`` per unit of ``currency`` (exact).
        effective: First day the rate applies.
    """

    base: str
    currency: str
    rate: Decimal
    effective: dt.date


@dataclass(frozen=True)
class Conversion:
    """How an amount of ``source`` becomes ``target`` on one day.

    Attributes:
        source: The currency converted from.
        target: The currency converted to.
        rate: Units of ``target`` per unit of ``source``.
        effective: The effective date of the ERP's rate used (``None``: the same currency).
        inverted: The ERP holds the rate the other way round (``1 / rate`` was used).
    """

    source: str
    target: str
    rate: Decimal
    effective: dt.date | None = None
    inverted: bool = False

    @classmethod
    def identity(cls, currency: str) -> "Conversion":
        """No conversion: a currency to itself at 1."""
        return cls(source=currency, target=currency, rate=Decimal(1))

    def convert(self, amount: Money) -> Money:
        """``amount`` in the target currency, exact, rounded half-up to its minor unit.

        Raises:
            ValueError: ``amount`` is not in the source currency.
        """
        if amount.currency != self.source:
            msg = f"cannot convert {amount.currency} with a {self.source} rate"
            raise ValueError(msg)
        if self.source == self.target:
            return amount
        return Money.of(amount.amount * self.rate, self.target)


class RateBook:
    """The rates one ERP (or one Business Central company) holds, by currency pair."""

    def __init__(self, rates: Iterable[Rate]) -> None:
        self._rates: dict[tuple[str, str], list[Rate]] = {}
        for rate in rates:
            if rate.rate > 0:
                self._rates.setdefault((rate.base, rate.currency), []).append(rate)
        for rows in self._rates.values():
            rows.sort(key=lambda r: r.effective)

    def __len__(self) -> int:
        return sum(len(rows) for rows in self._rates.values())

    def _latest(self, base: str, currency: str, day: dt.date) -> Rate | None:
        found = None
        for rate in self._rates.get((base, currency), ()):
            if rate.effective > day:
                break
            found = rate
        return found

    def conversion(self, source: str, target: str, day: dt.date) -> Conversion | None:
        """The conversion of ``source`` into ``target`` in effect on ``day``; ``None``: no rate.

        The rate held for the pair as asked (base ``target``) wins; otherwise the rate held
        the other way round (base ``source``) is inverted.
        """
        if source == target:
            return Conversion.identity(source)
        direct = self._latest(target, source, day)
        if direct is not None:
            return Conversion(source, target, direct.rate, direct.effective)
        reverse = self._latest(source, target, day)
        if reverse is None:
            return None
        with localcontext() as ctx:
            ctx.prec = _PRECISION
            inverted = Decimal(1) / reverse.rate
        return Conversion(source, target, inverted, reverse.effective, inverted=True)


def rate_missing(
    source: str, target: str, day: dt.date, *, connector: str, where: str = ""
) -> PermanentError:
    """The refusal of a posting whose currency pair has no rate on or before ``day``."""
    place = f" in {where}" if where else ""
    message = (
        f"no exchange rate {source}/{target} on or before {day.isoformat()}{place}: "
        f"add the rate in the ERP, then retry"
    )
    return PermanentError(
        message,
        detail=message,
        connector=connector,
        resource="exchangeRate",
        external_id=f"{source}/{target}@{day.isoformat()}",
        reason=Reason.RATE_MISSING,
    )
