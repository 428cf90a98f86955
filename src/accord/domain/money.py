"""Money: an exact amount in one ISO-4217 currency.

What belongs here: the currency table (code -> minor unit), the ``CurrencyCode`` type and
the :class:`Money` value object with its arithmetic. Conversion between currencies does not
belong here (rates are ERP data), and neither does formatting for people.
"""

from collections.abc import Iterable, Mapping
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from types import MappingProxyType
from typing import Annotated, ClassVar, Final, Self

from pydantic import AfterValidator, StringConstraints, model_validator
from typing_extensions import override

from accord.domain.base import CanonicalModel
from accord.domain.errors import CurrencyMismatchError
from accord.domain.types import DecimalValue

__all__ = ["CURRENCY_MINOR_UNITS", "CurrencyCode", "Money", "minor_unit", "money_sum"]

_ZERO_DECIMAL: Final = "BIF CLP DJF GNF ISK JPY KMF KRW PYG RWF UGX UYI VND VUV XAF XOF XPF"
_THREE_DECIMAL: Final = "BHD IQD JOD KWD LYD OMR TND"
_FOUR_DECIMAL: Final = "CLF UYW"
# Active ISO-4217 codes with two minor digits, plus HRK for pre-2023 Croatian history.
_TWO_DECIMAL: Final = """
AED AFN ALL AMD ANG AOA ARS AUD AWG AZN BAM BBD BDT BGN BMD BND BOB BOV BRL BSD BTN BWP BYN
BZD CAD CDF CHE CHF CHW CNY COP COU CRC CUP CVE CZK DKK DOP DZD EGP ERN ETB EUR FJD FKP GBP
GEL GHS GIP GMD GTQ GYD HKD HNL HRK HTG HUF IDR ILS INR IRR JMD KES KGS KHR KPW KYD KZT LAK
LBP LKR LRD LSL MAD MDL MGA MKD MMK MNT MOP MRU MUR MVR MWK MXN MXV MYR MZN NAD NGN NIO NOK
NPR NZD PAB PEN PGK PHP PKR PLN QAR RON RSD RUB SAR SBD SCR SDG SEK SGD SHP SLE SOS SRD SSP
STN SVC SYP SZL THB TJS TMT TOP TRY TTD TWD TZS UAH USD USN UZS VED VES WST XCD XCG YER ZAR
ZMW ZWG
"""

CURRENCY_MINOR_UNITS: Final[Mapping[str, int]] = MappingProxyType(
    {
        **dict.fromkeys(_TWO_DECIMAL.split(), 2),
        **dict.fromkeys(_ZERO_DECIMAL.split(), 0),
        **dict.fromkeys(_THREE_DECIMAL.split(), 3),
        **dict.fromkeys(_FOUR_DECIMAL.split(), 4),
    }
)
"""ISO-4217 currency code -> number of minor-unit digits (JPY 0, USD 2, KWD 3)."""

# One quantum per currency, computed once: quantize() is on the intake hot path.
_QUANTA: Final[Mapping[str, Decimal]] = MappingProxyType(
    {code: Decimal(1).scaleb(-digits) for code, digits in CURRENCY_MINOR_UNITS.items()}
)


def minor_unit(currency: str) -> int:
    """Return the number of minor-unit digits of an ISO-4217 currency.

    Raises:
        KeyError: the currency is not in :data:`CURRENCY_MINOR_UNITS`.
    """
    return CURRENCY_MINOR_UNITS[currency]


def _known_currency(code: str) -> str:
    if code not in _QUANTA:
        raise ValueError(f"unknown ISO-4217 currency code {code!r}")
    return code


CurrencyCode = Annotated[
    str,
    StringConstraints(pattern=r"^[A-Z]{3}$"),
    AfterValidator(_known_currency),
]
"""An upper-case ISO-4217 currency code that Accord knows the minor unit of."""


def _quantize(amount: Decimal, currency: str) -> Decimal:
    try:
        # Half-up is the commercial rounding the ERPs in scope apply to document amounts.
        return amount.quantize(_QUANTA[currency], rounding=ROUND_HALF_UP)
    except InvalidOperation as exc:
        raise ValueError(f"amount {amount} is too large to represent in {currency}") from exc


class Money(CanonicalModel):
    """An exact amount of one currency, quantized to the currency's minor unit.

    Amounts may be negative (credit notes, refunds). Construction rounds half-up to the
    minor unit, so ``Money(amount=Decimal("1.005"), currency="USD")`` is ``1.01 USD`` and
    ``JPY`` amounts are whole yen. Floats are refused.

    Equality compares amount and currency (``1 USD != 1 EUR``); ordering and arithmetic
    between different currencies raise :class:`CurrencyMismatchError`.
    """

    __schema_version__: ClassVar[str] = "1.0"

    amount: DecimalValue
    currency: CurrencyCode

    @model_validator(mode="after")
    def _quantize_amount(self) -> Self:
        # The model is frozen; writing __dict__ once, during validation, keeps it so.
        self.__dict__["amount"] = _quantize(self.amount, self.currency)
        return self

    @classmethod
    def of(cls, amount: Decimal | int | str, currency: str) -> Self:
        """Build Money from an exact amount and a currency code (validated)."""
        return cls.model_validate({"amount": amount, "currency": currency})

    @classmethod
    def zero(cls, currency: str) -> Self:
        """Return zero in ``currency``."""
        return cls(amount=Decimal(0), currency=currency)

    def _same(self, other: "Money", operation: str) -> None:
        if not isinstance(other, Money):
            raise TypeError(f"cannot {operation} Money and {type(other).__name__}")
        if other.currency != self.currency:
            raise CurrencyMismatchError(self.currency, other.currency, operation=operation)

    def _new(self, amount: Decimal) -> Self:
        # Skips re-validation: currency is known valid, only the amount needs quantizing.
        return self.model_copy(update={"amount": _quantize(amount, self.currency)})

    def add(self, other: "Money") -> Self:
        """Return ``self + other``; both must be in the same currency."""
        self._same(other, "add")
        return self._new(self.amount + other.amount)

    def sub(self, other: "Money") -> Self:
        """Return ``self - other``; both must be in the same currency."""
        self._same(other, "subtract")
        return self._new(self.amount - other.amount)

    def mul(self, factor: Decimal | int) -> Self:
        """Return ``self * factor`` rounded to the minor unit (e.g. rate x hours).

        Raises:
            TypeError: ``factor`` is a float (or not a number): money never meets a float.
        """
        if isinstance(factor, bool) or not isinstance(factor, Decimal | int):
            raise TypeError(f"Money can only be multiplied by Decimal or int, not {factor!r}")
        return self._new(self.amount * factor)

    def neg(self) -> Self:
        """Return the amount with its sign flipped."""
        return self._new(-self.amount)

    @property
    def is_zero(self) -> bool:
        """Whether the amount is zero."""
        return self.amount == 0

    def __add__(self, other: "Money") -> Self:
        return self.add(other)

    def __sub__(self, other: "Money") -> Self:
        return self.sub(other)

    def __mul__(self, factor: Decimal | int) -> Self:
        return self.mul(factor)

    def __rmul__(self, factor: Decimal | int) -> Self:
        return self.mul(factor)

    def __neg__(self) -> Self:
        return self.neg()

    def __lt__(self, other: "Money") -> bool:
        self._same(other, "compare")
        return self.amount < other.amount

    def __le__(self, other: "Money") -> bool:
        self._same(other, "compare")
        return self.amount <= other.amount

    def __gt__(self, other: "Money") -> bool:
        self._same(other, "compare")
        return self.amount > other.amount

    def __ge__(self, other: "Money") -> bool:
        self._same(other, "compare")
        return self.amount >= other.amount

    @override
    def __str__(self) -> str:
        return f"{self.amount} {self.currency}"


def money_sum(amounts: Iterable[Money], currency: str) -> Money:
    """Sum amounts of one currency, starting from zero in ``currency``.

    Raises:
        CurrencyMismatchError: an amount is in another currency.
    """
    total = Money.zero(currency)
    for item in amounts:
        total = total.add(item)
    return total
