"""Customer master's pure parts: the ``customer_master:`` section and the field comparisons."""

from pathlib import Path

import pytest

from accord.connectors.business_central.masters import CARRIED as BC_CARRIED
from accord.connectors.netsuite.masters import CARRIED as NETSUITE_CARRIED
from accord.connectors.netsuite.masters import customer_view
from accord.domain import Address, Customer
from accord.errors import ConfigError
from accord.flows.customer_master import views
from accord.flows.customer_master.settings import CustomerMasterSettings, load_settings
from accord.rules import load_rules

RULES = Path(__file__).resolve().parents[3] / "rules" / "default.yaml"


def test_settings_default_to_raise_and_lead_to_project_polling(tmp_path: Path) -> None:
    assert load_settings(None) == CustomerMasterSettings(erp_drift="raise")
    path = tmp_path / "accord.yaml"
    path.write_text("connections: {}\n", encoding="utf-8")
    assert load_settings(path).capture_interval_s is None
    path.write_text("customer_master: {erp_drift: revert, capture_interval_s: 0}\n")
    assert load_settings(path) == CustomerMasterSettings(erp_drift="revert", capture_interval_s=0)


@pytest.mark.parametrize("section", ["{erp_drift: ignore}", "{capture_interval_s: -1}", "[revert]"])
def test_bad_settings_are_refused(tmp_path: Path, section: str) -> None:
    path = tmp_path / "accord.yaml"
    path.write_text(f"customer_master: {section}\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="customer_master"):
        load_settings(path)


def test_default_ownership_propagates_name_parent_bill_to_and_tax_region() -> None:
    owned = views.crm_owned(load_rules(RULES))
    assert owned == ("name", "parent_id", "bill_to", "tax_region")
    assert views.omitted(owned) == {"currency", "legal_entity", "active"}
    assert views.compared_fields(NETSUITE_CARRIED, owned) == (
        "name",
        "parent_id",
        "bill_to",
        "tax_region",
    )
    assert views.compared_fields(BC_CARRIED, owned) == ("name", "bill_to")


def test_an_erp_record_compares_equal_to_its_crm_customer() -> None:
    customer = Customer(
        id="SF-1",
        name="Acme",
        parent_id="SF-0",
        legal_entity="US01",
        bill_to=Address(line1="1 Main St", city="Springfield", country="US"),
        tax_region="US-EAST",
        currency="USD",
    )
    record = {
        "companyName": "Acme",
        "parent": {"id": "7", "refName": "Acme Group"},
        "custentity_accord_tax_region": "US-EAST",
        "addressBook": {
            "items": [
                {
                    "defaultBilling": True,
                    "addressBookAddress": {
                        "addr1": "1 Main St",
                        "addr2": None,
                        "city": "Springfield",
                        "state": "",
                        "country": "US",
                    },
                }
            ]
        },
    }
    fields = ("name", "parent_id", "bill_to")
    expected = views.expected_view(NETSUITE_CARRIED, customer, "7")
    assert views.diff(views.erp_view(customer_view(record)), expected, fields) == {}
    record["companyName"] = "Acme (billing)"
    assert views.diff(views.erp_view(customer_view(record)), expected, fields) == {
        "name": {"erp": "Acme (billing)", "crm": "Acme"}
    }
    assert views.diff(views.erp_view(customer_view(record)), expected, ("bill_to",)) == {}
