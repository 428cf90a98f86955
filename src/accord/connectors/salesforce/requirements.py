"""The custom fields Accord reads and writes on the Salesforce CRM, and their live check.

:data:`REQUIREMENTS` is the one declaration the setup kit (SFDX source and a permission set),
``accord doctor`` and the declaration test are derived from (see
:mod:`accord.connectors.requirements`). :func:`verify_org` is shared with Certinia, whose
objects live on the same org: it reads ``GET /sobjects/{X}/describe`` as the integration user,
so a field the user cannot see is reported as missing, and one it cannot edit as read-only.
"""

from typing import Any

from accord.connectors.base import Connector
from accord.connectors.requirements import (
    Access,
    CustomField,
    FieldType,
    Finding,
    Requirements,
    ValuesFrom,
)
from accord.connectors.salesforce.mapping import BILLING_MODELS, ArStatus
from accord.errors import NotFoundError

__all__ = [
    "EXTERNAL_ID",
    "PERMISSION_SET",
    "REQUIREMENTS",
    "SF_TYPES",
    "external_id_field",
    "verify",
    "verify_org",
]

EXTERNAL_ID = "Accord_Id__c"
"""The External ID field every object Accord writes carries (``external_id_field`` default)."""
PERMISSION_SET = "Accord_Integration"
"""The permission set the kit generates; assigned to the integration user."""
SF_TYPES: dict[FieldType, str] = {
    FieldType.TEXT: "string",
    FieldType.LONG_TEXT: "textarea",
    FieldType.NUMBER: "double",
    FieldType.CURRENCY: "currency",
    FieldType.DATE: "date",
    FieldType.CHECKBOX: "boolean",
    FieldType.PICKLIST: "picklist",
}
"""The ``type`` a describe answers for each portable field type."""


def external_id_field(record: str, purpose: str, *, access: Access = Access.WRITE) -> CustomField:
    """``Accord_Id__c`` on one object: a unique External ID holding Accord's canonical id."""
    return CustomField(
        record,
        EXTERNAL_ID,
        "Accord Id",
        FieldType.TEXT,
        access,
        f"Accord's canonical id of the {purpose}; Accord upserts by it (External ID).",
        length=255,
        external_id=True,
        unique=True,
    )


_R, _W = Access.READ, Access.WRITE
_LEGAL_ENTITY = "The firm's contracting entity; picks the ERP {} booked in."


def _firm(record: str, name: str, label: str, source: ValuesFrom, **kw: Any) -> CustomField:  # noqa: ANN401 - CustomField keywords
    """A picklist of the firm's own values (legal entities are restricted to the known ones)."""
    return CustomField(
        record,
        name,
        label,
        FieldType.PICKLIST,
        values_from=source,
        restricted=source == "legal_entities",
        **kw,
    )


REQUIREMENTS = Requirements(
    kind="salesforce",
    prerequisites=(
        "Multiple currencies switched on (Accord reads CurrencyIsoCode).",
        (
            "An integration user with API access and a connected app for the OAuth 2.0 client "
            "credentials or JWT bearer flow (see docs/production.md)."
        ),
    ),
    fields=(
        # Account: the customer, owned by the CRM; Accord writes the receivable status back.
        external_id_field("Account", "customer"),
        _firm(
            "Account",
            "Legal_Entity__c",
            "Legal Entity",
            "legal_entities",
            access=_W,
            purpose=_LEGAL_ENTITY.format("the customer is"),
        ),
        CustomField(
            "Account",
            "Tax_Region__c",
            "Tax Region",
            FieldType.TEXT,
            _W,
            "Tax region the ERP bills the customer in.",
            length=40,
        ),
        CustomField(
            "Account",
            "AR_Status__c",
            "AR Status",
            FieldType.PICKLIST,
            _W,
            "Receivable status Accord writes back from the ERP's invoices.",
            values=tuple(s.value for s in ArStatus),
        ),
        CustomField(
            "Account",
            "AR_Balance__c",
            "AR Balance",
            FieldType.CURRENCY,
            _W,
            "Open receivable balance Accord writes back from the ERP.",
        ),
        CustomField(
            "Account",
            "Last_Payment_Date__c",
            "Last Payment Date",
            FieldType.DATE,
            _W,
            "Date of the customer's latest payment, written back from the ERP.",
        ),
        CustomField(
            "Account",
            "Last_Invoice_Number__c",
            "Last Invoice Number",
            FieldType.TEXT,
            _W,
            "Number of the customer's latest posted invoice, written back from the ERP.",
            length=80,
        ),
        # Contact: people at the customer (and, with Certinia, the firm's resources).
        external_id_field("Contact", "contact or resource", access=_R),
        _firm(
            "Contact",
            "Legal_Entity__c",
            "Legal Entity",
            "legal_entities",
            access=_R,
            purpose="The legal entity a resource works for.",
        ),
        # Opportunity: the deal; Accord provisions it once won and writes the outcome back.
        external_id_field("Opportunity", "opportunity", access=_R),
        _firm(
            "Opportunity",
            "Service_Package__c",
            "Service Package",
            "service_packages",
            access=_R,
            purpose="What was sold; picks the project template.",
        ),
        CustomField(
            "Opportunity",
            "Billing_Model__c",
            "Billing Model",
            FieldType.PICKLIST,
            _R,
            "How the engagement is billed.",
            values=tuple(BILLING_MODELS),
            restricted=True,
        ),
        _firm(
            "Opportunity",
            "Legal_Entity__c",
            "Legal Entity",
            "legal_entities",
            access=_R,
            purpose=_LEGAL_ENTITY.format("the project is"),
        ),
        _firm(
            "Opportunity",
            "Practice__c",
            "Practice",
            "practices",
            access=_R,
            purpose="Delivering practice; maps to the ERP department.",
        ),
        _firm(
            "Opportunity",
            "Region__c",
            "Region",
            "regions",
            access=_R,
            purpose="Delivering region; maps to the ERP class or area.",
        ),
        CustomField(
            "Opportunity", "Start_Date__c", "Start Date", FieldType.DATE, _R, "Planned start."
        ),
        CustomField("Opportunity", "End_Date__c", "End Date", FieldType.DATE, _R, "Planned end."),
        CustomField(
            "Opportunity",
            "PSA_Project_Id__c",
            "PSA Project Id",
            FieldType.TEXT,
            _W,
            "Id of the project Accord provisioned in the PSA.",
            length=255,
        ),
        CustomField(
            "Opportunity",
            "ERP_Project_Id__c",
            "ERP Project Id",
            FieldType.TEXT,
            _W,
            "Id of the project Accord provisioned in the ERP.",
            length=255,
        ),
        CustomField(
            "Opportunity",
            "Integration_Status__c",
            "Integration Status",
            FieldType.TEXT,
            _W,
            "Provisioning status Accord writes back (Provisioned, Needs attention: <reason>).",
            length=255,
        ),
        # Product2 and Contract: products' billing models, contracts' amendments.
        external_id_field("Product2", "product", access=_R),
        CustomField(
            "Product2",
            "Billing_Model__c",
            "Billing Model",
            FieldType.PICKLIST,
            _R,
            "Billing model a product is sold with.",
            values=tuple(BILLING_MODELS),
            restricted=True,
        ),
        external_id_field("Contract", "contract", access=_R),
    ),
)
"""What the Salesforce CRM needs: Accord's fields on the standard objects it reads and writes."""


def _describe(connector: Connector[Any], sobject: str) -> dict[str, Any] | None:
    version = getattr(connector.config, "api_version", "v60.0")
    response = connector.send(
        "GET", f"/services/data/{version}/sobjects/{sobject}/describe", resource=sobject
    )
    try:
        connector.raise_for_status(response, resource=sobject)
    except NotFoundError:
        return None
    return connector.json_object(response, resource=sobject)


def verify_org(
    connector: Connector[Any], requirements: Requirements, *, missing_object_fix: str
) -> list[Finding]:
    """Check every declared object and field against the org's describe, as Accord's user.

    Args:
        connector: A Salesforce-API connector (Salesforce or Certinia).
        requirements: The declaration to check.
        missing_object_fix: What to do when a whole object is missing (a managed package).

    Raises:
        ConnectorError: The org could not be read (the caller reports it as unreachable).
    """
    external = str(getattr(connector.config, "external_id_field", EXTERNAL_ID))
    kit = f"deploy the setup kit (accord setup-kit; sf project deploy start) and assign the {PERMISSION_SET} permission set to the integration user"  # noqa: E501
    findings: list[Finding] = []
    for sobject in requirements.records():
        described = _describe(connector, sobject)
        if described is None:
            findings.append(Finding(f"object {sobject} is not visible", missing_object_fix))
            continue
        fields = {str(f.get("name")): f for f in described.get("fields") or ()}
        declared = requirements.fields_of(sobject)
        # Accord creates what it upserts by its External ID, and edits what it writes back to.
        creates = any(f.name == EXTERNAL_ID and f.access is Access.WRITE for f in declared)
        edits = any(f.access is Access.WRITE for f in declared)
        for flag, needed, verb in (
            ("createable", creates, "create"),
            ("updateable", edits, "edit"),
        ):
            if needed and not described.get(flag):
                findings.append(Finding(f"Accord's user cannot {verb} {sobject} records", kit))
        for want in declared:
            name = external if want.name == EXTERNAL_ID else want.name
            found = fields.get(name)
            where = f"{sobject}.{name}"
            if found is None:
                findings.append(Finding(f"field {where} is missing or hidden", kit))
                continue
            expected = SF_TYPES.get(want.type)
            if expected is not None and found.get("type") != expected:
                findings.append(
                    Finding(
                        f"field {where} is a {found.get('type')}, Accord needs a {expected}",
                        f"recreate {where} as the setup kit declares it",
                    )
                )
            if want.external_id and not found.get("externalId"):
                findings.append(
                    Finding(f"field {where} is not an External ID", f"mark {where} External ID")
                )
            if want.access is Access.WRITE and not found.get("updateable"):
                findings.append(Finding(f"field {where} is read-only for Accord's user", kit))
    return findings


def verify(connector: Connector[Any]) -> list[Finding]:
    """The CRM's objects and fields, as :data:`REQUIREMENTS` declares them.

    Raises:
        ConnectorError: The org could not be read.
    """
    return verify_org(
        connector,
        REQUIREMENTS,
        missing_object_fix="give the integration user read access to it (profile or "
        "permission set)",
    )
