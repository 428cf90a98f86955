"""The Certinia PSA connector: the ``pse__`` objects of a Salesforce org.

Certinia has no API of its own (reference section 2): this is
:class:`~accord.connectors.salesforce.rest.SalesforceRestConnector` with Certinia's objects.
Each object's page selects the fields :mod:`accord.connectors.certinia.mapping` needs,
including the parents' ``Accord_Id__c`` and the regions' and practices' ``Code__c``, so that a
polled record maps without further lookups.

Default change-capture filters (override per connection with ``read_filters``): approved
timecards and expenses only (approval is what time-to-bill acts on, and approving a record
moves its ``SystemModstamp``), released billing events, resource Contacts, non-template
projects. A record that leaves a filter (an approved timecard later rejected) is not reported
by that resource's pages.
"""

from decimal import Decimal

from typing_extensions import override

from accord.connectors.certinia.config import CertiniaConfig
from accord.connectors.roles import Psa
from accord.connectors.salesforce.connector import OBJECTS as CRM_OBJECTS
from accord.connectors.salesforce.rest import SalesforceRestConnector, SObjectSpec
from accord.connectors.types import ReferenceList, ReferenceValue
from accord.rules import Rules

__all__ = ["DAYS", "OBJECTS", "CertiniaConnector"]

_REFERENCE_PAGES = 5
"""Pages of a reference list read at most by :meth:`CertiniaConnector.discover`."""
DAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
"""Timecard day names, Monday first (``pse__Monday_Hours__c`` ...)."""

_PROJECT = (
    "Name",
    "pse__Account__c",
    "pse__Account__r.Accord_Id__c",
    "pse__Account__r.Legal_Entity__c",
    "pse__Opportunity__c",
    "pse__Opportunity__r.Accord_Id__c",
    "pse__Region__c",
    "pse__Region__r.Code__c",
    "pse__Practice__c",
    "pse__Practice__r.Code__c",
    "pse__Project_Manager__c",
    "pse__Project_Manager__r.Accord_Id__c",
    "pse__Start_Date__c",
    "pse__End_Date__c",
    "pse__Stage__c",
    "pse__Project_Type__c",
    "pse__Billing_Type__c",
    "pse__Is_Active__c",
    "pse__Is_Billable__c",
    "pse__Closed_for_Time_Entry__c",
    "pse__Closed_for_Expense_Entry__c",
    "pse__Bookings__c",
    "pse__Is_Template__c",
    "ERP_Project_Id__c",
    "Integration_Status__c",
    "CurrencyIsoCode",
    "LastModifiedDate",
)
_MILESTONE = (
    "Name",
    "pse__Project__c",
    "pse__Project__r.Accord_Id__c",
    "pse__Target_Date__c",
    "pse__Status__c",
    "pse__Milestone_Amount__c",
    "pse__Approved__c",
    "pse__Invoiced__c",
    "CurrencyIsoCode",
    "LastModifiedDate",
)
_TIMECARD = (
    "Name",
    "pse__Resource__c",
    "pse__Resource__r.Accord_Id__c",
    "pse__Project__c",
    "pse__Project__r.Accord_Id__c",
    "pse__Assignment__c",
    "pse__Assignment__r.pse__Bill_Rate__c",
    "pse__Assignment__r.pse__Role__c",
    "pse__Assignment__r.CurrencyIsoCode",
    # Time logged without an assignment is priced from the rate card of the resource's role,
    # in the project's currency (the resource's when the project's is not known).
    "pse__Resource__r.pse__Resource_Role__c",
    "pse__Resource__r.CurrencyIsoCode",
    "pse__Project__r.CurrencyIsoCode",
    "pse__Milestone__c",
    "pse__Start_Date__c",
    "pse__End_Date__c",
    *(f"pse__{day}_Hours__c" for day in DAYS),
    *(f"pse__{day}_Notes__c" for day in DAYS),
    "pse__Timecard_Notes__c",
    "pse__Status__c",
    "pse__Submitted__c",
    "pse__Approved__c",
    "pse__Billable__c",
    "pse__Total_Hours__c",
    "CurrencyIsoCode",
    "LastModifiedDate",
)
_EXPENSE = (
    "Name",
    "pse__Project__c",
    "pse__Project__r.Accord_Id__c",
    "pse__Resource__c",
    "pse__Resource__r.Accord_Id__c",
    "pse__Assignment__c",
    "pse__Type__c",
    "pse__Amount__c",
    "pse__Expense_Date__c",
    "pse__Billable__c",
    "pse__Status__c",
    "pse__Description__c",
    "CurrencyIsoCode",
    "LastModifiedDate",
)
_ASSIGNMENT = (
    "Name",
    "pse__Project__c",
    "pse__Project__r.Accord_Id__c",
    "pse__Resource__c",
    "pse__Resource__r.Accord_Id__c",
    "pse__Schedule__c",
    "pse__Bill_Rate__c",
    "pse__Cost_Rate_Amount__c",
    "pse__Role__c",
    "pse__Status__c",
    "pse__Start_Date__c",
    "pse__End_Date__c",
    "pse__Is_Billable__c",
    "CurrencyIsoCode",
)
_TASK_ASSIGNMENT = (
    "Name",
    "pse__Project__c",
    "pse__Project__r.Accord_Id__c",
    "pse__Project_Task__c",
    "pse__Project_Task__r.Accord_Id__c",
    "pse__Project_Task__r.pse__Start_Date__c",
    "pse__Project_Task__r.pse__End_Date__c",
    "pse__Resource__c",
    "pse__Resource__r.Accord_Id__c",
    "pse__Resource__r.pse__Resource_Role__c",
    "pse__Estimated_Hours__c",
)
_VENDOR_INVOICE = (
    "Name",
    "pse__Account__c",
    "pse__Account__r.Accord_Id__c",
    "pse__Account__r.Name",
    "pse__Invoice_Number__c",
    "pse__Date__c",
    "pse__Status__c",
    "pse__Description__c",
    "CurrencyIsoCode",
)
_VENDOR_INVOICE_ITEM = (
    "Name",
    "pse__Vendor_Invoice__c",
    "pse__Project__c",
    "pse__Project__r.Accord_Id__c",
    "pse__Project_Task__c",
    "pse__Project_Task__r.Accord_Id__c",
    "pse__Amount__c",
    "pse__Date__c",
    "pse__Description__c",
    "pse__Billable__c",
    "CurrencyIsoCode",
)
_BILLING_EVENT = (
    "Name",
    "pse__Project__c",
    "pse__Project__r.Accord_Id__c",
    "pse__Date__c",
    "pse__Status__c",
    "pse__Is_Released__c",
    "pse__Is_Approved__c",
    "pse__Invoiced__c",
    "pse__Invoice_Number__c",
    "pse__Invoice_Date__c",
    "pse__Summary_Amount__c",
    "ERP_Id__c",
    "CurrencyIsoCode",
)
_RESOURCE = (
    "FirstName",
    "LastName",
    "Name",
    "Email",
    "pse__Is_Resource__c",
    "pse__Is_Resource_Active__c",
    "pse__Resource_Role__c",
    "pse__Region__c",
    "pse__Region__r.Code__c",
    "pse__Practice__c",
    "pse__Practice__r.Code__c",
    "pse__Default_Cost_Rate__c",
    "Legal_Entity__c",
    "CurrencyIsoCode",
)

OBJECTS: dict[str, SObjectSpec] = {
    spec.name: spec
    for spec in (
        SObjectSpec("pse__Proj__c", _PROJECT, where="pse__Is_Template__c = false"),
        SObjectSpec("pse__Milestone__c", _MILESTONE),
        SObjectSpec(
            "pse__Project_Task__c",
            (
                "Name",
                "pse__Project__c",
                "pse__Project__r.Accord_Id__c",
                "pse__Parent_Task__c",
                "pse__Parent_Task__r.Accord_Id__c",
                "pse__Order__c",
                "pse__Status__c",
                "pse__Start_Date__c",
                "pse__End_Date__c",
                "pse__Estimated_Hours__c",
                "pse__Actual_Hours__c",
                "pse__Percent_Complete_Hours__c",
                "LastModifiedDate",
            ),
        ),
        SObjectSpec("pse__Project_Task_Assignment__c", _TASK_ASSIGNMENT),
        SObjectSpec(
            "pse__Vendor_Invoice__c",
            _VENDOR_INVOICE,
            where="pse__Status__c = 'Approved'",
        ),
        SObjectSpec("pse__Vendor_Invoice_Item__c", _VENDOR_INVOICE_ITEM),
        SObjectSpec("pse__Timecard_Header__c", _TIMECARD, where="pse__Status__c = 'Approved'"),
        SObjectSpec("pse__Expense__c", _EXPENSE, where="pse__Status__c = 'Approved'"),
        SObjectSpec("pse__Assignment__c", _ASSIGNMENT),
        SObjectSpec("pse__Billing_Event__c", _BILLING_EVENT, where="pse__Is_Released__c = true"),
        SObjectSpec("Contact", _RESOURCE, where="pse__Is_Resource__c = true"),
        # The org's accounts are Certinia's customers (read only: the CRM writes them).
        CRM_OBJECTS["Account"],
        SObjectSpec(
            "pse__Region__c",
            ("Name", "pse__Parent_Region__c", "Tax_Region__c"),
            external_id="Code__c",
            writable=False,
        ),
        SObjectSpec(
            "pse__Practice__c",
            ("Name", "pse__Parent_Practice__c"),
            external_id="Code__c",
            writable=False,
        ),
    )
}
"""Every object the Certinia connector reads and writes, by API name."""


class CertiniaConnector(SalesforceRestConnector[CertiniaConfig]):
    """Certinia PSA over the Salesforce REST API (SOQL change reads, ``Accord_Id__c`` upserts)."""

    kind = "certinia"
    config_model = CertiniaConfig
    objects = OBJECTS

    def rate_card_rates(self, currency: str) -> dict[str, Decimal]:
        """The org-wide rate cards' hourly bill rates in ``currency``, by resource role.

        One SOQL page of ``pse__Rate_Card__c`` (reference section 2) with no account, region
        or practice (the firm's standard rates), oldest card first; the first card of a role
        wins. Cards scoped to an account or a region are not standard rates and are left out.

        Raises:
            ValueError: ``currency`` is not a three-letter code.
        """
        code = currency.upper()
        if not (len(code) == 3 and code.isalpha()):
            raise ValueError(f"not a currency code: {currency!r}")
        query = (
            "SELECT pse__Role__c, pse__Suggested_Bill_Rate__c FROM pse__Rate_Card__c "  # noqa: S608 - code checked above
            f"WHERE CurrencyIsoCode = '{code}' AND pse__Account__c = null "
            "AND pse__Region__c = null AND pse__Practice__c = null "
            "AND pse__Suggested_Bill_Rate__c != null ORDER BY CreatedDate ASC, Id ASC LIMIT 2000"
        )
        response = self.send(
            "GET", self._path("query"), resource="pse__Rate_Card__c", params={"q": query}
        )
        self.raise_for_status(response, resource="pse__Rate_Card__c")
        rates: dict[str, Decimal] = {}
        for row in self.json_object(response, resource="pse__Rate_Card__c").get("records", []):
            role = row.get("pse__Role__c") if isinstance(row, dict) else None
            if role:
                rates.setdefault(str(role), Decimal(str(row["pse__Suggested_Bill_Rate__c"])))
        return rates

    @override
    def discover(self) -> list[ReferenceList]:
        """Regions and practices: the rules' region and practice codes are their ``Code__c``."""
        return [
            ReferenceList(title, setting, self._codes(sobject))
            for title, sobject, setting in (
                ("Regions", "pse__Region__c", "rules: regions.<code> (the region's Code__c)"),
                (
                    "Practices",
                    "pse__Practice__c",
                    "rules: practices.<code> (the practice's Code__c)",
                ),
            )
        ]

    def _codes(self, sobject: str) -> tuple[ReferenceValue, ...]:
        values: list[ReferenceValue] = []
        cursor: str | None = None
        for _ in range(_REFERENCE_PAGES):
            page = self.read_page(sobject, cursor=cursor)
            values.extend(
                ReferenceValue(str(r.get("Code__c") or ""), str(r.get("Name") or ""), str(r["Id"]))
                for r in page.records
            )
            cursor = page.next_cursor
            if cursor is None:
                break
        return tuple(values)

    @override
    def as_psa(self, rules: Rules) -> Psa:
        """This connection in the PSA role (see :mod:`accord.connectors.certinia.psa`)."""
        # psa.py builds on this module, so it is imported when first asked for.
        from accord.connectors.certinia.psa import CertiniaPsa  # noqa: PLC0415

        return CertiniaPsa(self, rules)
