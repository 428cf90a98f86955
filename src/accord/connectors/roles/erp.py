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
from collections.abc import Callable, Iterable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Literal, Protocol, Self, runtime_checkable

from accord.connectors.roles.feeds import ChangeFeed, Mapped
from accord.connectors.roles.xref import KnownIds
from accord.domain import BillingModel, Expense, Invoice, Milestone, Payment, TimeEntry
from accord.errors import ConnectorError

__all__ = [
    "AsyncPoster",
    "BilledInvoice",
    "CallGate",
    "EntryPosting",
    "Erp",
    "ErpProject",
    "MilestoneInvoice",
    "OpenItem",
    "PostingBatch",
    "PostingKind",
    "PostingOutcome",
    "Receivables",
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
