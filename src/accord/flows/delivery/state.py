"""What delivery sync knows of a project: its last status and fields, who owns them, sides.

What a system last **reported** of a project is the newest ``project.status_changed`` (or
``project.activated``) captured from that system's connection (``active`` before any:
lead-to-project provisions projects active), and the newest value of each field in the
``project.fields_changed`` events captured from it. Capture compares what a system holds now
with what that same system last reported, so a stale read is never mistaken for a change; a
system reporting what Accord wrote there (the echo of a sync) is a change whose value the
owner already has, which the workflow sees and leaves alone.

The **owner** of a project's status is the rules' field ownership of ``project.status`` (the
PSA by default); of a firm-specific field, its ``custom_fields`` entry's ``owner``, else the
project's default owner. A **side** is ``psa`` or ``erp``: where an event came from (its capture
source's connection, compared with the project's PSA and ERP connections) and where a change
goes.

Everything here runs inside a capture mapper or a DBOS step (the flow context is installed).
"""

from collections.abc import Mapping, Sequence
from typing import Any, Final, Literal

from accord.domain import ProjectStatus
from accord.flows import stepkit
from accord.flows.shared.finance import PlacedProject
from accord.store import journal
from accord.store.journal import JournalEntry

__all__ = [
    "STATUS_EVENTS",
    "Side",
    "changed_fields",
    "field_owner",
    "known_fields",
    "known_status",
    "source_connection",
    "source_side",
    "status_owner",
]

Side = Literal["psa", "erp"]
STATUS_EVENTS: Final = ("project.status_changed", "project.activated")
"""The events that set a project's status."""
_FIELD_EVENTS: Final = ("project.fields_changed",)
_FIELD_HISTORY: Final = 50
"""How many field events are folded into the last known fields (the newest first)."""


def _reported(
    project_id: str, connection: str, types: Sequence[str], *, limit: int = 1
) -> list[tuple[JournalEntry, Any]]:
    """The newest events of ``types`` that ``connection``'s capture journaled for the project."""
    with stepkit.engine().connect() as conn:
        return journal.latest(
            conn,
            types=types,
            business_key=f"project:{project_id}",
            source_prefix=f"accord/capture/{connection}/",
            limit=limit,
        )


def known_status(project_id: str, connection: str) -> ProjectStatus:
    """The project's status as ``connection`` last reported it (see the module docstring)."""
    found = _reported(project_id, connection, STATUS_EVENTS)
    if not found:
        return ProjectStatus.ACTIVE
    _, data = found[0]
    return ProjectStatus(data["status"])


def known_fields(project_id: str, connection: str) -> dict[str, str | None]:
    """The newest value of each firm-specific field ``connection`` reported for the project."""
    found = _reported(project_id, connection, _FIELD_EVENTS, limit=_FIELD_HISTORY)
    known: dict[str, str | None] = {}
    for _, data in found:
        for name, value in (data.get("fields") or {}).items():
            known.setdefault(name, value)
    return known


def _role(value: Any) -> Side:  # noqa: ANN401 - an OwnerRole or None
    return "erp" if str(getattr(value, "value", value)) == "erp" else "psa"


def status_owner() -> Side:
    """Who owns a project's status (a CRM owner is read as the PSA's: it has no status)."""
    return _role(stepkit.rules().owner("project", "status"))


def field_owner(name: str) -> Side:
    """Who owns the firm-specific project field ``name``."""
    spec = stepkit.rules().spec.custom_fields.project.get(name)
    owner = spec.owner if spec is not None and spec.owner is not None else None
    return _role(owner or stepkit.rules().owner("project", name))


def source_connection(source: str) -> str | None:
    """The connection of a capture source (``accord/capture/<connection>/<feed>``)."""
    parts = source.split("/")
    if len(parts) >= 4 and parts[0] == "accord" and parts[1] == "capture":
        return parts[2]
    return None


def source_side(source: str, placed: PlacedProject) -> Side | None:
    """Which side of the project an event came from; ``None``: not from either (an API)."""
    connection = source_connection(source)
    if connection is None:
        return None
    if placed.psa is not None and placed.psa[1] == connection:
        return "psa"
    if placed.erp is not None and placed.erp[1] == connection:
        return "erp"
    return None


def changed_fields(
    fields: Mapping[str, str | None], known: Mapping[str, str | None]
) -> dict[str, str | None]:
    """The fields whose value differs from the last known one (a first blank is no change)."""
    return {
        name: value
        for name, value in fields.items()
        if (name in known and known[name] != value) or (name not in known and value is not None)
    }
