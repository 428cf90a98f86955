"""The PSA role: what flows ask of a PSA, in canonical terms.

A PSA (Kantata OX, Certinia ...) owns project execution: structure, resourcing, time,
expense and milestones. Flows speak to it only through :class:`Psa`; a vendor's objects,
bodies, ids and error wording stay in its package, which returns an implementation from
``Connector.as_psa``.

Projects are keyed by their canonical id (``PRJ-...``) and milestones by theirs, so every
write is an idempotent upsert; the PSA's own project id comes back from
:meth:`Psa.upsert_project` and is what the other project methods take.

Refusals are :class:`~accord.errors.PermanentError`; transient failures
:class:`~accord.errors.RetryableError`, never slept on here. A read the PSA cannot answer on
its own (a Kantata workspace carries no customer) raises
:class:`~accord.errors.UnsupportedOperationError`.
"""

import datetime as dt
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Literal, Protocol, runtime_checkable

from accord.connectors.roles.delivery import DeliveryRecord, ProjectState, VendorCost
from accord.connectors.roles.feeds import ChangeFeed, Mapped
from accord.connectors.roles.recon import BACKGROUND, HeldTerms, HeldWork, Lane
from accord.connectors.roles.xref import KnownIds
from accord.connectors.types import WriteResult
from accord.domain import (
    Customer,
    Expense,
    Invoice,
    Milestone,
    Money,
    Project,
    ProjectStatus,
    Timesheet,
)

__all__ = ["ApprovalKind", "ProjectTerms", "Psa", "PsaProjectPlan"]


@dataclass(frozen=True)
class PsaProjectPlan:
    """A project to provision in the PSA, with its structure.

    Attributes:
        project: The canonical project (its ``template`` is the PSA template to use).
        phases: Phase names, in order (each becomes a phase, task or deliverable).
        milestones: Billing milestones, keyed by their canonical ids.
        rate_card_id: The PSA rate card pricing its time (from :meth:`Psa.rate_card_id`).
        description: Free text for people: where the project came from.
    """

    project: Project
    phases: tuple[str, ...] = ()
    milestones: tuple[Milestone, ...] = ()
    rate_card_id: str | None = None
    description: str = ""


@dataclass(frozen=True)
class ProjectTerms:
    """The commercial terms of a provisioned project that a contract amendment changes.

    Attributes:
        project_id: The project's canonical id (its milestones belong to it).
        budget: The project budget.
        contract_value: The contract's value (bookings).
        start_date: The new start.
        end_date: The new end, if any.
        rate_card_id: The PSA rate card, if any.
        milestones: Every milestone of the version (upserted by canonical id).
    """

    project_id: str
    budget: Money
    contract_value: Money
    start_date: dt.date
    end_date: dt.date | None = None
    rate_card_id: str | None = None
    milestones: tuple[Milestone, ...] = ()


ApprovalKind = Literal["timesheet", "expense"]
"""What an approval approves: a week of time (a timesheet) or one expense."""


@runtime_checkable
class Psa(Protocol):
    """A PSA in canonical terms (see the module docstring)."""

    @property
    def connection(self) -> str:
        """The connection's name (from ``accord.yaml``)."""
        ...

    @property
    def system(self) -> str:
        """The system's name in external references and the cross-reference (``kantata``)."""
        ...

    # ----------------------------------------------------------------- rates
    def rate_card_id(self, currency: str) -> str | None:
        """The rate card pricing time in ``currency``, or ``None`` when the PSA has none."""
        ...

    def rate_card_rates(self, card_id: str, currency: str) -> dict[str, Decimal]:
        """The hourly bill rates of a rate card: role name -> rate (empty: no rates)."""
        ...

    # ----------------------------------------------------------------- projects
    def upsert_project(self, plan: PsaProjectPlan) -> WriteResult:
        """Create or update the project with its phases and milestones; idempotent.

        Returns the PSA's id of the project and whether this call created it.
        """
        ...

    def update_terms(self, psa_id: str, terms: ProjectTerms) -> None:
        """Write a contract version's budget, dates, rate card and milestones (upserts)."""
        ...

    def hold_project(self, psa_id: str, *, reason: str, description: str) -> None:
        """Put the project on hold (closed for time and expense) and say why.

        ``description`` is the project's own description (as given at provisioning), which
        the PSA may show beside the reason.
        """
        ...

    def release_project(self, psa_id: str, *, description: str) -> None:
        """Lift a hold: the project is active again and the reason is cleared."""
        ...

    def project_status(self, psa_id: str) -> ProjectStatus:
        """The project's status as the PSA holds it now."""
        ...

    def link_erp_project(self, psa_id: str, erp_project_id: str) -> None:
        """Note on the PSA project the ERP project it bills through (where the PSA can)."""
        ...

    def project(self, psa_id: str) -> Project:
        """The project as a canonical object.

        Raises:
            NotFoundError: The PSA has no such project.
            UnsupportedOperationError: The PSA's project does not map on its own.
        """
        ...

    # ----------------------------------------------------------------- customers
    def customer_of_account(self, crm_account_id: str) -> str | None:
        """The PSA's customer id of a CRM account, when the PSA shares the CRM's accounts.

        ``None`` when the PSA keeps no customers of its own or does not share them.
        """
        ...

    def customer(self, psa_id: str) -> Customer:
        """A customer of the PSA as a canonical object.

        Raises:
            NotFoundError: The PSA has no such customer.
            UnsupportedOperationError: The PSA keeps no customers.
        """
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

    # --- reconciliation: approved work and project terms, read in bulk -------------------
    def approved_work(
        self,
        projects: Collection[str],
        *,
        changed_since: dt.datetime | None = None,
        entry_ids: Collection[str] = (),
        lane: Lane = BACKGROUND,
    ) -> list[HeldWork]:
        """Approved time entries and expenses, as the PSA holds them now.

        Those of ``projects`` (the PSA's ids; with ``changed_since``, only the ones changed at
        or after it), plus those of ``entry_ids`` (canonical entry ids, as approval events
        carry them) wherever they are. An entry that is no longer approved is not returned.
        Read in pages, never one call per entry.
        """
        ...

    def project_terms(
        self, projects: Collection[str], *, lane: Lane = BACKGROUND
    ) -> dict[str, HeldTerms]:
        """Budget and dates of the projects (the PSA's ids) it still holds, by that id."""
        ...

    def existing(
        self, entity_type: str, ids: Collection[str], *, lane: Lane = BACKGROUND
    ) -> set[str] | None:
        """Of ``ids``, the records the PSA still holds; ``None`` for a type it cannot tell.

        ``ids`` are the PSA's ids of ``entity_type`` records, in Accord's xref vocabulary
        (``psa_project``, ``resource`` ...). With ``None`` nothing is concluded.
        """
        ...

    # --- delivery: project status and fields, tasks, assignments, vendor costs (issue 23) --
    def delivery_feeds(
        self, ids: KnownIds
    ) -> tuple[ChangeFeed[Mapped[DeliveryRecord] | None], ...]:
        """What changed in the PSA's delivery since a cursor, one feed per source it has.

        A project's status and firm-specific fields (:class:`ProjectState`), its tasks, the
        people on it and on its tasks (``Assignment`` with or without ``task_id``), and its
        approved vendor expenses (``Expense`` with ``vendor_id``). Records about projects
        Accord did not provision map to ``None``; so do records Accord wrote itself (a
        vendor bill from the ERP recorded as a project cost). A record Accord cannot place
        (its person or vendor unknown) maps with ``missing`` set.
        """
        ...

    def project_state(self, psa_id: str, project_id: str) -> ProjectState:
        """The project's status and firm-specific fields now (``project_id``: its canonical id).

        Raises:
            NotFoundError: The PSA has no such project.
        """
        ...

    def set_project_status(self, psa_id: str, status: ProjectStatus, *, reason: str) -> bool:
        """Move the project to ``status`` (a closed one is closed for time and expense).

        ``reason`` (where the change came from) is shown where the PSA has room for it.

        Returns:
            ``False`` when the project already had that status (nothing written).
        """
        ...

    def write_project_fields(self, psa_id: str, fields: Mapping[str, str | None]) -> None:
        """Write firm-specific fields (canonical names; ``None`` clears one). Idempotent."""
        ...

    def project_field_problems(self) -> dict[str, str]:
        """The rules' firm-specific fields this PSA cannot carry: name -> why (its metadata).

        Empty when every mapped field exists and is writable.
        """
        ...

    def record_vendor_cost(self, cost: VendorCost, ids: KnownIds) -> str:
        """Record an ERP vendor bill's line on the project as a project cost, once per key.

        The vendor is matched through ``ids`` and the PSA's own vendor records (the firm's
        vendor key); a PSA without one keeps the vendor's name on the record.

        Returns:
            The PSA's id of the record.

        Raises:
            PermanentError: The PSA refused it (``reason`` says why).
        """
        ...
