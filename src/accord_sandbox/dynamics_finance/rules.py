"""Finance and operations' business rules as the emulator applies them.

Relations (customer, contract, project, resource, journal), defaults (currencies, line
numbers, transaction ids), financial dimension values, project stages, and the bound
actions that post journals and free text invoices. Every refusal is a
:class:`~accord_sandbox.dynamics_finance.errors.FinError`: a refused write is
``AxODataWriteException`` with the Infolog's warnings, a refused posting an X++ error from
the action. The relation texts follow the Infolog wording quoted in public write-ups ("The
value 'X' in field 'Y' is not found in the related table 'Z'."); the others are [inferred].

The sandbox's setup (journal names, categories, line properties, the stage that takes
postings, the dimension format) is in the module constants; ``docs/sandbox/dynamics_finance.md``
lists it.
"""

from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from fastapi import Request

from accord_sandbox.dynamics_finance.entities import BLANK_DATE, ENTITY_SETS, EntitySet
from accord_sandbox.dynamics_finance.errors import ACTION_ERROR, FinError, write_failed

if TYPE_CHECKING:
    from accord_sandbox.dynamics_finance.emulator import DynamicsFinanceEmulator

__all__ = [
    "DIMENSIONS",
    "DIMENSION_DELIMITER",
    "EXPENSE_CATEGORIES",
    "HOUR_CATEGORIES",
    "JOURNAL_NAMES",
    "LINE_PROPERTIES",
    "POSTING_STAGES",
    "TABLES",
    "natural_key",
    "post_invoice",
    "post_journal",
    "prepare",
    "refuse_change",
]

Record = dict[str, Any]
S = ENTITY_SETS

JOURNAL_NAMES = {
    "ProjectHourJournalHeaders": ("Hour",),
    "ProjectExpenseJournalHeaders": ("Expense",),
    "CustomerPaymentJournalHeaders": ("CustPay",),
}
"""Journal names set up per journal type [inferred names, as in Microsoft's demo data]."""
HOUR_CATEGORIES = ("Consulting",)
EXPENSE_CATEGORIES = ("Travel", "Lodging", "Meals", "Mileage", "Software", "Supplies", "Other")
LINE_PROPERTIES = ("Billable", "NonBill")
POSTING_STAGES = ("InProcess",)
"""Project stages whose stage rules allow posting hours and expenses."""
DIMENSIONS = ("Department", "Region")
"""The financial dimension integration format's dimensions, in order."""
DIMENSION_DELIMITER = "|"
"""The format's segment delimiter: ``DimensionDisplayValue`` = ``DATA-AI|DACH``. F&O's default
is ``-``; the firm's department values contain one, so the sandbox is set up with ``|``."""

TABLES = {
    "CustomersV3": ("CustCustomerV3Entity", "Customers"),
    "ProjectContractHeaders": ("ProjProjectContractHeaderEntity", "Project contracts"),
    "Projects": ("ProjProjectEntity", "Projects"),
    "ProjectOnAccountTransactions": ("ProjOnAccTransEntity", "On-account transactions"),
    "ProjectHourJournalHeaders": ("ProjJournalTableEntity", "Project journal table"),
    "ProjectHourJournalLines": ("ProjJournalTransEntity", "Project journal lines"),
    "ProjectExpenseJournalHeaders": ("ExpenseJournalHeaderEntity", "Journal names"),
    "ProjectExpenseJournalLines": ("ExpenseJournalLineEntity", "Journal lines"),
    "FreeTextInvoiceHeaders": ("CustFreeTextInvoiceHeaderEntity", "Free text invoices"),
    "FreeTextInvoiceLines": ("CustFreeTextInvoiceLineEntity", "Free text invoice lines"),
    "CustomerPaymentJournalHeaders": ("CustomerPaymentJournalHeaderEntity", "Journal names"),
    "CustomerPaymentJournalLines": ("CustomerPaymentJournalLineEntity", "Journal lines"),
    "VendorsV2": ("VendVendorV2Entity", "Vendors"),
}
"""Entity set -> (data entity class in error texts, table label in relation texts)."""


def _table(spec: EntitySet) -> str:
    return TABLES.get(spec.name, (f"{spec.type_name}Entity", spec.name))[0]


def _action_error(*messages: str) -> FinError:
    return FinError(
        400, "An error has occurred.", inner="; ".join(messages), inner_type=ACTION_ERROR
    )


def _dec(value: Any) -> Decimal:  # noqa: ANN401 - a JSON number
    return Decimal(str(value or 0))


def _blank(value: Any) -> bool:  # noqa: ANN401 - a JSON value
    return value in (None, "", BLANK_DATE, 0)


def _related(
    emu: "DynamicsFinanceEmulator",
    spec: EntitySet,
    target: str,
    *,
    company: str,
    value: object,
    label: str,
) -> Record:
    """The record of ``target`` keyed by ``value`` in the company, or the Infolog refusal."""
    found = emu.lookup(S[target], dataAreaId=company, **{S[target].keys[0]: value})
    if found is None:
        raise write_failed(
            _table(spec),
            f"The value '{value}' in field '{label}' is not found in the related table "
            f"'{TABLES.get(target, ('', target))[1]}'.",
        )
    return found


def _dimensions(emu: "DynamicsFinanceEmulator", spec: EntitySet, display: object) -> None:
    """Refuse a display value whose segments are not set up (``DATA-AI|DACH``)."""
    if not display:
        return
    segments = str(display).split(DIMENSION_DELIMITER)
    if len(segments) > len(DIMENSIONS):
        raise write_failed(
            _table(spec), f"The dimension value '{display}' has more segments than the format."
        )
    for name, value in zip(DIMENSIONS, segments, strict=False):
        if not value:
            continue
        found = emu.lookup(S["FinancialDimensionValues"], DimensionName=name, DimensionValue=value)
        if found is None or found.get("IsSuspended") == "Yes":
            raise write_failed(
                _table(spec), f"The value '{value}' for the dimension '{name}' does not exist."
            )


def natural_key(spec: EntitySet, record: Record) -> str | None:
    """What makes two creates "the same record" beyond the entity key (duplicate counting)."""
    area = record.get("dataAreaId")
    field = {
        "ProjectExpenseJournalLines": "Document",
        "CustomerPaymentJournalLines": "PaymentReference",
        "FreeTextInvoiceHeaders": "CustomersOrderReference",
    }.get(spec.name)
    if field is None or not record.get(field):
        return None
    return f"{area}|{field}:{str(record[field]).casefold()}"


# ----------------------------------------------------------------- prepare: create and update
@dataclass(frozen=True)
class _Ctx:
    emu: "DynamicsFinanceEmulator"
    spec: EntitySet
    creating: bool
    sent: frozenset[str]
    """Properties the client sent (to tell an explicit zero from a default)."""
    request: Request


def prepare(
    emu: "DynamicsFinanceEmulator",
    spec: EntitySet,
    record: Record,
    *,
    creating: bool,
    sent: frozenset[str],
    request: Request,
) -> None:
    """Fill defaults and check relations before ``record`` (the merged values) is saved."""
    handler = _PREPARE.get(spec.name)
    if handler is not None:
        handler(_Ctx(emu, spec, creating, sent, request), record)


def _customer(c: _Ctx, rec: Record) -> None:
    emu, spec = c.emu, c.spec
    if not rec.get("CustomerGroupId"):
        raise write_failed(_table(spec), "Customer group must be filled in.")
    if c.creating and not rec.get("SalesCurrencyCode"):
        rec["SalesCurrencyCode"] = emu.currency_of(rec["dataAreaId"])
    _currency(emu, spec, rec.get("SalesCurrencyCode"))
    _dimensions(emu, spec, rec.get("DefaultDimensionDisplayValue"))


def _currency(emu: "DynamicsFinanceEmulator", spec: EntitySet, code: object) -> None:
    if code and emu.lookup(S["Currencies"], CurrencyCode=code) is None:
        raise write_failed(
            _table(spec),
            f"The value '{code}' in field 'Currency' is not found in the related table "
            "'Currencies'.",
        )


def _contract(c: _Ctx, rec: Record) -> None:
    emu, spec = c.emu, c.spec
    customer = _related(
        emu,
        spec,
        "CustomersV3",
        company=rec["dataAreaId"],
        value=rec.get("CustomerAccountNumber"),
        label="Customer",
    )
    if c.creating and not rec.get("SalesCurrencyCode"):
        rec["SalesCurrencyCode"] = customer.get("SalesCurrencyCode")
    _dimensions(emu, spec, rec.get("DefaultLedgerDimensionDisplayValue"))


def _project(c: _Ctx, rec: Record) -> None:
    emu, spec = c.emu, c.spec
    area = rec["dataAreaId"]
    if rec.get("ProjectContractID"):
        contract = _related(
            emu,
            spec,
            "ProjectContractHeaders",
            company=area,
            value=rec["ProjectContractID"],
            label="Contract ID",
        )
        rec["CustomerAccount"] = contract.get("CustomerAccountNumber", "")
        rec["SalesCurrencyCode"] = contract.get("SalesCurrencyCode", "")
    elif rec.get("ProjectType") in ("TimeMaterial", "FixedPrice"):
        raise write_failed(_table(spec), "A project of this type needs a project contract.")
    if not rec.get("SalesCurrencyCode"):
        rec["SalesCurrencyCode"] = emu.currency_of(area)
    start, end = rec.get("ProjectedStartDate"), rec.get("ProjectedEndDate")
    if not _blank(start) and not _blank(end) and str(end) < str(start):
        raise write_failed(_table(spec), "The end date must not be before the start date.")
    _dimensions(emu, spec, rec.get("DefaultDimensionDisplayValue"))


def _on_account(c: _Ctx, rec: Record) -> None:
    emu, spec = c.emu, c.spec
    project = _related(
        emu,
        spec,
        "Projects",
        company=rec["dataAreaId"],
        value=rec.get("ProjectID"),
        label="Project",
    )
    if not rec.get("CurrencyId"):
        rec["CurrencyId"] = project.get("SalesCurrencyCode")
    if _dec(rec.get("Quantity")) == 0:
        rec["Quantity"] = 1
    rec["Amount"] = float(_dec(rec["Quantity"]) * _dec(rec.get("SalesPrice")))


def _journal(c: _Ctx, rec: Record) -> None:
    spec = c.spec
    names = JOURNAL_NAMES[spec.name]
    if c.creating and not rec.get("JournalName"):
        rec["JournalName"] = names[0]
    if rec.get("JournalName") not in names:
        raise write_failed(
            _table(spec),
            f"The value '{rec.get('JournalName')}' in field 'Name' is not found in the "
            "related table 'Journal names'.",
        )
    if c.creating and not rec.get("Description"):
        rec["Description"] = str(rec["JournalName"])


def _open_journal(c: _Ctx, rec: Record) -> Record:
    """The line's journal (open), its line number assigned when the client sent none."""
    emu, spec = c.emu, c.spec
    if spec.parent is None or spec.parent_key is None:  # pragma: no cover - line sets only
        raise AssertionError(spec.name)
    line_field, header_field = spec.parent_key
    header = emu.lookup(
        S[spec.parent], dataAreaId=rec["dataAreaId"], **{header_field: rec.get(line_field)}
    )
    if header is None:
        raise write_failed(
            _table(spec),
            f"The value '{rec.get(line_field)}' in field 'Journal batch number' is not found "
            "in the related table 'Journal names'.",
        )
    if header.get("Posted") == "Yes":
        raise write_failed(_table(spec), f"Journal {rec.get(line_field)} is posted.")
    if c.creating and _blank(rec.get("LineNumber")):
        siblings = emu.candidates(spec, line_field, [str(rec[line_field])])
        area = header["dataAreaId"]
        numbers = [_dec(s.get("LineNumber")) for s in siblings if s["dataAreaId"] == area]
        rec["LineNumber"] = int(max(numbers, default=Decimal(0))) + 1
    return header


def _project_for_posting(
    emu: "DynamicsFinanceEmulator", spec: EntitySet, area: str, project_id: object
) -> Record:
    project = _related(emu, spec, "Projects", company=area, value=project_id, label="Project ID")
    if project.get("ProjectStage") not in POSTING_STAGES:
        raise write_failed(
            _table(spec),
            f"Project {project_id} is in stage {project.get('ProjectStage')}; the stage does "
            "not allow transactions to be posted.",
        )
    return project


def _hour_line(c: _Ctx, rec: Record) -> None:
    emu, spec = c.emu, c.spec
    area = rec["dataAreaId"]
    _open_journal(c, rec)
    project = _project_for_posting(emu, spec, area, rec.get("ProjectID"))
    resource_area = str(rec.get("ResourceCompanyId") or area).lower()
    rec["ResourceCompanyId"] = resource_area
    resource = _related(
        emu, spec, "Resources", company=resource_area, value=rec.get("Resource"), label="Resource"
    )
    if rec.get("Category", "") == "":
        rec["Category"] = HOUR_CATEGORIES[0]
    _choice(
        spec, rec, "Category", allowed=HOUR_CATEGORIES, label="Category", table="Project categories"
    )
    if rec.get("LineProperty", "") == "":
        rec["LineProperty"] = LINE_PROPERTIES[0]
    _choice(
        spec,
        rec,
        "LineProperty",
        allowed=LINE_PROPERTIES,
        label="Line property",
        table="Line properties",
    )
    if _dec(rec.get("Hours")) <= 0:
        raise write_failed(_table(spec), "Hours must be greater than zero.")
    if _blank(rec.get("ProjectDate")):
        raise write_failed(_table(spec), "Date must be filled in.")
    if not rec.get("CurrencyId"):
        rec["CurrencyId"] = project.get("SalesCurrencyCode")
    if c.creating and "CostPrice" not in c.sent:
        rec["CostPrice"] = resource.get("CostPrice", 0)
    if c.creating and "SalesPrice" not in c.sent:
        rec["SalesPrice"] = resource.get("SalesPrice", 0)
    _dimensions(emu, spec, rec.get("DimensionDisplayValue"))
    if c.creating:
        if not rec.get("TransactionID"):
            rec["TransactionID"] = emu.next_number(area, "PTI-", 10)
        _unique_transaction(c, rec)


def _unique_transaction(c: _Ctx, rec: Record) -> None:
    """A transaction id is unique across journal lines and posted transactions."""
    emu, area, trans = c.emu, rec["dataAreaId"], str(rec["TransactionID"])
    same = [r for r in emu.candidates(c.spec, "TransactionID", [trans]) if r["dataAreaId"] == area]
    posted = emu.lookup(S["ProjectPostedTransactions"], dataAreaId=area, TransactionId=trans)
    if same or posted is not None:
        emu.count_duplicate(c.request)
        raise write_failed(
            _table(c.spec),
            f"Cannot create a record in Project journal lines (ProjJournalTrans). Transaction "
            f"number: {trans}. The record already exists.",
        )


def _expense_line(c: _Ctx, rec: Record) -> None:
    emu, spec = c.emu, c.spec
    area = rec["dataAreaId"]
    _open_journal(c, rec)
    project = _project_for_posting(emu, spec, area, rec.get("ProjId"))
    _choice(
        spec,
        rec,
        "ProjectCategory",
        allowed=EXPENSE_CATEGORIES,
        label="Category",
        table="Project categories",
    )
    if rec.get("ProjectLineProperty", "") == "":
        rec["ProjectLineProperty"] = LINE_PROPERTIES[0]
    _choice(
        spec,
        rec,
        "ProjectLineProperty",
        allowed=LINE_PROPERTIES,
        label="Line property",
        table="Line properties",
    )
    if rec.get("Resource"):
        _related(emu, spec, "Resources", company=area, value=rec["Resource"], label="Resource")
    if _dec(rec.get("DebitAmount")) <= 0:
        raise write_failed(_table(spec), "The amount must be greater than zero.")
    if _blank(rec.get("ProjectDate")):
        raise write_failed(_table(spec), "Date must be filled in.")
    if _dec(rec.get("ProjectCostQuantity")) == 0:
        rec["ProjectCostQuantity"] = 1
    if not rec.get("CurrencyCode"):
        rec["CurrencyCode"] = project.get("SalesCurrencyCode")
    _currency(emu, spec, rec["CurrencyCode"])
    _dimensions(emu, spec, rec.get("DimensionDisplayValue"))


def _choice(
    spec: EntitySet, rec: Record, field: str, *, allowed: tuple[str, ...], label: str, table: str
) -> None:
    if rec.get(field) not in allowed:
        raise write_failed(
            _table(spec),
            f"The value '{rec.get(field)}' in field '{label}' is not found in the related "
            f"table '{table}'.",
        )


def _payment_line(c: _Ctx, rec: Record) -> None:
    emu, spec = c.emu, c.spec
    area = rec["dataAreaId"]
    _open_journal(c, rec)
    customer = _related(
        emu,
        spec,
        "CustomersV3",
        company=area,
        value=rec.get("AccountDisplayValue"),
        label="Account",
    )
    if _dec(rec.get("CreditAmount")) <= 0:
        raise write_failed(_table(spec), "The credit amount must be greater than zero.")
    if not rec.get("CurrencyCode"):
        rec["CurrencyCode"] = customer.get("SalesCurrencyCode")
    if rec.get("MarkedInvoice"):
        _related(
            emu,
            spec,
            "SalesInvoiceHeadersV2",
            company=area,
            value=rec["MarkedInvoice"],
            label="Invoice",
        )


def _free_text(c: _Ctx, rec: Record) -> None:
    emu, spec = c.emu, c.spec
    if not c.creating and rec.get("IsPosted") == "Yes":
        raise write_failed(_table(spec), "The invoice is posted and cannot be changed.")
    customer = _related(
        emu,
        spec,
        "CustomersV3",
        company=rec["dataAreaId"],
        value=rec.get("CustomerAccount"),
        label="Customer",
    )
    if not rec.get("CurrencyCode"):
        rec["CurrencyCode"] = customer.get("SalesCurrencyCode")
    if _blank(rec.get("InvoiceDate")):
        rec["InvoiceDate"] = emu.today()


def _free_text_line(c: _Ctx, rec: Record) -> None:
    emu, spec = c.emu, c.spec
    header = emu.lookup(
        S["FreeTextInvoiceHeaders"],
        dataAreaId=rec["dataAreaId"],
        InvoiceIdentifier=rec.get("InvoiceIdentifier"),
    )
    if header is None or header.get("IsPosted") == "Yes":
        raise write_failed(_table(spec), "The invoice does not exist or is posted.")
    if c.creating and _blank(rec.get("LineNumber")):
        lines = emu.candidates(spec, "InvoiceIdentifier", [str(rec["InvoiceIdentifier"])])
        rec["LineNumber"] = len(lines) + 1
    if _dec(rec.get("Quantity")) == 0:
        rec["Quantity"] = 1
    rec["Amount"] = float(_dec(rec["Quantity"]) * _dec(rec.get("UnitPrice")))


_PREPARE = {
    "CustomersV3": _customer,
    "ProjectContractHeaders": _contract,
    "Projects": _project,
    "ProjectOnAccountTransactions": _on_account,
    "ProjectHourJournalHeaders": _journal,
    "ProjectExpenseJournalHeaders": _journal,
    "CustomerPaymentJournalHeaders": _journal,
    "ProjectHourJournalLines": _hour_line,
    "ProjectExpenseJournalLines": _expense_line,
    "CustomerPaymentJournalLines": _payment_line,
    "FreeTextInvoiceHeaders": _free_text,
    "FreeTextInvoiceLines": _free_text_line,
}


def refuse_change(emu: "DynamicsFinanceEmulator", spec: EntitySet, record: Record) -> None:
    """Refuse changing or deleting a posted journal, its lines, or a posted invoice."""
    if spec.name in JOURNAL_NAMES and record.get("Posted") == "Yes":
        raise write_failed(_table(spec), f"Journal {record['JournalBatchNumber']} is posted.")
    if spec.parent_key is not None and spec.parent in JOURNAL_NAMES:
        line_field, header_field = spec.parent_key
        header = emu.lookup(
            S[spec.parent], dataAreaId=record["dataAreaId"], **{header_field: record[line_field]}
        )
        if header is not None and header.get("Posted") == "Yes":
            raise write_failed(_table(spec), f"Journal {record[line_field]} is posted.")
    if spec.name == "FreeTextInvoiceHeaders" and record.get("IsPosted") == "Yes":
        raise write_failed(_table(spec), "The invoice is posted and cannot be changed.")


# ----------------------------------------------------------------- posting actions
def post_journal(
    emu: "DynamicsFinanceEmulator", spec: EntitySet, header: Record, request: Request
) -> None:
    """``PostJournal``: all lines or none; a posted line becomes a posted transaction."""
    number = header["JournalBatchNumber"]
    if header.get("Posted") == "Yes":
        raise _action_error(f"Journal {number} has already been posted.")
    lines_spec = S[_LINES[spec.name]]
    line_field = lines_spec.parent_key[0] if lines_spec.parent_key else "JournalBatchNumber"
    area = header["dataAreaId"]
    lines = [r for r in emu.candidates(lines_spec, line_field, [number]) if r["dataAreaId"] == area]
    if not lines:
        raise _action_error(f"Journal {number} has no lines to post.")
    lines.sort(key=lambda r: _dec(r.get("LineNumber")))
    problems = [p for line in lines for p in _posting_problems(emu, lines_spec, line)]
    if problems:
        raise _action_error(*problems)
    for line in lines:
        line["Voucher"] = emu.next_number(area, "PV-", 8)
        emu.put_version(lines_spec, line)
        if spec.name == "CustomerPaymentJournalHeaders":
            _settle_invoice(emu, line)
        else:
            _post_transaction(emu, lines_spec, line, request)
    header["Posted"] = "Yes"
    header["PostedDateTime"] = emu.now_iso()
    emu.put_version(spec, header)
    if header.get("DeleteLinesAfterPosting") == "Yes":
        for line in lines:
            emu.remove(lines_spec, line)


_LINES = {
    "ProjectHourJournalHeaders": "ProjectHourJournalLines",
    "ProjectExpenseJournalHeaders": "ProjectExpenseJournalLines",
    "CustomerPaymentJournalHeaders": "CustomerPaymentJournalLines",
}


def _posting_problems(emu: "DynamicsFinanceEmulator", spec: EntitySet, line: Record) -> list[str]:
    area = line["dataAreaId"]
    day = str(line.get("ProjectDate") or line.get("TransactionDate") or "")
    out: list[str] = []
    if emu.period_closed(area, day):
        out.append(
            f"Line {line.get('LineNumber')}: the fiscal period for {day[:10]} is closed in "
            f"legal entity {area.upper()}; transactions cannot be posted into it."
        )
    project_id = line.get("ProjectID") or line.get("ProjId")
    if project_id:
        project = emu.lookup(S["Projects"], dataAreaId=area, ProjectID=project_id)
        if project is None or project.get("ProjectStage") not in POSTING_STAGES:
            stage = project.get("ProjectStage") if project else "unknown"
            out.append(
                f"Line {line.get('LineNumber')}: project {project_id} is in stage {stage}; "
                "the stage does not allow transactions to be posted."
            )
    del spec
    return out


def _post_transaction(
    emu: "DynamicsFinanceEmulator", spec: EntitySet, line: Record, request: Request
) -> None:
    area = line["dataAreaId"]
    posted = S["ProjectPostedTransactions"]
    if spec.name == "ProjectHourJournalLines":
        quantity = _dec(line.get("Hours"))
        resource = emu.lookup(
            S["Resources"], dataAreaId=line["ResourceCompanyId"], ResourceId=line["Resource"]
        )
        record: Record = {
            "TransactionId": line["TransactionID"],
            "ProjectId": line["ProjectID"],
            "TransactionType": "Hour",
            "TransactionOrigin": "Hour journal",
            "CategoryId": line.get("Category", ""),
            "LinePropertyID": line.get("LineProperty", ""),
            "ResourceName": resource.get("Name", "") if resource else "",
            "TotalCostAmount": float(quantity * _dec(line.get("CostPrice"))),
            "TotalSalesAmount": float(quantity * _dec(line.get("SalesPrice"))),
            "CurrencyId": line.get("CurrencyId", ""),
            "_ref": line["TransactionID"],
        }
    else:
        quantity = _dec(line.get("ProjectCostQuantity") or 1)
        record = {
            "TransactionId": emu.next_number(area, "PCT-", 10),
            "ProjectId": line["ProjId"],
            "TransactionType": "Cost",
            "TransactionOrigin": "Expense journal",
            "CategoryId": line.get("ProjectCategory", ""),
            "LinePropertyID": line.get("ProjectLineProperty", ""),
            "TotalCostAmount": float(_dec(line.get("DebitAmount"))),
            "TotalSalesAmount": float(quantity * _dec(line.get("ProjectSalesPrice"))),
            "CurrencyId": line.get("CurrencyCode", ""),
            "_ref": line.get("Document", ""),
        }
    record.update(
        dataAreaId=area,
        TransactionDate=line.get("ProjectDate"),
        Quantity=float(quantity),
        Voucher=line["Voucher"],
    )
    emu.put_version(posted, {**{p.name: p.blank() for p in posted.props}, **record})
    key = f"{area}|ref:{str(record['_ref']).casefold()}" if record["_ref"] else None
    emu.created(request, posted.name, key, emu.record_id(posted, record))


def _settle_invoice(emu: "DynamicsFinanceEmulator", line: Record) -> None:
    if not line.get("MarkedInvoice"):
        return
    spec = S["SalesInvoiceHeadersV2"]
    invoice = emu.lookup(spec, dataAreaId=line["dataAreaId"], InvoiceNumber=line["MarkedInvoice"])
    if invoice is None:  # pragma: no cover - checked when the line was written
        return
    remaining = max(
        _dec(invoice.get("RemainingAmount")) - _dec(line.get("CreditAmount")), Decimal(0)
    )
    invoice["RemainingAmount"] = float(remaining)
    emu.put_version(spec, invoice)


def post_invoice(
    emu: "DynamicsFinanceEmulator", spec: EntitySet, header: Record, request: Request
) -> None:
    """``PostInvoice`` of a free text invoice: it becomes a sales invoice (invoice journal)."""
    if header.get("IsPosted") == "Yes":
        raise _action_error(f"Invoice {header.get('InvoiceNumber')} has already been posted.")
    area = header["dataAreaId"]
    if emu.period_closed(area, str(header.get("InvoiceDate"))):
        raise _action_error(
            f"The fiscal period for {str(header.get('InvoiceDate'))[:10]} is closed in legal "
            f"entity {area.upper()}; transactions cannot be posted into it."
        )
    lines_spec = S["FreeTextInvoiceLines"]
    lines = [
        r
        for r in emu.candidates(lines_spec, "InvoiceIdentifier", [str(header["InvoiceIdentifier"])])
        if r["dataAreaId"] == area
    ]
    if not lines:
        raise _action_error("The invoice has no lines.")
    total = sum((_dec(r.get("Amount")) for r in lines), Decimal(0))
    number = emu.next_number(area, "FTI-", 6)
    header.update(IsPosted="Yes", InvoiceNumber=number)
    emu.put_version(spec, header)
    invoices = S["SalesInvoiceHeadersV2"]
    invoice = {p.name: p.blank() for p in invoices.props}
    invoice.update(
        dataAreaId=area,
        InvoiceNumber=number,
        InvoiceDate=header["InvoiceDate"],
        DueDate=emu.days_after(str(header["InvoiceDate"]), 30),
        InvoiceCustomerAccountNumber=header["CustomerAccount"],
        CustomersOrderReference=header.get("CustomersOrderReference", ""),
        CurrencyCode=header["CurrencyCode"],
        TotalInvoiceAmount=float(total),
        RemainingAmount=float(total),
    )
    emu.put_version(invoices, invoice)
    emu.created(request, invoices.name, natural_key(spec, header), emu.record_id(invoices, invoice))
