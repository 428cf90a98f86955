"""The ERP role: what flows ask of an ERP, in canonical terms.

An ERP (NetSuite, Business Central, Dynamics 365 Finance ...) holds the financial truth:
customers as billed, projects as costed, postings, invoices and payments. Flows speak to it
only through :class:`Erp`; a vendor's record types, bodies, ids and error wording stay in its
package, which returns an implementation from ``Connector.as_erp``.

Refusals are :class:`~accord.errors.PermanentError` (usually
:class:`~accord.errors.BusinessRuleError`) whose ``reason`` is one of
:class:`accord.errors.Reason`, set by the vendor's error translation; transient failures are
:class:`~accord.errors.RetryableError`, raised or returned per entry, never slept on here.
"""

import datetime as dt
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Literal, Protocol, Self, runtime_checkable

from accord.connectors.roles.delivery import (
    ErpAssignment,
    ErpTask,
    PostedVendorBill,
    ProjectState,
    TaskProgress,
    VendorBillRequest,
)
from accord.connectors.roles.feeds import ChangeFeed, Mapped
from accord.connectors.roles.recon import BACKGROUND, HeldWork, Lane
from accord.connectors.roles.xref import KnownIds
from accord.domain import (
    BillingModel,
    Customer,
    Expense,
    Invoice,
    Milestone,
    Money,
    Payment,
    Project,
    ProjectStatus,
    TimeEntry,
    VendorBill,
)
from accord.errors import ConnectorError

__all__ = [
    "AsyncPoster",
    "BilledInvoice",
    "BillingPlan",
    "BillingPlanLine",
    "BillingPlanResult",
    "BillingTerms",
    "CallGate",
    "CustomerBooking",
    "EntryPosting",
    "Erp",
    "ErpCustomer",
    "ErpCustomerChange",
    "ErpProject",
    "ErpProjectPlan",
    "IdLookup",
    "IntercompanyCharge",
    "MilestoneInvoice",
    "OpenItem",
    "PostingAmounts",
    "PostingBatch",
    "PostingKind",
    "PostingOutcome",
    "PostingTerms",
    "Receivables",
    "address_text",
]

PostingKind = Literal["time", "expense"]
"""What a posting carries: hours (time) or an expense."""


@dataclass(frozen=True)
class ErpProject:
    """A project as its ERP holds it, in canonical terms.

    Attributes:
        erp_id: The ERP's id of the project (NetSuite internal id, BC project number ...).
        legal_entity: The firm's legal-entity code the project books in.
        active: Whether the ERP takes new postings on it.
        status: The ERP's own status text, for people.
        start_date: First day time may be booked.
        end_date: Last day time may be booked (``None``: open-ended).
        billing_model: The billing model the ERP's billing type says.
        practice: Practice code mapped back from the ERP's dimension, if the rules know it.
        region: Region code mapped back from the ERP's dimension, if the rules know it.
        currency: The project's currency (ISO 4217).
    """

    erp_id: str
    legal_entity: str
    active: bool
    status: str
    start_date: dt.date | None
    end_date: dt.date | None
    billing_model: BillingModel
    practice: str | None
    region: str | None
    currency: str


@dataclass(frozen=True)
class EntryPosting:
    """One ERP posting: an approved entry (or a summary of several) ready to book.

    Attributes:
        key: The idempotency key the ERP record carries (external id, document number
            source): the entry's id, or a summary's id. Posting the same key twice books once.
        entry: What to book, in canonical terms, already shaped for the posting: its date is
            the posting date, its flag the billable flag to book, its notes/description the
            memo; a summary carries the summed hours.
        entry_ids: The canonical entries this posting carries (one, or a summary's members).
        dimensions: Dimension values the rules chose (``department``, ``class``), in the
            ERP's own codes or ids (the rules map practice and region per ERP).
    """

    key: str
    entry: TimeEntry | Expense
    entry_ids: tuple[str, ...]
    dimensions: Mapping[str, str] = field(default_factory=dict)

    @property
    def kind(self) -> PostingKind:
        """``time`` or ``expense``."""
        return "time" if isinstance(self.entry, TimeEntry) else "expense"


@dataclass(frozen=True)
class PostingBatch:
    """Postings of one project that the caller submits together (one approval's entries).

    Attributes:
        batch_id: The caller's stable id of the batch (e.g. ``time:<submission id>``): the
            same batch posted again (a retry, a step re-run after a crash) uses the same id.
        project: The ERP's project the postings book to.
        postings: The postings; their keys are unique within the batch.
    """

    batch_id: str
    project: ErpProject
    postings: tuple[EntryPosting, ...]


@dataclass(frozen=True)
class PostingAmounts:
    """What a posting is worth in its transaction currency and in its entity's base currency.

    Attributes:
        transaction: The amount in the posting's own currency (the project's, the expense's).
        base: The same amount in the base currency of the legal entity it books in, converted
            at ``rate`` and rounded half-up to the base currency's minor unit.
        rate: Units of the base currency per unit of the transaction currency (1 when they are
            the same).
        rate_date: Effective date of the ERP's rate used (``None`` when no rate was needed).
    """

    transaction: Money
    base: Money
    rate: Decimal = Decimal(1)
    rate_date: dt.date | None = None


@dataclass(frozen=True)
class PostingTerms:
    """A posting body read back in canonical terms: what the ERP would book, field by field.

    A migration's shadow diff compares these with what the system of record booked, so a
    mapping that loses or bends a value (a dimension, a category) shows as a field that
    differs. ``resource_id``, ``category`` and ``dimensions`` are ``None`` where the ERP's
    record does not carry them (a Business Central journal line takes its dimensions from the
    project): they are then not compared.

    Attributes:
        kind: ``time`` or ``expense``.
        erp_project: The ERP's id of the project the body books to.
        date: The posting date.
        resource_id: The canonical resource the body names.
        hours: Hours (time).
        amount: What the customer is billed (hours x price, or the expense); ``None`` when
            not billable.
        billable: The billable flag the body books.
        category: The canonical expense category; the ERP's own code when it maps back to
            no single canonical category.
        dimensions: Dimension values by canonical name (``department``, ``class``).
    """

    kind: PostingKind
    erp_project: str
    date: dt.date
    resource_id: str | None
    hours: Decimal | None
    amount: Money | None
    billable: bool
    category: str | None = None
    dimensions: Mapping[str, str] | None = None


@dataclass(frozen=True)
class IntercompanyCharge:
    """The intercompany pair booked with a posting of a resource of another legal entity.

    Under the rules' ``intercompany`` policy ``recharge``, the resource's home entity
    (``from_entity``) recharges the project's entity (``to_entity``) its cost plus the markup:
    a cost/revenue pair in the ERP's own intercompany mechanism.

    Attributes:
        from_entity: The resource's home legal entity (it earns the recharge).
        to_entity: The project's legal entity (it bears the cost).
        hours: The hours recharged.
        cost_rate: The resource's hourly cost in its home entity, in its base currency.
        markup_pct: The markup the policy adds to the cost, in percent.
        amount: What ``from_entity`` books, in its base currency.
        amount_to: What ``to_entity`` books, in its base currency (``amount`` converted).
        rate: Units of ``to_entity``'s base per unit of ``from_entity``'s (1 when the same).
        rate_date: Effective date of the ERP's rate used (``None`` when none was needed).
        record_id: The ERP's id of the intercompany journal (entry) that holds the pair.
    """

    from_entity: str
    to_entity: str
    hours: Decimal
    cost_rate: Money
    markup_pct: Decimal
    amount: Money
    amount_to: Money
    rate: Decimal = Decimal(1)
    rate_date: dt.date | None = None
    record_id: str | None = None


@dataclass
class PostingOutcome:
    """What the ERP holds for one posting after :meth:`Erp.post_entries`.

    Exactly one of ``record_id`` and ``error`` is set. ``record_id`` means the ERP holds the
    posting (booked now or earlier: ``found`` tells); ``error`` is the ERP's refusal (a
    :class:`~accord.errors.PermanentError` with a ``reason``) or a transient failure (a
    :class:`~accord.errors.RetryableError`) the caller may retry with the same key.
    """

    key: str
    record_id: str | None = None
    error: ConnectorError | None = None
    found: bool = False
    """The ERP already held the posting before this call (nothing was written)."""
    amounts: PostingAmounts | None = None
    """The posting's transaction and base amounts, when it has a value (billable time, an
    expense) and the ERP role priced it."""
    intercompany: IntercompanyCharge | None = None
    """The intercompany pair booked with it (a resource of another legal entity, under the
    ``recharge`` policy)."""

    @property
    def posted(self) -> bool:
        """The ERP holds it."""
        return self.record_id is not None


CallGate = Callable[[], AbstractAsyncContextManager[None]]
"""One outbound call's slot: ``async with gate(): ...`` around every request a poster sends
(the dispatcher's concurrency, pacing and lanes)."""


class AsyncPoster(Protocol):
    """Posts batches from an event loop (the connection's dispatcher); see :meth:`Erp.poster`."""

    async def post(self, batch: PostingBatch) -> list[PostingOutcome]:
        """The same contract as :meth:`Erp.post_entries`, awaited.

        Transient failures are returned per posting (``RetryableError`` outcomes) where the
        ERP's postings are independent, or raised when the batch's outcome is unknown.
        """
        ...

    async def aclose(self) -> None:
        """Release connections."""
        ...


# --- cash and billing ------------------------------------------------------------------------
@dataclass(frozen=True)
class OpenItem:
    """One posted invoice of a customer, as far as its receivables go.

    Attributes:
        remaining: What is still due on it (zero when paid).
        due: Its due date, if it has one.
        order: What orders invoices by recency (posting date, then number or id).
        number: Its number, if any.
    """

    remaining: Decimal
    due: dt.date | None
    order: tuple[str, str]
    number: str | None


@dataclass(frozen=True)
class Receivables:
    """A customer's receivables in one ERP, as of a day.

    Attributes:
        balance: Sum of what is still due on its posted invoices.
        overdue: The part of ``balance`` past its due date.
        count: Invoices with something still due.
        posted: Posted invoices (open or paid).
        last_number: Number of the latest posted invoice (by date, then id), if any.
    """

    balance: Decimal
    overdue: Decimal
    count: int
    posted: int = 0
    last_number: str | None = None

    @classmethod
    def of(cls, items: Iterable[OpenItem], today: dt.date) -> Self:
        """The receivables of a customer's posted invoices (exact sums), as of ``today``."""
        rows = list(items)
        open_rows = [r for r in rows if r.remaining > 0]
        latest = max(rows, key=lambda r: r.order, default=None)
        return cls(
            balance=sum((r.remaining for r in open_rows), Decimal(0)),
            overdue=sum(
                (r.remaining for r in open_rows if r.due is not None and r.due < today),
                Decimal(0),
            ),
            count=len(open_rows),
            posted=len(rows),
            last_number=latest.number if latest else None,
        )


@dataclass(frozen=True)
class MilestoneInvoice:
    """A completed milestone to invoice (see :meth:`Erp.bill_milestone`).

    Attributes:
        invoice_id: The canonical id of the invoice (``MS-<milestone id>``): its idempotency
            key, and the id the invoice maps back to when it is read again.
        milestone: The milestone; its amount is what is billed.
        customer: The ERP's id of the customer billed (from xref).
        project: The ERP's id of the milestone's project (from xref).
        invoice_date: The invoice's date.
    """

    invoice_id: str
    milestone: Milestone
    customer: str
    project: str
    invoice_date: dt.date


@dataclass(frozen=True)
class BilledInvoice:
    """What the ERP holds for a milestone invoice after :meth:`Erp.bill_milestone`.

    Attributes:
        erp_id: The ERP's id of the invoice.
        number: Its document number, if the ERP gave it one.
        created: This call created it.
        billed_now: This call created or posted it (``False``: it was billed before).
    """

    erp_id: str
    number: str | None
    created: bool
    billed_now: bool


IdLookup = Callable[[Mapping[str, Collection[str]]], Mapping[tuple[str, str], str]]
"""Accord's canonical ids of records a connection holds, from its cross-reference.

Called with ``{model name: ERP ids}`` (``{"Customer": {"7"}, "Project": {"12"}}``); answers
``{(model name, ERP id): canonical id}`` for the ids Accord knows. A read maps references to
records Accord did not write to ids of the ERP's own making."""


def address_text(*parts: object) -> str:
    """One comparable line of an address's parts, in order (blanks and ``None`` are the same).

    The parts are line 1, line 2, city, state, postal code and country.
    """
    return " | ".join(str(p or "").strip() for p in parts)


@dataclass(frozen=True)
class CustomerBooking:
    """A customer to make available in one legal entity of the ERP.

    Attributes:
        customer: The canonical customer (its ``currency`` is the one to book).
        legal_entity: The legal entity the customer must be available in. A new customer is
            created there (its primary entity); for an existing one, being available to a
            further entity is the ERP's own mechanism (where it has one).
        parent_erp_id: The ERP's id of the parent customer (as :meth:`Erp.upsert_customer`
            returned it), when ``customer.parent_id`` is set and the ERP keeps hierarchies.
        omit: Canonical fields *not* to write (the ERP keeps its values): the fields the ERP
            owns, when an existing customer is updated.
        clear_parent: Write "no parent" when ``customer.parent_id`` is ``None`` (an update
            that detaches a customer; a create never needs it).
        dimensions: The rules' values of the booking (module docstring): ``subsidiary``.
    """

    customer: Customer
    legal_entity: str
    parent_erp_id: str | None = None
    omit: frozenset[str] = frozenset()
    clear_parent: bool = False
    dimensions: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class ErpCustomer:
    """A customer as the ERP holds it: the fields drift checks and credit checks compare.

    Attributes:
        erp_id: The ERP's id of the customer (the one :meth:`Erp.upsert_customer` returns).
        name: Its name.
        parent_erp_id: The ERP's id of its parent, if any.
        bill_to: Its billing address parts as held: line 1, line 2, city, state, postal code,
            country (blank parts may be ``None``); ``None`` when it has no billing address.
        tax_region: Its tax region, where the ERP keeps one.
        credit_hold: Whether the ERP refuses new sales to it (a credit hold or a block).
        carried: The canonical customer fields this ERP's customer carries (of ``name``,
            ``parent_id``, ``bill_to``, ``tax_region``).
    """

    erp_id: str
    name: str
    parent_erp_id: str | None = None
    bill_to: tuple[str | None, ...] | None = None
    tax_region: str | None = None
    credit_hold: bool = False
    carried: tuple[str, ...] = ("name", "bill_to")


@dataclass(frozen=True)
class ErpCustomerChange:
    """One changed customer from :meth:`Erp.customer_changes`.

    Attributes:
        erp_id: The ERP's id of the customer (as the cross-reference holds it).
        customer: The customer, or ``None`` when the change feed does not carry the whole
            record: read it with :meth:`Erp.customer` (only for customers Accord knows).
    """

    erp_id: str
    customer: ErpCustomer | None = None


@dataclass(frozen=True)
class BillingTerms:
    """How a project bills, noted on the ERP project for finance.

    Attributes:
        basis: The rules' billing basis of the model (``milestone``, ``monthly`` ...).
        recognition: The rules' revenue recognition of the model.
        amount: The contract amount.
    """

    basis: str
    recognition: str
    amount: Money


@dataclass(frozen=True)
class ErpProjectPlan:
    """A project to create or update in the ERP.

    Attributes:
        project: The canonical project (customer, legal entity, practice, region, billing
            model, dates, currency).
        customer_erp_id: The ERP's id of ``project.customer_id`` (as
            :meth:`Erp.upsert_customer` returned it), ``None`` when Accord has none.
        dimensions: The rules' values (module docstring): ``subsidiary``, ``department``,
            ``class``.
        terms: The billing terms to note on the project, if any.
    """

    project: Project
    customer_erp_id: str | None
    dimensions: Mapping[str, str]
    terms: BillingTerms | None = None


@dataclass(frozen=True)
class BillingPlanLine:
    """One line of a project's billing plan.

    Attributes:
        key: The line's stable key (a milestone's canonical id, ``<project id>-FEE`` ...):
            the ERP line's idempotency key.
        description: What it bills, for people.
        amount: The line's exact amount.
        quantity: Units billed (months of a retainer; 1 otherwise).
        rate: The amount per unit.
        due_date: When it falls due, if known.
    """

    key: str
    description: str
    amount: Decimal
    quantity: Decimal = Decimal(1)
    rate: Decimal | None = None
    due_date: dt.date | None = None

    @property
    def unit_rate(self) -> Decimal:
        """The rate per unit (the amount when the line is a single unit)."""
        return self.rate if self.rate is not None else self.amount


@dataclass(frozen=True)
class BillingPlan:
    """What a project bills, and when, for the ERP to hold (a sales order, planning lines).

    Attributes:
        project: The canonical project (id, name, legal entity, currency, dates, model).
        erp_project_id: The ERP project the plan bills (from :meth:`Erp.upsert_project`).
        lines: The plan's lines (at least one).
        dimensions: The rules' values (module docstring).
        previous_keys: Keys of the lines written before (an amendment): lines no longer in
            the plan are removed.
    """

    project: Project
    erp_project_id: str
    lines: tuple[BillingPlanLine, ...]
    dimensions: Mapping[str, str] = field(default_factory=dict)
    previous_keys: tuple[str, ...] = ()


@dataclass(frozen=True)
class BillingPlanResult:
    """Where the ERP holds a billing plan.

    Attributes:
        schedule_id: The ERP's id of the plan (a sales order's internal id, a project number).
        lines: Line key -> the ERP's id of that line.
    """

    schedule_id: str
    lines: dict[str, str]


@runtime_checkable
class Erp(Protocol):
    """An ERP in canonical terms (see the module docstring)."""

    @property
    def connection(self) -> str:
        """The connection's name (from ``accord.yaml``)."""
        ...

    def record_type(self, kind: PostingKind) -> str:
        """The qualified name of the ERP record a posting of ``kind`` becomes (for lineage)."""
        ...

    def project(self, erp_id: str) -> ErpProject | None:
        """The project the ERP holds under ``erp_id``; ``None`` when it has none."""
        ...

    def closed_periods(self, legal_entity: str) -> frozenset[str]:
        """Months (``YYYY-MM``) the ERP reports closed for the legal entity."""
        ...

    def post_entries(self, batch: PostingBatch) -> list[PostingOutcome]:
        """Book every posting of the batch exactly once; one outcome per posting, in order.

        Exactly once holds under any concurrency of *different* batches and across a crash
        at any point: a posting the ERP already holds (posted earlier, perhaps by a run
        whose answer was lost) is reported posted and ``found``, never booked again. Two
        calls for the *same* batch must not run at the same time (the caller serialises
        them); a retry after either ends is safe.

        Raises:
            RetryableError: A transient failure that left the batch's outcome unknown; call
                again with the same batch.
        """
        ...

    def posted_entries(self, project: ErpProject, keys: Sequence[str]) -> dict[str, str]:
        """Of ``keys``, those the ERP holds as posted: key -> ERP record id."""
        ...

    def posting_body(self, batch: PostingBatch, posting: EntryPosting) -> dict[str, Any]:
        """The body the ERP would receive for one posting (reads reference data, writes nothing).

        For people and what-if replays: the ERP's own record shape, field by field.

        Raises:
            PermanentError: A reference the body needs is missing (reason set).
            MappingError: The posting cannot be expressed in the ERP's terms.
        """
        ...

    def posting_terms(
        self,
        batch: PostingBatch,  # noqa: ARG002 - the default of roles that do not read back
        posting: EntryPosting,  # noqa: ARG002
    ) -> PostingTerms | None:
        """:meth:`posting_body` read back in canonical terms (a migration's field diff).

        ``None`` when the role does not read its bodies back (the diff then compares counts
        and amounts only).

        Raises:
            PermanentError: As :meth:`posting_body`.
            MappingError: As :meth:`posting_body`.
        """
        return None

    def poster(self, gate: CallGate) -> AsyncPoster:
        """A poster for the connection's dispatcher: every call it sends passes ``gate``."""

    # --- cash and billing: milestone invoices, invoices and payments, receivables ---------
    def invoice_changes(self, ids: KnownIds) -> ChangeFeed[Mapped[Invoice] | None]:
        """Invoices posted, part paid or paid since a cursor (one change per version).

        Drafts map to ``None``; an invoice whose customer (or a line's project) Accord does
        not know maps with ``missing`` naming each piece.
        """
        ...

    def payment_changes(self, ids: KnownIds) -> ChangeFeed[Mapped[Payment] | None] | None:
        """Customer payments received since a cursor, with the invoices they pay.

        ``None`` when the ERP shows a received payment only as its invoices' new amount due
        (their :meth:`invoice_changes`).
        """
        ...

    def receivables(self, customer: str, legal_entity: str, *, today: dt.date) -> Receivables:
        """A customer's receivables (the ERP's id ``customer``, in ``legal_entity``) now."""
        ...

    def milestone_amount(self, plan_line: str, milestone_id: str) -> Decimal | None:
        """A milestone's amount in the ERP's billing plan, or ``None`` when it has none there.

        ``plan_line`` is the opaque id of the plan's line that lead-to-project recorded
        (xref ``erp_milestone``).
        """
        ...

    def bill_milestone(self, request: MilestoneInvoice, ids: KnownIds) -> BilledInvoice:
        """Invoice a completed milestone and post the invoice, exactly once.

        An invoice the ERP already holds under ``request.invoice_id`` (billed earlier, or
        left as a draft by a refused post) is never created again: it is posted if it is
        not yet, and reported. The invoice's canonical id is recorded through ``ids`` before
        it is posted, so that it maps back to it when read. Two calls for the *same* invoice
        must not run at the same time (the caller serialises them); a retry is safe.

        Raises:
            PermanentError: The ERP refused the invoice or its post (``period_closed``,
                ``customer_invalid`` ...); a draft may be left behind, posted by the retry.
            ConflictError: Accord links the invoice id to another ERP record.
        """
        ...

    # ----------------------------------------------------------------- customers
    @property
    def customer_fields(self) -> tuple[str, ...]:
        """Canonical customer fields this ERP's customer carries (``name``, ``bill_to`` ...)."""
        ...

    def upsert_customer(self, booking: CustomerBooking) -> tuple[str, bool]:
        """Create or update a customer, available in ``booking.legal_entity``; idempotent.

        The customer is keyed by its canonical id (an external id, or a number derived from
        it), so a write whose answer was lost is found, not made twice.

        Returns:
            The ERP's id of the customer and whether this call created it.

        Raises:
            PermanentError: The ERP refused it (``reason`` says why).
            MappingError: The customer cannot be expressed in the ERP (an unknown currency or
                legal entity, a parent without an ERP id).
        """
        ...

    def customer(self, erp_id: str, *, legal_entity: str | None = None) -> ErpCustomer:
        """A customer as the ERP holds it now (in ``legal_entity``'s book, where that matters).

        Raises:
            NotFoundError: The ERP has no such customer.
        """
        ...

    def customer_changes(self) -> ChangeFeed[ErpCustomerChange]:
        """Customers changed since a cursor."""
        ...

    # ----------------------------------------------------------------- projects and billing
    def upsert_project(self, plan: ErpProjectPlan) -> str:
        """Create or update the project (keyed by its canonical id); returns its ERP id.

        Raises:
            PermanentError: The ERP refused it (``reason`` says why).
            MappingError: The project cannot be expressed in the ERP (no customer id ...).
        """
        ...

    def write_billing_plan(self, plan: BillingPlan) -> BillingPlanResult:
        """Write (or rewrite) the project's billing plan; idempotent.

        Raises:
            PermanentError: The ERP refused it.
        """
        ...

    def master_body(
        self, operation: CustomerBooking | ErpProjectPlan | BillingPlan
    ) -> dict[str, Any]:
        """The body a customer, project or billing plan write would send; writes nothing.

        Translated exactly as :meth:`upsert_customer`, :meth:`upsert_project` or
        :meth:`write_billing_plan` translate ``operation`` (a billing plan: ``{"lines": [...]}``
        and whatever heads them). A migration's shadow validates customers, projects and
        billing plans with it (docs/migration.md). At most the ERP's reference lists
        (currencies) are read; what it resolves only by reading a record (an existing
        customer's primary entity) is taken as for a new record.

        Raises:
            MappingError: The operation cannot be expressed in the ERP (an unmapped country,
                project type, currency or legal entity ...).
        """
        ...

    def invoiced_milestones(self, legal_entity: str, milestone_ids: Sequence[str]) -> list[str]:
        """Of ``milestone_ids``, those the ERP has invoiced, in the order given."""
        ...

    # ----------------------------------------------------------------- canonical reads
    def read_customer(self, record_id: str, *, known: IdLookup | None = None) -> Customer:
        """A customer by the system's own record id, as a canonical object.

        Raises:
            NotFoundError: No such record (an id of the wrong shape names none either).
            MappingError: The record does not map.
        """
        ...

    def read_project(self, record_id: str, *, known: IdLookup | None = None) -> Project:
        """A project by the system's own record id, as a canonical object (see above)."""
        ...

    def read_invoice(self, record_id: str, *, known: IdLookup | None = None) -> Invoice:
        """An invoice by the system's own record id, as a canonical object (see above)."""
        ...

    def read_payment(self, record_id: str, *, known: IdLookup | None = None) -> Payment:
        """A payment by the system's own record id, as a canonical object (see above)."""
        ...

    def invoice_ids(self, customer_erp_id: str, *, max_pages: int) -> list[str]:
        """The system's record ids of a customer's invoices (a scan of at most ``max_pages``)."""
        ...

    # --- reconciliation: postings, plans and Accord's records read in bulk -----------------
    def held_key(self, key: str) -> str:
        """The key an ERP record of a posting made under ``key`` carries (:class:`HeldWork`)."""
        ...

    def posted_work(
        self,
        projects: Sequence[ErpProject],
        *,
        changed_since: dt.datetime | None = None,
        keys: Collection[str] = (),
        lane: Lane = BACKGROUND,
    ) -> list[HeldWork]:
        """Time and expense postings as the ERP holds them now.

        Those booked to ``projects`` (with ``changed_since``, only those changed at or after
        it), plus those carrying one of ``keys`` (posting keys, as posted) wherever they are.
        Each record's :attr:`HeldWork.project` is the ERP's id of its project. Read in pages,
        never one call per posting.
        """
        ...

    def billing_plan_total(self, schedule_id: str, *, lane: Lane = BACKGROUND) -> Decimal | None:
        """What the billing plan ``schedule_id`` bills in all (the sum of its lines).

        ``schedule_id`` is what :meth:`write_billing_plan` returned; ``None`` when the ERP
        no longer holds the plan.
        """
        ...

    def existing(
        self, entity_type: str, ids: Collection[str], *, lane: Lane = BACKGROUND
    ) -> set[str] | None:
        """Of ``ids``, the records the ERP still holds; ``None`` for a type it cannot tell.

        ``ids`` are the ERP's ids of ``entity_type`` records, in Accord's xref vocabulary
        (``customer``, ``erp_project``, ``invoice`` ...). With ``None`` nothing is concluded.
        """
        ...

    def keyed_records(self, entity_type: str, *, lane: Lane = BACKGROUND) -> dict[str, str] | None:
        """Records that carry a key of the kind Accord writes: the ERP's id -> that key.

        ``entity_type`` is ``customer`` or ``erp_project``. Such records look like Accord's;
        one Accord's xref does not know was not written by Accord or lost its reference.
        ``None`` when the ERP cannot tell Accord's records apart.
        """
        ...

    # --- delivery: project status and fields, tasks, resources, vendor bills (issue 23) ---
    def project_states(self, ids: KnownIds) -> ChangeFeed[Mapped[ProjectState] | None]:
        """Projects changed since a cursor, as their status and firm-specific fields.

        Projects Accord did not create (no canonical id through ``ids``) map to ``None``.
        """
        ...

    def project_state(self, erp_id: str, project_id: str) -> ProjectState:
        """The project's status and firm-specific fields now (``project_id``: canonical).

        Raises:
            NotFoundError: The ERP has no such project.
        """
        ...

    def set_project_status(self, erp_id: str, status: ProjectStatus, *, reason: str) -> bool:
        """Move the project to ``status``; a completed or cancelled one takes no postings.

        Returns:
            ``False`` when the project already had that status (nothing written).
        """
        ...

    def write_project_fields(self, erp_id: str, fields: Mapping[str, str | None]) -> None:
        """Write firm-specific fields (canonical names; ``None`` clears one). Idempotent."""
        ...

    def project_field_problems(self) -> dict[str, str]:
        """The rules' firm-specific fields this ERP cannot carry: name -> why (its metadata)."""
        ...

    def upsert_task(self, request: ErpTask) -> str:
        """Create or update a project task keyed by its canonical id; returns its ERP id.

        Raises:
            PermanentError: The ERP refused it (``reason`` says why).
        """
        ...

    def task_progress(self, erp_task_id: str) -> TaskProgress:
        """The task's estimate, the hours booked to it and its percent complete.

        Raises:
            NotFoundError: The ERP has no such task.
        """
        ...

    def assign(self, request: ErpAssignment) -> str:
        """Put the person on the project (or task) as a project resource; idempotent.

        Returns:
            The ERP's id of the person (employee or resource) assigned.

        Raises:
            PermanentError: Reason ``resource_unknown`` when the ERP has no employee for the
                person in the project's legal entity; another reason for other refusals.
        """
        ...

    def vendor(self, vendor_id: str, legal_entity: str) -> str | None:
        """The ERP's id of a canonical vendor usable in ``legal_entity``, or ``None``."""
        ...

    def post_vendor_bill(self, request: VendorBillRequest, ids: KnownIds) -> PostedVendorBill:
        """Post the vendor bill exactly once: a bill the ERP holds under its id is reported.

        Two calls for the *same* bill must not run at the same time (the caller serialises
        them); a retry after either ends is safe, across a crash at any point.

        Raises:
            PermanentError: The ERP refused it (``period_closed``, ``validation`` ...).
        """
        ...

    def vendor_bills(self, ids: KnownIds) -> ChangeFeed[Mapped[VendorBill] | None]:
        """Vendor bills posted since a cursor with lines charged to projects Accord knows.

        Bills Accord posted itself, drafts and bills charged to no known project map to
        ``None``; a bill whose vendor Accord cannot match maps with ``missing`` set.
        """
        ...
