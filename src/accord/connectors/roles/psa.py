"""The PSA role: what flows ask of a PSA, in canonical terms.

A PSA (Kantata, Certinia ...) owns project execution: structure, resourcing, time, expense and
milestones. Flows speak to it only through :class:`Psa`; a vendor's objects, bodies, ids and
error wording stay in its package, which returns an implementation from ``Connector.as_psa``.

Changes come as :class:`~accord.connectors.roles.ChangeFeed` s of
:class:`~accord.connectors.roles.Mapped` records: the role maps what it reads to canonical
objects, asking Accord's cross-reference (:class:`~accord.connectors.roles.KnownIds`) for the
canonical ids of the projects and people a record names, and says in its own words what is
missing when a record does not map.

Refusals are :class:`~accord.errors.PermanentError` whose ``reason`` is one of
:data:`accord.errors.REASONS`; transient failures are :class:`~accord.errors.RetryableError`,
never slept on here.
"""

from typing import Literal, Protocol, runtime_checkable

from accord.connectors.roles.feeds import ChangeFeed, Mapped
from accord.connectors.roles.xref import KnownIds
from accord.domain import Expense, Invoice, Milestone, Timesheet

__all__ = ["ApprovalKind", "Psa"]

ApprovalKind = Literal["timesheet", "expense"]
"""What an approval approves: a week of time (a timesheet) or one expense."""


@runtime_checkable
class Psa(Protocol):
    """A PSA in canonical terms (see the module docstring)."""

    @property
    def connection(self) -> str:
        """The connection's name (from ``accord.yaml``)."""
        ...

    # --- cash and billing: approved time and expense, milestones, invoice status ----------
    def approval_feeds(
        self, ids: KnownIds
    ) -> tuple[ChangeFeed[Mapped[Timesheet | Expense] | None], ...]:
        """Time and expenses approved since a cursor, one feed per source the PSA has.

        Each approval maps to one :class:`~accord.connectors.roles.Mapped` whose ``key``
        stays the same whenever the approval is read again (one event per approval); a
        timesheet carries all its entries, an expense is one expense. The project and person
        of an approval get their canonical ids from ``ids`` first (what Accord provisioned),
        else from the PSA's own records (Accord's key on the project, the consultant id on
        the person). Records that approve nothing (a rejection) map to ``None``.
        """
        ...

    def approval(
        self, kind: ApprovalKind, record_id: str, ids: KnownIds
    ) -> Mapped[Timesheet | Expense] | None:
        """One approval read again by the PSA's id (``Mapped.record_id``), as its feed maps it.

        For an approval that did not map, after its owner's fix. ``None`` when the record is
        not (or no longer) approved.
        """
        ...

    def resolve_approval(self, kind: ApprovalKind, record_id: str, *, approve: bool) -> None:
        """Approve or reject a submitted timesheet or expense (report) in the PSA.

        Nothing is written when the record is already resolved that way.

        Raises:
            PermanentError: The PSA refused (reason ``validation`` for a record that is not
                submitted, ``not_found`` for an unknown one).
        """
        ...

    def completed_milestones(self, ids: KnownIds) -> ChangeFeed[Mapped[Milestone] | None]:
        """Milestones completed since a cursor (one change per completed version).

        A record that is not a completed milestone maps to ``None``; a completed one Accord
        cannot place (its key or project unknown) maps with ``missing`` set.
        """
        ...

    def mark_milestone_invoiced(self, milestone: Milestone, *, invoice_id: str, note: str) -> bool:
        """Mark the PSA's milestone invoiced by the canonical invoice ``invoice_id``.

        ``note`` says where and as what it was invoiced, for people. Idempotent.

        Returns:
            ``False`` when the milestone carries no reference to this PSA (nothing written).
        """
        ...

    def record_invoice(self, project: str, invoice: Invoice, *, note: str) -> str:
        """Write an ERP invoice's status to the PSA project ``project`` (the PSA's id).

        Upserted by the canonical invoice id, so writing it again updates the same record;
        ``note`` (ERP number, status and amount due) is shown where the PSA has room for it.

        Returns:
            The PSA's id of the record holding the invoice.
        """
        ...
