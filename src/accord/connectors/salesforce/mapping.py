"""Salesforce (CRM) records <-> canonical models, as plain typed functions.

Inbound functions take a record as the API returns it (a SOQL page row, whose parents'
``Accord_Id__c`` is nested, or a ``get`` answer plus :data:`Lookups`) and return a canonical
model, or raise one :class:`RecordMappingError` naming every missing or invalid native field.
Outbound functions return the native body of an ``upsert`` or ``update`` (the external id
travels in the URL). Numbers arrive as JSON numbers and become ``Decimal(str(x))``; they leave
as ``float`` of an exact ``Decimal`` (two decimals survive that).

What the CRM owns and receives: Account <-> Customer (CRM owns the relationship), Opportunity
-> Opportunity (inbound only: the CRM owns the deal), and write-back onto them: the account's
AR status (from the ERP's invoices) and the opportunity's integration status and the PSA and
ERP project ids.
"""

import datetime as dt
from collections.abc import Sequence
from decimal import Decimal
from enum import StrEnum
from typing import Any

from accord.connectors.salesforce.records import (
    EXTERNAL_ID_FIELD,
    Lookups,
    RecordMappingError,
    RecordReader,
    salesforce_id_of,
)
from accord.connectors.types import RawRecord
from accord.domain import (
    Address,
    BillingModel,
    Customer,
    Invoice,
    InvoiceStatus,
    Opportunity,
    OpportunityStage,
)
from accord.errors import MappingError

__all__ = [
    "BILLING_MODELS",
    "STAGES",
    "ArStatus",
    "IntegrationStatus",
    "Lookups",
    "RecordMappingError",
    "account_to_customer",
    "ar_status_fields",
    "customer_to_account",
    "integration_fields",
    "opportunity_to_canonical",
    "reference_body",
]

STAGES: dict[str, OpportunityStage] = {
    "Prospecting": OpportunityStage.PROSPECTING,
    "Qualification": OpportunityStage.QUALIFICATION,
    "Needs Analysis": OpportunityStage.QUALIFICATION,
    "Value Proposition": OpportunityStage.PROPOSAL,
    "Id. Decision Makers": OpportunityStage.PROPOSAL,
    "Perception Analysis": OpportunityStage.PROPOSAL,
    "Proposal/Price Quote": OpportunityStage.PROPOSAL,
    "Negotiation/Review": OpportunityStage.NEGOTIATION,
    "Closed Won": OpportunityStage.CLOSED_WON,
    "Closed Lost": OpportunityStage.CLOSED_LOST,
}
"""``StageName`` (the standard stage set) -> canonical stage; other values are refused."""

BILLING_MODELS: dict[str, BillingModel] = {
    "Time and Materials": BillingModel.TIME_AND_MATERIALS,
    "Fixed Fee": BillingModel.FIXED_FEE,
    "Milestone": BillingModel.MILESTONE,
    "Retainer": BillingModel.RETAINER,
}
"""``Billing_Model__c`` picklist labels -> canonical billing model."""

_OVERDUE_FOR_COLLECTIONS = dt.timedelta(days=90)


class IntegrationStatus(StrEnum):
    """``Integration_Status__c`` values Accord writes on an opportunity (and a PSA project)."""

    PENDING = "Pending"
    IN_PROGRESS = "In Progress"
    PROVISIONED = "Provisioned"
    ON_HOLD = "On Hold"
    ERROR = "Error"


class ArStatus(StrEnum):
    """``AR_Status__c`` values Accord writes on an account."""

    CURRENT = "Current"
    OVERDUE = "Overdue"
    IN_COLLECTIONS = "In Collections"
    CREDIT_HOLD = "Credit Hold"
    PAID = "Paid"


def _number(value: Decimal) -> float:
    return float(value)


def reference_body(
    field: str,
    relationship: str,
    sobject: str,
    canonical: str,
    *,
    lookups: Lookups | None = None,
    key_field: str = EXTERNAL_ID_FIELD,
) -> dict[str, Any]:
    """The body part that sets a lookup field to the record whose canonical id is ``canonical``.

    A known Salesforce id (from ``lookups``, or inside a default ``SF-`` id) is written to the
    field itself; otherwise the parent is referenced by its external id
    (``"Parent": {"Accord_Id__c": "CUST-1"}``), which the org resolves in the same call.
    """
    for sf_id, key in (lookups or {}).get(sobject, {}).items():
        if key == canonical:
            return {field: sf_id}
    direct = salesforce_id_of(canonical) if key_field == EXTERNAL_ID_FIELD else None
    if direct is not None:
        return {field: direct}
    return {relationship: {key_field: canonical}}


# --------------------------------------------------------------------------- account
_CUSTOMER_NATIVE = {
    "name": "Name",
    "parent_id": "ParentId",
    "legal_entity": "Legal_Entity__c",
    "bill_to": "BillingStreet",
    "tax_region": "Tax_Region__c",
    "currency": "CurrencyIsoCode",
    "industry": "Industry",
}


def _address(reader: RecordReader) -> Address | None:
    street = reader.text("BillingStreet")
    city = reader.text("BillingCity")
    # Orgs with state and country picklists also have the ISO code fields: prefer them.
    country_field = "BillingCountryCode" if reader.raw("BillingCountryCode") else "BillingCountry"
    country = reader.text(country_field)
    if country is not None and not (len(country) == 2 and country.isalpha() and country.isupper()):
        reader.problem(country_field, f"is not an ISO 3166 country code ({country!r})")
        country = None
    if street is None or city is None or country is None:
        return None
    line1, _, line2 = street.partition("\n")
    state_field = "BillingStateCode" if reader.raw("BillingStateCode") else "BillingState"
    return Address(
        line1=line1.strip(),
        line2=line2.strip() or None,
        city=city,
        state=reader.text(state_field, required=False),
        postal_code=reader.text("BillingPostalCode", required=False),
        country=country,
    )


def account_to_customer(record: RawRecord, *, lookups: Lookups | None = None) -> Customer:
    """An ``Account`` as a canonical :class:`Customer`.

    ``ParentId`` builds the hierarchy; the billing address is the bill-to; ``Legal_Entity__c``,
    ``Tax_Region__c`` and ``CurrencyIsoCode`` are required.

    Raises:
        RecordMappingError: Naming every missing or invalid field.
    """
    reader = RecordReader(record, "Account", lookups)
    canonical, refs = reader.identity()
    parent = reader.reference("ParentId", "Parent", "Account", required=False)
    values = {
        "id": canonical,
        "name": reader.text("Name"),
        "parent_id": parent,
        "legal_entity": reader.text("Legal_Entity__c"),
        "bill_to": _address(reader),
        "tax_region": reader.text("Tax_Region__c"),
        "currency": reader.text("CurrencyIsoCode"),
        "industry": reader.text("Industry", required=False),
        "refs": refs,
        "updated_at": reader.datetime("SystemModstamp") or reader.datetime("LastModifiedDate"),
    }
    return reader.build(Customer, _CUSTOMER_NATIVE, **values)


def customer_to_account(customer: Customer, *, lookups: Lookups | None = None) -> dict[str, Any]:
    """The ``Account`` upsert body for a canonical customer (upsert key: ``customer.id``)."""
    address = customer.bill_to
    street = address.line1 if address.line2 is None else f"{address.line1}\n{address.line2}"
    body: dict[str, Any] = {
        "Name": customer.name,
        "Legal_Entity__c": customer.legal_entity,
        "Tax_Region__c": customer.tax_region,
        "CurrencyIsoCode": customer.currency,
        "BillingStreet": street,
        "BillingCity": address.city,
        "BillingState": address.state,
        "BillingPostalCode": address.postal_code,
        "BillingCountry": address.country,
    }
    if customer.industry is not None:
        body["Industry"] = customer.industry
    if customer.parent_id is not None:
        body |= reference_body("ParentId", "Parent", "Account", customer.parent_id, lookups=lookups)
    return body


def ar_status_fields(
    invoices: Sequence[Invoice],
    *,
    currency: str,
    today: dt.date,
    last_payment_on: dt.date | None = None,
    credit_hold: bool = False,
) -> dict[str, Any]:
    """The account's AR write-back, from the customer's invoices in the ERP.

    Fields: ``AR_Status__c``, ``AR_Balance__c`` and, when given, ``Last_Payment_Date__c``.

    The status is, in order: credit hold (the ERP's flag); in collections (anything more than
    90 days past due); overdue (anything past due); paid (invoices exist, nothing is due);
    current.

    Raises:
        MappingError: An open invoice is in another currency than the account's.
    """
    open_invoices = [
        i for i in invoices if i.status in {InvoiceStatus.POSTED, InvoiceStatus.PARTIALLY_PAID}
    ]
    if any(i.currency != currency for i in open_invoices):
        raise MappingError(f"open invoices are not all in the account currency {currency}")
    balance = sum((i.amount_due.amount for i in open_invoices), Decimal(0))
    past_due = [
        i.due_date for i in open_invoices if not i.amount_due.is_zero and i.due_date < today
    ]
    if credit_hold:
        status = ArStatus.CREDIT_HOLD
    elif past_due and min(past_due) < today - _OVERDUE_FOR_COLLECTIONS:
        status = ArStatus.IN_COLLECTIONS
    elif past_due:
        status = ArStatus.OVERDUE
    elif invoices and balance == 0:
        status = ArStatus.PAID
    else:
        status = ArStatus.CURRENT
    body: dict[str, Any] = {"AR_Status__c": status.value, "AR_Balance__c": _number(balance)}
    if last_payment_on is not None:
        body["Last_Payment_Date__c"] = last_payment_on.isoformat()
    return body


# --------------------------------------------------------------------------- opportunity
_OPPORTUNITY_NATIVE = {
    "name": "Name",
    "customer_id": "AccountId",
    "stage": "StageName",
    "won": "StageName",
    "amount": "Amount",
    "service_package": "Service_Package__c",
    "billing_model": "Billing_Model__c",
    "close_date": "CloseDate",
    "start_date": "Start_Date__c",
    "end_date": "End_Date__c",
    "practice": "Practice__c",
    "region": "Region__c",
    "legal_entity": "Legal_Entity__c",
    "owner_email": "Owner.Email",
}


def opportunity_to_canonical(record: RawRecord, *, lookups: Lookups | None = None) -> Opportunity:
    """An ``Opportunity`` as a canonical :class:`Opportunity`.

    Every field the model needs is read before anything is built, so that one error lists all
    of them: ``Name``, ``AccountId``, ``StageName``, ``Amount`` + ``CurrencyIsoCode``,
    ``CloseDate``, ``Service_Package__c``, ``Billing_Model__c``, ``Legal_Entity__c``,
    ``Practice__c``, ``Region__c``, and ``Start_Date__c`` once the deal is won (provisioning a
    project needs it). Lines are not read here (they are another query).

    Raises:
        RecordMappingError: Naming every missing or invalid field.
    """
    reader = RecordReader(record, "Opportunity", lookups)
    canonical, refs = reader.identity()
    stage = reader.choice("StageName", STAGES)
    won = stage is OpportunityStage.CLOSED_WON
    owner = reader.raw("Owner.Email")
    values = {
        "id": canonical,
        "name": reader.text("Name"),
        "customer_id": reader.reference("AccountId", "Account", "Account"),
        "stage": stage,
        "won": won,
        "amount": reader.money("Amount"),
        "service_package": reader.text("Service_Package__c"),
        "billing_model": reader.choice("Billing_Model__c", BILLING_MODELS),
        "close_date": reader.date("CloseDate"),
        "start_date": reader.date("Start_Date__c", required=won),
        "end_date": reader.date("End_Date__c", required=False),
        "practice": reader.text("Practice__c"),
        "region": reader.text("Region__c"),
        "legal_entity": reader.text("Legal_Entity__c"),
        "owner_email": owner if isinstance(owner, str) and owner else None,
        "refs": refs,
        "updated_at": reader.datetime("SystemModstamp") or reader.datetime("LastModifiedDate"),
    }
    return reader.build(Opportunity, _OPPORTUNITY_NATIVE, **values)


def integration_fields(
    status: IntegrationStatus,
    *,
    psa_project_id: str | None = None,
    erp_project_id: str | None = None,
) -> dict[str, Any]:
    """The opportunity's write-back: ``Integration_Status__c`` and the project ids once known.

    Ids left ``None`` are not sent, so that a later status update never blanks them.
    """
    body: dict[str, Any] = {"Integration_Status__c": status.value}
    if psa_project_id is not None:
        body["PSA_Project_Id__c"] = psa_project_id
    if erp_project_id is not None:
        body["ERP_Project_Id__c"] = erp_project_id
    return body
