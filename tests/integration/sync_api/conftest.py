"""Fixtures for the synchronous API tiers: a running sandbox, its accord.yaml, seeded ERP data.

The sandbox runs in-process (``Sandbox(base_port=0).start_in_thread()``); ``accord.yaml``
comes from :func:`accord_sandbox.accord_config.write_accord_config`, plus two broken
connections (wrong secret, nothing listening) for the error mapping tests. NetSuite seeds no
customers, so the fixture writes two (one on credit hold) and one overdue invoice through the
connector, and links them in the xref.
"""

import datetime as dt
from collections.abc import Iterator

import pytest
import yaml
from tests.integration.sync_api.support import Seeded

from accord.connectors.config import load_connections
from accord.connectors.registry import create_connector
from accord_sandbox.accord_config import write_accord_config
from accord_sandbox.server import Sandbox, SandboxHandle

ADDRESS = {
    "items": [
        {
            "defaultBilling": True,
            "label": "HQ",
            "addressBookAddress": {
                "addr1": "1 Main St",
                "city": "Springfield",
                "zip": "12345",
                "country": "US",
            },
        }
    ]
}


@pytest.fixture(scope="package")
def sandbox() -> Iterator[SandboxHandle]:
    with Sandbox(base_port=0, scenario="small").start_in_thread() as handle:
        yield handle


@pytest.fixture(scope="package")
def seeded(sandbox: SandboxHandle, tmp_path_factory: pytest.TempPathFactory) -> Seeded:
    folder = tmp_path_factory.mktemp("sync_api")
    path = write_accord_config(folder / "accord.yaml", sandbox.urls)
    document = yaml.safe_load(path.read_text(encoding="utf-8"))
    good = document["connections"]["netsuite"]
    document["connections"]["netsuite-badauth"] = {**good, "certificate_id": "not-uploaded"}
    document["connections"]["netsuite-down"] = {
        **good,
        "base_url": "http://127.0.0.1:9/services/rest",
        "timeout_s": 2,
    }
    path.write_text(yaml.safe_dump(document), encoding="utf-8")
    configs = load_connections(path, {})
    today = dt.datetime.now(dt.UTC).date()
    with create_connector(configs["netsuite"]) as ns:
        customer = ns.upsert(
            "customer",
            "cust-acme",
            {
                "companyName": "Acme Corp",
                "subsidiary": {"id": "2"},
                "addressBook": ADDRESS,
                "custentity_accord_tax_region": "US-EAST",
            },
        )
        held = ns.upsert(
            "customer",
            "cust-held",
            {
                "companyName": "Held Inc",
                "subsidiary": {"id": "2"},
                "addressBook": ADDRESS,
                "custentity_accord_tax_region": "US-EAST",
                "creditHoldOverride": {"id": "ON"},
            },
        )
        invoice = ns.upsert(
            "invoice",
            "inv-acme-1",
            {
                "entity": {"id": customer.id},
                # Issued 40 days ago on 30-day terms: overdue today.
                "tranDate": (today - dt.timedelta(days=40)).isoformat(),
                "dueDate": (today - dt.timedelta(days=10)).isoformat(),
                "subsidiary": {"id": "2"},
                "item": {
                    "items": [
                        {
                            "item": {"id": "1"},
                            "quantity": 10,
                            "rate": 150,
                            "amount": 1500,
                            "description": "Consulting",
                        }
                    ]
                },
            },
        )
    with create_connector(configs["salesforce"]) as sf:
        accounts = sf.read_page("Account", limit=5).records
    return Seeded(
        accord_yaml=path,
        ns_customer=customer.id,
        ns_held_customer=held.id,
        ns_invoice=invoice.id,
        sf_accounts=accounts,
    )
