"""The cash-and-billing role contracts (``roles_cash.py``) on every implementation.

Kantata and Certinia as PSAs, NetSuite, Business Central and Dynamics 365 Finance as ERPs,
Salesforce as the CRM,
each over its sandbox emulator.
"""

import datetime as dt
import uuid
from collections.abc import Callable, Iterator
from decimal import Decimal
from typing import Any

import pytest
from tests.contract.roles_cash import (
    WEEK,
    CrmCashContract,
    ErpCashContract,
    ErpWorld,
    PsaCashContract,
    PsaWorld,
    unique,
)
from tests.contract.sandbox_auth import sandbox_connector

from accord.connectors.business_central import BusinessCentralConnector
from accord.connectors.certinia import CertiniaConnector
from accord.connectors.dynamics_finance import DynamicsFinanceConnector
from accord.connectors.dynamics_finance.connector import RESOURCES
from accord.connectors.dynamics_finance.mapping import fo_key
from accord.connectors.kantata import KantataConnector
from accord.connectors.netsuite import NetSuiteConnector
from accord.connectors.roles import AccountReceivables, Crm, Erp, Psa, ReceivableStatus
from accord.connectors.salesforce import SalesforceConnector
from accord.rules import Rules, load_rules
from accord_sandbox.accord_config import default_rules_path
from accord_sandbox.business_central import BusinessCentralEmulator
from accord_sandbox.dynamics_finance import DynamicsFinanceEmulator
from accord_sandbox.kantata import KantataEmulator
from accord_sandbox.netsuite import NetSuiteEmulator
from accord_sandbox.salesforce import SalesforceEmulator
from accord_sandbox.scenario import generate

FIRM = generate("small", 7)


@pytest.fixture(scope="module")
def rules() -> Rules:
    path = default_rules_path()
    assert path is not None
    return load_rules(path)


# --------------------------------------------------------------------------- Kantata
@pytest.fixture(scope="module")
def kantata_url(serve_asgi: Callable[..., Any]) -> Iterator[str]:
    def make_app(base_url: str) -> Any:
        emulator = KantataEmulator(base_url=base_url)
        emulator.seed_firm(FIRM)
        emulator.events.duplicate_rate = 0
        return emulator.app

    with serve_asgi(make_app) as url:
        yield url


class KantataWorld(PsaWorld):
    def __init__(self, connector: KantataConnector) -> None:
        self.kantata = connector

    def project(self, key: str | None) -> str:
        fields = {"title": f"Project {key or uuid.uuid4().hex[:6]}", "currency": "USD"}
        if key is None:
            return self.kantata.create("workspaces", fields).id
        return self.kantata.upsert("workspaces", key, fields).id

    def person(self) -> tuple[str, str]:
        for user in self.kantata.read_page("users").records:
            consultant = self.kantata.describe("users", user).external_id
            if consultant:
                return str(user["id"]), consultant
        raise AssertionError("the sandbox seeds consultants")

    def submitted_timesheet(self, project: str, person: str) -> str:
        entry = {"workspace_id": project, "user_id": person, "time_in_minutes": 90}
        self.kantata.create(
            "time_entries", {**entry, "date_performed": WEEK.isoformat(), "billable": True}
        )
        submission = {"workspace_id": project, "user_id": person, "start_date": WEEK.isoformat()}
        return self.kantata.create("timesheet_submissions", submission).id

    def milestone(self, project: str, key: str) -> str:
        story = {
            "workspace_id": project,
            "title": "Go-live",
            "story_type": "milestone",
            "state": "not started",
            "budget_estimate_in_cents": 250_000,
        }
        return self.kantata.upsert("stories", key, story).id

    def complete(self, milestone: str) -> None:
        self.kantata.update("stories", milestone, {"state": "completed"})

    def invoiced(self, milestone: str, invoice_id: str) -> bool:
        refs = self.kantata.get("stories", milestone).get("external_references") or ()
        return any(
            r.get("service_model") == "invoice" and r.get("service_model_ref") == invoice_id
            for r in refs
        )


class TestKantataPsaCash(PsaCashContract):
    @pytest.fixture
    def connector(self, kantata_url: str) -> Iterator[KantataConnector]:
        with sandbox_connector("kantata", kantata_url, name="kantata") as connector:
            assert isinstance(connector, KantataConnector)
            yield connector

    @pytest.fixture
    def psa(self, connector: KantataConnector, rules: Rules) -> Psa:
        return connector.as_psa(rules)

    @pytest.fixture
    def world(self, connector: KantataConnector) -> PsaWorld:
        return KantataWorld(connector)


# --------------------------------------------------------------------------- Certinia
@pytest.fixture(scope="module")
def salesforce_url(serve_asgi: Callable[..., Any]) -> Iterator[str]:
    def make_app(base_url: str) -> Any:
        emulator = SalesforceEmulator(base_url=base_url)
        emulator.seed_firm(FIRM)
        return emulator.app

    with serve_asgi(make_app) as url:
        yield url


class CertiniaWorld(PsaWorld):
    def __init__(self, connector: CertiniaConnector) -> None:
        self.certinia = connector

    def project(self, key: str | None) -> str:
        fields = {"Name": f"Project {key or uuid.uuid4().hex[:6]}", "CurrencyIsoCode": "USD"}
        if key is None:
            return self.certinia.create("pse__Proj__c", fields).id
        return self.certinia.upsert("pse__Proj__c", key, fields).id

    def person(self) -> tuple[str, str]:
        contacts = self.certinia.read_page("Contact").records
        contact = next(c for c in contacts if c.get("Accord_Id__c"))
        return str(contact["Id"]), str(contact["Accord_Id__c"])

    def submitted_timesheet(self, project: str, person: str) -> str:
        card = {
            "pse__Resource__c": person,
            "pse__Project__c": project,
            "pse__Start_Date__c": WEEK.isoformat(),
            "pse__Status__c": "Submitted",
            "pse__Monday_Hours__c": 1.5,
        }
        return self.certinia.create("pse__Timecard_Header__c", card).id

    def milestone(self, project: str, key: str) -> str:
        fields = {
            "Name": "Go-live",
            "pse__Project__c": project,
            "pse__Milestone_Amount__c": 2500.0,
            "pse__Status__c": "Planned",
            "CurrencyIsoCode": "USD",
        }
        return self.certinia.upsert("pse__Milestone__c", key, fields).id

    def complete(self, milestone: str) -> None:
        self.certinia.update("pse__Milestone__c", milestone, {"pse__Status__c": "Approved"})

    def invoiced(self, milestone: str, invoice_id: str) -> bool:
        del invoice_id  # a Certinia milestone has no field for it
        return self.certinia.get("pse__Milestone__c", milestone).get("pse__Invoiced__c") is True


class TestCertiniaPsaCash(PsaCashContract):
    @pytest.fixture
    def connector(self, salesforce_url: str) -> Iterator[CertiniaConnector]:
        with sandbox_connector("certinia", salesforce_url, name="certinia") as connector:
            assert isinstance(connector, CertiniaConnector)
            yield connector

    @pytest.fixture
    def psa(self, connector: CertiniaConnector, rules: Rules) -> Psa:
        return connector.as_psa(rules)

    @pytest.fixture
    def world(self, connector: CertiniaConnector) -> PsaWorld:
        return CertiniaWorld(connector)


# --------------------------------------------------------------------------- NetSuite
@pytest.fixture(scope="module")
def netsuite_url(serve_asgi: Callable[..., Any]) -> Iterator[str]:
    def make_app(base_url: str) -> Any:
        emulator = NetSuiteEmulator(base_url=base_url)
        emulator.seed_firm(FIRM)
        return emulator.app

    with serve_asgi(make_app) as url:
        yield url


class NetSuiteWorld(ErpWorld):
    legal_entity = "US01"
    currency = "USD"
    has_payment_feed = True
    subsidiary = "2"

    def __init__(self, connector: NetSuiteConnector) -> None:
        self.netsuite = connector

    def customer(self, key: str) -> str:
        fields = {"companyName": f"Customer {key}", "subsidiary": {"id": self.subsidiary}}
        return self.netsuite.upsert("customer", key, fields).id

    def project(self, customer: str, key: str) -> str:
        fields = {
            "companyName": f"Project {key}",
            "parent": {"id": customer},
            "subsidiary": {"id": self.subsidiary},
        }
        return self.netsuite.upsert("job", f"PRJ-{key}", fields).id

    def plan_line(self, project: str, milestone_id: str, amount: Decimal) -> str:
        line = {
            "item": {"id": "1"},
            "description": f"{milestone_id}: Go-live",
            "quantity": 1,
            "rate": float(amount),
            "amount": float(amount),
            "job": {"id": project},
        }
        order = {
            "entity": {"id": project},
            "subsidiary": {"id": self.subsidiary},
            "tranDate": WEEK.isoformat(),
            "item": {"items": [line]},
        }
        return f"{self.netsuite.upsert('salesOrder', f'SO-{milestone_id}', order).id}:1"

    def posted_invoice(self, customer: str, amount: Decimal) -> str:
        line = {"item": {"id": "1"}, "quantity": 1, "rate": float(amount)}
        invoice = {
            "entity": {"id": customer},
            "tranDate": dt.datetime.now(dt.UTC).date().isoformat(),
            "item": {"items": [line]},
        }
        return self.netsuite.create("invoice", invoice).id

    def pay(self, invoice: str, customer: str, amount: Decimal) -> str:
        application = {"doc": {"id": invoice}, "apply": True, "amount": float(amount)}
        payment = {
            "customer": {"id": customer},
            "payment": float(amount),
            "tranDate": dt.datetime.now(dt.UTC).date().isoformat(),
            "apply": {"items": [application]},
        }
        return self.netsuite.create("customerPayment", payment).id


class TestNetSuiteErpCash(ErpCashContract):
    @pytest.fixture
    def connector(self, netsuite_url: str) -> Iterator[NetSuiteConnector]:
        with sandbox_connector("netsuite", netsuite_url, name="netsuite") as connector:
            assert isinstance(connector, NetSuiteConnector)
            yield connector

    @pytest.fixture
    def erp(self, connector: NetSuiteConnector, rules: Rules) -> Erp:
        return connector.as_erp(rules)

    @pytest.fixture
    def world(self, connector: NetSuiteConnector) -> ErpWorld:
        return NetSuiteWorld(connector)


# --------------------------------------------------------------------------- Business Central
@pytest.fixture(scope="module")
def business_central_url(serve_asgi: Callable[..., Any]) -> Iterator[str]:
    def make_app(base_url: str) -> Any:
        emulator = BusinessCentralEmulator(base_url=base_url)
        emulator.seed_firm(FIRM)
        return emulator.app

    with serve_asgi(make_app) as url:
        yield url


class BusinessCentralWorld(ErpWorld):
    legal_entity = "DE01"
    currency = "EUR"
    has_payment_feed = False

    def __init__(self, connector: BusinessCentralConnector) -> None:
        self.company = connector.for_company(self.legal_entity)

    def customer(self, key: str) -> str:
        fields = {
            "displayName": f"Customer {key}",
            "addressLine1": "Domkloster 4",
            "city": "Köln",
            "country": "DE",
            "currencyCode": "EUR",
        }
        self.company.upsert("customers", key, fields)
        return key

    def project(self, customer: str, key: str) -> str:
        number = f"P{key}"[:20]
        self.company.upsert(
            "projects", number, {"displayName": f"Project {key}", "customerNumber": customer}
        )
        return number

    def plan_line(self, project: str, milestone_id: str, amount: Decimal) -> str:
        number = f"L{uuid.uuid4().hex[:12]}".upper()
        line = {
            "projectNumber": project,
            "lineType": "Billable",
            "planningDate": WEEK.isoformat(),
            "description": f"{milestone_id}: Go-live",
            "quantity": 1,
            "unitPrice": float(amount),
            "lineAmount": float(amount),
            "currencyCode": self.currency,
        }
        self.company.upsert("projectPlanningLines", number, line)
        return number

    def posted_invoice(self, customer: str, amount: Decimal) -> str:
        line = {
            "lineType": "Item",
            "lineObjectNumber": "SERVICES",
            "description": "Work",
            "quantity": 1,
            "unitPrice": amount,
        }
        draft = self.company.create(
            "salesInvoices",
            {
                "customerNumber": customer,
                "invoiceDate": dt.datetime.now(dt.UTC).date().isoformat(),
                "salesInvoiceLines": [{**line, "unitPrice": float(amount)}],
            },
        )
        assert self.company.post_sales_invoice(draft.id)
        return draft.id


class TestBusinessCentralErpCash(ErpCashContract):
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
            # BC posts an invoice line of a quantity only with an item (the sandbox's SERVICES).
            milestone_line_object="SERVICES",
        ) as connector:
            assert isinstance(connector, BusinessCentralConnector)
            yield connector

    @pytest.fixture
    def erp(self, connector: BusinessCentralConnector, rules: Rules) -> Erp:
        return connector.as_erp(rules)

    @pytest.fixture
    def world(self, connector: BusinessCentralConnector) -> ErpWorld:
        return BusinessCentralWorld(connector)


# ----------------------------------------------------------------- Dynamics 365 Finance
@pytest.fixture(scope="module")
def d365_url(serve_asgi: Callable[..., Any]) -> Iterator[str]:
    def make_app(base_url: str) -> Any:
        emulator = DynamicsFinanceEmulator(base_url=base_url)
        emulator.seed_firm(FIRM)
        return emulator.app

    with serve_asgi(make_app) as url:
        yield url


class DynamicsFinanceWorld(ErpWorld):
    legal_entity = "DE01"
    currency = "EUR"
    has_payment_feed = False

    def __init__(self, connector: DynamicsFinanceConnector) -> None:
        self.company = connector.for_company(self.legal_entity)

    def customer(self, key: str) -> str:
        fields = {
            "OrganizationName": f"Customer {key}",
            "CustomerGroupId": "10",
            "AddressStreet": "Domkloster 4",
            "AddressCity": "Köln",
            "AddressCountryRegionId": "DEU",
        }
        self.company.upsert("CustomersV3", key, fields)
        return key

    def project(self, customer: str, key: str) -> str:
        number = f"P{key}"[:20]
        self.company.upsert(
            "ProjectContractHeaders",
            number,
            {"Name": f"Contract {key}", "CustomerAccountNumber": customer},
        )
        self.company.upsert(
            "Projects",
            number,
            {
                "ProjectName": f"Project {key}",
                "ProjectContractID": number,
                "ProjectType": "FixedPrice",
                "ProjectStage": "InProcess",
            },
        )
        return number

    def plan_line(self, project: str, milestone_id: str, amount: Decimal) -> str:
        line = {
            "ProjectID": project,
            "Description": "Go-live",
            "TransactionDate": f"{WEEK.isoformat()}T12:00:00Z",
            "Quantity": 1,
            "SalesPrice": float(amount),
            "IsMilestone": "Yes",
        }
        return self.company.upsert("ProjectOnAccountTransactions", fo_key(milestone_id), line).id

    def posted_invoice(self, customer: str, amount: Decimal) -> str:
        header = self.company.insert(
            "FreeTextInvoiceHeaders",
            {"CustomerAccount": customer, "CustomersOrderReference": unique("REF")},
        )
        identifier = header["InvoiceIdentifier"]
        self.company.insert(
            "FreeTextInvoiceLines",
            {
                "InvoiceIdentifier": identifier,
                "Description": "Work",
                "MainAccountDisplayValue": "401100",
                "Quantity": 1,
                "UnitPrice": float(amount),
            },
        )
        header_id = self.company.describe("FreeTextInvoiceHeaders", header).id
        self.company.action("FreeTextInvoiceHeaders", header_id, "PostInvoice")
        number = self.company.get("FreeTextInvoiceHeaders", header_id)["InvoiceNumber"]
        return self.company.record_id(RESOURCES["SalesInvoiceHeadersV2"], {"InvoiceNumber": number})


def d365_connector(url: str) -> Iterator[DynamicsFinanceConnector]:
    """The sandbox's D365 connection (DE01's company by default), for a fixture to yield from."""
    with sandbox_connector(
        "dynamics_finance",
        url,
        name="dynamics-finance",
        company="de01",
        companies={e.code: e.code.lower() for e in FIRM.legal_entities},
        dimension_delimiter="|",
    ) as connector:
        assert isinstance(connector, DynamicsFinanceConnector)
        yield connector


class TestDynamicsFinanceErpCash(ErpCashContract):
    @pytest.fixture
    def connector(self, d365_url: str) -> Iterator[DynamicsFinanceConnector]:
        yield from d365_connector(d365_url)

    @pytest.fixture
    def erp(self, connector: DynamicsFinanceConnector, rules: Rules) -> Erp:
        return connector.as_erp(rules)

    @pytest.fixture
    def world(self, connector: DynamicsFinanceConnector) -> ErpWorld:
        return DynamicsFinanceWorld(connector)


# =============================================================================== CRM
class TestSalesforceCrmCash(CrmCashContract):
    @pytest.fixture
    def connector(self, salesforce_url: str) -> Iterator[SalesforceConnector]:
        with sandbox_connector("salesforce", salesforce_url, name="salesforce") as connector:
            assert isinstance(connector, SalesforceConnector)
            yield connector

    @pytest.fixture
    def crm(self, connector: SalesforceConnector, rules: Rules) -> Crm:
        return connector.as_crm(rules)

    @pytest.fixture
    def account(self, connector: SalesforceConnector) -> str:
        return connector.create("Account", {"Name": f"Account {unique('A')}"}).id

    @pytest.fixture
    def read_back(self, connector: SalesforceConnector) -> Callable[[str], AccountReceivables]:
        statuses = {"Current": "current", "Overdue": "overdue", "Paid": "paid"}

        def read(account: str) -> AccountReceivables:
            fields = connector.get("Account", account)
            paid = fields.get("Last_Payment_Date__c")
            return AccountReceivables(
                status=ReceivableStatus(statuses[str(fields["AR_Status__c"])]),
                balance=Decimal(str(fields["AR_Balance__c"])),
                last_invoice_number=fields.get("Last_Invoice_Number__c"),
                payment_date=dt.date.fromisoformat(str(paid)) if paid else None,
            )

        return read
