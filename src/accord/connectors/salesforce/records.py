"""Reading raw Salesforce records for the mappers: every problem collected, then raised once.

A mapper reads each native field through a :class:`RecordReader`, which converts the value
(numbers through ``Decimal(str(x))``, never float arithmetic; dates; picklists) or notes what
is wrong with it under the *native* field name. :meth:`RecordReader.build` then constructs the
canonical model, translating its validation errors back to native field names too, and raises
one :class:`RecordMappingError` listing every problem. The lead-to-project flow turns that list
into one sales-ops exception instead of a fix-one-field-retry-find-the-next loop.

Shared by the Salesforce and Certinia mappers. What does *not* belong here: any one object's
field names or value tables.
"""

import datetime as dt
from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from accord.connectors.salesforce.rest import parse_sf_datetime
from accord.connectors.types import RawRecord
from accord.domain import ExternalRef, Money, System
from accord.errors import MappingError

__all__ = ["Lookups", "RecordMappingError", "RecordReader", "canonical_id", "salesforce_id_of"]

_M = TypeVar("_M", bound=BaseModel)
_E = TypeVar("_E")

EXTERNAL_ID_FIELD = "Accord_Id__c"
"""Accord's External ID field on every object it writes."""
CANONICAL_PREFIX = "SF-"
"""Prefix of the canonical id of a record Accord has not keyed yet (``SF-<18-char id>``)."""

Lookups = Mapping[str, Mapping[str, str]]
"""sObject name -> Salesforce id -> canonical id (from xref), for references a record carries
only as ids (records read with ``get`` have no nested parents)."""


class RecordMappingError(MappingError):
    """A native record cannot be mapped; ``problems`` names every field that is wrong.

    Attributes:
        sobject: The object's API name.
        record_id: The record's Salesforce id, when it has one.
        problems: Native field name (or ``(record)``) -> what is wrong with it.
    """

    def __init__(self, sobject: str, record_id: str | None, problems: Mapping[str, str]) -> None:
        self.sobject = sobject
        self.record_id = record_id
        self.problems = dict(problems)
        listed = "; ".join(f"{name}: {why}" for name, why in self.problems.items())
        super().__init__(f"{sobject} {record_id or '(no id)'} cannot be mapped: {listed}")

    @property
    def fields(self) -> tuple[str, ...]:
        """The native fields with a problem, in the order found."""
        return tuple(self.problems)


def salesforce_id_of(canonical: str) -> str | None:
    """The Salesforce id inside a default canonical id (``SF-001...``), else None."""
    return (
        canonical.removeprefix(CANONICAL_PREFIX) if canonical.startswith(CANONICAL_PREFIX) else None
    )


def canonical_id(record_id: str, external_id: object) -> str:
    """A record's canonical id: its ``Accord_Id__c``, else ``SF-`` + its Salesforce id."""
    if isinstance(external_id, str) and external_id:
        return external_id
    return f"{CANONICAL_PREFIX}{record_id}"


class RecordReader:
    """Typed, problem-collecting access to one raw record.

    Args:
        record: The record as the API returned it (SOQL row or ``GET`` answer).
        sobject: Its API name, for the error.
        lookups: Reference resolution when a record has no nested parent.
    """

    def __init__(self, record: RawRecord, sobject: str, lookups: Lookups | None = None) -> None:
        self.record = record
        self.sobject = sobject
        self.lookups = lookups or {}
        self.problems: dict[str, str] = {}
        record_id = record.get("Id")
        self.record_id = str(record_id) if record_id else None

    def problem(self, field: str, why: str) -> None:
        """Note a problem with ``field`` (the first one per field is kept)."""
        self.problems.setdefault(field, why)

    # ----------------------------------------------------------------- values
    def raw(self, field: str) -> Any:  # noqa: ANN401 - a native JSON value: the raw boundary
        """The value as is; a relationship path (``Account.Accord_Id__c``) walks parents."""
        value: Any = self.record
        for part in field.split("."):
            value = value.get(part) if isinstance(value, Mapping) else None
        return value

    def text(self, field: str, *, required: bool = True) -> str | None:
        """A non-blank string (stripped), or None (a problem when required)."""
        value = self.raw(field)
        if isinstance(value, str) and value.strip():
            return value.strip()
        if value not in {None, ""}:
            self.problem(field, "is not text")
        elif required:
            self.problem(field, "is missing")
        return None

    def decimal(self, field: str, *, required: bool = True) -> Decimal | None:
        """An exact number: JSON numbers go through ``Decimal(str(x))``, never float maths."""
        value = self.raw(field)
        if value is None or value == "":
            if required:
                self.problem(field, "is missing")
            return None
        if isinstance(value, bool) or not isinstance(value, int | float | str):
            self.problem(field, "is not a number")
            return None
        try:
            number = Decimal(str(value))
        except InvalidOperation:
            self.problem(field, "is not a number")
            return None
        if not number.is_finite():
            self.problem(field, "is not a finite number")
            return None
        return number

    def date(self, field: str, *, required: bool = True) -> dt.date | None:
        """A ``YYYY-MM-DD`` date."""
        value = self.raw(field)
        if value is None or value == "":
            if required:
                self.problem(field, "is missing")
            return None
        try:
            return dt.date.fromisoformat(str(value)[:10])
        except ValueError:
            self.problem(field, "is not a date")
            return None

    def datetime(self, field: str) -> dt.datetime | None:
        """A Salesforce datetime as UTC, or None when absent or unreadable."""
        return parse_sf_datetime(self.raw(field))

    def flag(self, field: str, *, default: bool = False) -> bool:
        """A checkbox (absent means ``default``)."""
        value = self.raw(field)
        if value is None:
            return default
        if not isinstance(value, bool):
            self.problem(field, "is not a checkbox value")
            return default
        return value

    def choice(self, field: str, table: Mapping[str, _E], *, required: bool = True) -> _E | None:
        """A picklist value translated through ``table`` (a problem names unknown values)."""
        value = self.text(field, required=required)
        if value is None:
            return None
        if value not in table:
            self.problem(field, f"has the unknown value {value!r}")
            return None
        return table[value]

    def money(self, field: str, currency_field: str = "CurrencyIsoCode") -> Money | None:
        """An amount in the record's currency (both fields required)."""
        amount = self.decimal(field)
        currency = self.text(currency_field)
        if amount is None or currency is None:
            return None
        try:
            return Money.of(amount, currency)
        except ValidationError:
            self.problem(currency_field, f"is not a known currency ({currency!r})")
            return None

    # ----------------------------------------------------------------- identity and references
    def identity(self) -> tuple[str, tuple[ExternalRef, ...]]:
        """The record's canonical id and its Salesforce reference."""
        if self.record_id is None:
            self.problem("Id", "is missing")
            return f"{CANONICAL_PREFIX}unknown", ()
        ref = ExternalRef(system=self.system, id=self.record_id)
        return canonical_id(self.record_id, self.raw(EXTERNAL_ID_FIELD)), (ref,)

    @property
    def system(self) -> System:
        """Which system the record belongs to (``pse__`` objects are Certinia's)."""
        return System.CERTINIA if self.sobject.startswith("pse__") else System.SALESFORCE

    def reference(
        self, field: str, relationship: str, sobject: str, *, required: bool = True
    ) -> str | None:
        """The canonical id of the record a lookup field points at.

        Tried in order: the nested parent's ``Accord_Id__c`` (SOQL pages select it), the
        ``lookups`` table, then the parent's default canonical id (``SF-`` + its id).
        """
        target = self.raw(field)
        nested = self.raw(f"{relationship}.{EXTERNAL_ID_FIELD}")
        if isinstance(nested, str) and nested:
            return nested
        if not isinstance(target, str) or not target:
            if required:
                self.problem(field, "is missing")
            return None
        known = self.lookups.get(sobject, {}).get(target)
        return known or canonical_id(target, None)

    def code(
        self, field: str, relationship: str, code_field: str, sobject: str, *, required: bool = True
    ) -> str | None:
        """A reference to a code list record (region, practice) as its code."""
        nested = self.raw(f"{relationship}.{code_field}")
        if isinstance(nested, str) and nested:
            return nested
        target = self.raw(field)
        known = self.lookups.get(sobject, {}).get(target) if isinstance(target, str) else None
        if known:
            return known
        if required:
            self.problem(field, "is missing" if not target else f"names an unknown {sobject}")
        return None

    # ----------------------------------------------------------------- the result
    def build(self, model: type[_M], native: Mapping[str, str], **values: Any) -> _M:  # noqa: ANN401 - model fields
        """Build ``model`` from ``values`` or raise every problem found on the way.

        Args:
            model: The canonical model class.
            native: Canonical field -> native field, so that model validation errors are
                reported under the field a person can fix in Salesforce.
            values: The model's fields.

        Raises:
            RecordMappingError: Any field was missing or invalid.
        """
        self.raise_problems()
        try:
            return model(**values)
        except ValidationError as exc:
            for error in exc.errors(include_input=False, include_url=False):
                head = str(error["loc"][0]) if error["loc"] else ""
                self.problem(native.get(head, "(record)"), error["msg"])
        self.raise_problems()
        raise AssertionError  # pragma: no cover - raise_problems raised

    def raise_problems(self) -> None:
        """Raise :class:`RecordMappingError` if any problem was noted."""
        if self.problems:
            raise RecordMappingError(self.sobject, self.record_id, self.problems)
