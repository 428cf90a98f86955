"""Errors raised by the canonical model.

Only errors that belong to the model itself live here (a currency mismatch, an unknown event
type, an incompatible schema change). Validation failures of incoming data surface as
:class:`pydantic.ValidationError`, which the intake maps to a 4xx problem response.

```
DomainError
├─ CurrencyMismatchError     (also a ValueError) Money arithmetic across currencies
├─ UnknownEventTypeError     (also a ValueError) event type not in the registry
├─ EventDataTypeError        (also a TypeError)  data model does not fit the event type
└─ SchemaCompatibilityError  export would overwrite a schema with an incompatible one
```
"""

from collections.abc import Sequence
from pathlib import Path

from accord.errors import AccordError

__all__ = [
    "CurrencyMismatchError",
    "DomainError",
    "EventDataTypeError",
    "SchemaCompatibilityError",
    "UnknownEventTypeError",
]


class DomainError(AccordError):
    """Root of the errors raised by :mod:`accord.domain`."""


class CurrencyMismatchError(DomainError, ValueError):
    """Two amounts in different currencies were added, subtracted or compared.

    The caller has a bug or needs an explicit conversion: Accord never converts silently.
    """

    def __init__(self, left: str, right: str, *, operation: str) -> None:
        self.left = left
        self.right = right
        self.operation = operation
        super().__init__(f"cannot {operation} {left} and {right}: currencies differ")


class UnknownEventTypeError(DomainError, ValueError):
    """The event type is not one of the canonical event types; the event cannot be accepted."""

    def __init__(self, event_type: object, *, known: Sequence[str] = ()) -> None:
        self.event_type = event_type
        self.known = tuple(known)
        hint = f"; known types: {', '.join(self.known)}" if self.known else ""
        super().__init__(f"unknown event type {event_type!r}{hint}")


class EventDataTypeError(DomainError, TypeError):
    """A data model was given for an event type that carries a different model."""

    def __init__(self, event_type: str, *, expected: str, actual: str) -> None:
        self.event_type = event_type
        self.expected = expected
        self.actual = actual
        super().__init__(f"event type {event_type!r} carries {expected}, not {actual}")


class SchemaCompatibilityError(DomainError):
    """Export refused to overwrite checked-in schemas with backward-incompatible ones.

    Fix the model, or bump the major part of its ``__schema_version__`` so that a new
    ``<name>.v<major>.json`` file is written beside the old one.
    """

    def __init__(self, problems: dict[Path, list[str]]) -> None:
        self.problems = problems
        lines = [
            f"{path.name}: {problem}"
            for path, found in sorted(problems.items())
            for problem in found
        ]
        # The first line stands alone (CLIs print it); the full list follows.
        super().__init__(
            f"{len(lines)} incompatible schema change(s) without a major version bump, "
            f"first: {lines[0] if lines else '?'}\n  " + "\n  ".join(lines)
        )
