"""The setup kit's declarations agree with what Accord's code uses and with the sandbox.

The sandbox emulators behave like systems set up with the kit (the connectors' contract and
end-to-end tests run against them), so a declared field must exist there, and every custom
field or page the code reads or writes must be declared. A connector that starts using a new
custom field fails here until its package's ``requirements.py`` declares it.
"""

import re
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from accord.connectors.business_central.connector import RESOURCES as BC_RESOURCES
from accord.connectors.business_central.requirements import REQUIREMENTS as BC
from accord.connectors.certinia.connector import OBJECTS as CERTINIA_OBJECTS
from accord.connectors.certinia.requirements import REQUIREMENTS as CERTINIA
from accord.connectors.netsuite.requirements import REQUIREMENTS as NETSUITE
from accord.connectors.requirements import Access, FieldType, requirements_for
from accord.connectors.salesforce.connector import OBJECTS as SALESFORCE_OBJECTS
from accord.connectors.salesforce.requirements import EXTERNAL_ID, SF_TYPES
from accord.connectors.salesforce.requirements import REQUIREMENTS as SALESFORCE
from accord.resources import default_rules_path
from accord.rules import load_rules
from accord.setupkit import firm_picklists, write_setup_kit
from accord_sandbox.business_central.entities import ENTITY_SETS, EXTENSION_FIELDS
from accord_sandbox.netsuite.records import CUSTOM_FIELDS
from accord_sandbox.salesforce.schema import build_schema

SRC = Path(__file__).resolve().parents[3] / "src" / "accord"
ORG = {(f.record, f.name): f for f in (*SALESFORCE.fields, *CERTINIA.fields)}
_SF_FIELD = re.compile(r"\b[A-Z][A-Za-z0-9]*(?:_[A-Za-z0-9]+)*__c\b")
_NS_FIELD = re.compile(r"\bcust(?:entity|col|body|item|record)_[a-z0-9_]+\b")
_EXAMPLES = {"Custom__c"}
"""Names the code mentions as examples, not fields it uses (a config error message)."""
STANDARD_BC_SETS = {
    "companies",
    "customers",
    "salesInvoices",
    "salesInvoiceLines",
    "customerPaymentJournals",
    "customerPayments",
    "dimensions",
    "dimensionValues",
    "accountingPeriods",
    "currencies",
    "currencyExchangeRates",
    "employees",
    "generalLedgerEntries",
    "timeRegistrationEntries",
    "vendors",
}
"""Entity sets of the standard API v2.0 the connector uses as they are (reference 5.4)."""


def _code_tokens(pattern: re.Pattern[str]) -> set[str]:
    """Tokens in Accord's code, the declarations and generators themselves left out."""
    found: set[str] = set()
    for path in SRC.rglob("*.py"):
        if path.name in ("requirements.py", "kit.py"):
            continue
        found |= set(pattern.findall(path.read_text(encoding="utf-8")))
    return found


def _read_pairs():
    """(object, field) of every custom field the Salesforce and Certinia connectors read."""
    schema = build_schema()
    pairs = set()
    for objects in (SALESFORCE_OBJECTS, CERTINIA_OBJECTS):
        for name, spec in objects.items():
            external = EXTERNAL_ID if spec.external_id is True else spec.external_id
            for path in (*spec.fields, *([external] if external else [])):
                target = schema.objects[name]
                *relationships, field = path.split(".")
                for rel in relationships:
                    target = schema.objects[target.relationship(rel).reference_to[0]]
                if field.endswith("__c") and not field.startswith("pse__"):
                    pairs.add((target.name, field))
    return pairs


def test_every_field_the_connectors_read_is_declared_on_its_object():
    missing = _read_pairs() - set(ORG)
    assert not missing, f"declare these in a requirements.py: {sorted(missing)}"


def test_every_custom_field_named_in_the_code_is_declared_and_none_is_stale():
    used = {t for t in _code_tokens(_SF_FIELD) if not t.startswith("pse__")} - _EXAMPLES
    declared = {name for _, name in ORG}
    assert used - declared == set(), "used but not declared"
    assert declared - used == set(), "declared but no longer used"
    assert _code_tokens(_NS_FIELD) == {f.name for f in NETSUITE.fields}


def test_declared_org_fields_exist_in_the_sandbox_org_with_their_types():
    schema = build_schema()
    for (record, name), want in ORG.items():
        found = schema.objects[record].fields.get(name)
        assert found is not None, f"{record}.{name} is not in the sandbox org"
        assert found.type == SF_TYPES[want.type], f"{record}.{name}"
        assert found.external_id == want.external_id, f"{record}.{name}"


def test_the_sandbox_netsuite_account_has_the_declared_fields():
    emulated = {(record, name) for record, names in CUSTOM_FIELDS.items() for name in names}
    assert emulated == {(f.record, f.name) for f in NETSUITE.fields}


def test_business_central_pages_cover_what_the_connector_and_the_sandbox_use():
    pages = {p.entity_set: p for p in BC.pages}
    assert set(BC_RESOURCES) - STANDARD_BC_SETS <= set(pages)
    for entity_set, page in pages.items():
        sandbox = {p.name for p in ENTITY_SETS[entity_set].props}
        declared = {f.name for f in page.fields}
        assert declared <= sandbox, f"{entity_set}: not served by the sandbox"
        assert set(EXTENSION_FIELDS.get(entity_set, ())) <= declared, entity_set
        if entity_set not in STANDARD_BC_SETS | {"projects", "journals", "journalLines"}:
            assert declared == sandbox, f"{entity_set}: the page is the sandbox's whole set"
    assert pages["journalLines"].parent == "journals"
    assert "post" in pages["journals"].actions


def test_every_kind_resolves_its_declaration():
    for kind in ("salesforce", "certinia", "netsuite", "kantata", "business_central"):
        assert requirements_for(kind).kind == kind


@pytest.fixture(scope="module")
def kit(tmp_path_factory):
    out = tmp_path_factory.mktemp("kit")
    rules = load_rules(default_rules_path())
    kinds = ["salesforce", "certinia", "netsuite", "business_central", "kantata"]
    write_setup_kit(out, kinds, rules=rules)
    return out, firm_picklists(rules)


def test_the_sfdx_source_declares_every_field_and_permission(kit):
    out, picklists = kit
    ns = {"m": "http://soap.sforce.com/2006/04/metadata"}
    objects = out / "salesforce" / "force-app" / "main" / "default" / "objects"
    files = {
        (p.parents[1].name, p.name.removesuffix(".field-meta.xml")): p
        for p in objects.rglob("*.xml")
    }
    assert set(files) == set(ORG)
    for key, path in files.items():
        root = ET.parse(path).getroot()
        want = ORG[key]
        assert root.findtext("m:fullName", namespaces=ns) == want.name
        assert root.findtext("m:externalId", namespaces=ns) == str(want.external_id).lower()
        if want.type is FieldType.PICKLIST:
            values = [
                v.findtext("m:fullName", namespaces=ns) for v in root.iter(f"{{{ns['m']}}}value")
            ]
            expected = picklists[want.values_from] if want.values_from else want.values
            assert values == list(expected), key
    perms = out / "salesforce" / "force-app" / "main" / "default" / "permissionsets"
    root = ET.parse(perms / "Accord_Integration.permissionset-meta.xml").getroot()
    editable = {
        p.findtext("m:field", namespaces=ns): p.findtext("m:editable", namespaces=ns)
        for p in root.findall("m:fieldPermissions", ns)
    }
    assert editable == {
        f"{r}.{n}": str(f.access is Access.WRITE).lower() for (r, n), f in ORG.items()
    }


def test_the_sdf_objects_and_the_al_pages_match_the_declarations(kit):
    out, _ = kit
    objects = out / "netsuite" / "src" / "Objects"
    assert {ET.parse(p).getroot().get("scriptid") for p in objects.glob("*.xml")} == {
        f.name for f in NETSUITE.fields
    }
    pages = {}
    for path in (out / "business_central" / "src").glob("*.Page.al"):
        text = path.read_text(encoding="utf-8")
        entity_set = re.search(r"EntitySetName = '(\w+)';", text)[1]
        pages[entity_set] = set(re.findall(r"field\((\w+);", text))
    assert pages == {p.entity_set: {f.name for f in p.fields} for p in BC.pages}
    table_ext = (out / "business_central" / "src" / "AccordJob.TableExt.al").read_text()
    assert '"Accord Billing Model"; Text[30]' in table_ext
    assert "Kantata" not in {p.name for p in out.iterdir()}
    assert "kantata" in (out / "README.md").read_text()
