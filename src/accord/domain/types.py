"""Constrained scalar types shared by the canonical model.

Each type is an ``Annotated`` alias, so pydantic builds its validator once per model class
(no per-call construction) and mypy sees the plain Python type. What belongs here: the
rules for identifiers, UTC datetimes, exact decimals, hours and codes. Money and currencies
live in :mod:`accord.domain.money`; enumerations in :mod:`accord.domain.enums`.
"""

import re
from datetime import UTC, datetime
from decimal import Decimal
from typing import Annotated, Final

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BeforeValidator,
    Field,
    StringConstraints,
    WithJsonSchema,
)

__all__ = [
    "DECIMAL_PATTERN",
    "CountryCode",
    "DecimalValue",
    "Email",
    "Hours",
    "Identifier",
    "NonNegativeDecimal",
    "PeriodCode",
    "UriReference",
    "UtcDatetime",
    "parse_decimal",
    "to_utc",
]

DECIMAL_PATTERN: Final = r"^-?\d+(\.\d+)?$"
"""Plain decimal notation accepted in strings: no exponent, no NaN/Infinity, no spaces."""

_DECIMAL_RE: Final = re.compile(DECIMAL_PATTERN)
_HOURS_STEP: Final = Decimal("0.01")


def parse_decimal(value: object) -> Decimal:
    """Turn an exact input (Decimal, int or plain decimal string) into a finite Decimal.

    Floats are refused on purpose: ``0.1`` has no exact binary value, and money or hours
    that went through a float have already lost a cent somewhere. JSON producers must send
    amounts as strings ("12.50") or integers.

    Raises:
        ValueError: for floats, booleans, non-finite or non-plain values (pydantic turns
            this into a ``ValidationError``).
    """
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise ValueError("decimal must be finite (no NaN or Infinity)")
        return value
    if isinstance(value, str):
        if _DECIMAL_RE.match(value) is None:
            raise ValueError("decimal string must be plain notation like '-12.50'")
        return Decimal(value)
    if isinstance(value, bool):
        # pydantic reports ValueError (not TypeError) as a validation error.
        raise ValueError("a boolean is not a decimal")  # noqa: TRY004
    if isinstance(value, int):
        return Decimal(value)
    if isinstance(value, float):
        raise ValueError(  # noqa: TRY004
            "float refused: pass a Decimal, an int or a decimal string like '12.50'"
        )
    raise ValueError(f"expected a Decimal, int or decimal string, got {type(value).__name__}")


def to_utc(value: datetime) -> datetime:
    """Normalise an aware datetime to ``datetime.UTC`` (naive ones never reach here)."""
    # pydantic parses "Z" into its own TzInfo; re-basing gives one canonical tzinfo object.
    return value if value.tzinfo is UTC else value.astimezone(UTC)


def _quantize_hours(value: Decimal) -> Decimal:
    return value.quantize(_HOURS_STEP)


_DECIMAL_JSON_SCHEMA: Final = {
    "anyOf": [{"type": "integer"}, {"type": "string", "pattern": DECIMAL_PATTERN}]
}

Identifier = Annotated[
    str,
    StringConstraints(min_length=1, max_length=255, pattern=r"^\S(.*\S)?$"),
]
"""A non-empty identifier without leading/trailing whitespace or line breaks."""

UtcDatetime = Annotated[AwareDatetime, AfterValidator(to_utc)]
"""A timezone-aware datetime, normalised to UTC; naive datetimes are refused."""

DecimalValue = Annotated[
    Decimal,
    BeforeValidator(parse_decimal),
    WithJsonSchema(_DECIMAL_JSON_SCHEMA),
]
"""An exact decimal: Decimal, int or plain decimal string; floats refused."""

NonNegativeDecimal = Annotated[
    Decimal,
    BeforeValidator(parse_decimal),
    Field(ge=0),
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "integer", "minimum": 0},
                {"type": "string", "pattern": r"^\d+(\.\d+)?$"},
            ]
        }
    ),
]
"""An exact decimal that is zero or more (quantities, planned hours)."""

Hours = Annotated[
    Decimal,
    BeforeValidator(parse_decimal),
    Field(gt=0, le=24, decimal_places=2),
    AfterValidator(_quantize_hours),
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "integer", "exclusiveMinimum": 0, "maximum": 24},
                {"type": "string", "pattern": r"^\d{1,2}(\.\d{1,2})?$"},
            ],
            "description": "Hours worked: 0 < hours <= 24, at most two decimal places.",
        }
    ),
]
"""Hours of one time entry: ``0 < hours <= 24`` with at most two places, kept as ``x.yy``."""

UriReference = Annotated[str, StringConstraints(min_length=1, max_length=2048, pattern=r"^\S+$")]
"""A non-empty URI-reference (no whitespace), e.g. a CloudEvents ``source``."""

CountryCode = Annotated[str, StringConstraints(pattern=r"^[A-Z]{2}$")]
"""An ISO 3166-1 alpha-2 country code (upper case)."""

PeriodCode = Annotated[str, StringConstraints(pattern=r"^\d{4}-(0[1-9]|1[0-2])$")]
"""A monthly accounting period, ``YYYY-MM``."""

Email = Annotated[
    str,
    StringConstraints(max_length=320, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$"),
]
"""An e-mail address (shape check only: delivery is the systems' business)."""
