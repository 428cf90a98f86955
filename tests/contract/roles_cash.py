"""Role contracts, cash and billing part: what every PSA, ERP and CRM role must do.

Each ``*CashContract`` class states what a role must do for the cash, milestone-billing and
approval flows, in canonical terms only; ``test_roles_cash.py`` runs it against each vendor's
role over its sandbox emulator, with a small ``world`` of vendor-specific setup (creating a
project, a timesheet, an invoice as a user of that system would). Accord's cross-reference is
a dictionary here (:class:`DictIds`): roles never reach the database.
"""

import datetime as dt
import itertools
import uuid
from collections.abc import Callable
from decimal import Decimal
from typing import ClassVar, TypeVar

import pytest

from accord.connectors.roles import (
    AccountReceivables,
    ChangeFeed,
    Crm,
    Erp,
    KnownIds,
    Mapped,
    MilestoneInvoice,
    Psa,
    ReceivableStatus,
)
from accord.domain import (
    Invoice,
    InvoiceStatus,
    Milestone,
    MilestoneStatus,
    Money,
    Timesheet,
)

T = TypeVar("T")

WEEK = dt.date(2026, 11, 16)  # a Monday, in an open period
_numbers = itertools.count(1)


def unique(prefix: str) -> str:
    """A key no other test of the session uses (upper case: BC numbers are)."""
    return f"{prefix}{next(_numbers)}{uuid.uuid4().hex[:6]}".upper()


class DictIds(KnownIds):
    """Accord's cross-reference of one connection, as a dictionary."""

    def __init__(self) -> None:
        self.links: dict[tuple[str, str], str] = {}
        """(entity type, canonical id) -> the connection's id."""

    def canonical(self, entity_type: str, external_id: str) -> str | None:
        return next(
            (c for (kind, c), e in self.links.items() if kind == entity_type and e == external_id),
            None,
        )

    def external(self, entity_type: str, canonical_id: str) -> str | None:
        return self.links.get((entity_type, canonical_id))

    def remember(self, entity_type: str, canonical_id: str, external_id: str) -> bool:
        known = self.links.get((entity_type, canonical_id))
        other = self.canonical(entity_type, external_id)
        if (known is not None and known != external_id) or other not in (None, canonical_id):
            return False
        self.links[entity_type, canonical_id] = external_id
        return True


def changes(feed: ChangeFeed[T | None], since: dt.datetime, *, pages: int = 20) -> list[T]:
    """Every record of a feed changed since ``since``, mapped (``None`` ones left out)."""
    found: list[T] = []
    cursor: str | None = None
    for _ in range(pages):
        page = feed.read(cursor, since, None)
        for record in page.records:
            assert feed.describe(record).id, "every record has an id for capture's dedupe"
            value = feed.canonical(record)
            if value is not None:
                found.append(value)
        cursor = page.next_cursor
        if cursor is None:
            break
    return found


def one(mapped: list[Mapped[T]], record_id: str) -> Mapped[T]:
    """The one mapped record with the system's id ``record_id``."""
    matching = [m for m in mapped if m.record_id == record_id]
    assert len(matching) == 1, (record_id, [m.record_id for m in mapped])
    return matching[0]


def recently() -> dt.datetime:
    return dt.datetime.now(dt.UTC) - dt.timedelta(seconds=2)


# =============================================================================== PSA
class PsaWorld:
    """What a project manager does in one PSA, for :class:`PsaCashContract`."""

    def project(self, key: str | None) -> str:
        """A project carrying Accord's key ``key`` (or none); its PSA id."""
        raise NotImplementedError

    def person(self) -> tuple[str, str]:
        """A person the PSA knows as a consultant: its PSA id and the consultant id."""
        raise NotImplementedError

    def submitted_timesheet(self, project: str, person: str) -> str:
        """A week of 1.5 hours submitted for approval; the id the role approves it by."""
        raise NotImplementedError

    def milestone(self, project: str, key: str) -> str:
        """A planned milestone of 2,500.00 keyed ``key``; its PSA id."""
        raise NotImplementedError

    def complete(self, milestone: str) -> None:
        """Complete (approve) the milestone."""
        raise NotImplementedError

    def invoiced(self, milestone: str, invoice_id: str) -> bool:
        """Whether the PSA shows the milestone invoiced (by ``invoice_id``, where it can)."""
        raise NotImplementedError


class PsaCashContract:
    """What every PSA role does for approvals, milestone billing and invoice status."""

    currency: ClassVar[str] = "USD"

    @pytest.fixture
    def psa(self) -> Psa:
        raise NotImplementedError

    @pytest.fixture
    def world(self) -> PsaWorld:
        raise NotImplementedError

    def test_an_approved_timesheet_maps_with_canonical_ids_under_one_key(
        self, psa: Psa, world: PsaWorld
    ) -> None:
        ids = DictIds()
        key = unique("PRJ-")
        project = world.project(key)
        person, consultant = world.person()
        submitted = world.submitted_timesheet(project, person)
        since = recently()
        psa.resolve_approval("timesheet", submitted, approve=True)
        psa.resolve_approval("timesheet", submitted, approve=True)  # already: nothing written

        found = [m for feed in psa.approval_feeds(ids) for m in changes(feed, since)]
        mapped = one([m for m in found if m.kind == "timesheet"], submitted)
        timesheet = mapped.value
        assert isinstance(timesheet, Timesheet), mapped.missing
        assert (timesheet.project_id, timesheet.resource_id) == (key, consultant)
        assert {(e.project_id, e.resource_id) for e in timesheet.entries} == {(key, consultant)}
        assert sum(e.hours for e in timesheet.entries) == Decimal("1.50")
        assert timesheet.approved_at is not None
        assert mapped.key
        again = psa.approval("timesheet", submitted, ids)
        assert again is not None
        assert (again.key, again.value) == (mapped.key, timesheet)

    def test_an_approval_of_an_unknown_project_says_so_until_accord_knows_it(
        self, psa: Psa, world: PsaWorld
    ) -> None:
        ids = DictIds()
        project = world.project(None)
        person, _ = world.person()
        submitted = world.submitted_timesheet(project, person)
        since = recently()
        psa.resolve_approval("timesheet", submitted, approve=True)

        found = [m for feed in psa.approval_feeds(ids) for m in changes(feed, since)]
        mapped = one(found, submitted)
        assert mapped.value is None
        assert set(mapped.missing) == {"project"}
        assert project in mapped.missing["project"]
        ids.remember("psa_project", "PRJ-LINKED", project)
        fixed = psa.approval("timesheet", submitted, ids)
        assert fixed is not None
        assert fixed.value is not None
        assert (fixed.value.project_id, fixed.key) == ("PRJ-LINKED", mapped.key)

    def test_a_completed_milestone_maps_and_is_marked_invoiced(
        self, psa: Psa, world: PsaWorld
    ) -> None:
        ids = DictIds()
        key = unique("PRJ-")
        project = world.project(key)
        ids.remember("psa_project", key, project)
        milestone = world.milestone(project, f"{key}-M1")
        since = recently()
        assert [m for m in changes(psa.completed_milestones(ids), since)
                if m.record_id == milestone] == []  # fmt: skip
        world.complete(milestone)

        mapped = one(changes(psa.completed_milestones(ids), since), milestone)
        completed = mapped.value
        assert isinstance(completed, Milestone), mapped.missing
        assert (completed.id, completed.project_id) == (f"{key}-M1", key)
        assert completed.status is MilestoneStatus.COMPLETED
        assert completed.amount == Money.of("2500.00", self.currency)
        invoice_id = f"MS-{key}-M1"
        for _ in range(2):
            assert psa.mark_milestone_invoiced(completed, invoice_id=invoice_id, note="INV-1")
        assert world.invoiced(milestone, invoice_id)
        stranger = completed.model_copy(update={"refs": ()})
        assert psa.mark_milestone_invoiced(stranger, invoice_id=invoice_id, note="x") is False

    def test_an_invoice_status_is_one_record_however_often_written(
        self, psa: Psa, world: PsaWorld
    ) -> None:
        project = world.project(unique("PRJ-"))
        invoice = _invoice(unique("INV-"), self.currency, InvoiceStatus.POSTED)
        first = psa.record_invoice(project, invoice, note="posted")
        paid = invoice.model_copy(
            update={"status": InvoiceStatus.PAID, "amount_due": Money.zero(self.currency)}
        )
        assert psa.record_invoice(project, paid, note="paid") == first


def _invoice(invoice_id: str, currency: str, status: InvoiceStatus) -> Invoice:
    total = Money.of("100.00", currency)
    return Invoice(
        id=invoice_id,
        number=invoice_id,
        customer_id="C-1",
        legal_entity="US01",
        status=status,
        currency=currency,
        issue_date=WEEK,
        due_date=WEEK + dt.timedelta(days=30),
        subtotal=total,
        tax_total=Money.zero(currency),
        total=total,
        amount_due=total,
        posted_at=dt.datetime.now(dt.UTC),
    )


# =============================================================================== ERP
class ErpWorld:
    """What a finance user does in one ERP, for :class:`ErpCashContract`."""

    legal_entity: str
    currency: str
    has_payment_feed: bool

    def customer(self, key: str) -> str:
        """A customer of the legal entity; the ERP's id Accord keeps for it."""
        raise NotImplementedError

    def project(self, customer: str, key: str) -> str:
        """A project of the customer; the ERP's id Accord keeps for it."""
        raise NotImplementedError

    def plan_line(self, project: str, milestone_id: str, amount: Decimal) -> str:
        """A billing plan line of the milestone, as lead-to-project writes it; its opaque id."""
        raise NotImplementedError

    def posted_invoice(self, customer: str, amount: Decimal) -> str:
        """An invoice of one line, posted; its ERP id."""
        raise NotImplementedError

    def pay(self, invoice: str, customer: str, amount: Decimal) -> str:
        """A customer payment applied to the invoice; its ERP id."""
        raise NotImplementedError


class ErpCashContract:
    """What every ERP role does for the cash and milestone-billing flows."""

    @pytest.fixture
    def erp(self) -> Erp:
        raise NotImplementedError

    @pytest.fixture
    def world(self) -> ErpWorld:
        raise NotImplementedError

    def _placed(self, world: ErpWorld) -> tuple[DictIds, str, str, str]:
        """A customer and project Accord knows: ids, key, ERP customer, ERP project."""
        ids, key = DictIds(), unique("K")
        customer = world.customer(key)
        project = world.project(customer, key)
        ids.remember("customer", f"C-{key}", customer)
        ids.remember("erp_project", f"PRJ-{key}", project)
        return ids, key, customer, project

    def test_a_milestone_is_invoiced_and_posted_once_and_maps_back(
        self, erp: Erp, world: ErpWorld
    ) -> None:
        ids, key, customer, project = self._placed(world)
        milestone = Milestone(
            id=f"PRJ-{key}-M1",
            name="Go-live",
            amount=Money.of("2500.00", world.currency),
            project_id=f"PRJ-{key}",
            status=MilestoneStatus.COMPLETED,
            completed_at=dt.datetime.now(dt.UTC),
        )
        request = MilestoneInvoice(
            invoice_id=f"MS-{milestone.id}",
            milestone=milestone,
            customer=customer,
            project=project,
            invoice_date=dt.datetime.now(dt.UTC).date(),
        )
        since = recently()
        first = erp.bill_milestone(request, ids)
        assert (first.created, first.billed_now) == (True, True)
        assert first.number
        again = erp.bill_milestone(request, ids)
        assert (again.erp_id, again.created, again.billed_now) == (first.erp_id, False, False)

        mapped = one(changes(erp.invoice_changes(ids), since), first.erp_id)
        invoice = mapped.value
        assert invoice is not None, mapped.missing
        assert (invoice.id, invoice.customer_id) == (request.invoice_id, f"C-{key}")
        assert invoice.status is InvoiceStatus.POSTED
        assert invoice.amount_due == Money.of("2500.00", world.currency)
        today = dt.datetime.now(dt.UTC).date()
        owed = erp.receivables(customer, world.legal_entity, today=today)
        assert (owed.balance, owed.overdue, owed.count) == (Decimal("2500.00"), 0, 1)
        assert owed.last_number == first.number

    def test_an_invoice_of_a_customer_accord_does_not_know_says_what_is_missing(
        self, erp: Erp, world: ErpWorld
    ) -> None:
        since = recently()
        invoice = world.posted_invoice(world.customer(unique("X")), Decimal("10.00"))

        mapped = one(changes(erp.invoice_changes(DictIds()), since), invoice)
        assert mapped.value is None
        assert mapped.kind == "invoice"
        assert mapped.missing

    def test_the_billing_plan_gives_the_milestone_amount(self, erp: Erp, world: ErpWorld) -> None:
        _, key, _, project = self._placed(world)
        line = world.plan_line(project, f"PRJ-{key}-M2", Decimal("1234.50"))
        assert erp.milestone_amount(line, f"PRJ-{key}-M2") == Decimal("1234.50")
        assert erp.milestone_amount(line, f"PRJ-{key}-M9") is None  # another milestone's line

    def test_payments_map_with_the_invoices_they_pay(self, erp: Erp, world: ErpWorld) -> None:
        ids, _, customer, _ = self._placed(world)
        feed = erp.payment_changes(ids)
        assert (feed is not None) == world.has_payment_feed
        if feed is None:
            return  # the ERP shows payments as invoice changes (the contract above)
        invoice = world.posted_invoice(customer, Decimal("40.00"))
        since = recently()
        payment = world.pay(invoice, customer, Decimal("40.00"))

        mapped = one(changes(feed, since), payment)
        assert mapped.value is not None, mapped.missing
        (application,) = mapped.value.applications
        paid = one(changes(erp.invoice_changes(ids), since), invoice)
        assert paid.value is not None
        assert application.invoice_id == paid.value.id
        assert application.amount == Money.of("40.00", world.currency)


# =============================================================================== CRM
class CrmCashContract:
    """What every CRM role does for the cash flow."""

    @pytest.fixture
    def crm(self) -> Crm:
        raise NotImplementedError

    @pytest.fixture
    def account(self) -> str:
        """A fresh account's CRM id."""
        raise NotImplementedError

    @pytest.fixture
    def read_back(self) -> Callable[[str], AccountReceivables]:
        """Reads an account's receivables back from the CRM."""
        raise NotImplementedError

    def test_receivables_are_absolute_and_the_payment_date_only_moves_forward(
        self, crm: Crm, account: str, read_back: Callable[[str], AccountReceivables]
    ) -> None:
        later, earlier = dt.date(2026, 11, 20), dt.date(2026, 11, 2)
        owed = AccountReceivables(
            status=ReceivableStatus.OVERDUE,
            balance=Decimal("1799.97"),
            last_invoice_number="INV-7",
            payment_date=later,
        )
        crm.record_receivables(account, owed)
        crm.record_receivables(account, owed)
        assert read_back(account) == owed

        settled = AccountReceivables(
            status=ReceivableStatus.PAID,
            balance=Decimal(0),
            last_invoice_number="INV-8",
            payment_date=earlier,  # reported late: the newer date stays
        )
        crm.record_receivables(account, settled)
        assert read_back(account) == AccountReceivables(
            status=ReceivableStatus.PAID,
            balance=Decimal(0),
            last_invoice_number="INV-8",
            payment_date=later,
        )
