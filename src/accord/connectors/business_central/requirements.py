"""The custom API pages Accord needs in Business Central, and their live check.

The standard API v2.0 has no project customer, dates or dimensions, no planning lines, no
project journal and no resources (reference 5.4), so Accord's project data goes through custom
API pages: :data:`REQUIREMENTS` declares them, the setup kit turns them into an AL extension
(publisher ``accord``, group ``psa``, version ``v1.0``), and the connector addresses them at
``api/accord/psa/v1.0`` when the connection's ``extension_api`` says so (the sandbox serves
them at the standard route). Each page carries exactly the properties the connector reads and
writes under the same names, so a page is the entity set the sandbox emulates.

:func:`verify` reads one record of every page through the connector (so through the same
route and journal batch the flows use) and reports a missing page, a missing journal batch or a
missing property.
"""

from typing import Any

from accord.connectors.base import Connector
from accord.connectors.requirements import (
    Access,
    ApiPage,
    CustomField,
    FieldType,
    Finding,
    PageField,
    Requirements,
)
from accord.errors import NotFoundError

__all__ = ["API_ROUTE", "EXTENSION_SETS", "REQUIREMENTS", "verify"]

API_ROUTE = "accord/psa/v1.0"
"""``{publisher}/{group}/{version}`` of the extension's API pages."""

_ID = PageField("id", "SystemId", FieldType.GUID, read_only=True)
_TASK_DEFAULT = """
    trigger OnInsertRecord(BelowxRec: Boolean): Boolean
    var
        JobTask: Record "Job Task";
    begin
        // Accord posts to the project, not to a task: use the project's first posting task.
        if Rec."Job Task No." = '' then begin
            JobTask.SetRange("Job No.", Rec."Job No.");
            JobTask.SetRange("Job Task Type", JobTask."Job Task Type"::Posting);
            if JobTask.FindFirst() then
                Rec."Job Task No." := JobTask."Job Task No.";
        end;
    end;
"""
_CUSTOMER_ID = """
    var
        CustomerId: Guid;

    trigger OnAfterGetRecord()
    var
        Customer: Record Customer;
    begin
        Clear(CustomerId);
        if Customer.Get(Rec."Bill-to Customer No.") then
            CustomerId := Customer.SystemId;
    end;
"""
_POST = """
    [ServiceEnabled]
    procedure post(var ActionContext: WebServiceActionContext)
    var
        JobJnlLine: Record "Job Journal Line";
    begin
        JobJnlLine.SetRange("Journal Template Name", Rec."Journal Template Name");
        JobJnlLine.SetRange("Journal Batch Name", Rec.Name);
        if JobJnlLine.IsEmpty() then
            Error('There is nothing to post.');
        Codeunit.Run(Codeunit::"Job Jnl.-Post Batch", JobJnlLine);
        ActionContext.SetResultCode(WebServiceActionResultCode::Updated);
    end;
"""
_BATCH_TEMPLATE = """
    trigger OnInsertRecord(BelowxRec: Boolean): Boolean
    var
        JobJnlTemplate: Record "Job Journal Template";
    begin
        // Accord names only the batch: it goes under the company's first project template.
        if Rec."Journal Template Name" = '' then begin
            JobJnlTemplate.FindFirst();
            Rec."Journal Template Name" := JobJnlTemplate.Name;
        end;
        exit(true);
    end;
"""

_TASK_PROGRESS = """
    var
        ActualHours: Decimal;
        PercentComplete: Decimal;

    trigger OnAfterGetRecord()
    var
        JobLedgerEntry: Record "Job Ledger Entry";
    begin
        // Usage of resources booked to the task, against its estimate.
        JobLedgerEntry.SetRange("Job No.", Rec."Job No.");
        JobLedgerEntry.SetRange("Job Task No.", Rec."Job Task No.");
        JobLedgerEntry.SetRange("Entry Type", JobLedgerEntry."Entry Type"::Usage);
        JobLedgerEntry.SetRange(Type, JobLedgerEntry.Type::Resource);
        JobLedgerEntry.CalcSums(Quantity);
        ActualHours := JobLedgerEntry.Quantity;
        PercentComplete := 0;
        if Rec."Accord Estimated Hours" <> 0 then
            PercentComplete := Round(ActualHours * 100 / Rec."Accord Estimated Hours", 0.1);
    end;
"""
_PURCHASE_INVOICE = """
    var
        VendorId: Guid;

    trigger OnAfterGetRecord()
    var
        Vendor: Record Vendor;
    begin
        Clear(VendorId);
        if Vendor.Get(Rec."Buy-from Vendor No.") then
            VendorId := Vendor.SystemId;
    end;

    trigger OnNewRecord(BelowxRec: Boolean)
    begin
        Rec."Document Type" := Rec."Document Type"::Invoice;
    end;

    [ServiceEnabled]
    procedure post(var ActionContext: WebServiceActionContext)
    var
        PurchaseHeader: Record "Purchase Header";
    begin
        PurchaseHeader.Get(Rec."Document Type", Rec."No.");
        PurchaseHeader.Invoice := true;
        Codeunit.Run(Codeunit::"Purch.-Post", PurchaseHeader);
        ActionContext.SetResultCode(WebServiceActionResultCode::Updated);
    end;
"""
_PURCHASE_LINE = """
    trigger OnNewRecord(BelowxRec: Boolean)
    begin
        Rec."Document Type" := Rec."Document Type"::Invoice;
    end;
"""

_MODIFIED = PageField("lastModifiedDateTime", "SystemModifiedAt", FieldType.TEXT, read_only=True)
_T, _N, _D = FieldType.TEXT, FieldType.NUMBER, FieldType.DATE

REQUIREMENTS = Requirements(
    kind="business_central",
    prerequisites=(
        (
            "An Entra application registered in Business Central's 'Microsoft Entra Applications' "
            "page with the ACCORD INTEGRATION permission set (from the extension) and D365 BASIC."
        ),
        (
            "Dimensions: Global Dimension 1 is the department, Global Dimension 2 the area (as "
            "the rules' bc_dimensions name them)."
        ),
        (
            "A Job Journal batch named as the connection's time_journal (default PROJECTS), and a "
            "customer payment journal batch named as its payment_journal (default CASHRCPT)."
        ),
    ),
    fields=(
        CustomField(
            "Job",
            "Accord Billing Model",
            "Accord Billing Model",
            FieldType.TEXT,
            Access.WRITE,
            "How the project is billed (Time and Materials, Fixed Fee, Milestone, Retainer).",
            length=30,
        ),
        CustomField(
            "Job Task",
            "Accord Estimated Hours",
            "Accord Estimated Hours",
            FieldType.NUMBER,
            Access.WRITE,
            "The PSA task's estimate, which the task's percent complete is computed against.",
        ),
    ),
    pages=(
        ApiPage(
            "projects",
            "project",
            "Job",
            (
                _ID,
                PageField("number", '"No."'),
                PageField("displayName", "Description"),
                PageField(
                    "customerId", "CustomerId", FieldType.GUID, read_only=True, variable=True
                ),
                PageField("customerNumber", '"Bill-to Customer No."'),
                PageField("currencyCode", '"Currency Code"'),
                PageField("startDate", '"Starting Date"', _D),
                PageField("endDate", '"Ending Date"', _D),
                PageField("status", "Status"),
                PageField("blocked", "Blocked"),
                PageField("departmentCode", '"Global Dimension 1 Code"'),
                PageField("areaCode", '"Global Dimension 2 Code"'),
                PageField("billingModel", '"Accord Billing Model"'),
                _MODIFIED,
            ),
            "Projects with their customer, dates, status, dimensions and billing model.",
            code=_CUSTOMER_ID,
        ),
        ApiPage(
            "projectPlanningLines",
            "projectPlanningLine",
            '"Job Planning Line"',
            (
                _ID,
                PageField("documentNumber", '"Document No."'),
                PageField("projectNumber", '"Job No."'),
                PageField("projectTaskNumber", '"Job Task No."'),
                PageField("lineNumber", '"Line No."', _N, read_only=True),
                PageField("lineType", '"Line Type"'),
                PageField("type", "Type"),
                PageField("number", '"No."'),
                PageField("planningDate", '"Planning Date"', _D),
                PageField("description", "Description"),
                PageField("quantity", "Quantity", _N),
                PageField("unitPrice", '"Unit Price"', _N),
                PageField("lineAmount", '"Line Amount"', _N),
                PageField("currencyCode", '"Currency Code"'),
                _MODIFIED,
            ),
            "A project's billing plan (one billable planning line per milestone, fee or "
            "retainer period) and its resource budget (a budget line per person planned).",
            code=_TASK_DEFAULT,
        ),
        ApiPage(
            "projectTasks",
            "projectTask",
            '"Job Task"',
            (
                _ID,
                PageField("projectNumber", '"Job No."'),
                PageField("taskNumber", '"Job Task No."'),
                PageField("description", "Description"),
                PageField("taskType", '"Job Task Type"'),
                PageField("startDate", '"Start Date"', _D),
                PageField("endDate", '"End Date"', _D),
                PageField("estimatedHours", '"Accord Estimated Hours"', _N),
                PageField("actualHours", "ActualHours", _N, read_only=True, variable=True),
                PageField("percentComplete", "PercentComplete", _N, read_only=True, variable=True),
                _MODIFIED,
            ),
            "Project tasks with the PSA's estimates, and how far the time booked to each has gone.",
            code=_TASK_PROGRESS,
        ),
        ApiPage(
            "purchaseInvoices",
            "purchaseInvoice",
            '"Purchase Header"',
            (
                _ID,
                PageField("number", '"No."', read_only=True),
                PageField("invoiceDate", '"Document Date"', _D),
                PageField("postingDate", '"Posting Date"', _D),
                PageField("dueDate", '"Due Date"', _D),
                PageField("vendorInvoiceNumber", '"Vendor Invoice No."'),
                PageField("vendorId", "VendorId", FieldType.GUID, read_only=True, variable=True),
                PageField("vendorNumber", '"Buy-from Vendor No."'),
                PageField("vendorName", '"Buy-from Vendor Name"', read_only=True),
                PageField("currencyCode", '"Currency Code"'),
                PageField("pricesIncludeTax", '"Prices Including VAT"', FieldType.CHECKBOX),
                PageField("totalAmountExcludingTax", "Amount", _N, read_only=True),
                PageField("totalTaxAmount", '"Invoice Discount Amount"', _N, read_only=True),
                PageField("totalAmountIncludingTax", '"Amount Including VAT"', _N, read_only=True),
                PageField("status", "Status", read_only=True),
                _MODIFIED,
            ),
            "Vendor bills charged to projects (the standard page has no project on its lines): "
            "Accord's purchase invoices, posted by its post action.",
            actions=("post",),
            code=_PURCHASE_INVOICE,
        ),
        ApiPage(
            "purchaseInvoiceLines",
            "purchaseInvoiceLine",
            '"Purchase Line"',
            (
                _ID,
                PageField("documentId", '"Document No."', read_only=True),
                PageField("sequence", '"Line No."', _N, read_only=True),
                PageField("lineType", "Type"),
                PageField("lineObjectNumber", '"No."'),
                PageField("itemId", '"Item Reference No."', FieldType.GUID),
                PageField("accountId", '"Account Id"', FieldType.GUID),
                PageField("description", "Description"),
                PageField("directUnitCost", '"Direct Unit Cost"', _N),
                PageField("quantity", "Quantity", _N),
                PageField("amountExcludingTax", "Amount", _N, read_only=True),
                PageField("totalTaxAmount", '"VAT Base Amount"', _N, read_only=True),
                PageField("amountIncludingTax", '"Amount Including VAT"', _N, read_only=True),
                PageField("netAmount", '"Line Amount"', _N, read_only=True),
                PageField("projectNumber", '"Job No."'),
                PageField("projectTaskNumber", '"Job Task No."'),
            ),
            "Purchase invoice lines with the project (and task) they charge.",
            parent="purchaseInvoices",
            parent_link=(('"Document Type"', '"Document Type"'), ('"Document No."', '"No."')),
            code=_PURCHASE_LINE,
        ),
        ApiPage(
            "journals",
            "journal",
            '"Job Journal Batch"',
            (
                _ID,
                PageField("code", "Name"),
                PageField("displayName", "Description"),
                _MODIFIED,
            ),
            "Project journal batches: Accord creates one per submission (so no other run's post "
            "takes its lines), posts it, and deletes it once empty.",
            actions=("post",),
            code=_BATCH_TEMPLATE + _POST,
        ),
        ApiPage(
            "journalLines",
            "journalLine",
            '"Job Journal Line"',
            (
                _ID,
                PageField("lineNumber", '"Line No."', _N),
                PageField("postingDate", '"Posting Date"', _D),
                PageField("documentNumber", '"Document No."'),
                PageField("externalDocumentNumber", '"External Document No."'),
                PageField("description", "Description"),
                PageField("projectNumber", '"Job No."'),
                PageField("projectTaskNumber", '"Job Task No."'),
                PageField("resourceNumber", '"No."'),
                PageField("workTypeCode", '"Work Type Code"'),
                PageField("quantity", "Quantity", _N),
                PageField("unitCost", '"Unit Cost"', _N),
                PageField("unitPrice", '"Unit Price"', _N),
                _MODIFIED,
            ),
            "Project journal lines: approved time posted to a project, by resource.",
            parent="journals",
            parent_link=(
                ('"Journal Template Name"', '"Journal Template Name"'),
                ('"Journal Batch Name"', "Name"),
            ),
            code=_TASK_DEFAULT,
        ),
        ApiPage(
            "projectLedgerEntries",
            "projectLedgerEntry",
            '"Job Ledger Entry"',
            (
                _ID,
                PageField("entryNumber", '"Entry No."', _N, read_only=True),
                PageField("entryType", '"Entry Type"', read_only=True),
                PageField("projectNumber", '"Job No."', read_only=True),
                PageField("projectTaskNumber", '"Job Task No."', read_only=True),
                PageField("postingDate", '"Posting Date"', _D, read_only=True),
                PageField("documentNumber", '"Document No."', read_only=True),
                PageField("externalDocumentNumber", '"External Document No."', read_only=True),
                PageField("type", "Type", read_only=True),
                PageField("number", '"No."', read_only=True),
                PageField("description", "Description", read_only=True),
                PageField("quantity", "Quantity", _N, read_only=True),
                PageField("unitCost", '"Unit Cost (LCY)"', _N, read_only=True),
                PageField("totalCost", '"Total Cost (LCY)"', _N, read_only=True),
                PageField("unitPrice", '"Unit Price"', _N, read_only=True),
                PageField("totalPrice", '"Total Price"', _N, read_only=True),
                PageField("currencyCode", '"Currency Code"', read_only=True),
                PageField("totalPriceLCY", '"Total Price (LCY)"', _N, read_only=True),
                PageField("journalBatchName", '"Journal Batch Name"', read_only=True),
                _MODIFIED,
            ),
            "Posted project entries: how Accord tells what Business Central holds as posted "
            "(posted journal lines leave the journal), by document number.",
            access=Access.READ,
        ),
        ApiPage(
            "resources",
            "resource",
            "Resource",
            (
                _ID,
                PageField("number", '"No."'),
                PageField("displayName", "Name"),
                PageField("type", "Type"),
                PageField("baseUnitOfMeasureCode", '"Base Unit of Measure"'),
                PageField("unitCost", '"Unit Cost"', _N),
                PageField("unitPrice", '"Unit Price"', _N),
                PageField("blocked", "Blocked", FieldType.CHECKBOX),
                _MODIFIED,
            ),
            "Resources (the consultants) that project journal lines post time for.",
        ),
    ),
)
"""What Business Central needs: the Accord extension's API pages."""

EXTENSION_SETS: frozenset[str] = frozenset(p.entity_set for p in REQUIREMENTS.pages)
"""Entity sets served by the extension (routed to :data:`API_ROUTE` when configured)."""

_KIT = (
    "publish the setup kit's AL extension (setup-kit/business_central) in this environment, "
    "and set the connection's extension_api to " + API_ROUTE
)


def verify(connector: Connector[Any]) -> list[Finding]:
    """Read one record of each page the connector reads; report what is missing.

    ``journals`` is reached through its lines (the connector finds the batch by code first).

    Raises:
        ConnectorError: The environment could not be read.
    """
    findings: list[Finding] = []
    for page in REQUIREMENTS.pages:
        if page.entity_set not in connector.resources():
            continue
        try:
            records = connector.read_page(page.entity_set, limit=1).records
        except NotFoundError as exc:
            if exc.resource in ("journals", "customerPaymentJournals") and exc.external_id:
                findings.append(
                    Finding(
                        f"journal batch {exc.external_id} does not exist",
                        f"create a Job Journal batch {exc.external_id} (or set time_journal)",
                    )
                )
            else:
                findings.append(Finding(f"API page {page.entity_set} does not answer", _KIT))
            continue
        if records:
            missing = [f.name for f in page.fields if f.name not in records[0]]
            if missing:
                findings.append(
                    Finding(
                        f"API page {page.entity_set} lacks {', '.join(missing)}",
                        "publish the setup kit's current AL extension (an older one is installed)",
                    )
                )
    return findings
