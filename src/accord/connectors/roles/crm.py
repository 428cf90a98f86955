"""The CRM role: what flows ask of a CRM, in canonical terms.

A CRM (Salesforce ...) owns the customer relationship and the commercial deal. Flows speak to
it only through :class:`Crm`; a vendor's objects, fields, ids and error wording stay in its
package, which returns an implementation from ``Connector.as_crm``.

A CRM record that does not map to a canonical object is still an answer: a deal with a missing
start date must reach a person. So reads return a small value (:class:`CrmOpportunity`,
:class:`CrmAccount`) carrying the canonical object *or* every problem, keyed by the CRM field a
person fixes (field names are labels for people, never parsed).

Refusals are :class:`~accord.errors.PermanentError` (``NotFoundError`` for a record the CRM
does not have); transient failures :class:`~accord.errors.RetryableError`, never slept on here.
"""

import datetime as dt
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from enum import StrEnum
from typing import Protocol, runtime_checkable

from accord.connectors.roles.feeds import ChangeFeed
from accord.connectors.roles.recon import BACKGROUND, Lane
from accord.connectors.types import WriteResult
from accord.domain import Customer, Opportunity
from accord.errors import ConnectorError

__all__ = [
    "AccountReceivables",
    "Crm",
    "CrmAccount",
    "CrmOpportunity",
    "DealLine",
    "MergedAccount",
    "ReceivableStatus",
    "WriteBack",
]


@dataclass(frozen=True)
class CrmOpportunity:
    """One version of an opportunity as the CRM holds it.

    Attributes:
        crm_id: The CRM's id of the opportunity (opaque).
        id: Its canonical id (also when it does not map).
        name: Its name, for people (the CRM id when it has none).
        won: Whether the deal is closed and won (read even when the rest does not map).
        status: The integration status Accord last wrote back (``Provisioned``, ``Needs
            attention: ...``), or ``None``.
        opportunity: The canonical opportunity, or ``None`` when it does not map.
        problems: CRM field a person fixes -> what is wrong; empty when ``opportunity`` is set.
    """

    crm_id: str
    id: str
    name: str
    won: bool
    status: str | None = None
    opportunity: Opportunity | None = None
    problems: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class CrmAccount:
    """One account (a customer) as the CRM holds it, mapped or not.

    Attributes:
        crm_id: The CRM's id of the account.
        id: Its canonical id (also when it does not map).
        name: Its name, for people (the CRM id when it has none).
        parent_crm_id: The CRM's id of its parent account, if any.
        parent_id: The parent's canonical id as far as the CRM can tell, if it has one.
        customer: The canonical customer, or ``None`` when it does not map. Its ``parent_id``
            is the parent's canonical id as far as the CRM alone can tell (a caller that knows
            the parent's canonical id better, from its cross-reference, may replace it).
        problems: CRM field a person fixes -> what is wrong; empty when ``customer`` is set.
        legal_entity: The account's legal-entity code as given (``None`` when blank).
        tax_region: Its tax region as given.
        bill_to: Its billing address parts as given: ``line1``, ``city``, ``postal_code`` and
            ``country`` (blank parts are ``None``), for checks of an incomplete account.
    """

    crm_id: str
    id: str
    name: str
    parent_crm_id: str | None = None
    parent_id: str | None = None
    customer: Customer | None = None
    problems: Mapping[str, str] = field(default_factory=dict)
    legal_entity: str | None = None
    tax_region: str | None = None
    bill_to: Mapping[str, str | None] = field(default_factory=dict)


@dataclass(frozen=True)
class DealLine:
    """One line of an opportunity (its milestone schedule, when the deal bills by milestone).

    Attributes:
        crm_id: The CRM's id of the line.
        name: The line's name, if any.
        description: Its description, if any.
        amount: Its total (exact; ``0`` when the CRM has none).
        service_date: The date the line is due, if any.
    """

    crm_id: str
    name: str | None
    description: str | None
    amount: Decimal
    service_date: dt.date | None = None


@dataclass(frozen=True)
class MergedAccount:
    """An account the CRM merged into another (deleted; the survivor names it).

    Attributes:
        crm_id: The CRM's id of the merged (losing) account.
        id: Its canonical id.
        name: Its name, if the CRM kept one.
    """

    crm_id: str
    id: str
    name: str | None = None


# --- cash and billing ------------------------------------------------------------------------
class ReceivableStatus(StrEnum):
    """How a customer's receivables stand, as the CRM shows it to sales."""

    CURRENT = "current"
    """Nothing is past due (or nothing was invoiced yet)."""
    OVERDUE = "overdue"
    """Something open is past its due date."""
    PAID = "paid"
    """Invoices were posted and nothing is due."""


@dataclass(frozen=True)
class AccountReceivables:
    """A customer's receivables, recomputed from its ERP, for its CRM account.

    Attributes:
        status: How they stand.
        balance: What is still due on posted invoices (in the customer's currency).
        last_invoice_number: The latest posted invoice's number, if any.
        payment_date: The day a payment was just received, if one was: the account's last
            payment date only ever moves forward.
    """

    status: ReceivableStatus
    balance: Decimal
    last_invoice_number: str | None = None
    payment_date: dt.date | None = None


@dataclass(frozen=True)
class WriteBack:
    """One opportunity's write-back (see :meth:`Crm.write_back`).

    Attributes:
        crm_id: The CRM's id of the opportunity.
        status: The integration status to write.
        psa_project_id: The PSA project's id, when known (``None``: left as it is).
        erp_project_id: The ERP project's id, when known (``None``: left as it is).
    """

    crm_id: str
    status: str
    psa_project_id: str | None = None
    erp_project_id: str | None = None


@runtime_checkable
class Crm(Protocol):
    """A CRM in canonical terms (see the module docstring)."""

    @property
    def connection(self) -> str:
        """The connection's name (from ``accord.yaml``)."""
        ...

    @property
    def system(self) -> str:
        """The system's name in external references and the cross-reference (``salesforce``)."""
        ...

    @property
    def opportunity_fields(self) -> Mapping[str, str]:
        """Canonical opportunity field (and ``lines``) -> the CRM field a person fixes."""
        ...

    # ----------------------------------------------------------------- change feeds
    def opportunity_changes(self) -> ChangeFeed[CrmOpportunity]:
        """Opportunities changed since a cursor (every version; the flow filters)."""
        ...

    def account_changes(self) -> ChangeFeed[CrmAccount]:
        """Accounts changed since a cursor."""
        ...

    # ----------------------------------------------------------------- reads
    def crm_id(self, canonical_id: str) -> str | None:
        """The CRM's id a canonical id carries (a record the CRM keyed itself), else ``None``."""
        ...

    def opportunity(self, crm_id: str) -> CrmOpportunity:
        """One opportunity by the CRM's id.

        Raises:
            NotFoundError: The CRM has no such opportunity.
        """
        ...

    def opportunity_lines(self, crm_id: str) -> tuple[DealLine, ...]:
        """The opportunity's lines in the CRM's order (its milestone schedule)."""
        ...

    def account(self, crm_id: str) -> CrmAccount:
        """One account by the CRM's id.

        Raises:
            NotFoundError: The CRM has no such account (deleted or merged away).
        """
        ...

    def find_account(self, customer_id: str) -> CrmAccount | None:
        """The account Accord keyed with a canonical customer id, or ``None``."""
        ...

    def account_hierarchy(self, crm_id: str) -> tuple[CrmAccount, ...]:
        """The account and its ancestors, ultimate parent first (parents are written first).

        Parents within the chain are resolved to each other's canonical ids. A missing account
        ends the chain; an empty tuple means the account itself cannot be read.
        """
        ...

    def merged_accounts(self, crm_id: str) -> tuple[MergedAccount, ...]:
        """Accounts the CRM merged into the account ``crm_id`` (the survivor)."""
        ...

    # ----------------------------------------------------------------- writes
    def write_back(
        self,
        crm_id: str,
        status: str,
        *,
        psa_project_id: str | None = None,
        erp_project_id: str | None = None,
    ) -> None:
        """Write the integration status (and the project ids, when given) onto an opportunity.

        Ids left ``None`` are not written, so a later status never blanks them. Writing the
        same values again changes nothing.
        """
        ...

    def write_backs(self, items: Sequence[WriteBack]) -> list[ConnectorError | None]:
        """Several write-backs (as :meth:`write_back` each) in as few calls as the CRM allows.

        Returns, per item in order, ``None`` (written) or why the CRM refused it (a
        :class:`~accord.errors.PermanentError` with a ``reason``, or a
        :class:`~accord.errors.RetryableError` to write it again); one refusal does not stop
        the others.

        Raises:
            ConnectorError: A call as a whole failed: none of its items is known written.
        """
        ...

    def upsert_account(self, customer: Customer) -> WriteResult:
        """Create or update the account keyed by ``customer.id``; idempotent.

        The parent, if any, is referenced by its canonical id (the CRM resolves it).
        """
        ...

    # --- cash and billing: receivable status on the account -------------------------------
    def record_receivables(self, account: str, receivables: AccountReceivables) -> None:
        """Write a customer's receivables to its CRM account ``account`` (the CRM's id).

        Absolute values, so writing them again changes nothing; the last payment date only
        moves forward (an older ``payment_date`` leaves it as it is).
        """
        ...

    # --- reconciliation: deals and accounts read in bulk --------------------------------
    def deals(
        self, crm_ids: Collection[str], *, lane: Lane = BACKGROUND
    ) -> dict[str, CrmOpportunity]:
        """The opportunities of ``crm_ids`` the CRM still holds, by the CRM's id (in pages)."""
        ...

    def accounts(
        self, crm_ids: Collection[str], *, lane: Lane = BACKGROUND
    ) -> dict[str, CrmAccount]:
        """The accounts of ``crm_ids`` the CRM still holds, by the CRM's id (in pages).

        An account's ``parent_id`` is the parent's canonical id as far as the CRM can tell.
        """
        ...

    def existing(
        self, entity_type: str, ids: Collection[str], *, lane: Lane = BACKGROUND
    ) -> set[str] | None:
        """Of ``ids``, the records the CRM still holds; ``None`` for a type it cannot tell.

        ``ids`` are the CRM's ids of ``entity_type`` records, in Accord's xref vocabulary
        (``customer``, ``opportunity``).
        """
        ...
