"""NetSuite in the ERP role, delivery half: project status and fields, tasks, resources, bills.

- **Status** is the job's ``entityStatus``, mapped through the connection's
  ``project_statuses`` (canonical status -> the account's project status id); any status but
  the active one also turns ``allowTime`` and ``allowExpenses`` off, so a closed, cancelled
  or held project refuses time and expenses in NetSuite as well. The feed ``delivery:job``
  reads changed jobs (SuiteQL rows), the rules' custom fields among their columns.
- **Tasks** are ``projectTask`` records upserted by ``eid:<canonical task id>``: ``company`` is
  the job, ``estimatedWork`` the estimate (hours); NetSuite computes ``actualWork`` and
  ``percentWorkComplete`` from the time booked to the task.
- **Resources**: a person is the ``employee`` carrying the consultant id as external id, and
  must belong to the project's subsidiary. A project resource is a line of the job's
  ``jobResources`` sublist; a task assignee a line of the task's ``assignee`` sublist (with
  ``plannedWork``), and a project resource as well. A PATCH replaces a whole sublist, so the
  lines are read first and written back with the change.
- **Vendor bills** are ``vendorBill`` records upserted by ``eid:<canonical bill id>`` (a PUT:
  never booked twice), one ``expense`` line per canonical line: ``category`` from the
  connection's ``expense_categories``, ``customer`` the job, ``isBillable``. The vendor is the
  ``vendor`` carrying the firm's vendor key as external id. The feed ``delivery:vendorBill``
  brings approved bills keyed in NetSuite (no Accord ``VB-`` external id) whose lines charge
  projects Accord knows; its canonical id is ``netsuite-vb-<internal id>``.
"""

import datetime as dt
from collections.abc import Mapping
from dataclasses import replace
from decimal import Decimal
from typing import Any, Final

from accord.connectors.netsuite._erp_billing import _date, _lines, _ref
from accord.connectors.netsuite._reference import currency_ids
from accord.connectors.netsuite.connector import NetSuiteConnector
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
from accord.connectors.types import RawRecord
from accord.domain import (
    ExpenseCategory,
    Money,
    ProjectStatus,
    System,
    TaskStatus,
    VendorBill,
    VendorBillLine,
    VendorBillStatus,
)
from accord.errors import MappingError, NotFoundError, PermanentError
from accord.rules import Rules

__all__ = ["ACCORD_BILL_PREFIX", "NetSuiteDelivery"]

ACCORD_BILL_PREFIX: Final = "VB-"
"""The canonical ids of the vendor bills Accord makes from PSA expenses start with this."""
_TASK: Final = "projectTask"
_BILL: Final = "vendorBill"
_TASK_STATUS: Final = {
    TaskStatus.NOT_STARTED: "NOTSTART",
    TaskStatus.IN_PROGRESS: "PROGRESS",
    TaskStatus.COMPLETED: "COMPLETE",
    TaskStatus.CANCELLED: "COMPLETE",
}
_PENDING_APPROVAL: Final = "D"
_PAID: Final = "B"


def _decimal(value: object) -> Decimal | None:
    if value is None or value == "":
        return None
    return Decimal(str(value)).quantize(Decimal("0.01"))


def _field_values(
    record: RawRecord, names: Mapping[str, str], *, lower: bool = False
) -> dict[str, str | None]:
    """Canonical custom field -> the record's value (SuiteQL rows name columns in lower case)."""
    out: dict[str, str | None] = {}
    for canonical, name in names.items():
        value = record.get(name.lower() if lower else name)
        out[canonical] = None if value in (None, "") else str(value)
    return out


class NetSuiteDelivery:
    """The delivery methods of :class:`~accord.connectors.netsuite.erp.NetSuiteErp`."""

    _connector: NetSuiteConnector
    _rules: Rules

    # ----------------------------------------------------------------- status and fields
    def _statuses(self) -> dict[ProjectStatus, str]:
        return {ProjectStatus(k): v for k, v in self._connector.config.project_statuses.items()}

    def _status_of(self, status_id: str | None) -> ProjectStatus:
        found = [s for s, v in self._statuses().items() if v == status_id]
        return found[0] if found else ProjectStatus.ACTIVE

    def project_states(self, ids: KnownIds) -> ChangeFeed[Mapped[ProjectState] | None]:
        """Changed jobs Accord created, as their status and custom fields (SuiteQL rows)."""
        return project_state_feed(self._connector, "job", ids, id_field="id", state=self._row_state)

    def _row_state(self, row: RawRecord, project: str) -> ProjectState:
        names = custom_field_names(self._rules, System.NETSUITE.value)
        return ProjectState(
            project_id=project,
            status=self._status_of(str(row.get("entitystatus") or "")),
            fields=_field_values(row, names, lower=True),
            changed_at=self._connector.describe("job", row).modified_at,
            label=str(row.get("entityid") or row.get("companyname") or row.get("id") or ""),
        )

    def project_state(self, erp_id: str, project_id: str) -> ProjectState:
        """The job's status and custom fields now."""
        job = self._connector.get("job", erp_id)
        names = custom_field_names(self._rules, System.NETSUITE.value)
        return ProjectState(
            project_id=project_id,
            status=self._status_of(_ref(job, "entityStatus")),
            fields=_field_values(job, names),
            label=str(job.get("entityId") or erp_id),
        )

    def set_project_status(self, erp_id: str, status: ProjectStatus, *, reason: str) -> bool:
        """Write ``entityStatus`` (and whether the job takes time and expenses)."""
        del reason  # a job has no field for it (``comments`` holds the billing note)
        wanted = self._statuses()[status]
        job = self._connector.get("job", erp_id)
        open_ = status is ProjectStatus.ACTIVE
        if _ref(job, "entityStatus") == wanted and job.get("allowTime", True) is open_:
            return False
        self._connector.update(
            "job",
            erp_id,
            {"entityStatus": {"id": wanted}, "allowTime": open_, "allowExpenses": open_},
        )
        return True

    def write_project_fields(self, erp_id: str, fields: Mapping[str, str | None]) -> None:
        """PATCH the mapped custom fields of the job."""
        names = custom_field_names(self._rules, System.NETSUITE.value)
        body = {names[c]: v for c, v in fields.items() if c in names}
        if body:
            self._connector.update("job", erp_id, body)

    def project_field_problems(self) -> dict[str, str]:
        """Mapped fields the job's metadata catalog does not describe (as Accord's role)."""
        names = custom_field_names(self._rules, System.NETSUITE.value)
        if not names:
            return {}
        response = self._connector.send(
            "GET",
            "/record/v1/metadata-catalog/job",
            resource="job",
            headers={"Accept": "application/schema+json"},
        )
        self._connector.raise_for_status(response, resource="job")
        properties = self._connector.json_object(response, resource="job").get("properties") or {}
        return {
            canonical: f"the job record has no field {name} (or Accord's role cannot see it)"
            for canonical, name in names.items()
            if name not in properties
        }

    # ----------------------------------------------------------------- tasks
    def upsert_task(self, request: ErpTask) -> str:
        """PUT the ``projectTask`` by ``eid:<task id>`` (its assignees are left as they are)."""
        task = request.task
        body: dict[str, Any] = {
            "company": {"id": request.project},
            "title": task.name[:250],
            "status": {"id": _TASK_STATUS[task.status]},
            "nonBillableTask": not task.billable,
        }
        if task.estimated_hours is not None:
            body["estimatedWork"] = float(task.estimated_hours)
        if request.parent is not None:
            body["parent"] = {"id": request.parent}
        if task.start_date is not None:
            body["startDate"] = task.start_date.isoformat()
        if task.end_date is not None:
            body["endDate"] = task.end_date.isoformat()
        return self._connector.upsert(_TASK, task.id, body).id

    def task_progress(self, erp_task_id: str) -> TaskProgress:
        """The task's estimate, actual work and percent complete, as NetSuite computes them."""
        task = self._connector.get(_TASK, erp_task_id)
        return TaskProgress(
            erp_id=erp_task_id,
            estimated_hours=_decimal(task.get("estimatedWork")),
            actual_hours=_decimal(task.get("actualWork")) or Decimal(0),
            percent_complete=_decimal(task.get("percentWorkComplete")),
        )

    # ----------------------------------------------------------------- resources
    def _employee_in(self, resource_id: str, legal_entity: str) -> str:
        """The employee of a consultant in the legal entity's subsidiary.

        Raises:
            PermanentError: Reason ``resource_unknown`` (no such employee there).
        """
        entity = self._rules.spec.legal_entities.get(legal_entity)
        subsidiary = entity.netsuite_subsidiary_id if entity else None
        try:
            employee = self._connector.get_by_external_id("employee", resource_id)
        except (PermanentError, ValueError):
            employee = None
        if employee is None or _ref(employee, "subsidiary") != subsidiary:
            message = f"no NetSuite employee for {resource_id} in {legal_entity}"
            raise PermanentError(
                message,
                detail=message,
                connector=self._connector.name,
                resource="employee",
                external_id=resource_id,
                reason="resource_unknown",
            )
        return str(employee["id"])

    def assign(self, request: ErpAssignment) -> str:
        """Add the employee to the job's resources and, for a task, to its assignees."""
        assignment = request.assignment
        employee = self._employee_in(assignment.resource_id, request.legal_entity)
        job = self._connector.get("job", request.project)
        team = _lines(job, "jobResources")
        if all(_ref(line, "jobResource") != employee for line in team):
            members = [{"jobResource": {"id": _ref(line, "jobResource")}} for line in team]
            members.append({"jobResource": {"id": employee}})
            self._connector.update("job", request.project, {"jobResources": {"items": members}})
        if request.task is not None:
            task = self._connector.get(_TASK, request.task)
            planned = float(assignment.planned_hours or 0)
            lines = [
                {"resource": {"id": _ref(line, "resource")}, "plannedWork": line.get("plannedWork")}
                for line in _lines(task, "assignee")
                if _ref(line, "resource") != employee
            ]
            current = next(
                (ln for ln in _lines(task, "assignee") if _ref(ln, "resource") == employee), None
            )
            if current is None or float(current.get("plannedWork") or 0) != planned:
                lines.append({"resource": {"id": employee}, "plannedWork": planned})
                self._connector.update(_TASK, request.task, {"assignee": {"items": lines}})
        return employee

    # ----------------------------------------------------------------- vendor bills
    def vendor(self, vendor_id: str, legal_entity: str) -> str | None:
        """The ``vendor`` carrying the firm's vendor key, if it is in the entity's subsidiary."""
        entity = self._rules.spec.legal_entities.get(legal_entity)
        try:
            found = self._connector.get_by_external_id("vendor", vendor_id)
        except ValueError:
            return None
        if found is None or entity is None:
            return None
        if _ref(found, "subsidiary") != entity.netsuite_subsidiary_id:
            return None
        return str(found["id"])

    def post_vendor_bill(self, request: VendorBillRequest, ids: KnownIds) -> PostedVendorBill:
        """PUT the bill by ``eid:<bill id>`` unless NetSuite holds it already (then reported)."""
        bill = request.bill
        existing = self._connector.get_by_external_id(_BILL, bill.id)
        if existing is None:
            categories = self._connector.config.expense_categories
            lines: list[dict[str, Any]] = []
            for line in bill.lines:
                item: dict[str, Any] = {
                    "amount": float(line.amount.amount),
                    "memo": (line.description or bill.memo)[:300],
                    "customer": {"id": request.projects[line.project_id]},
                    "isBillable": line.billable,
                }
                category = categories.get(line.category.value)
                if category is not None:
                    item["category"] = {"id": category}
                if line.task_id is not None and line.task_id in request.tasks:
                    item["projectTask"] = {"id": request.tasks[line.task_id]}
                lines.append(item)
            body: dict[str, Any] = {
                "entity": {"id": request.vendor},
                "tranDate": bill.bill_date.isoformat(),
                "memo": (bill.memo or f"Vendor bill {bill.number or bill.id}")[:999],
                "expense": {"items": lines},
            }
            if bill.number is not None:
                body["tranId"] = bill.number[:45]
            if bill.due_date is not None:
                body["dueDate"] = bill.due_date.isoformat()
            currency = currency_ids(self._connector).get(bill.currency)
            if currency is not None:
                body["currency"] = {"id": currency}
            erp_id = self._connector.put(_BILL, bill.id, body)
            existing = self._connector.get(_BILL, erp_id)
            created = True
        else:
            created = False
        erp_id = str(existing["id"])
        ids.remember("vendor_bill", bill.id, erp_id)
        return PostedVendorBill(erp_id=erp_id, number=existing.get("tranId"), created=created)

    def vendor_bills(self, ids: KnownIds) -> ChangeFeed[Mapped[VendorBill] | None]:
        """Changed vendor bills keyed in NetSuite, read in full (see the module docstring)."""
        feed = collection_feed(self._connector, _BILL, lambda row: self._bill(row, ids))
        return replace(feed, name=f"delivery:{_BILL}")

    def _vendor_key(self, vendor: str, ids: KnownIds) -> str | None:
        key = ids.canonical("vendor", vendor)
        if key is None:
            try:
                key = self._connector.get("vendor", vendor).get("externalId")
            except NotFoundError:
                return None
            if key:
                ids.remember("vendor", str(key), vendor)
        return str(key) if key else None

    def _bill(self, row: RawRecord, ids: KnownIds) -> Mapped[VendorBill] | None:
        if str(row.get("externalid") or "").startswith(ACCORD_BILL_PREFIX):
            return None  # made by Accord from a PSA expense
        full = self._connector.get(_BILL, str(row["id"]))
        status = _ref(full, "status")
        if status == _PENDING_APPROVAL:
            return None
        erp_id = str(full["id"])
        vendor = _ref(full, "entity") or ""
        base: Mapped[VendorBill] = Mapped(
            kind="vendor_bill",
            record_id=erp_id,
            canonical_id=f"netsuite-vb-{erp_id}",
            label=str(full.get("tranId") or erp_id),
            context={"vendor": vendor},
        )
        currencies = {v: k for k, v in currency_ids(self._connector).items()}
        currency = currencies.get(_ref(full, "currency") or "", "")
        lines: list[VendorBillLine] = []
        for line in _lines(full, "expense"):
            job = _ref(line, "customer")
            project = ids.canonical("erp_project", job) if job else None
            if project is None:
                continue
            task = _ref(line, "projectTask")
            lines.append(
                VendorBillLine(
                    project_id=project,
                    amount=Money.of(Decimal(str(line.get("amount") or 0)), currency or "USD"),
                    description=str(line.get("memo") or ""),
                    task_id=ids.canonical("erp_task", task) if task else None,
                    billable=bool(line.get("isBillable")),
                    category=ExpenseCategory.OTHER,
                )
            )
        if not lines:
            return None
        key = self._vendor_key(vendor, ids) if vendor else None
        if key is None:
            return replace(base, missing={"vendor": f"NetSuite vendor {vendor} has no vendor key"})
        subsidiary = _ref(full, "subsidiary")
        entity = next(
            (c for c, e in self._rules.spec.legal_entities.items()
             if e.netsuite_subsidiary_id == subsidiary),
            None,
        )  # fmt: skip
        try:
            bill = VendorBill(
                id=base.canonical_id,
                vendor_id=key,
                legal_entity=entity or subsidiary or "?",
                number=full.get("tranId") or None,
                bill_date=_date(full.get("tranDate")) or dt.datetime.now(dt.UTC).date(),
                due_date=_date(full.get("dueDate")),
                currency=currency,
                status=VendorBillStatus.PAID if status == _PAID else VendorBillStatus.OPEN,
                lines=tuple(lines),
                memo=str(full.get("memo") or ""),
            )
        except (ValueError, MappingError) as exc:
            return replace(base, missing={"record": str(exc).splitlines()[0]})
        return replace(base, value=bill)
