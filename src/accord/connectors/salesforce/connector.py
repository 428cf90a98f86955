"""The Salesforce (CRM) connector: accounts, contacts, opportunities and their lines.

The REST mechanics are :class:`~accord.connectors.salesforce.rest.SalesforceRestConnector`;
this module only says which objects the CRM side reads and which fields a page selects (the
ones :mod:`accord.connectors.salesforce.mapping` needs, parents' ``Accord_Id__c`` included, so
that a polled record maps without further lookups).
"""

from typing_extensions import override

from accord.connectors.roles import Crm
from accord.connectors.salesforce.config import SalesforceConfig
from accord.connectors.salesforce.rest import SalesforceRestConnector, SObjectSpec
from accord.rules import Rules

__all__ = ["OBJECTS", "SalesforceConnector"]

_ACCOUNT = (
    "Name",
    "AccountNumber",
    "ParentId",
    "Parent.Accord_Id__c",
    "Type",
    "Industry",
    "BillingStreet",
    "BillingCity",
    "BillingState",
    "BillingPostalCode",
    "BillingCountry",
    "CurrencyIsoCode",
    "Legal_Entity__c",
    "Tax_Region__c",
    "AR_Status__c",
    "AR_Balance__c",
    "Last_Payment_Date__c",
    "LastModifiedDate",
)
_OPPORTUNITY = (
    "Name",
    "AccountId",
    "Account.Accord_Id__c",
    "OwnerId",
    "Owner.Email",
    "Amount",
    "CurrencyIsoCode",
    "CloseDate",
    "StageName",
    "IsClosed",
    "IsWon",
    "Service_Package__c",
    "Billing_Model__c",
    "Legal_Entity__c",
    "Practice__c",
    "Region__c",
    "Start_Date__c",
    "End_Date__c",
    "PSA_Project_Id__c",
    "ERP_Project_Id__c",
    "Integration_Status__c",
    "LastModifiedDate",
)
_CONTACT = (
    "FirstName",
    "LastName",
    "Name",
    "Email",
    "Title",
    "AccountId",
    "Account.Accord_Id__c",
    "Legal_Entity__c",
    "CurrencyIsoCode",
    "LastModifiedDate",
)
_LINE = (
    "OpportunityId",
    "Product2Id",
    "ProductCode",
    "Name",
    "Quantity",
    "UnitPrice",
    "TotalPrice",
    "ServiceDate",
    "Description",
    "CurrencyIsoCode",
)

OBJECTS: dict[str, SObjectSpec] = {
    spec.name: spec
    for spec in (
        SObjectSpec("Account", _ACCOUNT),
        SObjectSpec("Contact", _CONTACT),
        SObjectSpec("Opportunity", _OPPORTUNITY),
        SObjectSpec("OpportunityLineItem", _LINE, external_id=False),
        SObjectSpec("Product2", ("Name", "ProductCode", "Family", "IsActive", "Billing_Model__c")),
        SObjectSpec(
            "Contract",
            ("AccountId", "Account.Accord_Id__c", "StartDate", "EndDate", "ContractTerm", "Status"),
        ),
    )
}
"""Every object the Salesforce connector reads and writes, by API name."""


class SalesforceConnector(SalesforceRestConnector[SalesforceConfig]):
    """Salesforce CRM over the REST API (SOQL change reads, ``Accord_Id__c`` upserts)."""

    kind = "salesforce"
    config_model = SalesforceConfig
    objects = OBJECTS

    @override
    def as_crm(self, rules: Rules) -> Crm:
        """This connection in the CRM role (see :mod:`accord.connectors.salesforce.crm`)."""
        # crm.py builds on this module, so it is imported when first asked for.
        from accord.connectors.salesforce.crm import SalesforceCrm  # noqa: PLC0415

        return SalesforceCrm(self, rules)
