"""Business Central in the ERP role, delivery half: status and fields, tasks, resources, bills.

- **Status** is a project's ``status`` with its ``blocked`` flag: planned ``Planning``, active
  ``Open``, on hold ``Open`` blocked for ``Posting``, completed ``Completed``, cancelled
  ``Completed`` blocked for ``All``; anything but active refuses postings. The feed
  ``delivery:projects`` reads the default company's changed projects, with the rules' custom
  fields among their properties (checked at start with ``$select``, which refuses a property
  the page does not have).
- **Tasks** are the extension's ``projectTasks`` (BC's Job Task): the task number is
  :func:`~accord.connectors.business_central.mapping.bc_number` of the canonical task id, the
  estimate ``estimatedHours``; BC computes ``actualHours`` and ``percentComplete`` from the
  resource usage the project ledger holds for the task. The ERP id of a task is its number.
- **Resources** are budget planning lines of type Resource (``projectPlanningLines``, line
  type Budget, ``number`` the resource's number, ``quantity`` the planned hours), keyed by the
  assignment (document number); a person with no resource in the project's company is refused
  (``resource_unknown``).
- **Vendor bills** are purchase invoices keyed by ``vendorInvoiceNumber`` (``VB-`` + the
  expense's id, 35 characters at most; BC refuses to post one vendor's invoice number twice):
  verified before they are created (lines by deep insert, charged to the project and task),
  then posted; a draft left by a refused post is posted on the retry, never created again.
  The feed ``delivery:purchaseInvoices`` brings posted invoices keyed in BC (their vendor
  invoice number is the vendor's own) whose lines charge projects Accord knows, as
  ``bc-vb-<id>``; the vendor's number is the firm's vendor key.
"""

import datetime as dt
from collections.abc import Mapping
from dataclasses import replace
from decimal import Decimal
from typing import Any, Final

from accord.connectors.business_central._erp_billing import BusinessCentralBilling
from accord.connectors.business_central.connector import BusinessCentralConnector
from accord.connectors.business_central.mapping import bc_number
from accord.connectors.roles import (
    ChangeFeed,
    ErpAssignment,
    ErpTask,
    KnownIds,
    Mapped,
    PostedVendorBill,
    ProjectState,
    TaskProgress,
    VendorBillRequest,
    collection_feed,
    custom_field_names,
    project_state_feed,
)
from accord.connectors.roles.recon import held_date
from accord.connectors.types import RawRecord
from accord.domain import (
    ExpenseCategory,
    Money,
    ProjectStatus,
    System,
    VendorBill,
    VendorBillLine,
    VendorBillStatus,
)
from accord.errors import NotFoundError, PermanentError
from accord.rules import Rules

__all__ = ["BusinessCentralDelivery", "vendor_invoice_number"]

_STATUS_OUT: Final = {
    ProjectStatus.PLANNED: ("Planning", " "),
    ProjectStatus.ACTIVE: ("Open", " "),
    ProjectStatus.ON_HOLD: ("Open", "Posting"),
    ProjectStatus.COMPLETED: ("Completed", " "),
    ProjectStatus.CANCELLED: ("Completed", "All"),
}
_ACCORD_PREFIX: Final = "VB-"
_INVOICES: Final = "purchaseInvoices"


def vendor_invoice_number(bill_id: str) -> str:
    """The ``vendorInvoiceNumber`` (``Code[35]``) of a bill Accord makes: ``VB-`` + its key."""
    return bc_number(bill_id.removeprefix(_ACCORD_PREFIX), prefix=_ACCORD_PREFIX, length=35)


def _status_in(record: RawRecord) -> ProjectStatus:
    status = str(record.get("status") or "Open")
    blocked = str(record.get("blocked") or " ").strip()
    if status in ("Planning", "Quote"):
        return ProjectStatus.PLANNED
    if status == "Completed":
        return ProjectStatus.CANCELLED if blocked == "All" else ProjectStatus.COMPLETED
    return ProjectStatus.ON_HOLD if blocked else ProjectStatus.ACTIVE


def _hours(value: object) -> Decimal | None:
    return None if value in (None, "") else Decimal(str(value)).quantize(Decimal("0.01"))


class BusinessCentralDelivery(BusinessCentralBilling):
    """The delivery methods of ``BusinessCentralErp`` (the module docstring)."""

    _connector: BusinessCentralConnector
    _rules: Rules

    def _companies(self) -> list[BusinessCentralConnector]:
        """The connection's companies (one per legal entity; the default one without any)."""
        codes = self._entities()
        return [self._connector.for_company(c) for c in codes] if codes else [self._connector]

    def _project_company(self, number: str) -> tuple[BusinessCentralConnector, RawRecord]:
        """The company holding project ``number``, and the project.

        Raises:
            NotFoundError: No company of the connection holds it.
        """
        for company in self._companies():
            record = company.get_by_external_id("projects", number)
            if record is not None:
                return company, record
        raise NotFoundError(connector=self._connector.name, resource="projects", external_id=number)

    # ----------------------------------------------------------------- status and fields
    def _state(self, record: RawRecord, project_id: str) -> ProjectState:
        names = custom_field_names(self._rules, System.BUSINESS_CENTRAL.value)
        return ProjectState(
            project_id=project_id,
            status=_status_in(record),
            fields={c: record.get(n) or None for c, n in names.items()},
            changed_at=self._connector.describe("projects", record).modified_at,
            label=str(record.get("displayName") or record.get("number")),
        )

    def project_states(self, ids: KnownIds) -> ChangeFeed[Mapped[ProjectState] | None]:
        """The default company's changed projects that Accord created."""
        return project_state_feed(
            self._connector, "projects", ids, id_field="number", state=self._state
        )

    def project_state(self, erp_id: str, project_id: str) -> ProjectState:
        """The project's status and custom fields now."""
        return self._state(self._project_company(erp_id)[1], project_id)

    def set_project_status(self, erp_id: str, status: ProjectStatus, *, reason: str) -> bool:
        """PATCH ``status`` and ``blocked`` (a project has no field for ``reason``)."""
        del reason
        company, record = self._project_company(erp_id)
        wanted, blocked = _STATUS_OUT[status]
        if (record.get("status"), str(record.get("blocked") or " ")) == (wanted, blocked):
            return False
        company.update(
            "projects",
            str(record["id"]),
            {"status": wanted, "blocked": blocked},
            etag=record.get("@odata.etag"),
        )
        return True

    def write_project_fields(self, erp_id: str, fields: Mapping[str, str | None]) -> None:
        """PATCH the mapped properties of the project."""
        names = custom_field_names(self._rules, System.BUSINESS_CENTRAL.value)
        body = {names[c]: (v or "") for c, v in fields.items() if c in names}
        if body:
            company, record = self._project_company(erp_id)
            company.update("projects", str(record["id"]), body, etag=record.get("@odata.etag"))

    def project_field_problems(self) -> dict[str, str]:
        """Mapped properties the ``projects`` page refuses to select."""
        names = custom_field_names(self._rules, System.BUSINESS_CENTRAL.value)
        missing = set(self._connector.missing_properties("projects", names.values()))
        return {
            canonical: f"the projects API page has no property {name}"
            for canonical, name in names.items()
            if name in missing
        }

    # ----------------------------------------------------------------- tasks
    def upsert_task(self, request: ErpTask) -> str:
        """Upsert the project task by its number; returns the number."""
        task = request.task
        company, project = self._project_company(request.project)
        number = bc_number(task.id)
        fields: dict[str, Any] = {
            "projectNumber": project["number"],
            "description": task.name[:100],
            "taskType": "Posting",
            "estimatedHours": float(task.estimated_hours or 0),
        }
        if task.start_date is not None:
            fields["startDate"] = task.start_date.isoformat()
        if task.end_date is not None:
            fields["endDate"] = task.end_date.isoformat()
        company.upsert("projectTasks", number, fields)
        return number

    def task_progress(self, erp_task_id: str) -> TaskProgress:
        """The task's estimate, actual hours and percent complete, as BC computes them."""
        for company in self._companies():
            task = company.get_by_external_id("projectTasks", erp_task_id)
            if task is not None:
                return TaskProgress(
                    erp_id=erp_task_id,
                    estimated_hours=_hours(task.get("estimatedHours")),
                    actual_hours=_hours(task.get("actualHours")) or Decimal(0),
                    percent_complete=_hours(task.get("percentComplete")),
                )
        raise NotFoundError(
            connector=self._connector.name, resource="projectTasks", external_id=erp_task_id
        )

    # ----------------------------------------------------------------- resources
    def assign(self, request: ErpAssignment) -> str:
        """Upsert the resource's budget planning line on the project (or the task)."""
        assignment = request.assignment
        company = self._connector.for_company(request.legal_entity)
        number = bc_number(assignment.resource_id)
        if company.get_by_external_id("resources", number) is None:
            who, where = assignment.resource_id, request.legal_entity
            message = f"no Business Central resource for {who} in {where}"
            raise PermanentError(
                message,
                detail=message,
                connector=self._connector.name,
                resource="resources",
                external_id=assignment.resource_id,
                reason="resource_unknown",
            )
        company.upsert(
            "projectPlanningLines",
            bc_number(assignment.id),
            {
                "projectNumber": request.project,
                "projectTaskNumber": request.task or "",
                "lineType": "Budget",
                "type": "Resource",
                "number": number,
                "planningDate": assignment.start_date.isoformat(),
                "description": f"{assignment.role} ({assignment.resource_id})"[:100],
                "quantity": float(assignment.planned_hours or 0),
            },
        )
        return number

    # ----------------------------------------------------------------- vendor bills
    def vendor(self, vendor_id: str, legal_entity: str) -> str | None:
        """The number of the company's vendor whose number is the firm's vendor key."""
        company = self._connector.for_company(legal_entity)
        found = company.get_by_external_id("vendors", bc_number(vendor_id))
        return str(found["number"]) if found is not None else None

    def post_vendor_bill(self, request: VendorBillRequest, ids: KnownIds) -> PostedVendorBill:
        """Find, else create, the purchase invoice; post it if it is still a draft."""
        bill = request.bill
        company = self._connector.for_company(bill.legal_entity)
        key = vendor_invoice_number(bill.id)
        existing = company.get_by_external_id(_INVOICES, key)
        created = existing is None
        if existing is None:
            config = self._connector.config
            lines: list[dict[str, Any]] = []
            for line in bill.lines:
                item: dict[str, Any] = {
                    "lineType": config.vendor_cost_line_type,
                    "description": (line.description or bill.memo or bill.id)[:100],
                    "quantity": 1,
                    "directUnitCost": float(line.amount.amount),
                    "projectNumber": request.projects[line.project_id],
                    "projectTaskNumber": request.tasks.get(line.task_id or "", ""),
                }
                if config.vendor_cost_account:
                    item["lineObjectNumber"] = config.vendor_cost_account
                lines.append(item)
            body: dict[str, Any] = {
                "vendorNumber": request.vendor,
                "vendorInvoiceNumber": key,
                "invoiceDate": bill.bill_date.isoformat(),
                "postingDate": bill.bill_date.isoformat(),
                "currencyCode": bill.currency,
                "purchaseInvoiceLines": lines,
            }
            if bill.due_date is not None:
                body["dueDate"] = bill.due_date.isoformat()
            existing = {"id": company.create(_INVOICES, body).id}
        erp_id = str(existing["id"])
        ids.remember("vendor_bill", bill.id, erp_id)
        company.post_document(_INVOICES, erp_id)
        posted = company.get(_INVOICES, erp_id)
        return PostedVendorBill(erp_id=erp_id, number=posted.get("number"), created=created)

    def vendor_bills(self, ids: KnownIds) -> ChangeFeed[Mapped[VendorBill] | None]:
        """The default company's changed purchase invoices keyed in BC (module docstring)."""
        feed = collection_feed(self._connector, _INVOICES, lambda r: self._bill(r, ids))
        return replace(feed, name=f"delivery:{_INVOICES}")

    def _bill(self, record: RawRecord, ids: KnownIds) -> Mapped[VendorBill] | None:
        if str(record.get("vendorInvoiceNumber") or "").startswith(_ACCORD_PREFIX):
            return None  # made by Accord from a PSA expense
        if record.get("status") not in ("Open", "Paid"):
            return None
        erp_id = str(record["id"])
        vendor = str(record.get("vendorNumber") or "")
        base: Mapped[VendorBill] = Mapped(
            kind="vendor_bill",
            record_id=erp_id,
            canonical_id=f"bc-vb-{erp_id}",
            label=str(record.get("number") or erp_id),
            context={"vendor": vendor},
        )
        currency = str(record.get("currencyCode") or "")
        lines: list[VendorBillLine] = []
        for line in record.get("purchaseInvoiceLines") or ():
            number = str(line.get("projectNumber") or "")
            project = ids.canonical("erp_project", number) if number else None
            if project is None:
                continue
            task = str(line.get("projectTaskNumber") or "")
            lines.append(
                VendorBillLine(
                    project_id=project,
                    amount=Money.of(Decimal(str(line.get("amountExcludingTax") or 0)), currency),
                    description=str(line.get("description") or ""),
                    task_id=ids.canonical("erp_task", task) if task else None,
                    category=ExpenseCategory.OTHER,
                )
            )
        if not lines:
            return None
        key = ids.canonical("vendor", vendor) or vendor or None
        if key is None:
            return replace(base, missing={"vendor": "the invoice names no vendor"})
        code = self._legal_entity(self._connector.company_id)
        try:
            bill = VendorBill(
                id=base.canonical_id,
                vendor_id=key,
                legal_entity=code or "?",
                number=record.get("vendorInvoiceNumber") or None,
                bill_date=held_date(record.get("invoiceDate")) or dt.datetime.now(dt.UTC).date(),
                due_date=held_date(record.get("dueDate")),
                currency=currency,
                status=VendorBillStatus.PAID
                if record.get("status") == "Paid"
                else (VendorBillStatus.OPEN),
                lines=tuple(lines),
                memo=f"Purchase invoice {record.get('number')}",
            )
        except ValueError as exc:
            return replace(base, missing={"record": str(exc).splitlines()[0]})
        return replace(base, value=bill)
