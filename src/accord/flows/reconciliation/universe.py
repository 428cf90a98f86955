"""What Accord knows it wrote, from its own records: projects, deals, customers, references.

Reconciliation compares only what Accord is responsible for. The cross-reference says which
record each system holds for a canonical project (``psa_project``, ``erp_project``,
``erp_billing_schedule``), deal (``opportunity``) and customer; lineage says which deal each
project was provisioned from (``opportunity -provisioned-> psa_project``). Which role a
connection plays is asked of its connector (a connection is a CRM, a PSA or an ERP).

What does not belong here: reading the systems (:mod:`.checks`).
"""

import datetime as dt
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Final, Literal

from accord.connectors.roles import Crm, Erp, Psa
from accord.errors import ConfigError, UnsupportedOperationError
from accord.flows import stepkit
from accord.store import lineage, xref
from accord.store.xref import XrefRow

__all__ = ["Links", "RoleName", "RunScope", "Universe", "load_universe", "role_of"]

RoleName = Literal["crm", "psa", "erp"]
_PROJECT_TYPES: Final = ("psa_project", "erp_project", "erp_billing_schedule", "opportunity")


@dataclass(frozen=True)
class RunScope:
    """What one run compares.

    Attributes:
        recon_id: The run.
        full: Compare everything (else only the projects with work changed since ``since``).
        since: An incremental run's start: work changed at or after it.
        project_id: Only this canonical project (and what belongs to it).
        settle_before: Work changed after this may still be on its way.
    """

    recon_id: int
    full: bool
    since: dt.datetime | None
    project_id: str | None
    settle_before: dt.datetime

    def to_json(self) -> dict[str, Any]:
        """The scope as JSON (a step's input)."""
        return {
            "recon_id": self.recon_id,
            "full": self.full,
            "since": self.since.isoformat() if self.since else None,
            "project_id": self.project_id,
            "settle_before": self.settle_before.isoformat(),
        }

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> "RunScope":
        """The scope back from :meth:`to_json`."""
        since = raw.get("since")
        return cls(
            recon_id=int(raw["recon_id"]),
            full=bool(raw["full"]),
            since=dt.datetime.fromisoformat(since) if since else None,
            project_id=raw.get("project_id"),
            settle_before=dt.datetime.fromisoformat(raw["settle_before"]),
        )


@dataclass
class Links:
    """The records one canonical project has in each system."""

    project_id: str
    psa: tuple[str, str] | None = None
    """(connection, the PSA's id)."""
    erp: tuple[str, str] | None = None
    """(connection, the ERP's id)."""
    schedule: str | None = None
    """The ERP's id of the project's billing plan (same connection as ``erp``)."""
    opportunity: str | None = None
    """The canonical deal it was provisioned from."""


@dataclass
class Universe:
    """Accord's records of what it wrote (see the module docstring)."""

    projects: dict[str, Links] = field(default_factory=dict)
    rows: list[XrefRow] = field(default_factory=list)
    """Every cross-reference."""

    def external(self, entity_type: str, canonical_id: str, connection: str) -> str | None:
        """The connection's id of a canonical object."""
        return self._index.get((entity_type, canonical_id, connection))

    def canonical(self, entity_type: str, connection: str, external_id: str) -> str | None:
        """The canonical id of a connection's record."""
        return self._reverse.get((entity_type, connection, external_id))

    def of_type(self, entity_type: str) -> list[XrefRow]:
        """The cross-references of one entity type."""
        return [r for r in self.rows if r.entity_type == entity_type]

    def __post_init__(self) -> None:
        self._index: dict[tuple[str, str, str], str] = {}
        self._reverse: dict[tuple[str, str, str], str] = {}

    def index(self) -> None:
        """Index :attr:`rows` (after they are loaded)."""
        for r in self.rows:
            self._index[(r.entity_type, r.canonical_id, r.connection)] = r.external_id
            self._reverse[(r.entity_type, r.connection, r.external_id)] = r.canonical_id


def load_universe(project_id: str | None = None) -> Universe:
    """Accord's records of its projects (one, with ``project_id``) and every reference."""
    with stepkit.engine().connect() as conn:
        rows = xref.list_all(conn)
        edges = lineage.list_relation(
            conn, from_type="opportunity", relation="provisioned", to_type="psa_project"
        )
    universe = Universe(rows=rows)
    universe.index()
    projects: dict[str, Links] = defaultdict(lambda: Links(""))
    for r in rows:
        if r.entity_type not in _PROJECT_TYPES or r.entity_type == "opportunity":
            continue
        links = projects[r.canonical_id]
        links.project_id = r.canonical_id
        if r.entity_type == "psa_project":
            links.psa = (r.connection, r.external_id)
        elif r.entity_type == "erp_project":
            links.erp = (r.connection, r.external_id)
        else:
            links.schedule = r.external_id
    for edge in edges:
        if edge.to_id in projects and edge.status == "provisioned":
            projects[edge.to_id].opportunity = edge.from_id
    universe.projects = {k: v for k, v in projects.items() if project_id is None or k == project_id}
    return universe


_roles: dict[str, RoleName | None] = {}


def role_of(connection: str) -> RoleName | None:
    """The role a configured connection plays; ``None`` when it is not configured (or none)."""
    if connection in _roles:
        return _roles[connection]
    found: RoleName | None = None
    try:
        connector = stepkit.connections().connector(connection)
    except ConfigError:
        return None
    rules = stepkit.rules()
    for name, make in (("erp", connector.as_erp), ("psa", connector.as_psa)):
        try:
            make(rules)
        except UnsupportedOperationError:
            continue
        found = "erp" if name == "erp" else "psa"
        break
    if found is None:
        try:
            connector.as_crm(rules)
            found = "crm"
        except UnsupportedOperationError:
            found = None
    _roles[connection] = found
    return found


def role(connection: str) -> Crm | Psa | Erp | None:
    """The connection in its role (see :func:`role_of`)."""
    match role_of(connection):
        case "erp":
            return stepkit.erp(connection)
        case "psa":
            return stepkit.psa(connection)
        case "crm":
            return stepkit.crm(connection)
        case _:
            return None


def connections_of(rows: Sequence[XrefRow]) -> list[str]:
    """The connections the references name, in a stable order."""
    return sorted({r.connection for r in rows})
