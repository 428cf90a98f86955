"""Certinia in the PSA role, delivery half: status and fields, tasks, team, vendor costs (issue 23).

Certinia lives on Salesforce, so delivery changes are ordinary change reads, one feed per
object (named ``delivery:<object>`` so that no other flow's pair of the object is taken):

- ``pse__Proj__c`` -> the project's state: ``pse__Stage__c`` and the rules' custom fields (read
  with the project, every field);
- ``pse__Project_Task__c`` -> a task: ``pse__Estimated_Hours__c``, ``pse__Actual_Hours__c``,
  ``pse__Percent_Complete_Hours__c``, the status, the parent task; its canonical id is its
  ``Accord_Id__c`` (a phase lead-to-project provisioned), else ``certinia-pt-<Id>``;
- ``pse__Project_Task_Assignment__c`` (a resource on a task, ``pse__Estimated_Hours__c``) and
  ``pse__Assignment__c`` (a resource on the project) -> an assignment; the person is the resource
  Contact's ``Accord_Id__c`` (the consultant id), the role its resource role;
- ``pse__Vendor_Invoice__c`` approved (the connector's filter) -> its items' vendor expenses
  (``certinia-vii-<item Id>``), the vendor being the invoice account's ``Accord_Id__c`` (the
  firm's vendor key). An approved invoice is read once (its key stays the same).

Projects Accord did not provision map to nothing; records carrying an ``Accord_Id__c`` that
Accord wrote (vendor invoices brought from the ERP) map to nothing either.

**Vendor costs** from the ERP are a ``pse__Vendor_Invoice__c`` upserted by ``Accord_Id__c`` =
the bill's canonical id (vendor account matched by ``Accord_Id__c``, approved) and one
``pse__Vendor_Invoice_Item__c`` per line, upserted by the cost's key: Certinia counts them in
the project's costs. **Status** is ``pse__Stage__c``; a completed, cancelled or on-hold project
is closed for time and expense entry. **Custom fields** are fields of ``pse__Proj__c``, checked
against the object's describe.
"""

import datetime as dt
from collections.abc import Callable, Mapping
from dataclasses import replace
from decimal import Decimal, InvalidOperation
from typing import Any, Final

from accord.connectors.certinia._psa_billing import CertiniaBilling
from accord.connectors.certinia.connector import CertiniaConnector
from accord.connectors.certinia.mapping import PROJECT_STAGES
from accord.connectors.roles import (
    ChangeFeed,
    DeliveryRecord,
    KnownIds,
    Mapped,
    ProjectState,
    VendorCost,
    collection_feed,
    custom_field_names,
)
from accord.connectors.roles.recon import held_date
from accord.connectors.salesforce.rest import parse_sf_datetime
from accord.connectors.types import RawRecord
from accord.domain import (
    Assignment,
    Expense,
    ExpenseCategory,
    ExpenseStatus,
    Money,
    ProjectStatus,
    ProjectTask,
    System,
    TaskStatus,
)
from accord.errors import NotFoundError
from accord.rules import Rules

__all__ = ["DELIVERY_OBJECTS", "CertiniaDelivery"]

_PROJECT: Final = "pse__Proj__c"
_TASK: Final = "pse__Project_Task__c"
_TASK_ASSIGNMENT: Final = "pse__Project_Task_Assignment__c"
_ASSIGNMENT: Final = "pse__Assignment__c"
_INVOICE: Final = "pse__Vendor_Invoice__c"
_ITEM: Final = "pse__Vendor_Invoice_Item__c"
DELIVERY_OBJECTS: Final = (_PROJECT, _TASK, _TASK_ASSIGNMENT, _ASSIGNMENT, _INVOICE)
"""The objects read for delivery, one feed each."""
_STAGE_OUT: Final = {
    ProjectStatus.PLANNED: "Planned",
    ProjectStatus.ACTIVE: "In Progress",
    ProjectStatus.ON_HOLD: "On Hold",
    ProjectStatus.COMPLETED: "Completed",
    ProjectStatus.CANCELLED: "Canceled",
}
_TASK_STATUS: Final = {
    "Planned": TaskStatus.NOT_STARTED,
    "In Progress": TaskStatus.IN_PROGRESS,
    "Complete": TaskStatus.COMPLETED,
    "Canceled": TaskStatus.CANCELLED,
}
_MESSAGE_MAX: Final = 255

Record = Mapped[DeliveryRecord]


def _nested(record: RawRecord, relationship: str, field: str = "Accord_Id__c") -> Any:  # noqa: ANN401 - a JSON value
    parent = record.get(relationship)
    return parent.get(field) if isinstance(parent, dict) else None


def _key(record: RawRecord, relationship: str) -> str | None:
    value = _nested(record, relationship)
    return value if isinstance(value, str) and value else None


def _hours(value: object) -> Decimal | None:
    if value is None or value == "":
        return None
    try:
        return Decimal(str(value)).quantize(Decimal("0.01"))
    except InvalidOperation:
        return None


class CertiniaDelivery(CertiniaBilling):
    """The delivery methods of :class:`~accord.connectors.certinia.psa.CertiniaPsa`."""

    _connector: CertiniaConnector
    _rules: Rules

    # ----------------------------------------------------------------- the feeds
    def delivery_feeds(self, ids: KnownIds) -> tuple[ChangeFeed[Record | None], ...]:
        """One change feed per delivery object (see the module docstring)."""
        mappers: dict[str, Callable[[RawRecord, KnownIds], Record | None]] = {
            _PROJECT: self._project_state_of,
            _TASK: self._task,
            _TASK_ASSIGNMENT: self._task_assignment,
            _ASSIGNMENT: self._project_assignment,
            _INVOICE: self._vendor_invoice,
        }
        return tuple(self._delivery_feed(name, mapper, ids) for name, mapper in mappers.items())

    def _delivery_feed(
        self, name: str, mapper: Callable[[RawRecord, KnownIds], Record | None], ids: KnownIds
    ) -> ChangeFeed[Record | None]:
        feed = collection_feed(self._connector, name, lambda record: mapper(record, ids))
        return replace(feed, name=f"delivery:{name}")

    def _project_of(
        self, record: RawRecord, ids: KnownIds, field: str = "pse__Project__c"
    ) -> str | None:
        project_sf = str(record.get(field) or "")
        return ids.canonical("psa_project", project_sf) if project_sf else None

    # ----------------------------------------------------------------- project state
    def _project_state_of(self, record: RawRecord, ids: KnownIds) -> Record | None:
        project = self._project_of(record, ids, "Id")
        if project is None:
            return None
        state = self._state(record, project)
        return Mapped(
            kind="project",
            record_id=str(record.get("Id")),
            canonical_id=project,
            label=state.label,
            value=state,
        )

    def _state(self, record: RawRecord, project_id: str) -> ProjectState:
        names = custom_field_names(self._rules, System.CERTINIA.value)
        full = self._connector.get(_PROJECT, str(record["Id"])) if names else record
        fields = {
            canonical: (str(full[name]) if full.get(name) not in (None, "") else None)
            for canonical, name in names.items()
        }
        return ProjectState(
            project_id=project_id,
            status=PROJECT_STAGES.get(str(record.get("pse__Stage__c")), ProjectStatus.ACTIVE),
            fields=fields,
            changed_at=parse_sf_datetime(record.get("LastModifiedDate")),
            label=str(record.get("Name") or record.get("Id")),
        )

    def project_state(self, psa_id: str, project_id: str) -> ProjectState:
        """The project's stage and custom fields now."""
        return self._state(self._connector.get(_PROJECT, psa_id), project_id)

    def set_project_status(self, psa_id: str, status: ProjectStatus, *, reason: str) -> bool:
        """Write the stage; closed, cancelled and held projects take no time or expenses."""
        current = self._connector.get(_PROJECT, psa_id).get("pse__Stage__c")
        if PROJECT_STAGES.get(str(current)) is status:
            return False
        closed = status in (ProjectStatus.ON_HOLD, ProjectStatus.COMPLETED, ProjectStatus.CANCELLED)
        self._connector.update(
            _PROJECT,
            psa_id,
            {
                "pse__Stage__c": _STAGE_OUT[status],
                "pse__Is_Active__c": status is ProjectStatus.ACTIVE,
                "pse__Closed_for_Time_Entry__c": closed,
                "pse__Closed_for_Expense_Entry__c": closed,
                "Integration_Message__c": reason[:_MESSAGE_MAX],
            },
        )
        return True

    def write_project_fields(self, psa_id: str, fields: Mapping[str, str | None]) -> None:
        """Write the mapped fields of ``pse__Proj__c``."""
        names = custom_field_names(self._rules, System.CERTINIA.value)
        body = {names[c]: v for c, v in fields.items() if c in names}
        if body:
            self._connector.update(_PROJECT, psa_id, body)

    def project_field_problems(self) -> dict[str, str]:
        """Mapped fields ``pse__Proj__c``'s describe lacks, or that Accord's user cannot edit."""
        names = custom_field_names(self._rules, System.CERTINIA.value)
        if not names:
            return {}
        path = f"/services/data/{self._connector.config.api_version}/sobjects/{_PROJECT}/describe"
        response = self._connector.send("GET", path, resource=_PROJECT)
        self._connector.raise_for_status(response, resource=_PROJECT)
        described = self._connector.json_object(response, resource=_PROJECT)
        fields = {str(f.get("name")): f for f in described.get("fields") or ()}
        problems: dict[str, str] = {}
        for canonical, name in names.items():
            if name not in fields:
                problems[canonical] = f"{_PROJECT} has no field {name}"
            elif not fields[name].get("updateable"):
                problems[canonical] = f"{_PROJECT}.{name} is not editable by Accord's user"
        return problems

    # ----------------------------------------------------------------- tasks and team
    def _task(self, record: RawRecord, ids: KnownIds) -> Record | None:
        project = self._project_of(record, ids)
        if project is None:
            return None
        sf_id = str(record.get("Id"))
        key = record.get("Accord_Id__c") or f"certinia-pt-{sf_id}"
        ids.remember("psa_task", key, sf_id)
        parent_sf = str(record.get("pse__Parent_Task__c") or "")
        parent = (
            (_key(record, "pse__Parent_Task__r") or f"certinia-pt-{parent_sf}")
            if parent_sf
            else None
        )
        base: Record = Mapped(
            kind="task", record_id=sf_id, canonical_id=key, label=str(record.get("Name"))
        )
        try:
            task = ProjectTask(
                id=key,
                project_id=project,
                name=str(record.get("Name") or key),
                parent_id=parent,
                status=_TASK_STATUS.get(str(record.get("pse__Status__c")), TaskStatus.NOT_STARTED),
                estimated_hours=_hours(record.get("pse__Estimated_Hours__c")),
                actual_hours=_hours(record.get("pse__Actual_Hours__c")),
                percent_complete=_hours(record.get("pse__Percent_Complete_Hours__c")),
                start_date=held_date(record.get("pse__Start_Date__c")),
                end_date=held_date(record.get("pse__End_Date__c")),
            )
        except ValueError as exc:
            return replace(base, missing={"record": str(exc).splitlines()[0]})
        return replace(base, value=task)

    def _assignment(
        self,
        record: RawRecord,
        project: str,
        start: object,
        end: object,
        **extra: Any,  # noqa: ANN401 - optional Assignment fields
    ) -> Record:
        sf_id = str(record.get("Id"))
        prefix = "pta" if "task_id" in extra else "as"
        base: Record = Mapped(
            kind="assignment",
            record_id=sf_id,
            canonical_id=f"certinia-{prefix}-{sf_id}",
            label=str(record.get("Name") or sf_id),
            context={"contact": record.get("pse__Resource__c")},
        )
        resource = _key(record, "pse__Resource__r")
        if resource is None:
            contact = record.get("pse__Resource__c")
            return replace(
                base, missing={"resource": f"Certinia resource {contact} has no consultant id"}
            )
        first = held_date(start) or dt.datetime.now(dt.UTC).date()
        last = max(held_date(end) or first, first)
        role = _nested(record, "pse__Resource__r", "pse__Resource_Role__c") or record.get(
            "pse__Role__c"
        )
        value = Assignment(
            id=base.canonical_id,
            project_id=project,
            resource_id=resource,
            role=str(role or "Team member"),
            start_date=first,
            end_date=last,
            **extra,
        )
        return replace(base, value=value)

    def _task_assignment(self, record: RawRecord, ids: KnownIds) -> Record | None:
        project = self._project_of(record, ids)
        task_sf = str(record.get("pse__Project_Task__c") or "")
        if project is None or not task_sf:
            return None
        task = _key(record, "pse__Project_Task__r") or f"certinia-pt-{task_sf}"
        return self._assignment(
            record,
            project,
            _nested(record, "pse__Project_Task__r", "pse__Start_Date__c"),
            _nested(record, "pse__Project_Task__r", "pse__End_Date__c"),
            task_id=task,
            planned_hours=_hours(record.get("pse__Estimated_Hours__c")),
        )

    def _project_assignment(self, record: RawRecord, ids: KnownIds) -> Record | None:
        project = self._project_of(record, ids)
        if project is None:
            return None
        return self._assignment(
            record, project, record.get("pse__Start_Date__c"), record.get("pse__End_Date__c")
        )

    # ----------------------------------------------------------------- vendor costs
    def _vendor_invoice(self, record: RawRecord, ids: KnownIds) -> Record | None:
        if record.get("Accord_Id__c"):
            return None  # brought from the ERP by Accord
        sf_id = str(record.get("Id"))
        base: Record = Mapped(
            kind="vendor_expense",
            record_id=sf_id,
            canonical_id=f"certinia-vi-{sf_id}",
            label=str(record.get("pse__Invoice_Number__c") or record.get("Name") or sf_id),
            context={"account": record.get("pse__Account__c")},
            key=f"certinia:vendor_invoice:{sf_id}@approved",
        )
        vendor = _key(record, "pse__Account__r")
        if vendor is None:
            account = _nested(record, "pse__Account__r", "Name") or record.get("pse__Account__c")
            return replace(base, missing={"vendor": f"vendor account {account} has no vendor key"})
        fields = ", ".join(self._connector.select_fields(_ITEM))
        items = self._connector.query(
            f"SELECT {fields} FROM {_ITEM} WHERE pse__Vendor_Invoice__c = '{sf_id}'",  # noqa: S608 - an id the org gave
            resource=_ITEM,
        )
        expenses: list[Expense] = []
        for item in items:
            project = self._project_of(item, ids)
            if project is None:
                continue  # a line for a project Accord does not know stays in the PSA
            day = held_date(item.get("pse__Date__c")) or held_date(record.get("pse__Date__c"))
            try:
                expenses.append(
                    Expense(
                        id=f"certinia-vii-{item.get('Id')}",
                        project_id=project,
                        date=day or dt.datetime.now(dt.UTC).date(),
                        category=ExpenseCategory.OTHER,
                        amount=Money.of(
                            Decimal(str(item.get("pse__Amount__c"))),
                            str(item.get("CurrencyIsoCode") or record.get("CurrencyIsoCode")),
                        ),
                        billable=bool(item.get("pse__Billable__c")),
                        status=ExpenseStatus.APPROVED,
                        description=str(item.get("pse__Description__c") or record.get("Name")),
                        approved_at=parse_sf_datetime(record.get("LastModifiedDate")),
                        vendor_id=vendor,
                    )
                )
            except (ValueError, InvalidOperation) as exc:
                return replace(base, missing={f"item {item.get('Id')}": str(exc).splitlines()[0]})
        return replace(base, value=tuple(expenses)) if expenses else None

    def record_vendor_cost(self, cost: VendorCost, ids: KnownIds) -> str:
        """Upsert the bill as an approved vendor invoice and the line as one of its items."""
        del ids  # the vendor account is found by its Accord_Id__c (the firm's vendor key)
        bill, line = cost.bill, cost.line
        account = self._connector.get_by_external_id("Account", bill.vendor_id)
        if account is None:
            raise NotFoundError(
                f"no vendor account carries the vendor key {bill.vendor_id}",
                connector=self._connector.name,
                resource="Account",
                external_id=bill.vendor_id,
                reason="not_found",
            )
        header = self._connector.upsert(
            _INVOICE,
            bill.id,
            {
                "pse__Account__c": account["Id"],
                "pse__Invoice_Number__c": (bill.number or bill.id)[:80],
                "pse__Date__c": bill.bill_date.isoformat(),
                "pse__Status__c": "Approved",
                "pse__Description__c": (bill.memo or f"Vendor bill {bill.number or bill.id}")[:255],
                "CurrencyIsoCode": bill.currency,
            },
        )
        item = self._connector.upsert(
            _ITEM,
            cost.key,
            {
                "pse__Vendor_Invoice__c": header.id,
                "pse__Project__c": cost.project,
                "pse__Project_Task__c": cost.task,
                "pse__Amount__c": float(line.amount.amount),
                "pse__Date__c": bill.bill_date.isoformat(),
                "pse__Description__c": (line.description or bill.memo)[:255],
                "pse__Billable__c": line.billable,
                "CurrencyIsoCode": line.amount.currency,
            },
        )
        return item.id
