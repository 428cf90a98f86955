"""Business Central's business rules as the emulator applies them.

Relations (customer, project, resource, dimension values), defaults, invoice totals, the
bound posting actions and the closed-period check. Every refusal is a :class:`BCError`.
Refusals of business data use ``Application_FieldValidationException`` (reference 5.2:
"an AL ``Error()`` in validation"); look-ups by GUID that fail use
``Internal_RecordNotFound`` (404). Message texts other than the closed-period one and
"There is nothing to post." are [inferred].
"""

from decimal import ROUND_HALF_UP, Decimal
from typing import TYPE_CHECKING, Any

from accord_sandbox.business_central import delivery
from accord_sandbox.business_central.entities import BLANK_DATE, BLANK_GUID, ENTITY_SETS
from accord_sandbox.business_central.errors import BCError
from accord_sandbox.business_central.intercompany import ledger_amounts_lcy, post_intercompany
from accord_sandbox.business_central.validation import blank as _blank
from accord_sandbox.business_central.validation import dec as _dec
from accord_sandbox.business_central.validation import (
    find_by_id,
    find_by_number,
    next_line_number,
    number_and_date_invoice,
    refuse_posted,
)
from accord_sandbox.business_central.validation import invalid as _invalid
from accord_sandbox.common import business_key

if TYPE_CHECKING:
    from accord_sandbox.business_central.emulator import BusinessCentralEmulator

__all__ = [
    "CLOSED_PERIOD_MESSAGE",
    "Touched",
    "cancel_invoice",
    "natural_key",
    "post_invoice",
    "post_journal",
    "post_payment_journal",
    "prepare",
    "refuse_delete",
    "staged_duplicate",
]

Record = dict[str, Any]
Touched = list[tuple[str, Record]]
"""(entity set, record) pairs a rule saved as a side effect; each gets an ``updated`` event."""

CLOSED_PERIOD_MESSAGE = "Posting Date is not within your range of allowed posting dates."
"""BC's refusal of a posting into a closed period (reference 5.4; text [inferred] there)."""

S = ENTITY_SETS

_CENT = Decimal("0.01")


def _money(value: Decimal) -> float:
    return float(value.quantize(Decimal("0.01")))


_BUSINESS_IDENTITY: dict[str, tuple[str, ...]] = {
    "customers": ("displayName",),
    "projects": ("customerNumber", "displayName"),
    # A header's amount is not known when it is created (lines come with it or after it), so
    # an invoice is the same business fact by customer and the client's document number.
    "salesInvoices": ("customerNumber", "externalDocumentNumber"),
    "customerPayments": ("customerNumber", "postingDate", "amount", "externalDocumentNumber"),
    "projectPlanningLines": ("projectNumber", "planningDate", "description", "lineAmount"),
    "projectTasks": ("projectNumber", "taskNumber"),
    "purchaseInvoices": ("vendorNumber", "vendorInvoiceNumber"),
}
"""Fields that make two records of a set one business fact whatever their numbers (issue 21).

Journal lines keep their own key below (the lead's issue 22 owns them)."""


def natural_key(set_name: str, record: Record, body: Record) -> list[str] | None:
    """What makes two creates "the same record" for duplicate counting (see common.py).

    The client's own key (number, external document number) and the business identity of
    :data:`_BUSINESS_IDENTITY`; company scoping is added by the caller.
    """
    keys: list[str] = []
    identity = _BUSINESS_IDENTITY.get(set_name)
    if identity is not None:
        key = business_key(*(None if _blank(record.get(p)) else record.get(p) for p in identity))
        if key is not None:
            keys.append(key)
    if set_name in ("salesInvoices", "customerPayments") and record.get("externalDocumentNumber"):
        keys.insert(0, f"ext:{record['externalDocumentNumber']}")
    elif set_name in ("customers", "projects", "employees", "resources", "vendors") and body.get(
        "number"
    ):
        keys.insert(0, f"no:{body['number']}")
    elif set_name == "projectPlanningLines" and record.get("documentNumber"):
        keys.insert(0, f"doc:{record['documentNumber']}")
    if keys:
        return keys
    if set_name == "journalLines":
        if body.get("documentNumber"):
            return [f"doc:{body['documentNumber']}"]
        if record.get("projectNumber"):
            parts = ("projectNumber", "postingDate", "quantity", "resourceNumber")
            return ["job:" + "|".join(str(record.get(p)) for p in parts)]
    return None


# ----------------------------------------------------------------- relations
def _customer(emu: "BusinessCentralEmulator", cid: str, record: Record, body: Record) -> Record:
    """Resolve ``customerId`` / ``customerNumber`` (whichever the client sent) to a customer."""
    customer_id = body.get("customerId")
    if not _blank(customer_id):
        return find_by_id(emu, cid, "customers", "Customer", customer_id, key=str(customer_id))
    number = body.get("customerNumber") or record.get("customerNumber")
    return find_by_number(emu, cid, "customers", "Customer", number)


def _require(
    emu: "BusinessCentralEmulator", cid: str, set_name: str, value: object, field: str
) -> Record:
    found = emu.find_by(S[set_name], cid, "number", str(value))
    if found is None:
        raise _invalid(
            f"The field {field} contains a value ({value}) that cannot be found in the "
            f"related table ({S[set_name].type_name})."
        )
    return found


def _dimension_value(emu: "BusinessCentralEmulator", cid: str, dimension: str, code: str) -> None:
    dim = emu.find_by(S["dimensions"], cid, "code", dimension)
    values = emu.candidates(S["dimensionValues"], cid, "code", code)
    if dim is None or not any(v["dimensionId"] == dim["id"] for v in values):
        raise _invalid(f"The dimension value {code} has not been set up for dimension {dimension}.")


# ----------------------------------------------------------------- prepare: create and update
def prepare(
    emu: "BusinessCentralEmulator",
    set_name: str,
    cid: str,
    record: Record,
    body: Record,
    *,
    creating: bool,
) -> Touched:
    """Fill defaults, check relations and compute derived fields before ``record`` is saved.

    ``record`` already holds the client's values; ``body`` is what the client sent (to tell
    an explicit value from a default). Returns other records saved as a side effect.
    """
    handler = _PREPARE.get(set_name)
    return handler(emu, cid, record, body, creating=creating) if handler else []


def _prepare_project(
    emu: "BusinessCentralEmulator", cid: str, rec: Record, body: Record, *, creating: bool
) -> Touched:
    if "customerId" in body or "customerNumber" in body:
        if _blank(body.get("customerId")) and not body.get("customerNumber"):
            rec["customerId"], rec["customerNumber"] = BLANK_GUID, ""
        else:
            customer = _customer(emu, cid, rec, body)
            rec["customerId"], rec["customerNumber"] = customer["id"], customer["number"]
            if not rec.get("currencyCode"):
                rec["currencyCode"] = customer.get("currencyCode", "")
    if creating and not rec.get("currencyCode"):
        rec["currencyCode"] = emu.company(cid)["_currency"]
    if rec.get("departmentCode"):
        _dimension_value(emu, cid, "DEPARTMENT", rec["departmentCode"])
    if rec.get("areaCode"):
        _dimension_value(emu, cid, "AREA", rec["areaCode"])
    start, end = rec.get("startDate", BLANK_DATE), rec.get("endDate", BLANK_DATE)
    if not _blank(start) and not _blank(end) and end < start:
        raise _invalid(f"Ending Date ({end}) must not be before Starting Date ({start}).")
    return []


def _prepare_customer(
    emu: "BusinessCentralEmulator", cid: str, rec: Record, _body: Record, *, creating: bool
) -> Touched:
    if creating and not rec.get("currencyCode"):
        rec["currencyCode"] = emu.company(cid)["_currency"]
    return []


def _prepare_invoice(
    emu: "BusinessCentralEmulator", cid: str, rec: Record, body: Record, *, creating: bool
) -> Touched:
    if not creating:
        refuse_posted(rec, "sales")
    if creating or "customerId" in body or "customerNumber" in body:
        if creating and _blank(body.get("customerId")) and not body.get("customerNumber"):
            raise _invalid("You must specify a customer (customerId or customerNumber).")
        customer = _customer(emu, cid, rec, body)
        rec["customerId"], rec["customerNumber"] = customer["id"], customer["number"]
        rec["customerName"] = customer["displayName"]
        if _blank(body.get("billToCustomerId")) and not body.get("billToCustomerNumber"):
            rec["billToCustomerId"], rec["billToCustomerNumber"] = (
                customer["id"],
                customer["number"],
            )
            rec["billToName"] = customer["displayName"]
        if not rec.get("currencyCode"):
            rec["currencyCode"] = customer.get("currencyCode") or emu.company(cid)["_currency"]
    number_and_date_invoice(emu, cid, rec, creating=creating, series="S-INV", start=100001)
    return []


def _parent_invoice(emu: "BusinessCentralEmulator", cid: str, line: Record) -> Record:
    invoice = emu.find(S["salesInvoices"], cid, line["documentId"])
    refuse_posted(invoice, "sales")
    return invoice


def _prepare_invoice_line(
    emu: "BusinessCentralEmulator", cid: str, rec: Record, _body: Record, *, creating: bool
) -> Touched:
    invoice = _parent_invoice(emu, cid, rec)
    if creating:
        lines = emu.records(S["salesInvoiceLines"], cid)
        siblings = (ln for ln in lines if ln["documentId"] == invoice["id"])
        rec["sequence"] = next_line_number(siblings, "sequence")
    if rec.get("lineType") == "Resource" and rec.get("lineObjectNumber"):
        _require(emu, cid, "resources", rec["lineObjectNumber"], "No.")
    if rec.get("lineType") == "Item":
        _check_item(emu, cid, rec)
    gross = _dec(rec.get("quantity")) * _dec(rec.get("unitPrice"))
    net = gross * (1 - _dec(rec.get("discountPercent")) / 100)
    rec["amountExcludingTax"] = rec["netAmount"] = rec["amountIncludingTax"] = _money(net)
    rec["totalTaxAmount"] = 0
    return []


def _check_item(emu: "BusinessCentralEmulator", cid: str, rec: Record) -> None:
    """An Item line names an existing, unblocked item (by ``itemId`` or ``lineObjectNumber``).

    BC validates the line's No. against the Item table when it is set (the standard
    table-relation check); a blocked item cannot be sold. Texts [inferred].
    """
    item: Record | None = None
    if not _blank(rec.get("itemId")):
        item = emu.store.get("items", str(rec["itemId"]).lower())
        if item is None or item.get("_companyId") != cid:
            raise _invalid(
                f"The field No. contains a value ({rec['itemId']}) that cannot be found in the "
                f"related table ({S['items'].type_name})."
            )
    elif rec.get("lineObjectNumber"):
        item = _require(emu, cid, "items", rec["lineObjectNumber"], "No.")
    if item is None:
        return
    if item.get("blocked"):
        raise _invalid(f"Item {item['number']} is blocked.")
    rec["itemId"], rec["lineObjectNumber"] = item["id"], item["number"]


def recompute_invoice(emu: "BusinessCentralEmulator", cid: str, invoice_id: str) -> Touched:
    """Re-total an invoice after its lines changed; saves it (new etag) and reports it."""
    spec = S["salesInvoices"]
    invoice = emu.find(spec, cid, invoice_id)
    lines = [
        ln for ln in emu.records(S["salesInvoiceLines"], cid) if ln["documentId"] == invoice_id
    ]
    total = sum((_dec(ln.get("amountExcludingTax")) for ln in lines), Decimal(0))
    updated = {**invoice, "totalAmountExcludingTax": _money(total), "totalTaxAmount": 0}
    updated["totalAmountIncludingTax"] = _money(total)
    emu.put_version(spec, updated, invoice)
    return [("salesInvoices", updated)]


_GENERAL_JOURNAL = ("journals", "journalLines")
_PAYMENT_JOURNAL = ("customerPaymentJournals", "customerPayments")


def _fill_journal_line(
    emu: "BusinessCentralEmulator",
    cid: str,
    sets: tuple[str, str],
    rec: Record,
    body: Record,
    *,
    creating: bool,
) -> None:
    """Name the line's journal; on create, number the line and default document and date.

    ``sets`` names the journal entity set and the set of its lines.
    """
    journals, lines = sets
    journal = emu.find(S[journals], cid, rec["journalId"])
    rec["journalDisplayName"] = journal["displayName"]
    if creating:
        if not body.get("lineNumber"):
            siblings = emu.records(S[lines], cid)
            in_journal = (r for r in siblings if r["journalId"] == rec["journalId"])
            rec["lineNumber"] = next_line_number(in_journal)
        if not rec.get("documentNumber"):
            rec["documentNumber"] = emu.next_number(cid, "G", start=1)
        if _blank(rec.get("postingDate")):
            rec["postingDate"] = emu.today()


def _prepare_journal_line(
    emu: "BusinessCentralEmulator", cid: str, rec: Record, body: Record, *, creating: bool
) -> Touched:
    _fill_journal_line(emu, cid, _GENERAL_JOURNAL, rec, body, creating=creating)
    if rec.get("projectNumber"):
        project = _require(emu, cid, "projects", rec["projectNumber"], "Job No.")
        if project.get("blocked") in ("Posting", "All"):
            raise _invalid(
                f"Project {project['number']} is blocked with type {project['blocked']}."
            )
    if rec.get("resourceNumber"):
        _require(emu, cid, "resources", rec["resourceNumber"], "No.")
    if "amount" not in body and rec.get("quantity") and rec.get("unitPrice"):
        rec["amount"] = _money(_dec(rec["quantity"]) * _dec(rec["unitPrice"]))
    return []


def _prepare_planning_line(
    emu: "BusinessCentralEmulator", cid: str, rec: Record, body: Record, *, creating: bool
) -> Touched:
    # [inferred] A planning line belongs to an existing project; its line number is assigned
    # per project, and its amount is quantity x unit price unless the client sends it.
    project = _require(emu, cid, "projects", rec.get("projectNumber") or "", "Job No.")
    if creating:
        lines = emu.records(S["projectPlanningLines"], cid)
        siblings = (r for r in lines if r.get("projectNumber") == project["number"])
        rec["lineNumber"] = next_line_number(siblings)
        if not rec.get("currencyCode"):
            rec["currencyCode"] = project.get("currencyCode", "")
    if "lineAmount" not in body and rec.get("quantity") and rec.get("unitPrice"):
        rec["lineAmount"] = _money(_dec(rec["quantity"]) * _dec(rec["unitPrice"]))
    delivery.check_planning_resource(emu, cid, rec)
    return []


def _prepare_payment(
    emu: "BusinessCentralEmulator", cid: str, rec: Record, body: Record, *, creating: bool
) -> Touched:
    _fill_journal_line(emu, cid, _PAYMENT_JOURNAL, rec, body, creating=creating)
    if not (_blank(rec.get("customerId")) and not rec.get("customerNumber")):
        refs = {"customerId": rec.get("customerId"), "customerNumber": rec.get("customerNumber")}
        customer = _customer(emu, cid, rec, refs)
        rec["customerId"], rec["customerNumber"] = customer["id"], customer["number"]
    if not _blank(body.get("appliesToInvoiceId")) or body.get("appliesToInvoiceNumber"):
        invoice = _applied_invoice(emu, cid, body)
        rec["appliesToInvoiceId"], rec["appliesToInvoiceNumber"] = invoice["id"], invoice["number"]
    return []


def _applied_invoice(emu: "BusinessCentralEmulator", cid: str, body: Record) -> Record:
    spec = S["salesInvoices"]
    if not _blank(body.get("appliesToInvoiceId")):
        return emu.find(spec, cid, str(body["appliesToInvoiceId"]))
    found = emu.find_by(spec, cid, "number", str(body["appliesToInvoiceNumber"]))
    if found is None:
        raise _invalid(f"The posted sales invoice {body['appliesToInvoiceNumber']} does not exist.")
    return found


def _prepare_time_entry(
    emu: "BusinessCentralEmulator", cid: str, rec: Record, _body: Record, *, creating: bool
) -> Touched:
    employee_id = rec.get("employeeId")
    employee = find_by_id(emu, cid, "employees", "Employee", employee_id, key=str(employee_id))
    rec["employeeNumber"] = employee["number"]
    if not _blank(rec.get("jobId")):
        project = emu.find(S["projects"], cid, str(rec["jobId"]))
        rec["jobNumber"] = project["number"]
    if creating:
        siblings = emu.records(S["timeRegistrationEntries"], cid)
        rec["lineNumber"] = next_line_number(siblings)
        if _blank(rec.get("date")):
            rec["date"] = emu.today()
    return []


_PREPARE = {
    "customers": _prepare_customer,
    "projects": _prepare_project,
    "projectPlanningLines": _prepare_planning_line,
    "salesInvoices": _prepare_invoice,
    "salesInvoiceLines": _prepare_invoice_line,
    "journalLines": _prepare_journal_line,
    "customerPayments": _prepare_payment,
    "timeRegistrationEntries": _prepare_time_entry,
    **delivery.PREPARE,
}


def refuse_delete(emu: "BusinessCentralEmulator", set_name: str, cid: str, rec: Record) -> None:
    """Refuse deletes BC refuses: posted invoices and lines of posted invoices."""
    if set_name == "salesInvoices" and rec["status"] != "Draft":
        raise _invalid(f"The sales invoice {rec['number']} is posted and cannot be deleted.")
    if set_name == "salesInvoiceLines":
        _parent_invoice(emu, cid, rec)
    if set_name == "purchaseInvoices" and rec["status"] != "Draft":
        raise _invalid(f"The purchase invoice {rec['number']} is posted and cannot be deleted.")


# ----------------------------------------------------------------- bound actions
def post_invoice(emu: "BusinessCentralEmulator", cid: str, invoice: Record) -> Touched:
    """``Microsoft.NAV.post``: Draft -> Open with a posted number, unless the period is closed."""
    if invoice["status"] != "Draft":
        raise _invalid(f"The sales invoice {invoice['number']} has already been posted.")
    lines = [
        ln for ln in emu.records(S["salesInvoiceLines"], cid) if ln["documentId"] == invoice["id"]
    ]
    if not lines:
        raise _invalid("There is nothing to post.")
    for line in sorted(lines, key=lambda ln: int(ln.get("sequence") or 0)):
        # Sales-Post tests "No." on every line that is not a comment and has a quantity
        # [inferred text, BC's TestField wording]: an Item line without an item cannot post.
        numbered = line.get("lineObjectNumber") or not _blank(line.get("itemId"))
        if line.get("lineType") != "Comment" and _dec(line.get("quantity")) != 0 and not numbered:
            raise BCError(
                400,
                "Application_TestFieldException",
                f"No. must have a value in Sales Line: Document Type=Invoice, Document "
                f"No.={invoice['number']}, Line No.={line.get('sequence')}. It cannot be "
                "zero or empty.",
            )
    if emu.period_closed(cid, invoice["postingDate"]):
        raise _invalid(CLOSED_PERIOD_MESSAGE)
    customer = emu.store.get("customers", invoice["customerId"])
    if customer is not None and customer.get("blocked") in ("Invoice", "All"):
        raise _invalid(
            f"You cannot post this type of document when Customer {customer['number']} is "
            f"blocked with type {customer['blocked']}."
        )
    # The posted invoice keeps its id but takes a number from the posted-invoice series,
    # as in the reference's sample (PS-INV103001) [inferred series start].
    posted = {
        **invoice,
        "status": "Open",
        "number": emu.next_number(cid, "PS-INV", start=103001, width=6),
        "remainingAmount": invoice.get("totalAmountIncludingTax", 0),
    }
    emu.put_version(S["salesInvoices"], posted, invoice)
    return [("salesInvoices", posted)]


def cancel_invoice(emu: "BusinessCentralEmulator", _cid: str, invoice: Record) -> Touched:
    """``Microsoft.NAV.cancel``: an open, unpaid posted invoice becomes Canceled."""
    if invoice["status"] != "Open" or _dec(invoice.get("remainingAmount")) != _dec(
        invoice.get("totalAmountIncludingTax")
    ):
        raise _invalid(f"The sales invoice {invoice['number']} cannot be canceled.")
    canceled = {**invoice, "status": "Canceled", "remainingAmount": 0}
    emu.put_version(S["salesInvoices"], canceled, invoice)
    return [("salesInvoices", canceled)]


def _closed_lines(emu: "BusinessCentralEmulator", cid: str, lines: list[Record]) -> None:
    for line in lines:
        if emu.period_closed(cid, line["postingDate"]):
            raise _invalid(CLOSED_PERIOD_MESSAGE)


def post_journal(emu: "BusinessCentralEmulator", cid: str, journal: Record) -> Touched:
    """``journals({id})/Microsoft.NAV.post`` [inferred action name, reference 5.4].

    All or nothing, like BC: one line in a closed period refuses the batch. Posted lines
    leave the journal; a line with a project becomes a ``projectLedgerEntries`` record (BC's
    Job Ledger Entry, with the line's document number) and every line is also kept as
    ``postedJournalLines`` (visible via the control API). A line whose document number, or
    whose business fact (project, resource, date, quantity and source document), is already
    in the ledger is counted as a duplicate: BC itself would post it again.
    """
    spec = S["journalLines"]
    lines = [ln for ln in emu.records(spec, cid) if ln["journalId"] == journal["id"]]
    if not lines:
        raise _invalid("There is nothing to post.")
    _closed_lines(emu, cid, lines)
    for line in lines:
        if line.get("projectNumber"):
            _prepare_journal_line(emu, cid, dict(line), {"amount": 0}, creating=False)
    # Everything that can refuse is computed first: BC posts a batch all or nothing.
    ledger = S["projectLedgerEntries"]
    first = len(emu.store.all("postedJournalLines")) + 1
    entries = {
        line["id"]: _ledger_entry(emu, cid, line, journal, number)
        for number, line in enumerate(lines, start=first)
        if line.get("projectNumber")
    }
    gl_entries = post_intercompany(emu, cid, lines)
    for number, line in enumerate(lines, start=first):
        if line.get("projectNumber"):
            if _already_in_ledger(emu, cid, line) and not line.get("_duplicateCounted"):
                emu.count_posted_duplicate()
            emu.put_version(ledger, entries[line["id"]])
        emu.store.put("postedJournalLines", line["id"], {**line, "entryNumber": number})
        emu.remove(spec, line)
    for company, entry in gl_entries:
        number = len(emu.records(S["generalLedgerEntries"], company)) + 1
        emu.put_version(
            S["generalLedgerEntries"],
            {"id": emu.new_id(), "_companyId": company, "entryNumber": number, **entry},
        )
    projects = {str(ln["projectNumber"]) for ln in lines if ln.get("projectNumber")}
    touched = delivery.refresh_tasks(emu, cid, projects)
    return [*touched, ("journals", emu.put_version(S["journals"], dict(journal), journal))]


def _fact(record: Record) -> tuple[str, ...]:
    """A posting's business fact: project, resource, date, quantity and source document."""
    resource = record.get("resourceNumber") or record.get("number") or ""
    return (
        str(record.get("projectNumber") or ""),
        str(resource),
        str(record.get("postingDate") or ""),
        str(_dec(record.get("quantity"))),
        str(record.get("externalDocumentNumber") or ""),
    )


def _already_in_ledger(emu: "BusinessCentralEmulator", cid: str, line: Record) -> bool:
    """Whether BC already holds this line's posting (same document number or same fact)."""
    ledger = S["projectLedgerEntries"]
    number = str(line.get("documentNumber") or "")
    if number and emu.candidates(ledger, cid, "documentNumber", number):
        return True
    fact = _fact(line)
    same_project = emu.candidates(ledger, cid, "projectNumber", fact[0])
    return bool(fact[4]) and any(_fact(entry) == fact for entry in same_project)


def staged_duplicate(emu: "BusinessCentralEmulator", cid: str, line: Record) -> bool:
    """A new journal line that BC already holds as a ledger entry (a posting about to double)."""
    return bool(line.get("projectNumber")) and _already_in_ledger(emu, cid, line)


def _ledger_entry(
    emu: "BusinessCentralEmulator", cid: str, line: Record, journal: Record, number: int
) -> Record:
    quantity = _dec(line.get("quantity"))
    unit_cost, unit_price = _dec(line.get("unitCost")), _dec(line.get("unitPrice"))
    total_cost = (unit_cost * quantity).quantize(_CENT, ROUND_HALF_UP)
    total_price = (unit_price * quantity).quantize(_CENT, ROUND_HALF_UP)
    return {
        "id": emu.new_id(),
        "_companyId": cid,
        "entryNumber": number,
        "entryType": "Usage",
        "projectNumber": line.get("projectNumber") or "",
        "projectTaskNumber": line.get("projectTaskNumber") or "",
        "postingDate": line.get("postingDate"),
        "documentNumber": line.get("documentNumber") or "",
        "externalDocumentNumber": line.get("externalDocumentNumber") or "",
        "type": "Resource" if line.get("resourceNumber") else "G/L Account",
        "number": line.get("resourceNumber") or line.get("accountNumber") or "",
        "description": line.get("description") or "",
        "quantity": _money(quantity),
        "unitCost": _money(unit_cost),
        # BC rounds amounts to the nearest cent, halves away from zero (Round's "=").
        "totalCost": _money(total_cost),
        "unitPrice": _money(unit_price),
        "totalPrice": _money(total_price),
        **ledger_amounts_lcy(emu, cid, line, total_price),
        "journalBatchName": journal.get("code") or "",
    }


def post_payment_journal(emu: "BusinessCentralEmulator", cid: str, journal: Record) -> Touched:
    """``customerPaymentJournals({id})/Microsoft.NAV.post`` [inferred, by analogy].

    Applies each payment to its invoice (amount sign ignored [inferred]); an invoice whose
    remaining amount reaches zero becomes Paid.
    """
    spec = S["customerPayments"]
    lines = [ln for ln in emu.records(spec, cid) if ln["journalId"] == journal["id"]]
    if not lines:
        raise _invalid("There is nothing to post.")
    _closed_lines(emu, cid, lines)
    touched: Touched = []
    for line in lines:
        if _blank(line.get("appliesToInvoiceId")):
            continue
        invoice = emu.find(S["salesInvoices"], cid, line["appliesToInvoiceId"])
        if invoice["status"] != "Open":
            raise _invalid(f"The sales invoice {invoice['number']} is not open.")
    for line in lines:
        if not _blank(line.get("appliesToInvoiceId")):
            invoice = emu.find(S["salesInvoices"], cid, line["appliesToInvoiceId"])
            remaining = max(
                _dec(invoice["remainingAmount"]) - abs(_dec(line["amount"])), Decimal(0)
            )
            paid = {**invoice, "remainingAmount": _money(remaining)}
            if remaining == 0:
                paid["status"] = "Paid"
            emu.put_version(S["salesInvoices"], paid, invoice)
            touched.append(("salesInvoices", paid))
        emu.store.put("postedCustomerPayments", line["id"], dict(line))
        emu.remove(spec, line)
    saved = emu.put_version(S["customerPaymentJournals"], dict(journal), journal)
    return [*touched, ("customerPaymentJournals", saved)]
