"""Salesforce in the CRM role (:class:`~accord.connectors.roles.Crm`).

- Change feeds: SOQL pages of ``Opportunity`` and ``Account`` by ``SystemModstamp`` (the
  connector's ``read_page``); the feed names are the object names, so a cursor kept before
  the roles existed still applies.
- Opportunities and accounts map through :mod:`accord.connectors.salesforce.mapping`; one that
  does not map is returned with every problem named by the field a person fixes
  (:class:`~accord.connectors.salesforce.records.RecordMappingError`).
- Lines: ``OpportunityLineItem`` by SOQL, in ``SortOrder``. Hierarchies: ``GET`` of each account
  up the ``ParentId`` chain. Merges: ``queryAll`` for deleted accounts whose ``MasterRecordId``
  is the survivor (a Salesforce merge deletes the losers and keeps that link).
- Write-back: ``Integration_Status__c`` and the ``PSA_Project_Id__c`` / ``ERP_Project_Id__c``
  fields of the opportunity; several at once through sObject Collections (``PATCH
  /composite/sobjects``, 200 a call, each record's refusal its own); accounts are upserted by
  ``Accord_Id__c``.
- Reconciliation: deals and accounts (and whether they exist) by ``Id IN (...)`` in SOQL
  batches (:mod:`accord.connectors.salesforce._recon`).
"""

import datetime as dt
from collections.abc import Collection, Mapping, Sequence
from decimal import Decimal
from typing import Any, Final

from typing_extensions import override

from accord.connectors.roles import (
    BACKGROUND,
    ChangeFeed,
    Crm,
    CrmAccount,
    CrmOpportunity,
    DealLine,
    Lane,
    MergedAccount,
    WriteBack,
)
from accord.connectors.roles.base import RoleBase
from accord.connectors.roles.feeds import collection_feed
from accord.connectors.salesforce._crm_billing import SalesforceBilling
from accord.connectors.salesforce._recon import records_in
from accord.connectors.salesforce.connector import SalesforceConnector
from accord.connectors.salesforce.mapping import (
    account_to_customer,
    customer_to_account,
    opportunity_to_canonical,
)
from accord.connectors.salesforce.records import (
    EXTERNAL_ID_FIELD,
    RecordMappingError,
    canonical_id,
    salesforce_id_of,
)
from accord.connectors.types import RawRecord, WriteResult
from accord.domain import Customer, Opportunity, System
from accord.errors import ConnectorError, NotFoundError

__all__ = ["OPPORTUNITY_FIELDS", "SalesforceCrm"]

OPPORTUNITY_FIELDS: Final[Mapping[str, str]] = {
    "service_package": "Service_Package__c",
    "billing_model": "Billing_Model__c",
    "legal_entity": "Legal_Entity__c",
    "practice": "Practice__c",
    "region": "Region__c",
    "start_date": "Start_Date__c",
    "end_date": "End_Date__c",
    "amount": "Amount",
    "currency": "CurrencyIsoCode",
    "customer_id": "AccountId",
    "lines": "OpportunityLineItem",
}
"""Canonical opportunity field -> the Salesforce field a person fixes."""
WON: Final = "Closed Won"
MAX_DEPTH: Final = 10
"""Deepest account hierarchy followed (the firm's go three levels deep)."""
_OPPORTUNITY: Final = "Opportunity"
_ACCOUNT: Final = "Account"
_EXISTING: Final = {"customer": _ACCOUNT, "opportunity": _OPPORTUNITY}
"""xref entity type -> the object its CRM ids are records of."""


def _text(record: RawRecord, name: str) -> str | None:
    value = record.get(name)
    return (str(value).strip() or None) if value is not None else None


def _quoted_id(value: str) -> str:
    # Salesforce ids are alphanumeric; refuse anything else rather than escape it.
    if not value.isalnum():
        msg = f"not a Salesforce id: {value!r}"
        raise ValueError(msg)
    return f"'{value}'"


class SalesforceCrm(SalesforceBilling, RoleBase[SalesforceConnector], Crm):
    """A Salesforce connection as a CRM."""

    system_name = System.SALESFORCE.value

    @property
    @override
    def opportunity_fields(self) -> Mapping[str, str]:
        return OPPORTUNITY_FIELDS

    # ----------------------------------------------------------------- change feeds
    @override
    def opportunity_changes(self) -> ChangeFeed[CrmOpportunity]:
        return collection_feed(self._connector, _OPPORTUNITY, _opportunity)

    @override
    def account_changes(self) -> ChangeFeed[CrmAccount]:
        return collection_feed(self._connector, _ACCOUNT, _account)

    # ----------------------------------------------------------------- reads
    @override
    def crm_id(self, canonical_id: str) -> str | None:
        return salesforce_id_of(canonical_id)

    @override
    def opportunity(self, crm_id: str) -> CrmOpportunity:
        return _opportunity(self._connector.get(_OPPORTUNITY, crm_id))

    @override
    def opportunity_lines(self, crm_id: str) -> tuple[DealLine, ...]:
        query = (
            "SELECT Id, Name, Description, TotalPrice, ServiceDate, SortOrder "  # noqa: S608 - id checked
            f"FROM OpportunityLineItem WHERE OpportunityId = {_quoted_id(crm_id)} "
            "ORDER BY SortOrder ASC, Id ASC"
        )
        lines = []
        for row in self._connector.query(query, resource="OpportunityLineItem"):
            due = row.get("ServiceDate")  # a date field: an ISO date, or nothing
            lines.append(
                DealLine(
                    crm_id=str(row.get("Id") or ""),
                    name=_text(row, "Name"),
                    description=_text(row, "Description"),
                    amount=Decimal(str(row.get("TotalPrice") or 0)),
                    service_date=dt.date.fromisoformat(str(due)) if due else None,
                )
            )
        return tuple(lines)

    @override
    def account(self, crm_id: str) -> CrmAccount:
        return _account(self._connector.get(_ACCOUNT, crm_id))

    @override
    def find_account(self, customer_id: str) -> CrmAccount | None:
        found = self._connector.get_by_external_id(_ACCOUNT, customer_id)
        return _account(found) if found is not None else None

    @override
    def account_hierarchy(self, crm_id: str) -> tuple[CrmAccount, ...]:
        chain: list[RawRecord] = []
        seen: set[str] = set()
        current: str | None = crm_id
        while current and current not in seen and len(chain) < MAX_DEPTH:
            seen.add(current)
            try:
                record = self._connector.get(_ACCOUNT, current)
            except NotFoundError:
                break
            chain.append(record)
            parent = record.get("ParentId")
            current = str(parent) if parent else None
        # Records read with GET carry no nested parent: each parent (mapped first, top-down)
        # lends its canonical id to its child.
        known: dict[str, str] = {}
        out: list[CrmAccount] = []
        for record in reversed(chain):
            account = _account(record, known)
            if account.customer is not None:
                known[account.crm_id] = account.customer.id
            out.append(account)
        return tuple(out)

    @override
    def merged_accounts(self, crm_id: str) -> tuple[MergedAccount, ...]:
        if not crm_id.isalnum():
            return ()
        rows = self._connector.query(
            "SELECT Id, Name, MasterRecordId, Accord_Id__c FROM Account "  # noqa: S608 - id checked
            f"WHERE MasterRecordId = '{crm_id}' AND IsDeleted = true",
            resource=_ACCOUNT,
            include_deleted=True,
        )
        return tuple(
            MergedAccount(
                crm_id=str(row.get("Id")),
                id=canonical_id(str(row.get("Id")), row.get(EXTERNAL_ID_FIELD)),
                name=_text(row, "Name"),
            )
            for row in rows
        )

    # ----------------------------------------------------------------- writes
    @override
    def write_back(
        self,
        crm_id: str,
        status: str,
        *,
        psa_project_id: str | None = None,
        erp_project_id: str | None = None,
    ) -> None:
        item = WriteBack(crm_id, status, psa_project_id, erp_project_id)
        self._connector.update(_OPPORTUNITY, crm_id, _write_back_fields(item))

    @override
    def write_backs(self, items: Sequence[WriteBack]) -> list[ConnectorError | None]:
        """Through sObject Collections, 200 opportunities a call (see the module docstring)."""
        return self._connector.update_many(
            _OPPORTUNITY, [(item.crm_id, _write_back_fields(item)) for item in items]
        )

    @override
    def upsert_account(self, customer: Customer) -> WriteResult:
        return self._connector.upsert(_ACCOUNT, customer.id, customer_to_account(customer))

    # --- reconciliation: deals and accounts by ``Id IN (...)`` (SOQL batches) -------------
    @override
    def deals(
        self, crm_ids: Collection[str], *, lane: Lane = BACKGROUND
    ) -> dict[str, CrmOpportunity]:
        rows = records_in(self._connector, _OPPORTUNITY, crm_ids, lane=lane)
        return {deal.crm_id: deal for deal in map(_opportunity, rows)}

    @override
    def accounts(
        self, crm_ids: Collection[str], *, lane: Lane = BACKGROUND
    ) -> dict[str, CrmAccount]:
        rows = records_in(self._connector, _ACCOUNT, crm_ids, lane=lane)
        return {account.crm_id: account for account in map(_account, rows)}

    @override
    def existing(
        self, entity_type: str, ids: Collection[str], *, lane: Lane = BACKGROUND
    ) -> set[str] | None:
        resource = _EXISTING.get(entity_type)
        if resource is None:
            return None
        return {str(r.get("Id")) for r in records_in(self._connector, resource, ids, lane=lane)}


def _write_back_fields(item: WriteBack) -> dict[str, Any]:
    body: dict[str, Any] = {"Integration_Status__c": item.status}
    if item.psa_project_id is not None:
        body["PSA_Project_Id__c"] = item.psa_project_id
    if item.erp_project_id is not None:
        body["ERP_Project_Id__c"] = item.erp_project_id
    return body


def _opportunity(record: RawRecord) -> CrmOpportunity:
    sf_id = str(record.get("Id") or "")
    status = record.get("Integration_Status__c")
    opportunity: Opportunity | None = None
    problems: dict[str, str] = {}
    try:
        opportunity = opportunity_to_canonical(record)
    except RecordMappingError as exc:
        problems = dict(exc.problems)
    return CrmOpportunity(
        crm_id=sf_id,
        id=canonical_id(sf_id, record.get(EXTERNAL_ID_FIELD)),
        name=str(record.get("Name") or sf_id),
        won=record.get("StageName") == WON,
        status=str(status) if status is not None else None,
        opportunity=opportunity,
        problems=problems,
    )


def _account(record: RawRecord, known: Mapping[str, str] | None = None) -> CrmAccount:
    sf_id = str(record.get("Id") or "")
    customer: Customer | None = None
    problems: dict[str, str] = {}
    try:
        customer = account_to_customer(record, lookups={_ACCOUNT: dict(known or {})})
    except RecordMappingError as exc:
        problems = dict(exc.problems)
    parent = record.get("ParentId")
    return CrmAccount(
        crm_id=sf_id,
        id=canonical_id(sf_id, record.get(EXTERNAL_ID_FIELD)),
        name=str(record.get("Name") or sf_id),
        parent_crm_id=str(parent) if parent else None,
        parent_id=canonical_id(str(parent), None) if parent else None,
        customer=customer,
        problems=problems,
        legal_entity=_text(record, "Legal_Entity__c"),
        tax_region=_text(record, "Tax_Region__c"),
        bill_to={
            "line1": _text(record, "BillingStreet"),
            "city": _text(record, "BillingCity"),
            "postal_code": _text(record, "BillingPostalCode"),
            "country": _text(record, "BillingCountry"),
        },
    )
