"""The custom fields Accord adds to Certinia PSA's objects, and their live check.

Certinia's objects (``pse__*``) come with its managed package; Accord adds only its own fields
on them: the ``Accord_Id__c`` External ID it upserts by, the ERP ids and the integration status
it writes back, and the codes it matches regions and practices by. They are deployed with the
Salesforce setup kit, on the same org (see :mod:`accord.connectors.salesforce.requirements`).
"""

from typing import Any

from accord.connectors.base import Connector
from accord.connectors.requirements import Access, CustomField, FieldType, Finding, Requirements
from accord.connectors.salesforce.mapping import IntegrationStatus
from accord.connectors.salesforce.requirements import external_id_field, verify_org

__all__ = ["REQUIREMENTS", "verify"]

_R, _W = Access.READ, Access.WRITE


def _code(record: str, what: str) -> CustomField:
    return CustomField(
        record,
        "Code__c",
        "Code",
        FieldType.TEXT,
        _R,
        f"The {what}'s code in Accord's rules; Accord matches {what}s by it (External ID).",
        length=40,
        external_id=True,
        unique=True,
    )


REQUIREMENTS = Requirements(
    kind="certinia",
    kit="salesforce",
    prerequisites=("Certinia PSA (the pse managed package), licensed to the integration user.",),
    fields=(
        external_id_field("pse__Proj__c", "project"),
        CustomField(
            "pse__Proj__c",
            "ERP_Project_Id__c",
            "ERP Project Id",
            FieldType.TEXT,
            _W,
            "Id of the project in the ERP, written back by Accord.",
            length=255,
        ),
        CustomField(
            "pse__Proj__c",
            "Integration_Status__c",
            "Integration Status",
            FieldType.PICKLIST,
            _W,
            "Provisioning status Accord writes back.",
            values=tuple(s.value for s in IntegrationStatus),
            restricted=True,
        ),
        CustomField(
            "pse__Proj__c",
            "Integration_Message__c",
            "Integration Message",
            FieldType.LONG_TEXT,
            _W,
            "Why a project is on hold, written by Accord.",
            length=1000,
        ),
        external_id_field("pse__Milestone__c", "milestone"),
        external_id_field("pse__Project_Task__c", "project phase"),
        external_id_field("pse__Assignment__c", "assignment"),
        external_id_field("pse__Project_Task_Assignment__c", "task assignment", access=_R),
        external_id_field("pse__Vendor_Invoice__c", "vendor bill from the ERP"),
        external_id_field("pse__Vendor_Invoice_Item__c", "vendor bill line from the ERP"),
        external_id_field("pse__Timecard_Header__c", "timecard", access=_R),
        external_id_field("pse__Expense__c", "expense", access=_R),
        external_id_field("pse__Billing_Event__c", "invoice"),
        CustomField(
            "pse__Billing_Event__c",
            "ERP_Id__c",
            "ERP Id",
            FieldType.TEXT,
            _R,
            "Id of the invoice in the ERP.",
            length=255,
            external_id=True,
        ),
        _code("pse__Region__c", "region"),
        CustomField(
            "pse__Region__c",
            "Tax_Region__c",
            "Tax Region",
            FieldType.TEXT,
            _R,
            "Tax region of a region's projects.",
            length=40,
        ),
        _code("pse__Practice__c", "practice"),
    ),
)
"""What Certinia needs beside its managed package: Accord's fields on its objects."""


def verify(connector: Connector[Any]) -> list[Finding]:
    """Certinia's objects and Accord's fields on them, through the org's describe.

    Raises:
        ConnectorError: The org could not be read.
    """
    return verify_org(
        connector,
        REQUIREMENTS,
        missing_object_fix="install Certinia PSA and give the integration user its permission sets",
    )
