"""Record-type definitions of the NetSuite emulator and the decoding of request bodies.

Each REST record type (``customer``, ``job``, ``timeBill``...) is a :class:`RecordType`: which
fields reference which record types, which are dates, numbers, flags or fixed selects, which
sublists it has and what SuiteQL table it appears in. Field lists follow reference section 4.5,
which itself marks them [inferred]. :func:`decode_body` turns a JSON body into the stored form
(references as ``{"id": "7"}``, sublists as ``{"items": [...]}``) and refuses malformed values.
Business rules that need other records (existence, periods, inactive projects) are in
:mod:`accord_sandbox.netsuite.book`; nothing here touches the store.
"""

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any

from accord_sandbox.netsuite.errors import NetSuiteError, unknown_field_detail

__all__ = [
    "APPROVAL_STATUS",
    "CUSTOM_FIELDS",
    "EID_PATTERN",
    "FIRM_CUSTOM_FIELDS",
    "JOB_STATUS",
    "PROJECT_TASK_STATUS",
    "RECORD_TYPES",
    "TRANSACTION_TYPES",
    "VENDOR_BILL_STATUS",
    "FieldNames",
    "RecordType",
    "SublistType",
    "decode_body",
    "json_schema",
    "parse_hours",
    "ref_id",
    "stored_money",
]

Record = dict[str, Any]


def ref_id(rec: Record, name: str) -> str | None:
    """The internal id a stored reference field holds (``{"id": "7"}``), or ``None``."""
    value = rec.get(name)
    return str(value["id"]) if isinstance(value, dict) and value.get("id") is not None else None


def stored_money(value: Any) -> Decimal:  # noqa: ANN401 - stored JSON numbers
    """A stored amount as a ``Decimal`` (``None``: zero)."""
    return Decimal(str(value)) if value is not None else Decimal(0)


EID_PATTERN = re.compile(r"^[A-Za-z0-9_-]+$")
"""Characters allowed in an external id used in a URL (reference section 4.2)."""

# [inferred] Internal ids and names of fixed select lists; the reference names the fields only.
APPROVAL_STATUS = {"1": "Pending Approval", "2": "Approved", "3": "Rejected"}
"""``approvalStatus`` values of time bills and expense reports."""
JOB_STATUS = {
    "1": "Closed",
    "2": "In Progress",
    "3": "Not Awarded",
    "4": "Pending",
    # Project statuses are an account list (Setup > Accounting Lists); the sandbox account adds
    # an "On Hold" status [inferred].
    "5": "On Hold",
}
"""``entityStatus`` values of projects; ``1`` (Closed) refuses new time."""
PROJECT_TASK_STATUS = {
    "NOTSTART": "Not Started",
    "PROGRESS": "In Progress",
    "COMPLETE": "Completed",
}
"""``status`` of project tasks ([inferred] internal ids; the labels are the UI's)."""
VENDOR_BILL_STATUS = {"A": "Open", "B": "Paid In Full", "D": "Pending Approval"}
"""Read-only vendor-bill ``status``, by SuiteQL letter code ([inferred] codes)."""
JOB_BILLING_TYPE = {
    "TM": "Time and Materials",
    "FBM": "Fixed Bid, Milestone",
    "FBI": "Fixed Bid, Interval",
    "CB": "Charge-Based",
}
"""``jobBillingType`` values (reference: "T&M / fixed bid")."""
CREDIT_HOLD = {"AUTO": "Auto", "ON": "On", "OFF": "Off"}
"""``creditHoldOverride`` values; ``ON`` refuses new sales orders and invoices."""
INVOICE_STATUS = {"A": "Open", "B": "Paid In Full"}
"""Read-only invoice ``status`` (reference: Open / Paid In Full), keyed by SuiteQL letter code."""
SALES_ORDER_STATUS = {"A": "Pending Approval", "B": "Pending Fulfillment", "F": "Pending Billing"}
"""Sales-order ``status``; new orders start at ``B``."""
PAYMENT_STATUS = {"C": "Deposited", "B": "Not Deposited"}
"""Customer-payment ``status``; payments start undeposited."""
EXPENSE_STATUS = {
    "A": "In Progress",
    "B": "Pending Supervisor Approval",
    "F": "Approved by Accounting",
}
"""Expense-report ``status``."""

ACCESS_ERROR_BODY = "Error while accessing a resource. The request body must be a JSON object."
"""[inferred] detail for a body that is not a JSON object."""


@dataclass(frozen=True)
class SublistType:
    """A sublist such as ``expense`` or ``item``: its line fields and their kinds."""

    refs: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    dates: tuple[str, ...] = ()
    numbers: tuple[str, ...] = ()
    flags: tuple[str, ...] = ()
    required: tuple[tuple[str, str], ...] = ()
    text: tuple[str, ...] = ()
    objects: tuple[str, ...] = ()
    """Fields holding a nested object stored as given (an address book line's address)."""


@dataclass(frozen=True)
class RecordType:
    """One REST record type: field kinds, sublists, id space and SuiteQL table."""

    name: str
    table: str
    id_space: str
    label: str
    writable: bool = True
    posting: bool = False
    tran_type: str | None = None
    refs: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    """Reference fields and the record types their id may name; empty tuple = not emulated."""
    dates: tuple[str, ...] = ()
    numbers: tuple[str, ...] = ()
    flags: tuple[str, ...] = ()
    selects: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    sublists: Mapping[str, SublistType] = field(default_factory=dict)
    required: tuple[tuple[str, str], ...] = ()
    """(field, UI label) pairs that must have a value; the label is used in the message."""
    readonly: tuple[str, ...] = ()
    defaults: Mapping[str, Any] = field(default_factory=dict)
    text: tuple[str, ...] = ()
    """Plain fields exposed as SuiteQL columns (references, dates and flags are added)."""

    def columns(self) -> list[str]:
        """Lower-case SuiteQL column names of this type ([inferred] standard SuiteQL names)."""
        names = ["id", *self.text, *self.refs, *self.dates, *self.numbers, *self.flags]
        names += [*self.selects, "externalId", "lastModifiedDate"]
        names.append("createdDate" if self.tran_type else "dateCreated")
        if self.tran_type:
            names += ["type", "tranId", "status", "foreignTotal"]
        out: list[str] = []
        for n in names:
            low = n.lower()
            if low not in out:
                out.append(low)
        return out


_DIMENSIONS: dict[str, tuple[str, ...]] = {
    "department": ("department",),
    "class": ("classification",),
    "location": ("location",),
}
_ITEM_LINES = SublistType(
    refs={
        "item": ("serviceItem",),
        "job": ("job",),
        "customer": ("customer", "job"),
        **_DIMENSIONS,
    },
    numbers=("quantity", "rate", "amount"),
    flags=("isBillable",),
    required=(("item", "Item"),),
    text=("description", "memo"),
)
_ADDRESS_LINES = SublistType(
    flags=("defaultBilling", "defaultShipping", "isResidential"),
    text=("label",),
    objects=("addressBookAddress",),
)
_TRANSACTION_READONLY = ("total", "subTotal", "amountPaid", "amountRemaining", "status")


def _transaction(**spec: Any) -> RecordType:  # noqa: ANN401 - RecordType keywords
    """A transaction type: the SuiteQL ``transaction`` table and id space, read-only totals."""
    spec.setdefault("readonly", _TRANSACTION_READONLY)
    return RecordType(table="transaction", id_space="transaction", **spec)


def _segment(name: str, label: str) -> RecordType:
    """A classification segment (department, class, location): a read-only, seeded list."""
    return RecordType(
        name=name,
        table=name,
        id_space=name,
        label=label,
        writable=False,
        flags=("isInactive", "includeChildren"),
        text=("name",),
    )


RECORD_TYPES: dict[str, RecordType] = {
    t.name: t
    for t in (
        RecordType(
            name="customer",
            table="customer",
            id_space="entity",
            label="Customer",
            refs={
                "parent": ("customer",),
                "subsidiary": ("subsidiary",),
                "currency": ("currency",),
                "terms": (),
                "salesRep": ("employee",),
            },
            flags=("isPerson", "isInactive"),
            selects={"creditHoldOverride": CREDIT_HOLD},
            sublists={"addressBook": _ADDRESS_LINES},
            required=(("subsidiary", "Primary Subsidiary"),),
            defaults={"isPerson": False, "isInactive": False, "creditHoldOverride": {"id": "AUTO"}},
            text=("entityId", "companyName", "firstName", "lastName", "email", "phone", "comments"),
        ),
        RecordType(
            name="job",
            table="job",
            id_space="entity",
            label="Project",
            refs={
                "parent": ("customer",),
                "subsidiary": ("subsidiary",),
                "currency": ("currency",),
                "projectManager": ("employee",),
                "jobType": (),
                **_DIMENSIONS,
            },
            dates=("startDate", "projectedEndDate", "endDate"),
            flags=("allowTime", "allowExpenses", "limitTimeToAssignees", "isInactive"),
            selects={"entityStatus": JOB_STATUS, "jobBillingType": JOB_BILLING_TYPE},
            # The project's resources ("Resources" subtab): employees on the project team.
            # [inferred] column ids; ``role`` (the project resource role list) is not emulated.
            sublists={
                "jobResources": SublistType(
                    refs={"jobResource": ("employee",), "role": ()},
                    required=(("jobResource", "Resource"),),
                    text=("email",),
                )
            },
            required=(("companyName", "Project Name"), ("parent", "Customer")),
            defaults={
                "allowTime": True,
                "allowExpenses": True,
                "limitTimeToAssignees": False,
                "isInactive": False,
                "entityStatus": {"id": "2"},
            },
            text=("entityId", "companyName", "comments"),
        ),
        RecordType(
            name="timeBill",
            table="timebill",
            id_space="timeBill",
            label="Time Entry",
            posting=True,
            refs={
                "employee": ("employee",),
                "customer": ("job", "customer"),
                "caseTaskEvent": ("projectTask",),
                "item": ("serviceItem",),
                "subsidiary": ("subsidiary",),
                "postingPeriod": ("accountingPeriod",),
                **_DIMENSIONS,
            },
            dates=("tranDate",),
            numbers=("hours", "rate"),
            flags=("isBillable",),
            selects={"approvalStatus": APPROVAL_STATUS},
            required=(("employee", "Employee"), ("tranDate", "Date"), ("hours", "Duration")),
            # [inferred] Integrations post approved time; real accounts default per routing.
            defaults={"isBillable": False, "approvalStatus": {"id": "2"}},
            text=("memo",),
        ),
        _transaction(
            name="expenseReport",
            label="Expense Report",
            posting=True,
            tran_type="ExpRept",
            refs={
                "entity": ("employee",),
                "subsidiary": ("subsidiary",),
                "postingPeriod": ("accountingPeriod",),
                "account": (),
                "currency": ("currency",),
                **_DIMENSIONS,
            },
            dates=("tranDate",),
            flags=("supervisorApproval", "accountingApproval"),
            selects={"approvalStatus": APPROVAL_STATUS},
            sublists={
                "expense": SublistType(
                    refs={
                        "category": ("expenseCategory",),
                        "currency": ("currency",),
                        "customer": ("job", "customer"),
                        **_DIMENSIONS,
                    },
                    dates=("expenseDate",),
                    numbers=("amount", "quantity", "rate", "foreignAmount", "exchangeRate"),
                    flags=("isBillable",),
                    required=(("amount", "Amount"),),
                    text=("memo",),
                )
            },
            required=(("entity", "Employee"),),
            defaults={"supervisorApproval": True, "accountingApproval": True},
            text=("memo", "tranId"),
        ),
        _transaction(
            name="invoice",
            label="Invoice",
            posting=True,
            tran_type="CustInvc",
            refs={
                "entity": ("customer", "job"),
                "subsidiary": ("subsidiary",),
                "currency": ("currency",),
                "postingPeriod": ("accountingPeriod",),
                "terms": (),
                "account": (),
                **_DIMENSIONS,
            },
            dates=("tranDate", "dueDate"),
            sublists={"item": _ITEM_LINES},
            required=(("entity", "Customer"),),
            text=("memo", "tranId", "otherRefNum"),
        ),
        _transaction(
            name="salesOrder",
            label="Sales Order",
            tran_type="SalesOrd",
            refs={
                "entity": ("customer", "job"),
                "subsidiary": ("subsidiary",),
                "currency": ("currency",),
                "terms": (),
                **_DIMENSIONS,
            },
            dates=("tranDate", "startDate", "endDate"),
            sublists={"item": _ITEM_LINES},
            required=(("entity", "Customer"),),
            text=("memo", "tranId", "otherRefNum"),
        ),
        _transaction(
            name="customerPayment",
            label="Payment",
            posting=True,
            tran_type="CustPymt",
            refs={
                "customer": ("customer", "job"),
                "subsidiary": ("subsidiary",),
                "currency": ("currency",),
                "postingPeriod": ("accountingPeriod",),
                "account": (),
                **_DIMENSIONS,
            },
            dates=("tranDate",),
            numbers=("payment",),
            sublists={
                "apply": SublistType(
                    refs={"doc": ("invoice",)},
                    numbers=("amount",),
                    flags=("apply",),
                    required=(("doc", "Applied To"),),
                )
            },
            required=(("customer", "Customer"), ("payment", "Payment Amount")),
            text=("memo", "tranId", "checkNum"),
        ),
        # Multi-Subsidiary Customer (OneWorld): the record that makes a customer available
        # to a further subsidiary. REST record ``customerSubsidiaryRelationship``: entity and
        # subsidiary required, isPrimarySub and primaryCurrency (SOAP schema browser).
        RecordType(
            name="customerSubsidiaryRelationship",
            table="customersubsidiaryrelationship",
            id_space="customerSubsidiaryRelationship",
            label="Customer-Subsidiary Relationship",
            refs={
                "entity": ("customer",),
                "subsidiary": ("subsidiary",),
                "primaryCurrency": ("currency",),
            },
            flags=("isPrimarySub",),
            required=(("entity", "Customer"), ("subsidiary", "Subsidiary")),
            defaults={"isPrimarySub": False},
        ),
        # OneWorld's journal between two subsidiaries (REST ``intercompanyJournalEntry``):
        # subsidiary, toSubsidiary, currency (the base of one of them), exchangeRate, and
        # ``line`` items each naming the subsidiary it books in ([inferred] REST name
        # ``lineSubsidiary``, as in the SOAP schema).
        _transaction(
            name="intercompanyJournalEntry",
            label="Intercompany Journal Entry",
            posting=True,
            tran_type="Journal",
            refs={
                "subsidiary": ("subsidiary",),
                "toSubsidiary": ("subsidiary",),
                "currency": ("currency",),
                "postingPeriod": ("accountingPeriod",),
                **_DIMENSIONS,
            },
            dates=("tranDate",),
            numbers=("exchangeRate",),
            flags=("approved",),
            sublists={
                "line": SublistType(
                    refs={
                        "lineSubsidiary": ("subsidiary",),
                        "account": (),
                        "entity": ("customer", "job", "employee"),
                        **_DIMENSIONS,
                    },
                    numbers=("debit", "credit"),
                    flags=("eliminate",),
                    required=(("lineSubsidiary", "Subsidiary"), ("account", "Account")),
                    text=("memo",),
                )
            },
            required=(("subsidiary", "Subsidiary"), ("toSubsidiary", "To Subsidiary")),
            readonly=(*_TRANSACTION_READONLY, "debitTotal", "creditTotal"),
            defaults={"approved": True},
            text=("memo", "tranId"),
        ),
        # Project tasks (REST record ``projectTask``): the project is ``company``, the estimate
        # ``estimatedWork`` (hours); ``actualWork`` and ``percentWorkComplete`` are computed from
        # the time booked to the task (``timeBill.caseTaskEvent``). Field ids follow NetSuite's
        # REST API Browser names [inferred, the reference does not list them].
        RecordType(
            name="projectTask",
            table="projecttask",
            id_space="projectTask",
            label="Project Task",
            refs={"company": ("job",), "parent": ("projectTask",)},
            dates=("startDate", "endDate"),
            numbers=("estimatedWork", "actualWork", "remainingWork", "percentWorkComplete"),
            flags=("nonBillableTask", "isMilestone"),
            selects={"status": PROJECT_TASK_STATUS},
            sublists={
                "assignee": SublistType(
                    refs={"resource": ("employee",), "serviceItem": ("serviceItem",)},
                    numbers=("plannedWork", "unitCost", "units"),
                    required=(("resource", "Resource"),),
                )
            },
            required=(("title", "Name"), ("company", "Project")),
            readonly=("actualWork", "remainingWork", "percentWorkComplete"),
            defaults={"status": {"id": "NOTSTART"}, "nonBillableTask": False},
            text=("title", "message"),
        ),
        # Vendors and their bills (REST records ``vendor``, ``vendorBill``); a bill's expense
        # lines charge a project through ``customer`` and may be re-billed (``isBillable``), as
        # the SOAP ``VendorBillExpense`` type documents [REST ids inferred from it].
        RecordType(
            name="vendor",
            table="vendor",
            id_space="entity",
            label="Vendor",
            refs={"subsidiary": ("subsidiary",), "currency": ("currency",)},
            flags=("isPerson", "isInactive"),
            required=(("companyName", "Company Name"), ("subsidiary", "Primary Subsidiary")),
            defaults={"isPerson": False, "isInactive": False},
            text=("entityId", "companyName", "email"),
        ),
        _transaction(
            name="vendorBill",
            label="Bill",
            posting=True,
            tran_type="VendBill",
            refs={
                "entity": ("vendor",),
                "subsidiary": ("subsidiary",),
                "currency": ("currency",),
                "postingPeriod": ("accountingPeriod",),
                "account": (),
                **_DIMENSIONS,
            },
            dates=("tranDate", "dueDate"),
            selects={"approvalStatus": APPROVAL_STATUS},
            sublists={
                "expense": SublistType(
                    refs={
                        "account": (),
                        "category": ("expenseCategory",),
                        "customer": ("job", "customer"),
                        "projectTask": ("projectTask",),
                        **_DIMENSIONS,
                    },
                    numbers=("amount",),
                    flags=("isBillable",),
                    required=(("amount", "Amount"),),
                    text=("memo",),
                )
            },
            required=(("entity", "Vendor"),),
            defaults={"approvalStatus": {"id": "2"}},
            text=("memo", "tranId"),
        ),
        # Read-only lists, seeded from the firm.
        RecordType(
            name="currencyRate",
            table="currencyrate",
            id_space="currencyRate",
            label="Currency Exchange Rate",
            writable=False,
            # 1 transactionCurrency = exchangeRate baseCurrency from effectiveDate (REST
            # record ``currencyRate``; the SOAP getCurrencyRate answers the same table).
            refs={"baseCurrency": ("currency",), "transactionCurrency": ("currency",)},
            dates=("effectiveDate",),
            numbers=("exchangeRate",),
        ),
        RecordType(
            name="subsidiary",
            table="subsidiary",
            id_space="subsidiary",
            label="Subsidiary",
            writable=False,
            refs={"currency": ("currency",), "parent": ("subsidiary",)},
            flags=("isInactive",),
            text=("name", "country"),
        ),
        _segment("department", "Department"),
        _segment("classification", "Class"),
        _segment("location", "Location"),
        # [inferred] Service items are the item type time and services bill through; other
        # item types (inventory, non-inventory, other charge) are not emulated.
        RecordType(
            name="serviceItem",
            table="item",
            id_space="item",
            label="Service Item",
            writable=False,
            flags=("isInactive",),
            # [inferred] SuiteQL's item table: ``itemtype`` tells service from other items.
            text=("itemId", "displayName", "itemType"),
        ),
        RecordType(
            name="expenseCategory",
            table="expensecategory",
            id_space="expenseCategory",
            label="Expense Category",
            writable=False,
            flags=("isInactive",),
            text=("name", "description"),
        ),
        RecordType(
            name="employee",
            table="employee",
            id_space="entity",
            label="Employee",
            writable=False,
            refs={"subsidiary": ("subsidiary",), **_DIMENSIONS},
            numbers=("laborCost",),
            flags=("isInactive",),
            text=("entityId", "firstName", "lastName", "email", "title"),
        ),
        RecordType(
            name="accountingPeriod",
            table="accountingperiod",
            id_space="accountingPeriod",
            label="Accounting Period",
            writable=False,
            dates=("startDate", "endDate"),
            flags=("closed", "isPosting", "isQuarter", "isYear", "isAdjust"),
            text=("periodName",),
        ),
        RecordType(
            name="currency",
            table="currency",
            id_space="currency",
            label="Currency",
            writable=False,
            flags=("isBaseCurrency", "isInactive"),
            text=("name", "symbol"),
        ),
    )
}
"""Every emulated REST record type, by its REST name."""

TRANSACTION_TYPES = tuple(t for t in RECORD_TYPES.values() if t.table == "transaction")
"""The record types that share the SuiteQL ``transaction`` table (and one id space)."""


def parse_hours(value: object, path: str) -> float:
    """``hours`` as a decimal number; NetSuite also takes ``"8:30"`` (reference section 4.5)."""
    if isinstance(value, bool):
        raise _bad_value(path)
    if isinstance(value, str) and ":" in value:
        h, _, m = value.partition(":")
        if h.isdigit() and m.isdigit() and int(m) < 60:
            return round(int(h) + int(m) / 60, 4)
        raise _bad_value(path)
    return _number(value, path)


def _bad_value(path: str) -> NetSuiteError:
    # INVALID_FLD_VALUE is an observed code (reference section 4.3); the field name is [inferred].
    return NetSuiteError(
        400, "INVALID_FLD_VALUE", f"Invalid Field Value for the following field: {path}", path=path
    )


def _number(value: object, path: str) -> float:
    if isinstance(value, bool):
        raise _bad_value(path)
    try:
        num = Decimal(str(value))
    except InvalidOperation:
        raise _bad_value(path) from None
    if not num.is_finite():
        raise _bad_value(path)
    return float(num)


def _date(value: object, path: str) -> str:
    if isinstance(value, str):
        try:
            return date.fromisoformat(value[:10]).isoformat()
        except ValueError:
            pass
    # Verbatim observed message (reference section 4.3).
    raise NetSuiteError(400, "INVALID_FLD_VALUE", "Invalid date value.", path=path)


def _ref(value: object, path: str) -> dict[str, str]:
    if isinstance(value, dict) and isinstance(value.get("id"), str | int):
        return {"id": str(value["id"])}
    # [inferred] INVALID_KEY_OR_REF for a reference that is not an object with an id.
    raise NetSuiteError(
        400,
        "INVALID_KEY_OR_REF",
        f"Invalid {path.rsplit('.', 1)[-1]} reference key {value!r}.",
        path=path,
    )


def _select(value: object, options: Mapping[str, str], path: str) -> dict[str, str]:
    key = value.get("id") if isinstance(value, dict) else value
    if isinstance(key, str | int) and str(key) in options:
        return {"id": str(key)}
    raise NetSuiteError.invalid_ref(key, path.rsplit(".", 1)[-1], path=path)


def _known(kinds: RecordType | SublistType, selects: Mapping[str, Mapping[str, str]]) -> set[str]:
    names = {*kinds.refs, *kinds.dates, *kinds.numbers, *kinds.flags, *kinds.text, *selects}
    names |= {"id", "links", "refName", "externalId"}
    if isinstance(kinds, RecordType):
        names |= {*kinds.sublists, *kinds.readonly}
    else:
        names |= set(kinds.objects)
    return names


@dataclass(frozen=True)
class FieldNames:
    """How a write treats property names the record does not have (``X-NetSuite-...``).

    NetSuite's REST API Browser (Record API v1) documents the request header
    ``X-NetSuite-PropertyNameValidation`` with the values ``Error``, ``Warning`` and ``Ignore``
    and the default ``Warning`` on every insert, update and upsert: with ``Error`` an unknown
    property refuses the write; otherwise it is not stored. Custom fields exist only where the
    account defines them (``custom``).
    """

    refuse_unknown: bool = False
    custom: frozenset[str] = frozenset()

    @classmethod
    def from_header(cls, value: str | None, custom: frozenset[str]) -> "FieldNames":
        """Read the header (case-insensitive; absent means ``Warning``).

        Raises:
            NetSuiteError: 400 ``INVALID_PARAMETER`` for a value outside the three.
        """
        mode = (value or "Warning").strip().lower()
        if mode not in {"error", "warning", "ignore"}:
            raise NetSuiteError(
                400,
                "INVALID_PARAMETER",
                f"Invalid value for the header X-NetSuite-PropertyNameValidation: {value}. "
                "Use Error, Warning or Ignore.",
                header="X-NetSuite-PropertyNameValidation",
            )
        return cls(refuse_unknown=mode == "error", custom=custom)


def _decode_value(  # noqa: PLR0911 - one answer per kind of field reads best
    kinds: RecordType | SublistType,
    selects: Mapping[str, Mapping[str, str]],
    key: str,
    value: Any,  # noqa: ANN401 - a JSON value
    path: str,
) -> Any:  # noqa: ANN401 - the stored form of that value
    if value is None:
        return None
    if key == "hours" and isinstance(kinds, RecordType) and kinds.name == "timeBill":
        return parse_hours(value, path)
    if key in kinds.refs:
        return _ref(value, path)
    if key in selects:
        return _select(value, selects[key], path)
    if key in kinds.dates:
        return _date(value, path)
    if key in kinds.numbers:
        return _number(value, path)
    if key in kinds.flags:
        if not isinstance(value, bool):
            raise _bad_value(path)
        return value
    return str(value) if key == "externalId" else value


def _decode_fields(
    body: Mapping[str, Any],
    kinds: RecordType | SublistType,
    prefix: str,
    *,
    readonly: tuple[str, ...] = (),
    selects: Mapping[str, Mapping[str, str]] | None = None,
    names: FieldNames,
) -> Record:
    selects = selects or {}
    known = _known(kinds, selects) | names.custom
    out: Record = {}
    for key, value in body.items():
        path = f"{prefix}{key}"
        if key not in known:
            if names.refuse_unknown:
                raise NetSuiteError(400, "USER_ERROR", unknown_field_detail(key), path=path)
            continue  # Warning / Ignore: the property is left out of the record
        if key in ("id", "links", "refName", *readonly):
            # Read-only and computed fields are ignored, not refused [inferred].
            continue
        out[key] = _decode_value(kinds, selects, key, value, path)
    return out


def decode_body(
    rtype: RecordType,
    body: object,
    *,
    names: FieldNames | None = None,
    custom_lines: Mapping[str, frozenset[str]] | None = None,
) -> Record:
    """Validate the shape of a write body and return it in stored form.

    Sublists must come as ``{"items": [...]}``; each line is decoded like a record. References
    are not resolved here: :class:`accord_sandbox.netsuite.book.RecordBook` checks that they exist.
    ``names`` says what an unknown property does (see :class:`FieldNames`); ``custom_lines``
    holds the custom column fields the account defines per sublist.

    Raises:
        NetSuiteError: a value has the wrong shape, or an unknown property under ``Error`` (400).
    """
    names = names or FieldNames()
    if not isinstance(body, dict):
        raise NetSuiteError.user(ACCESS_ERROR_BODY)
    plain = {k: v for k, v in body.items() if k not in rtype.sublists}
    out = _decode_fields(
        plain, rtype, "", readonly=rtype.readonly, selects=rtype.selects, names=names
    )
    for name, sub in rtype.sublists.items():
        if name not in body:
            continue
        raw = body[name]
        items = raw.get("items") if isinstance(raw, dict) else None
        if not isinstance(items, list):
            raise NetSuiteError(
                400,
                "INVALID_FLD_VALUE",
                f"Invalid value for the sublist {name}: expected an object with items.",
                path=name,
            )
        line_names = FieldNames(
            refuse_unknown=names.refuse_unknown, custom=(custom_lines or {}).get(name, frozenset())
        )
        lines: list[Record] = []
        for i, line in enumerate(items):
            if not isinstance(line, dict):
                raise _bad_value(f"{name}.items[{i}]")
            lines.append(_decode_fields(line, sub, f"{name}.items[{i}].", names=line_names))
        out[name] = {"items": lines}
    return out


CUSTOM_FIELDS: dict[str, tuple[str, ...]] = {
    "customer": ("custentity_accord_tax_region",),
    "invoice.item": ("custcol_accord_source_id", "custcol_accord_source_kind"),
}
"""The emulated account's custom fields by record type (``type.sublist`` for line columns):
Accord's setup kit, deployed. Stored and returned like any field; listed by the metadata
catalog."""


FIRM_CUSTOM_FIELDS: dict[str, tuple[str, ...]] = {
    "job": ("custentity_delivery_health", "custentity_customer_po"),
}
"""The sandbox firm's own custom fields ([inferred] set-up): not Accord's kit, but project
fields its rules keep in step (``rules/default.yaml`` ``custom_fields``)."""


def _properties(
    refs: Mapping[str, Any],
    dates: tuple[str, ...],
    numbers: tuple[str, ...],
    flags: tuple[str, ...],
    custom: tuple[str, ...],
) -> dict[str, Any]:
    props: dict[str, Any] = {name: {"type": "object", "title": name} for name in refs}
    props |= {name: {"type": "string", "format": "date"} for name in dates}
    props |= {name: {"type": "number"} for name in numbers}
    props |= {name: {"type": "boolean"} for name in flags}
    props |= {name: {"type": "string", "x-ns-custom-field": True} for name in custom}
    return props


def json_schema(rtype: RecordType) -> dict[str, Any]:
    """The metadata catalog's JSON Schema of a record type ([inferred] simplified)."""
    props = _properties(
        rtype.refs,
        rtype.dates,
        rtype.numbers,
        rtype.flags,
        CUSTOM_FIELDS.get(rtype.name, ()) + FIRM_CUSTOM_FIELDS.get(rtype.name, ()),
    )
    props |= {name: {"type": "string"} for name in (*rtype.text, "externalId")}
    props |= {name: {"type": "object", "title": name} for name in rtype.selects}
    for name, sublist in rtype.sublists.items():
        columns = _properties(
            sublist.refs,
            sublist.dates,
            sublist.numbers,
            sublist.flags,
            CUSTOM_FIELDS.get(f"{rtype.name}.{name}", ()),
        )
        line = {"type": "object", "properties": columns}
        props[name] = {"type": "object", "properties": {"items": {"type": "array", "items": line}}}
    return {
        "type": "object",
        "properties": props,
        "$schema": "https://json-schema.org/draft-06/hyper-schema#",
    }
