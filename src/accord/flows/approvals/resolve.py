"""The exception of an approval whose project or person Accord cannot tell.

An approved timesheet or expense names its project and its person by PSA ids. Their canonical
ids are:

- **project**: the project Accord provisioned there (xref ``psa_project``: canonical id ->
  PSA id in the connection, written by lead-to-project), else the project's own Accord key
  on the PSA's project, for projects Accord did not provision;
- **person**: the firm's consultant id (the ERP's employee external id), which the PSA's
  record of the person carries (or xref ``resource``).

The PSA role resolves both (:meth:`~accord.connectors.roles.Psa.approval_feeds`) and says
what it could not resolve. An approval whose project or person does not resolve becomes a
``psa.approval.unmapped`` exception (routed by the rules: ``psa.*`` -> delivery-ops) naming
what is missing, never a half-empty event. Opening it is idempotent: an unchanged open
exception is left alone, so a re-read approval does not count as a new occurrence.
"""

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from accord.flows import stepkit
from accord.flows.shared.finance import resolve_exceptions
from accord.store import exceptions

__all__ = [
    "FLOW",
    "UNMAPPED",
    "Unmapped",
    "open_unmapped",
    "report_unmapped",
    "resolve_mapped",
]

logger = logging.getLogger(__name__)

FLOW = "approvals"
"""The flow name exceptions of this package carry."""
UNMAPPED = "psa.approval.unmapped"
"""Failure code of an approval that does not map (the rules route it)."""


@dataclass(frozen=True)
class Unmapped:
    """An approval that cannot become an event, and why.

    Attributes:
        kind: ``timesheet`` or ``expense``.
        system: The PSA's kind (its connector's).
        connection: The PSA's connection.
        psa_id: The approved record's id in the PSA.
        label: How the owner recognises it (a name, a week and a person).
        problems: What is missing, by field (``project``, ``resource`` ...).
        record: PSA ids of the record's references, shown to the owner.
    """

    kind: str
    system: str
    connection: str
    psa_id: str
    label: str
    problems: Mapping[str, str]
    record: Mapping[str, Any] = field(default_factory=dict)

    @property
    def dedupe_key(self) -> str:
        """One open exception per approved record."""
        return f"{FLOW}:unmapped:{self.connection}:{self.kind}:{self.psa_id}"

    @property
    def business_key(self) -> str:
        """The record itself: its project is what may be unknown."""
        return f"{self.kind}:{self.connection}:{self.psa_id}"


_FIXES = {
    "project": (
        "provision the project through Accord, or give the PSA project Accord's key "
        "(see docs/flows/approvals.md for where each PSA keeps it)"
    ),
    "resource": (
        "give the person's PSA record the firm's consultant id "
        "(see docs/flows/approvals.md for where each PSA keeps it)"
    ),
}


def report_unmapped(unmapped: Unmapped) -> bool:
    """Open (or refresh) the exception; ``False`` when the same one is already open."""
    route = stepkit.rules().route(UNMAPPED)
    detail = {
        "system": unmapped.system,
        "connection": unmapped.connection,
        "kind": unmapped.kind,
        "psa_id": unmapped.psa_id,
        "record": dict(unmapped.record),
        "problems": dict(sorted(unmapped.problems.items())),
        "fix": [_FIXES[k] for k in sorted(unmapped.problems) if k in _FIXES],
    }
    if not stepkit.open_unless_same(
        queue=route.queue.value,
        severity=route.severity.value,
        flow=FLOW,
        run_id=None,
        business_key=unmapped.business_key,
        code=UNMAPPED,
        title=(
            f"Approved {unmapped.kind} {unmapped.label} cannot be posted: "
            f"unknown {', '.join(sorted(unmapped.problems))}"
        ),
        detail=detail,
        dedupe_key=unmapped.dedupe_key,
        scan=20,
    ):
        return False
    logger.info(
        "approved %s %s in %s does not map: %s",
        unmapped.kind,
        unmapped.psa_id,
        unmapped.connection,
        ", ".join(sorted(unmapped.problems)),
    )
    return True


def open_unmapped(connection: str, *, limit: int = 100) -> list[tuple[str, str]]:
    """``(kind, PSA id)`` of the approvals of a connection waiting for a fix, oldest first."""
    with stepkit.engine().connect() as conn:
        keys = exceptions.open_keys(conn, flow=FLOW, code=UNMAPPED, limit=limit)
    out: list[tuple[str, str]] = []
    for key in keys:
        kind, _, rest = key.partition(":")
        where, _, psa_id = rest.partition(":")
        if where == connection and psa_id:
            out.append((kind, psa_id))
    return out


def resolve_mapped(business_key: str, dedupe_key: str) -> None:
    """Close the open unmapped exception of a record that now maps (after its fix)."""
    resolve_exceptions(dedupe_key, "the approval maps after the fix", business_key=business_key)
