"""The shipped connector contract, run against the Business Central emulator (plus BC specifics)."""

import uuid
from collections.abc import Callable, Iterator
from decimal import Decimal
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from accord.connectors.business_central import BusinessCentralConfig, BusinessCentralConnector
from accord.connectors.business_central.mapping import (
    BusinessCentralLookups,
    bc_number,
    journal_line_from_time_entry,
    sales_invoice_to_canonical,
)
from accord.connectors.testing import (
    ConnectorContract,
    ConnectorFactory,
    LiveTenant,
    SandboxControl,
)
from accord.domain import InvoiceStatus, Money, TimeEntry
from accord.errors import AuthError, ConflictError, RetryableError
from accord_sandbox.business_central import BusinessCentralEmulator
from accord_sandbox.credentials import private_key_pem, self_signed_certificate
from accord_sandbox.scenario import generate

FIRM = generate("small", 7)
COMPANIES = {e.code: e.bc_company_id for e in FIRM.legal_entities}
DE01 = COMPANIES["DE01"]
US01 = COMPANIES["US01"]


@pytest.fixture(scope="module")
def served(serve_asgi: Callable[..., Any]) -> Iterator[tuple[str, BusinessCentralEmulator]]:
    emulators: list[BusinessCentralEmulator] = []

    def make_app(base_url: str) -> Any:
        emulator = BusinessCentralEmulator(base_url=base_url)
        emulator.seed_firm(FIRM)
        emulators.append(emulator)
        return emulator.app

    with serve_asgi(make_app) as url:
        yield url, emulators[0]


@pytest.fixture(scope="module")
def emulator_url(served: tuple[str, BusinessCentralEmulator]) -> str:
    return served[0]


@pytest.fixture
def control(emulator_url: str) -> Iterator[SandboxControl]:
    with httpx.Client(base_url=emulator_url, timeout=10) as client:
        yield SandboxControl(client)


@pytest.fixture
def factory(emulator_url: str) -> ConnectorFactory:
    def make(*, budget: Any = None, **overrides: Any) -> BusinessCentralConnector:
        settings: dict[str, Any] = {
            "name": "bc-test",
            "tenant": "sandbox-tenant",
            "environment": "production",
            "company_id": DE01,
            "companies": COMPANIES,
            "api_host": emulator_url,
            "login_host": emulator_url,
            "client_id": "sandbox",
            "client_secret": "sandbox-secret",
            "timeout_s": 10,
            **overrides,
        }
        config = BusinessCentralConfig.model_validate(settings)
        return BusinessCentralConnector(config, budget=budget)

    return make


def customer(external_id: str) -> dict[str, Any]:
    return {
        "displayName": f"Customer {external_id}",
        "addressLine1": "Domkloster 4",
        "city": "Köln",
        "country": "DE",
        "currencyCode": "EUR",
    }


class TestBusinessCentralContract(ConnectorContract):
    modification_resolution_s = 0.01  # lastModifiedDateTime has milliseconds

    @pytest.fixture
    def sandbox(self, control: SandboxControl) -> SandboxControl:
        return control

    @pytest.fixture
    def make_connector(self, factory: ConnectorFactory) -> ConnectorFactory:
        return factory

    @pytest.fixture
    def fault_path(self) -> str:
        return "/v2.0/*/companies(*"

    @pytest.fixture
    def missing_id(self) -> str:
        return str(uuid.uuid4())

    @pytest.fixture
    def resource(self) -> str:
        return "customers"

    @pytest.fixture
    def make_record(self) -> Callable[[str], dict[str, Any]]:
        return customer

    @pytest.fixture
    def bad_credentials(self) -> dict[str, Any]:
        return {"client_secret": "wrong-secret"}

    @pytest.fixture
    def business_rule_violation(self) -> Callable[[Any], object]:
        def violate(connector: BusinessCentralConnector) -> object:
            connector.upsert("customers", "ACC-BR-CUST", customer("ACC-BR-CUST"))
            return connector.upsert(
                "projects",
                "ACC-BR-PRJ",
                {
                    "displayName": "Bad dimension",
                    "customerNumber": "ACC-BR-CUST",
                    "departmentCode": "NO-SUCH-DEPT",
                },
            )

        return violate

    @pytest.fixture
    def conflict_violation(self) -> Callable[[Any], object]:
        def conflict(connector: BusinessCentralConnector) -> object:
            written = connector.upsert("customers", "ACC-ETAG-1", customer("ACC-ETAG-1"))
            connector.update("customers", written.id, {"city": "Bonn"}, etag=written.etag)
            return connector.update("customers", written.id, {"city": "Kiel"}, etag=written.etag)

        return conflict


class TestBusinessCentralLive(LiveTenant, TestBusinessCentralContract):
    """The same contract against a real Business Central tenant (``pytest -m live``)."""

    kind = "business_central"


def test_retried_create_after_lost_response_finds_the_first(
    factory: ConnectorFactory, control: SandboxControl
) -> None:
    control.reset()
    with factory() as conn:
        conn.check()
        control.add_fault(method="POST", path="*/customers", lose_response_rate=1.0)
        with pytest.raises(RetryableError) as caught:
            conn.upsert("customers", "ACC-LOST-1", customer("ACC-LOST-1"))
        assert caught.value.status_code == 504
        control.clear_faults()
        retried = conn.upsert("customers", "ACC-LOST-1", customer("ACC-LOST-1"))
        found = conn.get_by_external_id("customers", "ACC-LOST-1")
    assert retried.created is False
    assert found is not None
    assert found["id"] == retried.id
    assert control.duplicates() == 0


def test_duplicate_number_is_a_conflict(factory: ConnectorFactory, control: SandboxControl) -> None:
    control.reset()
    with factory() as conn:
        conn.upsert("customers", "ACC-DUP-1", customer("ACC-DUP-1"))
        with pytest.raises(ConflictError) as caught:
            conn.create("customers", {**customer("ACC-DUP-1"), "number": "ACC-DUP-1"})
    assert caught.value.code == "Internal_EntityWithSameKeyExists"


def test_companies_are_addressed_per_call(
    factory: ConnectorFactory, control: SandboxControl
) -> None:
    control.reset()
    with factory(company_id=US01) as conn:
        us = conn.upsert("customers", "ACC-CO-1", {**customer("ACC-CO-1"), "currencyCode": "USD"})
        de = conn.for_company("DE01")
        assert de.get_by_external_id("customers", "ACC-CO-1") is None
        written = de.upsert("customers", "ACC-CO-1", customer("ACC-CO-1"))
        assert written.id != us.id
        assert conn.get_by_external_id("customers", "ACC-CO-1")["id"] == us.id  # type: ignore[index]


def test_time_to_journal_and_invoice_post(
    factory: ConnectorFactory, control: SandboxControl
) -> None:
    control.reset()
    lookups = BusinessCentralLookups(
        legal_entity="DE01",
        resources={"EMP-0007": "EMP-0007"},
        records={"customers": {"cust-1": "ACC-CUST-1"}, "projects": {"prj-1": "ACC-PRJ-1"}},
    )
    entry = TimeEntry(
        id="kantata:4711",
        project_id="prj-1",
        resource_id="EMP-0007",
        date="2026-09-01",
        hours=Decimal("7.5"),
        billable=True,
        bill_rate=Money.of(Decimal(180), "EUR"),
    )
    with factory() as conn:
        conn.upsert("customers", "ACC-CUST-1", customer("ACC-CUST-1"))
        conn.upsert(
            "projects",
            "ACC-PRJ-1",
            {"displayName": "Data platform", "customerNumber": "ACC-CUST-1"},
        )
        line = journal_line_from_time_entry(entry, lookups=lookups)
        number = bc_number(entry.id)
        control.add_fault(method="POST", path="*/journalLines", lose_response_rate=1.0)
        with pytest.raises(RetryableError):
            conn.upsert("journalLines", number, line)
        control.clear_faults()
        again = conn.upsert("journalLines", number, line)
        assert again.created is False
        assert control.duplicates() == 0
        assert conn.post_journal("time") is True
        assert conn.post_journal("time") is False  # nothing left: a retried post is harmless

        invoice = conn.upsert(
            "salesInvoices",
            "SF-INV-1",
            {
                "customerNumber": "ACC-CUST-1",
                "invoiceDate": "2026-09-30",
                "salesInvoiceLines": [
                    {
                        "lineType": "Resource",
                        "lineObjectNumber": "EMP-0007",
                        "quantity": 7.5,
                        "unitPrice": 180,
                    }
                ],
            },
        )
        assert conn.post_sales_invoice(invoice.id) is True
        assert conn.post_sales_invoice(invoice.id) is False
        record = conn.get("salesInvoices", invoice.id)
        repeat = conn.upsert("salesInvoices", "SF-INV-1", {"customerNumber": "ACC-CUST-1"})
    canonical = sales_invoice_to_canonical(record, lookups=lookups, company_currency="EUR")
    assert canonical.status is InvoiceStatus.POSTED
    assert canonical.total == Money.of(Decimal(1350), "EUR")
    assert canonical.customer_id == "cust-1"
    assert repeat.created is False
    assert repeat.id == invoice.id


def test_certificate_credential_end_to_end(
    factory: ConnectorFactory, served: tuple[str, BusinessCentralEmulator]
) -> None:
    """The connector's client assertion, verified by the emulator against the uploaded cert."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    cert = self_signed_certificate(key, common_name="accord-bc")
    credential = {"client_secret": None, "certificate": cert, "private_key": private_key_pem(key)}
    with factory(**credential) as conn, pytest.raises(AuthError) as caught:
        conn.check()  # not uploaded to the app registration yet
    assert caught.value.code == "invalid_client"
    served[1].entra.app.upload_certificate(cert)
    with factory(**credential) as conn:
        conn.check()
        assert conn.config.authentication.endswith("(PS256 certificate)")
