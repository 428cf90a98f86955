"""Business Central's rules for project tasks, resource budget lines and purchase invoices.

- A **project task** (BC's Job Task) belongs to an existing project and its number is unique
  within the project; ``actualHours`` is the usage of resources the project ledger holds for
  it and ``percentComplete`` that over ``estimatedHours`` (refreshed when entries post)
  [inferred: BC keeps these as flow fields of the task].
- A **resource budget line** (a planning line of type Resource) names an existing resource of
  the company: a person without one in the company is refused with BC's table-relation error.
- A **purchase invoice** takes its vendor by id or number (defaulting the currency), its
  totals are its lines' (net of discount; no tax engine [inferred]); a line charged to a
  project names an existing project (and task) that is not blocked. ``Microsoft.NAV.post``
  takes it from Draft to Open with a posted number, refuses a closed period, a blocked vendor,
  and a vendor invoice number already posted for the vendor ("Purchase Invoice X already
  exists for this vendor." [inferred text]), and leaves a project ledger entry (usage, G/L
  Account) per project line, as BC's purchase posting does.

Every refusal is a :class:`BCError` in BC's shape; the generic routes in
:mod:`accord_sandbox.business_central.routes` call :data:`PREPARE`, :func:`after_line_change`
and :func:`post_purchase_invoice`.
"""

from decimal import ROUND_HALF_UP, Decimal
from typing import TYPE_CHECKING, Any

from accord_sandbox.business_central.entities import BLANK_DATE, ENTITY_SETS
from accord_sandbox.business_central.errors import BCError
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

if TYPE_CHECKING:
    from accord_sandbox.business_central.emulator import BusinessCentralEmulator

__all__ = [
    "PREPARE",
    "after_line_change",
    "check_planning_resource",
    "post_purchase_invoice",
    "refresh_tasks",
]

Record = dict[str, Any]
Touched = list[tuple[str, Record]]
S = ENTITY_SETS
_CENT = Decimal("0.01")


def _money(value: Decimal) -> float:
    return float(value.quantize(_CENT, ROUND_HALF_UP))


def _missing(value: object, table: str) -> BCError:
    return _invalid(
        f"The field No. contains a value ({value}) that cannot be found in the related table "
        f"({table})."
    )


def _project(emu: "BusinessCentralEmulator", cid: str, number: object) -> Record:
    found = emu.find_by(S["projects"], cid, "number", str(number or ""))
    if found is None:
        raise _invalid(
            f"The field Job No. contains a value ({number}) that cannot be found in the related "
            "table (Job)."
        )
    return found


def _task(emu: "BusinessCentralEmulator", cid: str, project: str, task: str) -> Record | None:
    return next(
        (
            t
            for t in emu.candidates(S["projectTasks"], cid, "projectNumber", project)
            if t.get("taskNumber") == task
        ),
        None,
    )


# ----------------------------------------------------------------- project tasks
def _prepare_task(
    emu: "BusinessCentralEmulator", cid: str, rec: Record, body: Record, *, creating: bool
) -> Touched:
    project = _project(emu, cid, rec.get("projectNumber"))
    number = str(rec.get("taskNumber") or "")
    if not number:
        raise _invalid("Job Task No. must have a value in Job Task. It cannot be zero or empty.")
    other = _task(emu, cid, project["number"], number)
    if other is not None and other["id"] != rec["id"]:
        raise BCError(
            400,
            "Internal_EntityWithSameKeyExists",
            f"The record already exists. Identification fields and values: Job No.="
            f"'{project['number']}',Job Task No.='{number}'",
        )
    if _dec(rec.get("estimatedHours")) < 0:
        raise _invalid("Estimated Hours must not be negative.")
    del body, creating
    start, end = rec.get("startDate", BLANK_DATE), rec.get("endDate", BLANK_DATE)
    if not _blank(start) and not _blank(end) and end < start:
        raise _invalid(f"Ending Date ({end}) must not be before Starting Date ({start}).")
    _progress(emu, cid, rec)
    return []


def _progress(emu: "BusinessCentralEmulator", cid: str, task: Record) -> None:
    entries = emu.candidates(S["projectLedgerEntries"], cid, "projectNumber", task["projectNumber"])
    actual = sum(
        (
            _dec(e.get("quantity"))
            for e in entries
            if e.get("projectTaskNumber") == task.get("taskNumber") and e.get("type") == "Resource"
        ),
        Decimal(0),
    )
    estimate = _dec(task.get("estimatedHours"))
    task["actualHours"] = _money(actual)
    task["percentComplete"] = (
        float((actual * 100 / estimate).quantize(Decimal("0.1"))) if (estimate) else 0
    )


def refresh_tasks(emu: "BusinessCentralEmulator", cid: str, projects: set[str]) -> Touched:
    """Recompute the progress of the tasks of ``projects`` after entries posted to them."""
    touched: Touched = []
    for number in sorted(projects):
        for task in emu.candidates(S["projectTasks"], cid, "projectNumber", number):
            updated = dict(task)
            _progress(emu, cid, updated)
            if (updated["actualHours"], updated["percentComplete"]) != (
                task.get("actualHours"),
                task.get("percentComplete"),
            ):
                touched.append(("projectTasks", emu.put_version(S["projectTasks"], updated, task)))
    return touched


def check_planning_resource(emu: "BusinessCentralEmulator", cid: str, rec: Record) -> None:
    """A Resource planning line names a resource of the company and an existing task."""
    if rec.get("type") == "Resource":
        number = rec.get("number") or ""
        if emu.find_by(S["resources"], cid, "number", str(number)) is None:
            raise _missing(number, "Resource")
    task = rec.get("projectTaskNumber")
    if task and _task(emu, cid, str(rec.get("projectNumber") or ""), str(task)) is None:
        raise _invalid(
            f"The field Job Task No. contains a value ({task}) that cannot be found in the "
            "related table (Job Task)."
        )


# ----------------------------------------------------------------- purchase invoices
def _vendor(emu: "BusinessCentralEmulator", cid: str, rec: Record, body: Record) -> Record:
    vendor_id = body.get("vendorId")
    if not _blank(vendor_id):
        return find_by_id(emu, cid, "vendors", "Vendor", vendor_id, key=str(vendor_id).lower())
    number = body.get("vendorNumber") or rec.get("vendorNumber")
    return find_by_number(emu, cid, "vendors", "Vendor", number)


def _prepare_purchase_invoice(
    emu: "BusinessCentralEmulator", cid: str, rec: Record, body: Record, *, creating: bool
) -> Touched:
    if not creating:
        refuse_posted(rec, "purchase")
    if creating or "vendorId" in body or "vendorNumber" in body:
        if creating and _blank(body.get("vendorId")) and not body.get("vendorNumber"):
            raise _invalid("You must specify a vendor (vendorId or vendorNumber).")
        vendor = _vendor(emu, cid, rec, body)
        rec["vendorId"], rec["vendorNumber"] = vendor["id"], vendor["number"]
        rec["vendorName"] = vendor["displayName"]
        if not rec.get("currencyCode"):
            rec["currencyCode"] = vendor.get("currencyCode") or emu.company(cid)["_currency"]
    number_and_date_invoice(emu, cid, rec, creating=creating, series="P-INV", start=1001)
    return []


def _prepare_purchase_line(
    emu: "BusinessCentralEmulator", cid: str, rec: Record, body: Record, *, creating: bool
) -> Touched:
    del body
    invoice = emu.find(S["purchaseInvoices"], cid, rec["documentId"])
    refuse_posted(invoice, "purchase")
    if creating:
        lines = emu.records(S["purchaseInvoiceLines"], cid)
        siblings = (ln for ln in lines if ln["documentId"] == invoice["id"])
        rec["sequence"] = next_line_number(siblings, "sequence")
    if rec.get("projectNumber"):
        project = _project(emu, cid, rec["projectNumber"])
        if project.get("blocked") in ("Posting", "All"):
            raise _invalid(
                f"Project {project['number']} is blocked with type {project['blocked']}."
            )
        task = rec.get("projectTaskNumber")
        if task and _task(emu, cid, project["number"], str(task)) is None:
            raise _invalid(
                f"The field Job Task No. contains a value ({task}) that cannot be found in the "
                "related table (Job Task)."
            )
    net = _dec(rec.get("quantity")) * _dec(rec.get("directUnitCost"))
    rec["amountExcludingTax"] = rec["netAmount"] = rec["amountIncludingTax"] = _money(net)
    rec["totalTaxAmount"] = 0
    return []


def after_line_change(emu: "BusinessCentralEmulator", cid: str, invoice_id: str) -> Touched:
    """Re-total a purchase invoice after its lines changed (new etag, reported)."""
    spec = S["purchaseInvoices"]
    invoice = emu.find(spec, cid, invoice_id)
    lines = [
        ln for ln in emu.records(S["purchaseInvoiceLines"], cid) if ln["documentId"] == invoice_id
    ]
    total = sum((_dec(ln.get("amountExcludingTax")) for ln in lines), Decimal(0))
    updated = {
        **invoice,
        "totalAmountExcludingTax": _money(total),
        "totalTaxAmount": 0,
        "totalAmountIncludingTax": _money(total),
    }
    emu.put_version(spec, updated, invoice)
    return [("purchaseInvoices", updated)]


def post_purchase_invoice(emu: "BusinessCentralEmulator", cid: str, invoice: Record) -> Touched:
    """``purchaseInvoices({id})/Microsoft.NAV.post`` (see the module docstring)."""
    if invoice["status"] != "Draft":
        raise _invalid(f"The purchase invoice {invoice['number']} has already been posted.")
    lines = [
        ln
        for ln in emu.records(S["purchaseInvoiceLines"], cid)
        if ln["documentId"] == invoice["id"]
    ]
    if not lines:
        raise _invalid("There is nothing to post.")
    if emu.period_closed(cid, invoice["postingDate"]):
        raise _invalid("Posting Date is not within your range of allowed posting dates.")
    vendor = emu.store.get("vendors", invoice["vendorId"])
    if vendor is not None and vendor.get("blocked") == "All":
        raise _invalid(
            f"You cannot post this type of document when Vendor {vendor['number']} is blocked "
            "with type All."
        )
    number = invoice.get("vendorInvoiceNumber") or ""
    if not number:
        raise _invalid("You need to enter the document number of the document from the vendor.")
    posted_before = [
        other
        for other in emu.candidates(S["purchaseInvoices"], cid, "vendorInvoiceNumber", number)
        if other["id"] != invoice["id"]
        and other["vendorId"] == invoice["vendorId"]
        and other["status"] != "Draft"
    ]
    if posted_before:
        raise _invalid(f"Purchase Invoice {number} already exists for this vendor.")
    for line in lines:
        if line.get("projectNumber"):
            _prepare_purchase_line(emu, cid, dict(line), {}, creating=False)
    posted = {
        **invoice,
        "status": "Open",
        "number": emu.next_number(cid, "PPI", start=108001, width=6),
    }
    emu.put_version(S["purchaseInvoices"], posted, invoice)
    touched: Touched = [("purchaseInvoices", posted)]
    ledger = S["projectLedgerEntries"]
    projects: set[str] = set()
    for line in lines:
        if not line.get("projectNumber"):
            continue
        projects.add(line["projectNumber"])
        cost = _dec(line.get("amountExcludingTax"))
        entry = {
            "id": emu.new_id(),
            "_companyId": cid,
            "entryNumber": len(emu.store.all("projectLedgerEntries")) + 1,
            "entryType": "Usage",
            "projectNumber": line["projectNumber"],
            "projectTaskNumber": line.get("projectTaskNumber") or "",
            "postingDate": posted["postingDate"],
            "documentNumber": posted["number"],
            "externalDocumentNumber": number,
            "type": "G/L Account",
            "number": line.get("lineObjectNumber") or "",
            "description": line.get("description") or "",
            "quantity": 1,
            "unitCost": _money(cost),
            "totalCost": _money(cost),
            "unitPrice": 0,
            "totalPrice": 0,
            "journalBatchName": "",
        }
        touched.append(("projectLedgerEntries", emu.put_version(ledger, entry)))
    return touched + refresh_tasks(emu, cid, projects)


PREPARE = {
    "projectTasks": _prepare_task,
    "purchaseInvoices": _prepare_purchase_invoice,
    "purchaseInvoiceLines": _prepare_purchase_line,
}
"""Prepare rules of the delivery entity sets (merged into the rules module's table)."""
