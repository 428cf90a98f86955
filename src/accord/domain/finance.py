"""Finance: invoices, payments, vendor bills and accounting periods (the ERP's financial truth).

ERP owns these records; Accord reads them to report status back to PSA and CRM, checks
periods before posting time, expenses and milestones, and brings vendor bills keyed in the
ERP against projects back to the PSA as project costs.
"""

import datetime as dt
from typing import ClassVar, Self

from pydantic import Field, model_validator

from accord.domain.base import CanonicalModel, ExternalRef
from accord.domain.enums import (
    AccountingPeriodStatus,
    ExpenseCategory,
    InvoiceLineKind,
    InvoiceStatus,
    PaymentMethod,
    VendorBillStatus,
)
from accord.domain.money import CurrencyCode, Money, money_sum
from accord.domain.types import (
    DecimalValue,
    Identifier,
    PeriodCode,
    UtcDatetime,
)

__all__ = [
    "AccountingPeriod",
    "Invoice",
    "InvoiceLine",
    "Payment",
    "PaymentApplication",
    "VendorBill",
    "VendorBillLine",
]


class InvoiceLine(CanonicalModel):
    """One line of an invoice, traceable to what it bills (time, expense, milestone...)."""

    __schema_version__: ClassVar[str] = "1.0"

    kind: InvoiceLineKind
    description: Identifier
    quantity: DecimalValue = Field(description="Hours, units or 1; negative on credits.")
    unit_price: Money
    amount: Money
    source_id: Identifier | None = Field(
        default=None, description="Canonical id of the billed record (time entry, milestone)."
    )
    project_id: Identifier | None = None

    @model_validator(mode="after")
    def _one_currency(self) -> Self:
        if self.amount.currency != self.unit_price.currency:
            raise ValueError("line amount and unit price must be in the same currency")
        return self


class Invoice(CanonicalModel):
    """A customer invoice as posted in the ERP.

    ``total = subtotal + tax_total``; when lines are given, ``subtotal`` is their sum; the
    amount due is between zero and the total, and zero once paid.
    """

    __schema_version__: ClassVar[str] = "1.0"

    id: Identifier
    number: Identifier | None = Field(default=None, description="Document number in the ERP.")
    customer_id: Identifier
    legal_entity: Identifier
    project_id: Identifier | None = None
    contract_id: Identifier | None = None
    status: InvoiceStatus
    currency: CurrencyCode
    issue_date: dt.date
    due_date: dt.date
    lines: tuple[InvoiceLine, ...] = ()
    subtotal: Money
    tax_total: Money
    total: Money
    amount_due: Money
    posted_at: UtcDatetime | None = None
    paid_at: UtcDatetime | None = None
    refs: tuple[ExternalRef, ...] = ()

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        if self.due_date < self.issue_date:
            raise ValueError("due date is before issue date")
        amounts = [self.subtotal, self.tax_total, self.total, self.amount_due]
        amounts += [line.amount for line in self.lines]
        if any(m.currency != self.currency for m in amounts):
            raise ValueError(f"all invoice amounts must be in {self.currency}")
        if self.lines and money_sum((ln.amount for ln in self.lines), self.currency) != (
            self.subtotal
        ):
            raise ValueError("subtotal must equal the sum of the line amounts")
        if self.subtotal.add(self.tax_total) != self.total:
            raise ValueError("total must equal subtotal + tax_total")
        zero = Money.zero(self.currency)
        if self.total >= zero and not zero <= self.amount_due <= self.total:
            raise ValueError("amount due must be between zero and the total")
        if self.status is InvoiceStatus.PAID and not self.amount_due.is_zero:
            raise ValueError("a paid invoice has nothing due")
        if self.status is InvoiceStatus.POSTED and self.posted_at is None:
            raise ValueError("a posted invoice needs posted_at")
        return self


class PaymentApplication(CanonicalModel):
    """The part of a payment applied to one invoice."""

    __schema_version__: ClassVar[str] = "1.0"

    invoice_id: Identifier
    amount: Money


class Payment(CanonicalModel):
    """A customer payment received in the ERP, applied to zero or more invoices."""

    __schema_version__: ClassVar[str] = "1.0"

    id: Identifier
    customer_id: Identifier
    legal_entity: Identifier
    amount: Money
    received_on: dt.date
    method: PaymentMethod | None = None
    reference: str | None = None
    applications: tuple[PaymentApplication, ...] = ()
    recorded_at: UtcDatetime | None = None
    refs: tuple[ExternalRef, ...] = ()

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        if self.amount.amount <= 0:
            raise ValueError("payment amount must be positive")
        applied = [app.amount for app in self.applications]
        if any(m.currency != self.amount.currency or m.amount <= 0 for m in applied):
            raise ValueError("applications must be positive and in the payment currency")
        if money_sum(applied, self.amount.currency) > self.amount:
            raise ValueError("applications exceed the payment amount")
        return self

    @property
    def unapplied(self) -> Money:
        """The part of the payment not applied to any invoice."""
        return self.amount.sub(
            money_sum((a.amount for a in self.applications), self.amount.currency)
        )


class VendorBillLine(CanonicalModel):
    """One line of a vendor bill, charged to a project (a pass-through or subcontracted cost)."""

    __schema_version__: ClassVar[str] = "1.0"

    project_id: Identifier
    amount: Money
    description: str = ""
    task_id: Identifier | None = None
    billable: bool = Field(default=False, description="Whether the cost is re-billed.")
    category: ExpenseCategory = ExpenseCategory.OTHER


class VendorBill(CanonicalModel):
    """A vendor's bill (a payable) in the ERP, its lines charged to projects.

    ``source_id`` is the PSA expense the bill was made from when Accord made it; a bill keyed
    in the ERP has none.
    """

    __schema_version__: ClassVar[str] = "1.0"

    id: Identifier
    vendor_id: Identifier
    legal_entity: Identifier
    number: Identifier | None = Field(default=None, description="The vendor's invoice number.")
    bill_date: dt.date
    due_date: dt.date | None = None
    currency: CurrencyCode
    status: VendorBillStatus
    lines: tuple[VendorBillLine, ...] = Field(min_length=1)
    memo: str = ""
    source_id: Identifier | None = None
    refs: tuple[ExternalRef, ...] = ()
    updated_at: UtcDatetime | None = None

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        if self.due_date is not None and self.due_date < self.bill_date:
            raise ValueError("due date is before the bill date")
        if any(line.amount.currency != self.currency for line in self.lines):
            raise ValueError(f"all vendor bill lines must be in {self.currency}")
        if any(line.amount.amount <= 0 for line in self.lines):
            raise ValueError("vendor bill lines must be positive")
        return self

    @property
    def total(self) -> Money:
        """Sum of the lines."""
        return money_sum((line.amount for line in self.lines), self.currency)


class AccountingPeriod(CanonicalModel):
    """A monthly accounting period of one legal entity; closed periods refuse postings."""

    __schema_version__: ClassVar[str] = "1.0"

    legal_entity: Identifier
    period: PeriodCode = Field(description="YYYY-MM")
    start_date: dt.date
    end_date: dt.date
    status: AccountingPeriodStatus
    closed_at: UtcDatetime | None = None
    refs: tuple[ExternalRef, ...] = ()

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        if self.end_date < self.start_date:
            raise ValueError("period ends before it starts")
        return self

    @property
    def key(self) -> str:
        """Stable key of the period: ``<legal_entity>:<YYYY-MM>``."""
        return f"{self.legal_entity}:{self.period}"

    def contains(self, day: dt.date) -> bool:
        """Whether ``day`` falls in this period."""
        return self.start_date <= day <= self.end_date
