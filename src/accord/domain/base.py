"""The base class of every canonical model, and the small value objects everything uses.

What belongs here: :class:`CanonicalModel` (configuration and schema versioning),
:class:`ExternalRef` and :class:`Address`. Business entities live in their own modules.
"""

import re
from typing import Any, ClassVar, Final

from pydantic import BaseModel, ConfigDict
from typing_extensions import override

from accord.domain.enums import System
from accord.domain.types import CountryCode, Identifier

__all__ = ["Address", "CanonicalModel", "ExternalRef", "parse_schema_major"]

_VERSION_RE: Final = re.compile(r"^(\d+)\.(\d+)$")
_CAMEL_RE: Final = re.compile(r"(?<!^)(?=[A-Z])")


def parse_schema_major(version: str) -> int:
    """Return the major part of a ``major.minor`` schema version.

    Raises:
        ValueError: the version is not ``<int>.<int>``.
    """
    match = _VERSION_RE.match(version)
    if match is None:
        raise ValueError(f"schema version {version!r} is not 'major.minor'")
    return int(match.group(1))


class CanonicalModel(BaseModel):
    """Base of every canonical model: immutable, no unknown fields, versioned.

    Each subclass declares ``__schema_version__ = "major.minor"``. Bump the minor part for a
    backward-compatible change (a new optional field, a new enum member) and the major part
    for anything else; :func:`accord.domain.export_schemas` enforces this against the
    checked-in ``schemas/``.
    """

    __schema_version__: ClassVar[str] = "1.0"
    """Version of this model's schema, ``major.minor``."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    @classmethod
    @override
    def __pydantic_init_subclass__(cls, **kwargs: Any) -> None:
        """Fail at import time, not at export time, on a malformed schema version."""
        super().__pydantic_init_subclass__(**kwargs)
        parse_schema_major(cls.__schema_version__)

    @classmethod
    def schema_major(cls) -> int:
        """Return the major part of ``__schema_version__``."""
        return parse_schema_major(cls.__schema_version__)

    @classmethod
    def schema_name(cls) -> str:
        """Return the snake-case name used for the schema file (``TimeEntry`` -> ``time_entry``)."""
        return _CAMEL_RE.sub("_", cls.__name__).lower()


class ExternalRef(CanonicalModel):
    """A record's identity in one external system, e.g. ``(salesforce, 006xx0000012345)``."""

    __schema_version__: ClassVar[str] = "1.0"

    system: System
    id: Identifier


class Address(CanonicalModel):
    """A postal address (bill-to, ship-to)."""

    __schema_version__: ClassVar[str] = "1.0"

    line1: Identifier
    line2: str | None = None
    city: Identifier
    state: str | None = None
    postal_code: str | None = None
    country: CountryCode
