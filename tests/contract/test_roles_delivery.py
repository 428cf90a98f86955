"""The delivery role contracts (``roles_delivery.py``) on every implementation.

Kantata and Certinia as PSAs, NetSuite, Business Central and Dynamics 365 Finance as ERPs,
each over its sandbox emulator (the emulator fixtures are the cash contracts'). Dynamics 365
Finance refuses what Accord does not support on it yet (tasks, people, vendor bills): its class
replaces those contracts with the refusals it must give.
"""

import datetime as dt
import uuid
from collections.abc import Iterator
from decimal import Decimal

import httpx
import pytest
from tests.contract import test_roles_cash as cash
from tests.contract.conftest import FIRM
from tests.contract.roles_delivery import (
    DAY,
    ErpDeliveryContract,
    ErpDeliveryWorld,
    PsaDeliveryContract,
    PsaDeliveryWorld,
)
from tests.contract.sandbox_auth import sandbox_connector
from tests.contract.test_roles_cash import BusinessCentralWorld, DynamicsFinanceWorld, NetSuiteWorld

from accord.connectors.business_central import BusinessCentralConnector
from accord.connectors.business_central._erp_delivery import vendor_invoice_number
from accord.connectors.certinia import CertiniaConnector
from accord.connectors.dynamics_finance import DynamicsFinanceConnector
from accord.connectors.kantata import KantataConnector
from accord.connectors.kantata.mapping import STATUS_MESSAGES
from accord.connectors.netsuite import NetSuiteConnector
from accord.connectors.roles import Erp, ErpAssignment, ErpTask, Psa, VendorBillRequest
from accord.domain import (
    Assignment,
    Money,
    ProjectStatus,
    ProjectTask,
    VendorBill,
    VendorBillLine,
    VendorBillStatus,
)
from accord.errors import PermanentError, UnsupportedOperationError
from accord.rules import Rules

# The cash contracts' emulators (module-scoped fixtures: this module gets its own).
rules = cash.rules
kantata_url = cash.kantata_url
salesforce_url = cash.salesforce_url
netsuite_url = cash.netsuite_url
business_central_url = cash.business_central_url
d365_url = cash.d365_url


def _consultant(entity: str) -> str:
    return next(c.id for c in FIRM.consultants if c.legal_entity == entity)


# --------------------------------------------------------------------------- Kantata
class KantataDeliveryWorld(PsaDeliveryWorld):
    def __init__(self, connector: KantataConnector) -> None:
        self.kantata = connector

    def project(self, key: str) -> str:
        fields = {"title": f"Project {key}", "currency": "USD", "status": "In Progress"}
        return self.kantata.upsert("workspaces", key, fields).id

    def person(self) -> tuple[str, str]:
        for user in self.kantata.read_page("users").records:
            consultant = self.kantata.describe("users", user).external_id
            if consultant:
                return str(user["id"]), consultant
        raise AssertionError("the sandbox seeds consultants")

    def set_status(self, project: str, status: ProjectStatus) -> None:
        self.kantata.update("workspaces", project, {"status": STATUS_MESSAGES[status]})

    def task(self, project: str, name: str, hours: int) -> str:
        story = {
            "workspace_id": project,
            "title": name,
            "story_type": "task",
            "time_estimate_in_minutes": hours * 60,
        }
        return self.kantata.create("stories", story).id

    def put_on_task(self, project: str, task: str, person: str, hours: int) -> None:
        self.kantata.create("participations", {"workspace_id": project, "user_id": person})
        self.kantata.create(
            "assignments",
            {"story_id": task, "assignee_id": person, "estimated_minutes": hours * 60},
        )

    def approved_vendor_expense(self, project: str, vendor_key: str, amount: Decimal) -> str:
        vendor = self.kantata.get_by_external_id("vendors", vendor_key)
        assert vendor is not None
        expense = {
            "workspace_id": project,
            "date": DAY.isoformat(),
            "category": "Other",
            "amount_in_cents": int(amount * 100),
            "vendor_id": vendor["id"],
            "notes": "Subcontracted design",
        }
        expense_id = self.kantata.create("expenses", expense).id
        report = self.kantata.create("expense_report_submissions", {"expense_ids": [expense_id]})
        self.kantata.resolve_submission("expense_report_submissions", report.id, approve=True)
        return expense_id

    def cost_amounts(self, project: str) -> list[Decimal]:
        page = self.kantata.query_page("expenses", filters={"workspace_id": project})
        return [Decimal(int(r["amount_in_cents"])) / 100 for r in page.records]


class TestKantataPsaDelivery(PsaDeliveryContract):
    @pytest.fixture
    def connector(self, kantata_url: str) -> Iterator[KantataConnector]:
        with sandbox_connector("kantata", kantata_url, name="kantata") as connector:
            assert isinstance(connector, KantataConnector)
            yield connector

    @pytest.fixture
    def psa(self, connector: KantataConnector, rules: Rules) -> Psa:
        return connector.as_psa(rules)

    @pytest.fixture
    def world(self, connector: KantataConnector) -> PsaDeliveryWorld:
        return KantataDeliveryWorld(connector)


# --------------------------------------------------------------------------- Certinia
class CertiniaDeliveryWorld(PsaDeliveryWorld):
    def __init__(self, connector: CertiniaConnector) -> None:
        self.certinia = connector

    def project(self, key: str) -> str:
        fields = {
            "Name": f"Project {key}",
            "CurrencyIsoCode": "USD",
            "pse__Stage__c": "In Progress",
        }
        return self.certinia.upsert("pse__Proj__c", key, fields).id

    def person(self) -> tuple[str, str]:
        contacts = self.certinia.read_page("Contact").records
        contact = next(c for c in contacts if c.get("Accord_Id__c"))
        return str(contact["Id"]), str(contact["Accord_Id__c"])

    def set_status(self, project: str, status: ProjectStatus) -> None:
        stage = {ProjectStatus.ON_HOLD: "On Hold", ProjectStatus.COMPLETED: "Completed"}[status]
        self.certinia.update("pse__Proj__c", project, {"pse__Stage__c": stage})

    def task(self, project: str, name: str, hours: int) -> str:
        fields = {"Name": name, "pse__Project__c": project, "pse__Estimated_Hours__c": hours}
        return self.certinia.create("pse__Project_Task__c", fields).id

    def put_on_task(self, project: str, task: str, person: str, hours: int) -> None:
        span = {"pse__Start_Date__c": DAY.isoformat(), "pse__End_Date__c": DAY.isoformat()}
        # Accord never writes schedules: post one as the org's staffer would.
        version = self.certinia.config.api_version
        response = self.certinia.send(
            "POST",
            f"/services/data/{version}/sobjects/pse__Schedule__c",
            resource="pse__Schedule__c",
            json=span,
        )
        schedule = response.json()["id"]
        self.certinia.create(
            "pse__Assignment__c",
            {"pse__Project__c": project, "pse__Resource__c": person, "pse__Schedule__c": schedule},
        )
        self.certinia.create(
            "pse__Project_Task_Assignment__c",
            {
                "pse__Project_Task__c": task,
                "pse__Project__c": project,
                "pse__Resource__c": person,
                "pse__Estimated_Hours__c": hours,
            },
        )

    def approved_vendor_expense(self, project: str, vendor_key: str, amount: Decimal) -> str:
        account = self.certinia.get_by_external_id("Account", vendor_key)
        assert account is not None
        invoice = self.certinia.create(
            "pse__Vendor_Invoice__c",
            {"pse__Account__c": account["Id"], "pse__Date__c": DAY.isoformat(),
             "CurrencyIsoCode": "USD"},
        ).id  # fmt: skip
        self.certinia.create(
            "pse__Vendor_Invoice_Item__c",
            {
                "pse__Vendor_Invoice__c": invoice,
                "pse__Project__c": project,
                "pse__Amount__c": float(amount),
                "pse__Description__c": "Subcontracted design",
                "CurrencyIsoCode": "USD",
            },
        )
        self.certinia.update("pse__Vendor_Invoice__c", invoice, {"pse__Status__c": "Approved"})
        return invoice

    def cost_amounts(self, project: str) -> list[Decimal]:
        rows = self.certinia.query(
            "SELECT pse__Amount__c FROM pse__Vendor_Invoice_Item__c "
            f"WHERE pse__Project__c = '{project}'",
            resource="pse__Vendor_Invoice_Item__c",
        )
        return [Decimal(str(r["pse__Amount__c"])).quantize(Decimal("0.01")) for r in rows]


class TestCertiniaPsaDelivery(PsaDeliveryContract):
    @pytest.fixture
    def connector(self, salesforce_url: str) -> Iterator[CertiniaConnector]:
        with sandbox_connector("certinia", salesforce_url, name="certinia") as connector:
            assert isinstance(connector, CertiniaConnector)
            yield connector

    @pytest.fixture
    def psa(self, connector: CertiniaConnector, rules: Rules) -> Psa:
        return connector.as_psa(rules)

    @pytest.fixture
    def world(self, connector: CertiniaConnector) -> PsaDeliveryWorld:
        return CertiniaDeliveryWorld(connector)


# --------------------------------------------------------------------------- NetSuite
class NetSuiteDeliveryWorld(ErpDeliveryWorld):
    legal_entity = "US01"
    currency = "USD"
    vendor_key = "VEND-US01-1"
    consultant = _consultant("US01")
    stranger = _consultant("UK01")

    def __init__(self, connector: NetSuiteConnector, url: str) -> None:
        self.netsuite = connector
        self.cash = NetSuiteWorld(connector)
        self.url = url

    def project(self, key: str) -> str:
        return self.cash.project(self.cash.customer(f"C{key}"), key)

    def keyed_bill(self, project: str, vendor: str, amount: Decimal) -> str:
        line = {"amount": float(amount), "customer": {"id": project}, "memo": "Hosting"}
        bill = {
            "entity": {"id": vendor},
            "tranDate": dt.datetime.now(dt.UTC).date().isoformat(),
            "tranId": f"NW-{uuid.uuid4().hex[:6]}",
            "expense": {"items": [line]},
        }
        return self.netsuite.create("vendorBill", bill).id

    def bill_count(self, key: str) -> int:
        records = httpx.get(f"{self.url}/__sandbox/records/vendorBill", timeout=10).json()
        return sum(1 for r in records["records"] if r.get("externalId") == key)


class TestNetSuiteErpDelivery(ErpDeliveryContract):
    @pytest.fixture
    def connector(self, netsuite_url: str) -> Iterator[NetSuiteConnector]:
        with sandbox_connector("netsuite", netsuite_url, name="netsuite") as connector:
            assert isinstance(connector, NetSuiteConnector)
            yield connector

    @pytest.fixture
    def erp(self, connector: NetSuiteConnector, rules: Rules) -> Erp:
        return connector.as_erp(rules)

    @pytest.fixture
    def world(self, connector: NetSuiteConnector, netsuite_url: str) -> ErpDeliveryWorld:
        return NetSuiteDeliveryWorld(connector, netsuite_url)


# --------------------------------------------------------------------------- Business Central
class BusinessCentralDeliveryWorld(ErpDeliveryWorld):
    legal_entity = "DE01"
    currency = "EUR"
    vendor_key = "VEND-DE01-1"
    consultant = _consultant("DE01")
    # Every consultant of the firm is a resource in each BC company (cross-entity staffing,
    # docs/flows/multi-entity.md): the person BC does not know is one the firm does not have.
    stranger = "EMP-NOBODY"

    def __init__(self, connector: BusinessCentralConnector, url: str) -> None:
        self.cash = BusinessCentralWorld(connector)
        self.company = self.cash.company
        self.url = url

    def project(self, key: str) -> str:
        return self.cash.project(self.cash.customer(f"C{key}"[:20]), key)

    def keyed_bill(self, project: str, vendor: str, amount: Decimal) -> str:
        line = {
            "lineType": "Account",
            "description": "Hosting",
            "quantity": 1,
            "directUnitCost": float(amount),
            "projectNumber": project,
        }
        draft = self.company.create(
            "purchaseInvoices",
            {
                "vendorNumber": vendor,
                "vendorInvoiceNumber": f"NW-{uuid.uuid4().hex[:6]}",
                "invoiceDate": dt.datetime.now(dt.UTC).date().isoformat(),
                "purchaseInvoiceLines": [line],
            },
        ).id
        assert self.company.post_document("purchaseInvoices", draft)
        return draft

    def bill_count(self, key: str) -> int:
        records = httpx.get(f"{self.url}/__sandbox/records/purchaseInvoices", timeout=10).json()
        number = vendor_invoice_number(key)
        return sum(1 for r in records["records"] if r.get("vendorInvoiceNumber") == number)


class TestBusinessCentralErpDelivery(ErpDeliveryContract):
    @pytest.fixture
    def connector(self, business_central_url: str) -> Iterator[BusinessCentralConnector]:
        companies = {e.code: e.bc_company_id for e in FIRM.legal_entities}
        with sandbox_connector(
            "business_central",
            business_central_url,
            name="business-central",
            tenant="sandbox-tenant",
            company_id=companies["DE01"],
            companies=companies,
            api_host=business_central_url,
            login_host=business_central_url,
        ) as connector:
            assert isinstance(connector, BusinessCentralConnector)
            yield connector

    @pytest.fixture
    def erp(self, connector: BusinessCentralConnector, rules: Rules) -> Erp:
        return connector.as_erp(rules)

    @pytest.fixture
    def world(
        self, connector: BusinessCentralConnector, business_central_url: str
    ) -> ErpDeliveryWorld:
        return BusinessCentralDeliveryWorld(connector, business_central_url)


class DynamicsFinanceDeliveryWorld(ErpDeliveryWorld):
    legal_entity = "DE01"
    currency = "EUR"
    vendor_key = "VEND-DE01-1"
    consultant = _consultant("DE01")
    stranger = _consultant("US01")

    def __init__(self, connector: DynamicsFinanceConnector) -> None:
        self.cash = DynamicsFinanceWorld(connector)

    def project(self, key: str) -> str:
        return self.cash.project(self.cash.customer(f"C{key}"[:20]), key)


def _refused(operation: str) -> str:
    return f"Dynamics 365 Finance: {operation} is not supported by Accord yet"


class TestDynamicsFinanceErpDelivery(ErpDeliveryContract):
    @pytest.fixture
    def connector(self, d365_url: str) -> Iterator[DynamicsFinanceConnector]:
        yield from cash.d365_connector(d365_url)

    @pytest.fixture
    def erp(self, connector: DynamicsFinanceConnector, rules: Rules) -> Erp:
        return connector.as_erp(rules)

    @pytest.fixture
    def world(self, connector: DynamicsFinanceConnector) -> ErpDeliveryWorld:
        return DynamicsFinanceDeliveryWorld(connector)

    # The contracts below replace the shared ones: F&O refuses, classified and named.
    def test_a_task_is_upserted_by_its_id_and_people_are_assigned(
        self, erp: Erp, world: ErpDeliveryWorld
    ) -> None:
        _, key, project = self._placed(world)
        task = ProjectTask(id=f"{key}-T1", project_id=key, name="Build")
        with pytest.raises(PermanentError, match="project tasks") as refused:
            erp.upsert_task(ErpTask(task=task, project=project))
        assert refused.value.detail == _refused("project tasks (WBS activities)")
        with pytest.raises(PermanentError, match="not supported"):
            erp.task_progress(task.id)
        assignment = Assignment(
            id=f"{key}-A1", project_id=key, resource_id=world.consultant, role="Consultant",
            start_date=DAY, end_date=DAY,
        )  # fmt: skip
        with pytest.raises(PermanentError, match="assigning people"):
            erp.assign(ErpAssignment(assignment=assignment, project=project, legal_entity="DE01"))

    def test_a_vendor_bill_is_posted_once_and_a_keyed_one_maps_back(
        self, erp: Erp, world: ErpDeliveryWorld
    ) -> None:
        ids, key, project = self._placed(world)
        assert erp.vendor(world.vendor_key, world.legal_entity) == world.vendor_key
        assert erp.vendor("VEND-US01-1", world.legal_entity) is None
        assert erp.vendor("VEND-NOBODY", world.legal_entity) is None
        bill = VendorBill(
            id=f"VB-{key}", vendor_id=world.vendor_key, legal_entity=world.legal_entity,
            bill_date=DAY, currency=world.currency, status=VendorBillStatus.OPEN,
            lines=(VendorBillLine(project_id=key, amount=Money.of("900.00", world.currency)),),
        )  # fmt: skip
        request = VendorBillRequest(bill=bill, vendor=world.vendor_key, projects={key: project})
        with pytest.raises(PermanentError) as refused:
            erp.post_vendor_bill(request, ids)
        assert refused.value.detail == _refused("posting vendor bills")
        with pytest.raises(UnsupportedOperationError, match="vendor bill feed"):
            erp.vendor_bills(ids)

    def test_custom_fields_are_written_and_read_in_canonical_names(
        self, erp: Erp, world: ErpDeliveryWorld
    ) -> None:
        # The rules name no F&O field for the firm's fields: F&O carries none of them.
        _, key, project = self._placed(world)
        assert erp.project_field_problems() == {}
        erp.write_project_fields(project, {"delivery_health": "Red"})
        assert erp.project_state(project, key).fields == {}
