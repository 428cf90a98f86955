import pytest

from accord.connectors.ownership import (
    DEFAULT_OWNERSHIP,
    ObjectOwnership,
    OwnershipSpec,
    SystemRole,
    filter_outbound,
    role_of,
)

CUSTOMER = {
    "id": "C1",
    "name": "Acme",
    "parent_id": None,
    "industry": "Tech",
    "tax_region": "US-CA",
    "currency": "USD",
    "legal_entity": "US01",
}
PROJECT = {
    "id": "P1",
    "name": "Acme rollout",
    "status": "active",
    "start_date": "2025-01-01",
    "customer_id": "C1",
    "billing_model": "fixed_fee",
}


def test_roles() -> None:
    assert role_of("netsuite") is SystemRole.ERP
    assert role_of("kantata") is SystemRole.PSA
    assert role_of("salesforce") is SystemRole.CRM
    assert role_of("erp") is SystemRole.ERP
    with pytest.raises(ValueError, match="unknown system"):
        role_of("sap")


def test_psa_write_never_overwrites_crm_customer_fields() -> None:
    out = filter_outbound("customer", CUSTOMER, target="netsuite", source="kantata")
    assert set(out) == {"id"}


def test_crm_customer_fields_reach_psa_and_erp_but_not_erp_owned_ones() -> None:
    out = filter_outbound("customer", CUSTOMER, target="kantata", source="salesforce")
    assert set(out) == {"id", "name", "parent_id", "industry", "tax_region"}


def test_erp_write_never_changes_psa_project_fields() -> None:
    out = filter_outbound("project", PROJECT, target="certinia", source="netsuite")
    assert out == {"id": "P1"}


def test_target_owned_fields_dropped_without_source() -> None:
    out = filter_outbound("project", PROJECT, target="kantata")
    assert set(out) == {"id", "customer_id", "billing_model"}


def test_owner_writing_its_own_fields_keeps_them() -> None:
    out = filter_outbound("project", PROJECT, target="kantata", source="kantata")
    assert set(out) == {"id", "name", "status", "start_date"}


def test_erp_receives_psa_time_entries() -> None:
    entry = {"id": "T1", "hours": "8", "date": "2025-01-02", "billable": True}
    assert filter_outbound("time_entry", entry, target="netsuite", source="kantata") == entry


def test_configured_spec_overrides_defaults() -> None:
    spec = OwnershipSpec(objects={"customer": ObjectOwnership(default=SystemRole.ERP)})
    out = filter_outbound("customer", CUSTOMER, target="salesforce", source="netsuite", spec=spec)
    assert out == CUSTOMER
    assert DEFAULT_OWNERSHIP.owner("customer", "name") is SystemRole.CRM
    assert DEFAULT_OWNERSHIP.owner("unknown_object", "x") is None
