"""What makes two NetSuite records one business fact, and the account's custom fields.

Duplicate counting (:meth:`accord_sandbox.common.Emulator.created`) compares each created record's
identities: its ``externalId`` and its *business identity* (issue 21), the fields that make a
second record the same fact whatever its external id. Nothing here touches the store.
"""

from typing import Any

from accord_sandbox.common import business_key
from accord_sandbox.netsuite.records import RecordType
from accord_sandbox.netsuite.records import ref_id as _ref_id

__all__ = ["ACCORD_CUSTOM_FIELDS", "BUSINESS_IDENTITY", "TRAN_PREFIX", "natural_keys"]

Record = dict[str, Any]

TRAN_PREFIX = {
    "CustInvc": "INV",
    "SalesOrd": "SO",
    "CustPymt": "PYMT",
    "ExpRept": "EXP",
    "Journal": "ICJE",
    "VendBill": "BILL",
}
"""[inferred] document-number prefixes of generated ``tranId`` values."""
ACCORD_CUSTOM_FIELDS: dict[str, frozenset[str]] = {
    "customer": frozenset({"custentity_accord_tax_region"}),
    "invoice.item": frozenset({"custcol_accord_source_id", "custcol_accord_source_kind"}),
    "salesOrder.item": frozenset({"custcol_accord_source_id", "custcol_accord_source_kind"}),
}
"""The custom fields Accord's documentation asks a firm to define (docs/connectors.md,
docs/flows/cash.md); the sandbox account has them, and no others."""
BUSINESS_IDENTITY: dict[str, tuple[str, ...]] = {
    "timeBill": ("employee", "customer", "tranDate", "hours", "memo?"),
    "expenseReport": ("entity", "tranDate", "total", "memo?"),
    "invoice": ("entity", "document", "total"),
    "salesOrder": ("entity", "document", "total"),
    "customerPayment": ("customer", "tranDate", "payment", "checkNum?"),
    "job": ("parent", "companyName"),
    "vendorBill": ("entity", "document", "total"),
    "projectTask": ("company", "title"),
    "customer": ("subsidiary", "parent?", "label"),
    "customerSubsidiaryRelationship": ("entity", "subsidiary"),
    "intercompanyJournalEntry": ("subsidiary", "toSubsidiary", "tranDate", "memo?"),
}
"""Fields that make two records one business fact (issue 21); ``?`` marks optional ones.

``document`` is the client's document number (its own ``tranId``, else ``otherRefNum``, else
the memo); ``label`` is a customer's company name, or a person's names."""


def _document(rtype: RecordType, rec: Record) -> str | None:
    """The client's document number: its own ``tranId``, else ``otherRefNum``, else memo."""
    generated = f"{TRAN_PREFIX[str(rtype.tran_type)]}{int(rec['id']):06d}"
    tran_id = rec.get("tranId")
    return (tran_id if tran_id != generated else None) or rec.get("otherRefNum") or rec.get("memo")


def _label(rec: Record) -> str:
    """A customer's company name, or a person's names."""
    if rec.get("companyName"):
        return str(rec["companyName"])
    return f"{rec.get('firstName', '')} {rec.get('lastName', '')}".strip()


def business_identity(rtype: RecordType, rec: Record) -> str | None:
    """``biz:`` + the :data:`BUSINESS_IDENTITY` fields of ``rec``, or None (none defined)."""
    fields = BUSINESS_IDENTITY.get(rtype.name)
    if fields is None:
        return None
    values: list[object] = []
    for spec in fields:
        optional, name = spec.endswith("?"), spec.rstrip("?")
        if name == "document":
            value: object = _document(rtype, rec)
        elif name == "label":
            value = _label(rec)
        else:
            raw = rec.get(name)
            value = _ref_id(rec, name) if isinstance(raw, dict) else raw
        values.append(value or ("-" if optional else None))
    return business_key(*values)


def natural_keys(rtype: RecordType, rec: Record) -> list[str]:
    """The identities duplicate counting compares: the externalId and the business identity.

    A time bill's employee, project, date, hours and memo (the source text Accord writes); an
    expense report's employee, date, total and memo; an invoice's or sales order's customer,
    document number and total; a payment's customer, date, amount and check number; a project's
    customer and name; a customer's subsidiary, parent and name.
    """
    keys = [f"eid:{rec['externalId']}"] if rec.get("externalId") else []
    business = business_identity(rtype, rec)
    if business is not None:
        keys.append(business)
    return keys
