"""A customer's open receivables, read from its ERP, and the CRM status they mean.

The CRM's receivable fields are written as absolute values computed from the ERP's current
state (never incremented per event): steps are at-least-once and events may arrive out of
order, so only a recomputation from the source of truth is idempotent.

- NetSuite: two SuiteQL reads: the customer's projects (``job.parent``), then the invoices of
  the customer and its projects (``transaction`` rows of type ``CustInvc``); each one not paid
  in full is read from the record API for its ``amountRemaining`` and ``dueDate``.
- Business Central: ``salesInvoices`` of the customer whose ``status`` is ``Open``.

Both are single bounded reads through the connector's HTTP client (its auth, budget and error
translation); the connectors expose no query method for them.
"""

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from accord.connectors.base import Connector

__all__ = ["OpenItems", "ar_status", "bc_open_items", "netsuite_open_items"]

_MAX_ROWS = 1000
_PAID_IN_FULL = "B"
"""SuiteQL status letter of an invoice paid in full (``CustInvc:B``) [inferred]."""


@dataclass(frozen=True)
class OpenItems:
    """A customer's receivables in one ERP, as of now.

    Attributes:
        balance: Sum of what is still due on its posted invoices.
        overdue: The part of ``balance`` past its due date.
        count: Invoices with something still due.
        posted: Posted invoices (open or paid).
        last_number: Number of the latest posted invoice (by date, then id), if any.
    """

    balance: Decimal
    overdue: Decimal
    count: int
    posted: int = 0
    last_number: str | None = None


@dataclass(frozen=True)
class _Row:
    remaining: Decimal
    due: dt.date | None
    order: tuple[str, str]
    number: str | None


def ar_status(items: OpenItems) -> str:
    """The CRM's ``AR_Status__c`` value for a customer's receivables.

    ``Overdue`` when anything open is past due; ``Paid`` when invoices were posted and nothing
    is due; else ``Current``. It depends on the ERP's state only, never on which event asked:
    runs about different invoices may finish in any order.
    """
    if items.overdue > 0:
        return "Overdue"
    if items.balance == 0 and items.posted > 0:
        return "Paid"
    return "Current"


def _suiteql(connector: Connector[Any], query: str) -> list[dict[str, Any]]:
    response = connector.send(
        "POST",
        "/query/v1/suiteql",
        resource="invoice",
        params={"limit": _MAX_ROWS, "offset": 0},
        json={"q": query},
        headers={"Prefer": "transient"},
    )
    connector.raise_for_status(response, resource="invoice")
    body = connector.json_object(response, resource="invoice")
    return [item for item in body.get("items") or () if isinstance(item, dict)]


def _int_id(value: str) -> int:
    # Internal ids are digits; anything else must never reach a query.
    if not value.isdigit():
        raise ValueError("a NetSuite internal id is a number")
    return int(value)


def _date(value: object) -> dt.date | None:
    text = str(value or "")[:10]
    for fmt in ("%Y-%m-%d", "%m/%d/%Y"):
        try:
            return dt.datetime.strptime(text, fmt).replace(tzinfo=dt.UTC).date()
        except ValueError:
            continue
    return None


def _sum(rows: list[_Row], today: dt.date) -> OpenItems:
    open_rows = [r for r in rows if r.remaining > 0]
    latest = max(rows, key=lambda r: r.order, default=None)
    return OpenItems(
        balance=sum((r.remaining for r in open_rows), Decimal(0)),
        overdue=sum(
            (r.remaining for r in open_rows if r.due is not None and r.due < today), Decimal(0)
        ),
        count=len(open_rows),
        posted=len(rows),
        last_number=latest.number if latest else None,
    )


def netsuite_open_items(
    connector: Connector[Any], customer_internal_id: str, *, today: dt.date
) -> OpenItems:
    """Receivables of a NetSuite customer and its projects."""
    customer = _int_id(customer_internal_id)
    jobs = _suiteql(connector, f"SELECT id FROM job WHERE parent = {customer}")  # noqa: S608
    entities = [customer, *(_int_id(str(j["id"])) for j in jobs if j.get("id") is not None)]
    query = (
        "SELECT id, tranid, trandate, status, duedate FROM transaction "  # noqa: S608 - ints
        f"WHERE type = 'CustInvc' AND entity IN ({', '.join(str(e) for e in entities)})"
    )
    rows: list[_Row] = []
    for row in _suiteql(connector, query):
        order = (str(_date(row.get("trandate")) or ""), f"{int(row['id']):012d}")
        number = str(row["tranid"]) if row.get("tranid") else None
        remaining = Decimal(0)
        due = _date(row.get("duedate"))
        if not str(row.get("status") or "").endswith(_PAID_IN_FULL):
            # The amount still due is read from the record (no documented SuiteQL column).
            record = connector.get("invoice", str(row["id"]))
            remaining = Decimal(str(record.get("amountRemaining", record.get("total")) or 0))
            due = _date(record.get("dueDate")) or due
        rows.append(_Row(remaining=remaining, due=due, order=order, number=number))
    return _sum(rows, today)


def bc_open_items(connector: Any, customer_number: str, *, today: dt.date) -> OpenItems:  # noqa: ANN401 - a company-narrowed BC connector
    """Receivables of a Business Central customer: its posted (not draft) sales invoices."""
    escaped = customer_number.replace("'", "''")
    response = connector.send(
        "GET",
        f"/companies({connector.company_id})/salesInvoices",
        resource="salesInvoices",
        params={
            "$filter": f"customerNumber eq '{escaped}' and status ne 'Draft' "
            "and status ne 'Canceled'",
            "$top": _MAX_ROWS,
        },
    )
    connector.raise_for_status(response, resource="salesInvoices")
    body = connector.json_object(response, resource="salesInvoices")
    rows = [
        _Row(
            remaining=Decimal(str(r.get("remainingAmount") or 0)),
            due=_date(r.get("dueDate")),
            order=(str(r.get("postingDate") or ""), str(r.get("number") or "")),
            number=str(r["number"]) if r.get("number") else None,
        )
        for r in body.get("value") or ()
        if isinstance(r, dict)
    ]
    return _sum(rows, today)
