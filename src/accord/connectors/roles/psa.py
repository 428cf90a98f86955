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
from dataclasses import dataclass
from decimal import Decimal
from typing import Protocol, runtime_checkable

from accord.connectors.types import WriteResult
from accord.domain import Customer, Milestone, Money, Project, ProjectStatus

__all__ = ["ProjectTerms", "Psa", "PsaProjectPlan"]


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
