"""Strict readers the vendors' mappers share: a record's value or a :class:`MappingError`.

A mapper turns one raw record into a canonical model; a value it cannot read is a
:class:`~accord.errors.MappingError` naming it, never a half-built object. The lenient
readers of values as a system holds them (``None`` or ``0`` when unreadable) are
:mod:`accord.connectors.roles.recon`'s ``held_*``.
"""

import datetime as dt
from decimal import Decimal, InvalidOperation
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from accord.errors import MappingError

__all__ = ["build_model", "required_date", "required_decimal", "stamp_or_none"]

_M = TypeVar("_M", bound=BaseModel)


def build_model(model: type[_M], **values: Any) -> _M:  # noqa: ANN401 - model fields of any type
    """``model`` validated from ``values``; what fails validation, by field, in the error.

    Raises:
        MappingError: A field is missing or invalid.
    """
    try:
        return model.model_validate(values)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}"
            for e in exc.errors(include_input=False, include_url=False)
        )
        raise MappingError(f"cannot build {model.__name__}: {problems}") from None


def required_decimal(value: object, what: str) -> Decimal:
    """A JSON number or decimal string exactly; floats go through ``str`` (never float maths).

    Raises:
        MappingError: ``what`` is missing or not a number.
    """
    if isinstance(value, bool) or value is None:
        raise MappingError(f"{what} is missing")
    try:
        return Decimal(str(value))
    except InvalidOperation:
        raise MappingError(f"{what} is not a number") from None


def required_date(value: object, what: str) -> dt.date:
    """An ISO date (``YYYY-MM-DD``).

    Raises:
        MappingError: ``what`` is not a date.
    """
    try:
        return dt.date.fromisoformat(str(value))
    except ValueError:
        raise MappingError(f"{what} is not a date") from None


def stamp_or_none(value: object, *, null_date: str | None = None) -> dt.datetime | None:
    """An ISO timestamp in UTC (one without a zone is UTC); ``None`` when there is none.

    ``null_date`` is the prefix a system writes for "no time" (BC's ``0001-``).

    Raises:
        MappingError: The value is text but not a timestamp.
    """
    if not isinstance(value, str) or not value or (null_date and value.startswith(null_date)):
        return None
    try:
        moment = dt.datetime.fromisoformat(value)
    except ValueError:
        raise MappingError(f"{value!r} is not a timestamp") from None
    return moment.astimezone(dt.UTC) if moment.tzinfo else moment.replace(tzinfo=dt.UTC)
