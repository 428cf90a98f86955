"""Role contracts, delivery part: what every PSA and ERP role must do for the delivery flow.

``PsaDeliveryContract`` and ``ErpDeliveryContract`` state, in canonical terms, what a PSA and
an ERP do for project status, tasks, people, vendor costs and custom fields;
``test_roles_delivery.py`` runs them against each vendor over its sandbox emulator, with a
small ``world`` of vendor-specific setup (what a project manager or an AP clerk does in that
system). Accord's cross-reference is a dictionary (:class:`DictIds`).
"""

import datetime as dt
from decimal import Decimal
from typing import Any, ClassVar

import pytest
from tests.contract.roles_cash import DictIds, changes, recently, unique

from accord.connectors.roles import (
    Erp,
    ErpAssignment,
    ErpTask,
    Mapped,
    ProjectState,
    Psa,
    VendorBillRequest,
    VendorCost,
)
from accord.domain import (
    Assignment,
    Expense,
    Money,
    ProjectStatus,
    ProjectTask,
    VendorBill,
    VendorBillLine,
    VendorBillStatus,
)
from accord.errors import PermanentError

DAY = dt.date(2026, 11, 18)


def _delivery(psa: Psa, ids: DictIds, since: dt.datetime) -> list[Mapped[Any]]:
    return [m for feed in psa.delivery_feeds(ids) for m in changes(feed, since)]


# =============================================================================== PSA
class PsaDeliveryWorld:
    """What a project manager does in one PSA, for :class:`PsaDeliveryContract`."""

    def project(self, key: str) -> str:
        """A project carrying Accord's key (as lead-to-project provisions it); its PSA id."""
        raise NotImplementedError

    def person(self) -> tuple[str, str]:
        """A consultant: its PSA id and consultant id."""
        raise NotImplementedError

    def set_status(self, project: str, status: ProjectStatus) -> None:
        """Change the project's status as a project manager does."""
        raise NotImplementedError

    def task(self, project: str, name: str, hours: int) -> str:
        """A task with an estimate, made by the project manager; its PSA id."""
        raise NotImplementedError

    def put_on_task(self, project: str, task: str, person: str, hours: int) -> None:
        """Assign the person to the task (and the project's team)."""
        raise NotImplementedError

    def approved_vendor_expense(self, project: str, vendor_key: str, amount: Decimal) -> str:
        """A vendor's expense on the project, approved; the id its feed record carries."""
        raise NotImplementedError

    def cost_amounts(self, project: str) -> list[Decimal]:
        """The amounts of the vendor costs the PSA holds on the project."""
        raise NotImplementedError


class PsaDeliveryContract:
    """What every PSA role does for the delivery flow."""

    vendor_key: ClassVar[str] = "VEND-US01-1"

    @pytest.fixture
    def psa(self) -> Psa:
        raise NotImplementedError

    @pytest.fixture
    def world(self) -> PsaDeliveryWorld:
        raise NotImplementedError

    def _placed(self, world: PsaDeliveryWorld) -> tuple[DictIds, str, str]:
        ids, key = DictIds(), unique("PRJ-")
        project = world.project(key)
        ids.remember("psa_project", key, project)
        return ids, key, project

    def test_status_is_written_once_and_read_back(self, psa: Psa, world: PsaDeliveryWorld) -> None:
        _, key, project = self._placed(world)
        assert psa.set_project_status(project, ProjectStatus.COMPLETED, reason="ERP closed it")
        assert not psa.set_project_status(project, ProjectStatus.COMPLETED, reason="again")
        assert psa.project_state(project, key).status is ProjectStatus.COMPLETED
        assert psa.project_status(project) is ProjectStatus.COMPLETED

    def test_a_managers_status_change_and_plan_show_in_the_feeds(
        self, psa: Psa, world: PsaDeliveryWorld
    ) -> None:
        ids, key, project = self._placed(world)
        person, consultant = world.person()
        since = recently()
        world.set_status(project, ProjectStatus.ON_HOLD)
        task = world.task(project, "Design", 40)
        world.put_on_task(project, task, person, 16)

        found = _delivery(psa, ids, since)
        states = [m.value for m in found if isinstance(m.value, ProjectState)]
        assert ProjectStatus.ON_HOLD in {s.status for s in states if s.project_id == key}
        (task_of,) = {m.value for m in found if isinstance(m.value, ProjectTask)}
        assert (task_of.project_id, task_of.name) == (key, "Design")
        assert task_of.estimated_hours == Decimal(40)
        people = [m.value for m in found if isinstance(m.value, Assignment)]
        on_task = [a for a in people if a.task_id == task_of.id]
        assert [(a.resource_id, a.planned_hours) for a in on_task] == [(consultant, Decimal(16))]
        assert all(a.project_id == key and a.resource_id == consultant for a in people)

    def test_an_approved_vendor_expense_maps_with_the_vendor_key_not_as_an_approval(
        self, psa: Psa, world: PsaDeliveryWorld
    ) -> None:
        ids, key, project = self._placed(world)
        since = recently()
        record = world.approved_vendor_expense(project, self.vendor_key, Decimal("1250.00"))
        found = [m for m in _delivery(psa, ids, since) if m.kind == "vendor_expense"]
        mapped = next(m for m in found if m.record_id == record)
        # Read again (a later update of the approved record): one key, one approval.
        assert {m.key for m in found if m.record_id == record} == {mapped.key}
        value = mapped.value
        expenses = value if isinstance(value, tuple) else (value,)
        assert all(isinstance(e, Expense) for e in expenses), mapped.missing
        assert [(e.project_id, e.vendor_id, e.amount.amount) for e in expenses] == [
            (key, self.vendor_key, Decimal("1250.00"))
        ]
        assert mapped.key
        approvals = [m for feed in psa.approval_feeds(ids) for m in changes(feed, since)]
        assert all(m.value is None or m.value.id not in {e.id for e in expenses}
                   for m in approvals)  # fmt: skip

    def test_a_vendor_cost_is_recorded_once_and_never_comes_back(
        self, psa: Psa, world: PsaDeliveryWorld
    ) -> None:
        ids, key, project = self._placed(world)
        bill = VendorBill(
            id=unique("erp-vb-"),
            vendor_id=self.vendor_key,
            legal_entity="US01",
            number="NW-7",
            bill_date=DAY,
            currency="USD",
            status=VendorBillStatus.OPEN,
            lines=(VendorBillLine(project_id=key, amount=Money.of("480.00", "USD")),),
        )
        cost = VendorCost(key=f"{bill.id}-1", bill=bill, line=bill.lines[0], project=project)
        since = recently()
        first = psa.record_vendor_cost(cost, ids)
        assert psa.record_vendor_cost(cost, ids) == first
        assert world.cost_amounts(project) == [Decimal("480.00")]
        assert [m for m in _delivery(psa, ids, since) if m.kind == "vendor_expense"] == []

    def test_custom_fields_are_written_and_read_in_canonical_names(
        self, psa: Psa, world: PsaDeliveryWorld
    ) -> None:
        _, key, project = self._placed(world)
        assert psa.project_field_problems() == {}
        psa.write_project_fields(project, {"delivery_health": "Amber", "customer_po": "PO-1"})
        psa.write_project_fields(project, {"customer_po": "PO-2"})
        fields = psa.project_state(project, key).fields
        assert (fields["delivery_health"], fields["customer_po"]) == ("Amber", "PO-2")


# =============================================================================== ERP
class ErpDeliveryWorld:
    """What a project accountant or an AP clerk does in one ERP, for the contract."""

    legal_entity: ClassVar[str]
    currency: ClassVar[str]
    vendor_key: ClassVar[str]
    consultant: ClassVar[str]
    """A consultant employed in ``legal_entity``."""
    stranger: ClassVar[str]
    """A person with no resource in ``legal_entity`` (e.g. employed in another one)."""

    def project(self, key: str) -> str:
        """A project carrying Accord's key; its ERP id."""
        raise NotImplementedError

    def keyed_bill(self, project: str, vendor: str, amount: Decimal) -> str:
        """A vendor bill an AP clerk keys and posts against the project; its ERP id."""
        raise NotImplementedError

    def bill_count(self, key: str) -> int:
        """How many vendor bills the ERP holds under Accord's key."""
        raise NotImplementedError


class ErpDeliveryContract:
    """What every ERP role does for the delivery flow."""

    @pytest.fixture
    def erp(self) -> Erp:
        raise NotImplementedError

    @pytest.fixture
    def world(self) -> ErpDeliveryWorld:
        raise NotImplementedError

    def _placed(self, world: ErpDeliveryWorld) -> tuple[DictIds, str, str]:
        ids, key = DictIds(), unique("PRJ-")
        project = world.project(key)
        ids.remember("erp_project", key, project)
        return ids, key, project

    def test_a_completed_project_takes_no_postings_and_reads_back(
        self, erp: Erp, world: ErpDeliveryWorld
    ) -> None:
        ids, key, project = self._placed(world)
        since = recently()
        assert erp.set_project_status(project, ProjectStatus.COMPLETED, reason="PSA completed")
        assert not erp.set_project_status(project, ProjectStatus.COMPLETED, reason="again")
        held = erp.project(project)
        assert held is not None
        assert not held.active
        assert erp.project_state(project, key).status is ProjectStatus.COMPLETED
        found = [m for m in changes(erp.project_states(ids), since) if m.canonical_id == key]
        assert found
        assert found[-1].value is not None
        assert found[-1].value.status is ProjectStatus.COMPLETED
        assert erp.set_project_status(project, ProjectStatus.ACTIVE, reason="reopened")
        reopened = erp.project(project)
        assert reopened is not None
        assert reopened.active

    def test_a_task_is_upserted_by_its_id_and_people_are_assigned(
        self, erp: Erp, world: ErpDeliveryWorld
    ) -> None:
        _, key, project = self._placed(world)
        task = ProjectTask(
            id=f"{key}-T1", project_id=key, name="Build", estimated_hours=Decimal(24)
        )
        first = erp.upsert_task(ErpTask(task=task, project=project))
        bigger = task.model_copy(update={"estimated_hours": Decimal(30)})
        assert erp.upsert_task(ErpTask(task=bigger, project=project)) == first
        progress = erp.task_progress(first)
        assert (progress.estimated_hours, progress.actual_hours) == (Decimal(30), Decimal(0))
        assignment = Assignment(
            id=f"{key}-A1",
            project_id=key,
            task_id=task.id,
            resource_id=world.consultant,
            role="Consultant",
            start_date=DAY,
            end_date=DAY,
            planned_hours=Decimal(8),
        )
        request = ErpAssignment(
            assignment=assignment, project=project, legal_entity=world.legal_entity, task=first
        )
        assert erp.assign(request) == erp.assign(request)
        stranger = assignment.model_copy(update={"resource_id": world.stranger, "task_id": None})
        with pytest.raises(PermanentError) as refused:
            erp.assign(
                ErpAssignment(assignment=stranger, project=project, legal_entity=world.legal_entity)
            )
        assert refused.value.reason == "resource_unknown"
        assert world.stranger in str(refused.value)

    def test_a_vendor_bill_is_posted_once_and_a_keyed_one_maps_back(
        self, erp: Erp, world: ErpDeliveryWorld
    ) -> None:
        ids, key, project = self._placed(world)
        vendor = erp.vendor(world.vendor_key, world.legal_entity)
        assert vendor is not None
        assert erp.vendor("VEND-NOBODY", world.legal_entity) is None
        bill = VendorBill(
            id=unique("VB-T-"),
            vendor_id=world.vendor_key,
            legal_entity=world.legal_entity,
            bill_date=DAY,
            currency=world.currency,
            status=VendorBillStatus.OPEN,
            lines=(VendorBillLine(project_id=key, amount=Money.of("900.00", world.currency)),),
        )
        request = VendorBillRequest(bill=bill, vendor=vendor, projects={key: project})
        since = recently()
        posted = erp.post_vendor_bill(request, ids)
        again = erp.post_vendor_bill(request, ids)
        assert (posted.created, again.created, again.erp_id) == (True, False, posted.erp_id)
        assert world.bill_count(bill.id) == 1
        keyed = world.keyed_bill(project, vendor, Decimal("333.30"))
        found = changes(erp.vendor_bills(ids), since)
        assert [m.record_id for m in found] == [keyed]
        (mapped,) = found
        assert isinstance(mapped.value, VendorBill), mapped.missing
        assert mapped.value.vendor_id == world.vendor_key
        assert [(ln.project_id, ln.amount) for ln in mapped.value.lines] == [
            (key, Money.of("333.30", world.currency))
        ]

    def test_custom_fields_are_written_and_read_in_canonical_names(
        self, erp: Erp, world: ErpDeliveryWorld
    ) -> None:
        _, key, project = self._placed(world)
        assert erp.project_field_problems() == {}
        erp.write_project_fields(project, {"delivery_health": "Red", "customer_po": "PO-9"})
        fields = erp.project_state(project, key).fields
        assert (fields["delivery_health"], fields["customer_po"]) == ("Red", "PO-9")
