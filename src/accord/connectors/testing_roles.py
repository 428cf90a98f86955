"""The shipped role contract suites: what every CRM, PSA and ERP implementation must do.

A system's role implementation (``Connector.as_crm`` / ``as_psa`` / ``as_erp``) is tested by
subclassing :class:`CrmContract`, :class:`PsaContract` or :class:`ErpContract` against the
system's emulator and overriding a few fixtures; the connector contract
(:class:`accord.connectors.testing.ConnectorContract`) stays for the wire level. Assertions
speak canonical terms and check idempotency with the emulator's duplicate counter, never a
vendor's field or message.

Each suite is the union of independent sections (``CrmAccountsContract``,
``ErpBillingContract`` ...), one per group of role methods, so that a new group of methods
comes with a new section added to the suite without touching the others; a system that does
not play part of a role can subclass the sections it passes.

Tests create their own records under unique ids and never reset the emulator, so the whole
class shares one emulator (and its seeded firm). Exposed as a pytest plugin through
``pytest11`` with :mod:`accord.connectors.testing`. Only tests import this module.
"""

import datetime as dt
import uuid
from collections.abc import Callable, Iterator
from decimal import Decimal
from typing import Any

import pytest

from accord.connectors.roles import (
    BillingPlan,
    BillingPlanLine,
    BillingTerms,
    ChangeFeed,
    Crm,
    CustomerBooking,
    Erp,
    ErpProjectPlan,
    ProjectTerms,
    Psa,
    PsaProjectPlan,
    WriteBack,
)
from accord.connectors.testing import SandboxControl
from accord.connectors.testing_recon import (
    CrmReconciliationContract,
    ErpReconciliationContract,
    PsaReconciliationContract,
)
from accord.domain import (
    Address,
    BillingModel,
    Customer,
    Milestone,
    Money,
    Project,
    ProjectStatus,
)
from accord.errors import NotFoundError, PermanentError, UnsupportedOperationError
from accord.rules import Rules

__all__ = [
    "CrmAccountsContract",
    "CrmContract",
    "CrmOpportunitiesContract",
    "ErpBillingContract",
    "ErpContract",
    "ErpCustomersContract",
    "ErpPeriodsContract",
    "ErpProjectsContract",
    "OpportunityFactory",
    "PsaContract",
    "PsaCustomersContract",
    "PsaProjectsContract",
    "PsaRatesContract",
    "RoleContract",
    "new_key",
]

OpportunityFactory = Callable[..., str]
"""``make_opportunity(account_crm_id, *, won, start_date, lines) -> crm id`` (see
:meth:`CrmOpportunitiesContract.make_opportunity`)."""


def new_key(prefix: str = "RC") -> str:
    """A unique canonical id for a record a test creates (short: ERPs cap key lengths)."""
    return f"{prefix}-{uuid.uuid4().hex[:10].upper()}"


def find_in_feed(feed: ChangeFeed[Any], since: dt.datetime, wanted: str) -> Any:  # noqa: ANN401 - the feed's canonical type
    """The canonical object of record ``wanted`` (its id as ``describe`` says) in a feed."""
    cursor: str | None = None
    for _ in range(50):
        page = feed.read(cursor, since, 200)
        for record in page.records:
            if feed.describe(record).id == wanted:
                return feed.canonical(record)
        cursor = page.next_cursor
        if cursor is None:
            break
    pytest.fail(f"record {wanted} is not in feed {feed.name} since {since}")


class RoleContract:
    """What every role suite needs: the emulator's control API and the duplicate check."""

    @pytest.fixture
    def sandbox(self) -> SandboxControl:
        """Control client of the emulator; override."""
        raise NotImplementedError("override the 'sandbox' fixture")

    @pytest.fixture
    def no_duplicates(self, sandbox: SandboxControl) -> Iterator[None]:
        """Fail the test if the emulator created any record twice while it ran."""
        before = sandbox.duplicates()
        yield
        assert sandbox.duplicates() == before, "a write was not idempotent"

    @staticmethod
    def before_now() -> dt.datetime:
        """A moment just before the test's writes (a feed read ``since`` it sees them)."""
        return dt.datetime.now(dt.UTC) - dt.timedelta(seconds=2)


def customer_of(customer_id: str, *, legal_entity: str, currency: str, country: str) -> Customer:
    """A complete canonical customer for a test."""
    return Customer(
        id=customer_id,
        name=f"Contract {customer_id}",
        legal_entity=legal_entity,
        bill_to=Address(line1="1 Contract Street", city="Springfield", country=country),
        tax_region="US-EAST" if country == "US" else "EU-VAT",
        currency=currency,
    )


# =========================================================================== CRM
class CrmAccountsContract(RoleContract):
    """Accounts: upsert, read, find, hierarchy, change feed. Override ``crm``."""

    @pytest.fixture
    def crm(self) -> Crm:
        """The CRM role against the emulator; override."""
        raise NotImplementedError("override the 'crm' fixture")

    @staticmethod
    def account(customer_id: str, parent_id: str | None = None) -> Customer:
        """A complete US01 customer."""
        customer = customer_of(customer_id, legal_entity="US01", currency="USD", country="US")
        return customer.model_copy(update={"parent_id": parent_id})

    @pytest.mark.usefixtures("no_duplicates")
    def test_upsert_account_is_idempotent(self, crm: Crm) -> None:
        """The same account written twice is one account."""
        customer = self.account(new_key())
        first = crm.upsert_account(customer)
        again = crm.upsert_account(customer.model_copy(update={"name": "Renamed"}))
        assert first.created is True
        assert again.created is False
        assert again.id == first.id

    def test_account_reads_canonically(self, crm: Crm) -> None:
        """An account reads back as the customer written, keyed by its canonical id."""
        customer = self.account(new_key())
        crm_id = crm.upsert_account(customer).id
        read = crm.account(crm_id)
        assert read.crm_id == crm_id
        assert read.id == customer.id
        assert read.customer is not None, read.problems
        assert not read.problems
        got = read.customer
        assert (got.id, got.name, got.legal_entity) == (customer.id, customer.name, "US01")
        assert (got.tax_region, got.currency) == (customer.tax_region, customer.currency)
        assert got.bill_to.city == customer.bill_to.city
        assert crm.find_account(customer.id) is not None
        assert crm.find_account(new_key("NONE")) is None

    def test_unknown_account_is_not_found(self, crm: Crm, missing_account: str) -> None:
        """Reading an account the CRM does not have raises ``NotFoundError``."""
        with pytest.raises(NotFoundError):
            crm.account(missing_account)

    @pytest.fixture
    def missing_account(self) -> str:
        """An account id the CRM does not have; override when ids have a shape."""
        return "000000000000000AAA"

    def test_hierarchy_is_top_down_and_linked(self, crm: Crm) -> None:
        """A child's chain lists its parent first, the child naming the parent's id."""
        parent = self.account(new_key("P"))
        crm.upsert_account(parent)
        child = self.account(new_key("C"), parent_id=parent.id)
        child_id = crm.upsert_account(child).id
        chain = crm.account_hierarchy(child_id)
        assert [a.id for a in chain] == [parent.id, child.id]
        assert chain[-1].parent_crm_id == chain[0].crm_id
        assert chain[-1].customer is not None
        assert chain[-1].customer.parent_id == parent.id

    def test_account_feed_hands_on_a_change(self, crm: Crm) -> None:
        """A written account is in the account feed since just before, canonical."""
        since = self.before_now()
        customer = self.account(new_key())
        crm_id = crm.upsert_account(customer).id
        found = find_in_feed(crm.account_changes(), since, crm_id)
        assert found.id == customer.id
        assert found.customer is not None
        assert found.customer.name == customer.name


class CrmOpportunitiesContract(RoleContract):
    """Opportunities: feed, read, lines, problems, write-back.

    Override ``crm`` and ``make_opportunity``.
    """

    @pytest.fixture
    def crm(self) -> Crm:
        """The CRM role against the emulator; override."""
        raise NotImplementedError("override the 'crm' fixture")

    @pytest.fixture
    def make_opportunity(self) -> OpportunityFactory:
        """``(account_crm_id, *, won, start_date, lines) -> crm id``; override.

        Creates a US01, USD, ``ROLLOUT-MILESTONE``/milestone deal of 100,000 in the CRM
        (``start_date`` ``None`` leaves it out) with ``lines`` as ``(description, amount,
        service date)`` in order.
        """
        raise NotImplementedError("override the 'make_opportunity' fixture")

    @pytest.fixture
    def account_id(self, crm: Crm) -> str:
        """A fresh account to hang deals on."""
        customer = customer_of(new_key(), legal_entity="US01", currency="USD", country="US")
        return crm.upsert_account(customer).id

    def test_won_deal_maps_with_its_lines(
        self, crm: Crm, make_opportunity: OpportunityFactory, account_id: str
    ) -> None:
        """A complete won deal maps; its lines come in order with exact amounts."""
        lines = [("Wave 1", Decimal(40000), "2026-11-01"), ("Wave 2", Decimal(60000), None)]
        since = self.before_now()
        crm_id = make_opportunity(account_id, won=True, start_date="2026-10-05", lines=lines)
        read = crm.opportunity(crm_id)
        assert read.won is True
        assert read.opportunity is not None, read.problems
        assert read.opportunity.billing_model is BillingModel.MILESTONE
        assert crm.crm_id(read.id) in (crm_id, None)
        got = crm.opportunity_lines(crm_id)
        assert [(ln.description, ln.amount) for ln in got] == [(d, a) for d, a, _ in lines]
        assert got[0].service_date == dt.date(2026, 11, 1)
        fed = find_in_feed(crm.opportunity_changes(), since, crm_id)
        assert fed.crm_id == crm_id
        assert fed.opportunity is not None

    def test_unmappable_deal_names_the_field_to_fix(
        self, crm: Crm, make_opportunity: OpportunityFactory, account_id: str
    ) -> None:
        """A won deal without a start date is still read, with the field a person fixes."""
        crm_id = make_opportunity(account_id, won=True, start_date=None, lines=[])
        read = crm.opportunity(crm_id)
        assert read.won is True
        assert read.opportunity is None
        assert crm.opportunity_fields["start_date"] in read.problems

    def test_write_back_sets_the_status(
        self, crm: Crm, make_opportunity: OpportunityFactory, account_id: str
    ) -> None:
        """The status written back is the status read; writing it again changes nothing."""
        crm_id = make_opportunity(account_id, won=True, start_date="2026-10-05", lines=[])
        crm.write_back(crm_id, "Provisioned", psa_project_id="PSA-1", erp_project_id="ERP-1")
        assert crm.opportunity(crm_id).status == "Provisioned"
        crm.write_back(crm_id, "Needs attention: Start date is missing")
        assert crm.opportunity(crm_id).status == "Needs attention: Start date is missing"

    @pytest.fixture
    def missing_opportunity(self) -> str:
        """An opportunity id the CRM does not have; override when ids have a shape."""
        return "000000000000000AAA"

    @pytest.mark.usefixtures("no_duplicates")
    def test_write_backs_go_together_each_with_its_outcome(
        self,
        crm: Crm,
        make_opportunity: OpportunityFactory,
        account_id: str,
        missing_opportunity: str,
    ) -> None:
        """Several write-backs at once: each is written, and a refused one is refused alone."""
        first = make_opportunity(account_id, won=True, start_date="2026-10-05", lines=[])
        second = make_opportunity(account_id, won=True, start_date="2026-10-05", lines=[])
        outcomes = crm.write_backs(
            [
                WriteBack(first, "Provisioned", psa_project_id="PSA-7", erp_project_id="ERP-7"),
                WriteBack(missing_opportunity, "Provisioned"),
                WriteBack(second, "Needs attention: Start date is missing"),
            ]
        )
        assert outcomes[0] is None
        assert isinstance(outcomes[1], PermanentError)
        assert outcomes[2] is None
        assert crm.opportunity(first).status == "Provisioned"
        assert crm.opportunity(second).status == "Needs attention: Start date is missing"
        assert crm.write_backs([]) == []

    def test_the_lines_field_is_named(self, crm: Crm) -> None:
        """Problems with the lines and each opportunity field are keyed by a CRM field."""
        fields = crm.opportunity_fields
        for name in ("lines", "start_date", "amount", "legal_entity", "customer_id"):
            assert fields.get(name), name


class CrmContract(CrmAccountsContract, CrmOpportunitiesContract, CrmReconciliationContract):
    """The CRM role contract: every section.

    Override ``sandbox``, ``crm`` and ``make_opportunity`` (and ``merge_accounts`` to test
    merges).
    """

    @pytest.fixture
    def merge_accounts(self) -> Callable[[str, str], None] | None:
        """``(master crm id, loser crm id)`` merging two accounts in the CRM, or ``None``."""
        return None

    def test_merged_accounts_name_the_losers(
        self, crm: Crm, merge_accounts: Callable[[str, str], None] | None
    ) -> None:
        """After a merge the survivor lists the merged account, with its canonical id."""
        if merge_accounts is None:
            pytest.skip("the emulator cannot merge accounts")
        master = self.account(new_key("M"))
        loser = self.account(new_key("L"))
        master_id = crm.upsert_account(master).id
        loser_id = crm.upsert_account(loser).id
        assert crm.merged_accounts(master_id) == ()
        merge_accounts(master_id, loser_id)
        merged = crm.merged_accounts(master_id)
        assert [(m.crm_id, m.id) for m in merged] == [(loser_id, loser.id)]
        with pytest.raises(NotFoundError):
            crm.account(loser_id)


# =========================================================================== PSA
class _PsaBase(RoleContract):
    @pytest.fixture
    def psa(self) -> Psa:
        """The PSA role against the emulator; override."""
        raise NotImplementedError("override the 'psa' fixture")

    @pytest.fixture
    def customer_id(self) -> str:
        """Canonical id of a customer the PSA's projects may name; override if it must exist."""
        return new_key("CUST")

    @staticmethod
    def project(customer_id: str, project_id: str | None = None) -> Project:
        """A fixed-fee US01 project with a budget (named for its id: one business fact each)."""
        key = project_id or new_key("PRJ")
        return Project(
            id=key,
            name=f"Contract project {key}",
            customer_id=customer_id,
            legal_entity="US01",
            practice="TECH",
            region="NA-EAST",
            billing_model=BillingModel.FIXED_FEE,
            status=ProjectStatus.ACTIVE,
            currency="USD",
            budget=Money.of(Decimal("1100.00"), "USD"),
            start_date=dt.date(2026, 10, 5),
            end_date=dt.date(2027, 10, 5),
            template="TPL-IMPL-FIXED",
        )

    @staticmethod
    def milestones(project: Project, amounts: tuple[str, ...]) -> tuple[Milestone, ...]:
        """Milestones of a project keyed ``<project id>-M<n>``."""
        return tuple(
            Milestone(
                id=f"{project.id}-M{i}",
                name=f"Milestone {i}",
                amount=Money.of(Decimal(a), project.currency),
                project_id=project.id,
                due_date=project.start_date + dt.timedelta(days=30 * i),
            )
            for i, a in enumerate(amounts, start=1)
        )


class PsaProjectsContract(_PsaBase):
    """Projects: upsert, terms, hold and release, ERP link. Override ``psa``."""

    @pytest.mark.usefixtures("no_duplicates")
    def test_upsert_project_is_idempotent(self, psa: Psa, customer_id: str) -> None:
        """A project with its phases and milestones written twice is one project."""
        project = self.project(customer_id)
        plan = PsaProjectPlan(
            project=project,
            phases=("Plan", "Build"),
            milestones=self.milestones(project, ("400.00", "600.00")),
            description="contract test",
        )
        first = psa.upsert_project(plan)
        again = psa.upsert_project(plan)
        assert first.created is True
        assert again.created is False
        assert again.id == first.id
        assert psa.project_status(first.id) is ProjectStatus.ACTIVE

    def test_hold_then_release(self, psa: Psa, customer_id: str) -> None:
        """A held project reads on hold; a released one active again."""
        psa_id = psa.upsert_project(PsaProjectPlan(project=self.project(customer_id))).id
        psa.hold_project(psa_id, reason="[test] the ERP refused it", description="contract")
        assert psa.project_status(psa_id) is ProjectStatus.ON_HOLD
        psa.release_project(psa_id, description="contract")
        assert psa.project_status(psa_id) is ProjectStatus.ACTIVE

    @pytest.mark.usefixtures("no_duplicates")
    def test_new_terms_reach_the_project(self, psa: Psa, customer_id: str) -> None:
        """A contract version's dates and milestones are written; milestones are upserted."""
        project = self.project(customer_id)
        psa_id = psa.upsert_project(
            PsaProjectPlan(project=project, milestones=self.milestones(project, ("1000.00",)))
        ).id
        terms = ProjectTerms(
            project_id=project.id,
            budget=Money.of(Decimal("2200.00"), "USD"),
            contract_value=Money.of(Decimal("2000.00"), "USD"),
            start_date=dt.date(2026, 11, 2),
            end_date=dt.date(2027, 12, 31),
            milestones=self.milestones(project, ("1200.00", "800.00")),
        )
        psa.update_terms(psa_id, terms)
        psa.update_terms(psa_id, terms)
        psa.link_erp_project(psa_id, "ERP-CONTRACT-1")
        try:
            read = psa.project(psa_id)
        except UnsupportedOperationError:
            return  # the PSA's project does not map on its own
        assert (read.start_date, read.end_date) == (terms.start_date, terms.end_date)


class PsaRatesContract(_PsaBase):
    """Rate cards. Override ``psa`` (and ``currency`` if the PSA prices another one)."""

    @pytest.fixture
    def currency(self) -> str:
        """A currency the PSA prices time in."""
        return "USD"

    def test_a_rate_card_prices_the_currency(self, psa: Psa, currency: str) -> None:
        """The PSA's card for the currency has hourly rates by role; none for an unknown one."""
        card = psa.rate_card_id(currency)
        assert card is not None
        rates = psa.rate_card_rates(card, currency)
        assert rates
        assert all(r > 0 for r in rates.values())
        assert psa.rate_card_id("XXX") is None


class PsaCustomersContract(_PsaBase):
    """Customers. Override ``psa`` and ``account_id`` (an account the PSA may share)."""

    @pytest.fixture
    def account_id(self) -> str:
        """A CRM account id of the firm's; override."""
        raise NotImplementedError("override the 'account_id' fixture")

    def test_customers_are_shared_or_not_kept(self, psa: Psa, account_id: str) -> None:
        """A PSA sharing the CRM's accounts reads one as a customer; another keeps none."""
        shared = psa.customer_of_account(account_id)
        if shared is None:
            with pytest.raises(UnsupportedOperationError):
                psa.customer(account_id)
            return
        customer = psa.customer(shared)
        assert customer.name


class PsaContract(
    PsaProjectsContract, PsaRatesContract, PsaCustomersContract, PsaReconciliationContract
):
    """The PSA role contract: every section.

    Override ``sandbox``, ``psa``, ``account_id``, ``approve_time`` (and ``customer_id`` when
    projects must name an existing customer).
    """


# =========================================================================== ERP
class _ErpBase(RoleContract):
    @pytest.fixture
    def erp(self) -> Erp:
        """The ERP role against the emulator; override."""
        raise NotImplementedError("override the 'erp' fixture")

    @pytest.fixture
    def rules(self) -> Rules:
        """The rules the role was built with; override."""
        raise NotImplementedError("override the 'rules' fixture")

    @pytest.fixture
    def legal_entity(self) -> str:
        """A legal entity the rules book on this ERP; override."""
        raise NotImplementedError("override the 'legal_entity' fixture")

    @pytest.fixture
    def placement(self, rules: Rules, legal_entity: str) -> tuple[str, str, dict[str, str]]:
        """``(practice, region, dimensions)`` of a project of ``legal_entity``, per the rules."""
        region = next(c for c, r in rules.spec.regions.items() if r.legal_entity == legal_entity)
        practice = next(iter(rules.spec.practices))
        placed = rules.placement(legal_entity=legal_entity, practice=practice, region=region)
        return practice, region, {"department": placed.department, "class": placed.class_}

    @pytest.fixture
    def new_customer(self, rules: Rules, legal_entity: str) -> Callable[[], Customer]:
        """Fresh complete customers of ``legal_entity``."""
        entity = rules.spec.legal_entities[legal_entity]

        def make() -> Customer:
            return customer_of(
                new_key("CUST"),
                legal_entity=legal_entity,
                currency=entity.currency,
                country=entity.country,
            )

        return make

    @pytest.fixture
    def project_plan(
        self,
        erp: Erp,
        legal_entity: str,
        new_customer: Callable[[], Customer],
        placement: tuple[str, str, dict[str, str]],
    ) -> ErpProjectPlan:
        """The plan of a fresh milestone project whose customer the ERP already holds."""
        customer = new_customer()
        customer_erp_id, _ = erp.upsert_customer(CustomerBooking(customer, legal_entity))
        project = self.project_for(customer, placement)
        amount = Money.of(Decimal(1000), project.currency)
        return ErpProjectPlan(
            project=project,
            customer_erp_id=customer_erp_id,
            dimensions=placement[2],
            terms=BillingTerms("milestone", "milestone", amount),
        )

    @staticmethod
    def project_for(customer: Customer, placement: tuple[str, str, dict[str, str]]) -> Project:
        """A milestone project of the customer's legal entity."""
        practice, region, _ = placement
        key = new_key("PRJ")
        return Project(
            id=key,
            name=f"Contract project {key}",
            customer_id=customer.id,
            legal_entity=customer.legal_entity,
            practice=practice,
            region=region,
            billing_model=BillingModel.MILESTONE,
            status=ProjectStatus.ACTIVE,
            currency=customer.currency,
            start_date=dt.date(2026, 10, 5),
            end_date=dt.date(2027, 10, 5),
        )


class ErpCustomersContract(_ErpBase):
    """Customers: upsert, read, omit, feed, canonical read.

    Override ``erp``, ``rules`` and ``legal_entity``.
    """

    @pytest.mark.usefixtures("no_duplicates")
    def test_upsert_customer_is_idempotent(
        self, erp: Erp, legal_entity: str, new_customer: Callable[[], Customer]
    ) -> None:
        """A customer written twice is one customer, read back as written."""
        customer = new_customer()
        booking = CustomerBooking(customer=customer, legal_entity=legal_entity)
        erp_id, created = erp.upsert_customer(booking)
        again, created_again = erp.upsert_customer(booking)
        assert (created, created_again) == (True, False)
        assert again == erp_id
        held = erp.customer(erp_id, legal_entity=legal_entity)
        assert held.erp_id == erp_id
        assert held.name == customer.name
        assert held.bill_to is not None
        assert "1 Contract Street" in [p for p in held.bill_to if p]
        assert held.credit_hold is False
        assert set(held.carried) <= {"name", "parent_id", "bill_to", "tax_region"}
        assert held.carried == erp.customer_fields

    def test_omitted_fields_keep_the_erp_value(
        self, erp: Erp, legal_entity: str, new_customer: Callable[[], Customer]
    ) -> None:
        """An update leaving ``name`` out keeps the ERP's name; one writing it changes it."""
        customer = new_customer()
        erp_id, _ = erp.upsert_customer(CustomerBooking(customer, legal_entity))
        renamed = customer.model_copy(update={"name": "Renamed by the CRM"})
        erp.upsert_customer(CustomerBooking(renamed, legal_entity, omit=frozenset({"name"})))
        assert erp.customer(erp_id, legal_entity=legal_entity).name == customer.name
        erp.upsert_customer(CustomerBooking(renamed, legal_entity))
        assert erp.customer(erp_id, legal_entity=legal_entity).name == "Renamed by the CRM"

    def test_customer_feed_and_canonical_read(
        self, erp: Erp, legal_entity: str, new_customer: Callable[[], Customer]
    ) -> None:
        """A written customer is in the feed under its id; its record reads canonically."""
        since = self.before_now()
        customer = new_customer()
        erp_id, _ = erp.upsert_customer(CustomerBooking(customer, legal_entity))
        feed = erp.customer_changes()
        record_id = self._record_id(feed, since, erp_id)
        change = find_in_feed(feed, since, record_id)
        assert change.erp_id == erp_id
        canonical = erp.read_customer(record_id)
        assert canonical.name == customer.name
        assert canonical.legal_entity == legal_entity

    @staticmethod
    def _record_id(feed: ChangeFeed[Any], since: dt.datetime, erp_id: str) -> str:
        """The system's record id of the customer ``erp_id`` (the feed tells them apart)."""
        cursor: str | None = None
        for _ in range(50):
            page = feed.read(cursor, since, 200)
            for record in page.records:
                if feed.canonical(record).erp_id == erp_id:
                    return feed.describe(record).id
            cursor = page.next_cursor
            if cursor is None:
                break
        pytest.fail(f"customer {erp_id} is not in the feed")

    def test_unknown_customer_is_not_found(self, erp: Erp, legal_entity: str) -> None:
        """Reading a customer the ERP does not have raises ``NotFoundError``."""
        with pytest.raises(NotFoundError):
            erp.customer("99999999", legal_entity=legal_entity)


class ErpProjectsContract(_ErpBase):
    """Projects: upsert and read back. Override ``erp``, ``rules`` and ``legal_entity``."""

    @pytest.mark.usefixtures("no_duplicates")
    def test_upsert_project_is_idempotent_and_reads_back(
        self,
        erp: Erp,
        legal_entity: str,
        project_plan: ErpProjectPlan,
        placement: tuple[str, str, dict[str, str]],
    ) -> None:
        """A project written twice is one project, active, in its entity and billing model."""
        plan = project_plan
        project = plan.project
        erp_id = erp.upsert_project(plan)
        assert erp.upsert_project(plan) == erp_id
        held = erp.project(erp_id)
        assert held is not None
        assert (held.legal_entity, held.active) == (legal_entity, True)
        assert held.billing_model is BillingModel.MILESTONE
        assert (held.practice, held.region) == placement[:2]
        assert held.start_date == project.start_date
        assert erp.invoiced_milestones(legal_entity, [f"{project.id}-M1"]) == []

    def test_master_bodies_translate_and_write_nothing(
        self,
        erp: Erp,
        legal_entity: str,
        new_customer: Callable[[], Customer],
        project_plan: ErpProjectPlan,
    ) -> None:
        """``master_body`` translates a customer, project and billing plan, writing nothing."""
        customer = new_customer()
        booking = CustomerBooking(customer=customer, legal_entity=legal_entity)
        assert erp.master_body(booking)
        project = project_plan.project
        assert erp.master_body(project_plan)
        line = BillingPlanLine(key=f"{project.id}-M1", description="M1", amount=Decimal(400))
        body = erp.master_body(BillingPlan(project, project.id, (line,)))
        assert len(body["lines"]) == 1
        # Nothing was written: the customer is new to the ERP when it is upserted.
        assert erp.upsert_customer(booking)[1] is True


class ErpBillingContract(_ErpBase):
    """Billing plans. Override ``erp``, ``rules`` and ``legal_entity``."""

    @pytest.mark.usefixtures("no_duplicates")
    def test_billing_plan_is_idempotent_and_rewritable(
        self, erp: Erp, project_plan: ErpProjectPlan
    ) -> None:
        """A plan written twice is one plan; a rewrite keeps it and drops old lines."""
        project = project_plan.project
        dimensions = project_plan.dimensions
        project_erp_id = erp.upsert_project(project_plan)
        lines = tuple(
            BillingPlanLine(
                key=f"{project.id}-M{i}",
                description=f"Milestone {i}",
                amount=Decimal(amount),
                due_date=dt.date(2026, 11, i),
            )
            for i, amount in enumerate(("400.00", "600.00"), start=1)
        )
        plan = BillingPlan(project, project_erp_id, lines, dimensions=dimensions)
        first = erp.write_billing_plan(plan)
        assert erp.write_billing_plan(plan) == first
        assert set(first.lines) == {line.key for line in lines}
        rewritten = BillingPlan(
            project,
            project_erp_id,
            (lines[0],),
            dimensions=dimensions,
            previous_keys=tuple(first.lines),
        )
        second = erp.write_billing_plan(rewritten)
        assert second.schedule_id == first.schedule_id
        assert set(second.lines) == {lines[0].key}


class ErpPeriodsContract(_ErpBase):
    """Accounting periods. Override ``erp`` and ``legal_entity``."""

    def test_closed_periods_are_months(self, erp: Erp, legal_entity: str) -> None:
        """Closed periods are ``YYYY-MM`` months."""
        for month in erp.closed_periods(legal_entity):
            dt.date.fromisoformat(f"{month}-01")


class ErpContract(
    ErpCustomersContract,
    ErpProjectsContract,
    ErpBillingContract,
    ErpPeriodsContract,
    ErpReconciliationContract,
):
    """The ERP role contract: every section.

    Override ``sandbox``, ``erp``, ``rules``, ``legal_entity`` and ``resource_id``.
    """
