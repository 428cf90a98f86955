"""Canonical events: CloudEvents 1.0 envelopes whose ``data`` is a canonical model.

What belongs here: the envelope (:class:`CloudEvent`), one subclass per event type, the
registry (:data:`EVENT_TYPES`, :data:`EVENT_CLASSES`), parsing and :func:`business_key`.
Transport bindings (HTTP headers, binary mode) belong to the intake, not here.

Validation is one pydantic-core pass per event: the event classes are built once at import
and the registry lookups are plain dict reads, so the intake can check thousands of events
per second.
"""

import re
from collections.abc import Mapping
from datetime import datetime
from types import MappingProxyType
from typing import Any, ClassVar, Final, Generic, Literal, Self, TypeVar, get_args

from pydantic import BaseModel, ConfigDict, Field, model_validator
from pydantic_core import from_json
from typing_extensions import override

from accord.domain.base import CanonicalModel
from accord.domain.commercial import Contract, Milestone, Opportunity
from accord.domain.delivery import (
    Assignment,
    Expense,
    Project,
    ProjectFieldsChange,
    ProjectStatusChange,
    ProjectTask,
    Timesheet,
)
from accord.domain.errors import EventDataTypeError, UnknownEventTypeError
from accord.domain.finance import Invoice, Payment, VendorBill
from accord.domain.parties import Customer
from accord.domain.types import Identifier, UriReference, UtcDatetime

__all__ = [
    "EVENT_CLASSES",
    "EVENT_TYPES",
    "AssignmentUpsertedEvent",
    "CloudEvent",
    "ContractAmendedEvent",
    "CustomerUpsertedEvent",
    "ExpenseApprovedEvent",
    "InvoicePaidEvent",
    "InvoicePostedEvent",
    "MilestoneCompletedEvent",
    "OpportunityUpdatedEvent",
    "OpportunityWonEvent",
    "PaymentReceivedEvent",
    "ProjectActivatedEvent",
    "ProjectFieldsChangedEvent",
    "ProjectStatusChangedEvent",
    "TaskUpsertedEvent",
    "TimesheetApprovedEvent",
    "UnknownEventTypeError",
    "VendorBillPostedEvent",
    "VendorExpenseApprovedEvent",
    "business_key",
    "make_event",
    "parse_event",
    "parse_event_data",
]

DataT = TypeVar("DataT", bound=BaseModel)

# CloudEvents 1.0: extension attribute names are lower-case letters and digits.
_EXTENSION_NAME: Final = re.compile(r"^[a-z0-9]{1,20}$")


class CloudEvent(CanonicalModel, Generic[DataT]):
    """A CloudEvents 1.0 envelope (structured JSON mode) carrying a canonical model.

    Use the per-type subclasses (:class:`OpportunityWonEvent`, ...) or :func:`parse_event`;
    the ``type`` attribute selects the data model. Extension attributes (``traceparent``,
    ``correlationid``...) are kept if their names follow the CloudEvents naming rule and
    their values are strings, integers or booleans.
    """

    __schema_version__: ClassVar[str] = "1.0"

    # Extensions are part of the CloudEvents contract, so unknown top-level keys are kept.
    model_config = ConfigDict(frozen=True, extra="allow")

    specversion: Literal["1.0"]
    id: Identifier = Field(description="Unique per source; redeliveries reuse it.")
    source: UriReference = Field(description="URI-reference of the producing connection.")
    type: str
    subject: str | None = Field(default=None, description="Usually the business key.")
    time: UtcDatetime
    datacontenttype: Literal["application/json"] | None = None
    dataschema: UriReference | None = None
    data: DataT

    @model_validator(mode="after")
    def _check_extensions(self) -> Self:
        extra = self.__pydantic_extra__
        if extra:
            for name, value in extra.items():
                if _EXTENSION_NAME.match(name) is None:
                    raise ValueError(f"invalid CloudEvents extension attribute name {name!r}")
                if not isinstance(value, str | int | bool):
                    raise ValueError(f"extension attribute {name!r} must be a string/int/bool")  # noqa: TRY004
        return self

    @classmethod
    def event_type(cls) -> str:
        """Return the event type this class carries (``opportunity.won``)."""
        (value,) = get_args(cls.model_fields["type"].annotation)
        return str(value)

    @classmethod
    @override
    def schema_name(cls) -> str:
        """Return ``event.<type>``, the schema file name of this event type."""
        return f"event.{cls.event_type()}"

    @property
    def business_key(self) -> str:
        """The ordering key of the business object this event is about."""
        return business_key(self.type, self.data)


class OpportunityWonEvent(CloudEvent[Opportunity]):
    """An opportunity reached closed-won: start lead-to-project."""

    type: Literal["opportunity.won"]


class OpportunityUpdatedEvent(CloudEvent[Opportunity]):
    """An opportunity changed (stage, amount, dates...)."""

    type: Literal["opportunity.updated"]


class CustomerUpsertedEvent(CloudEvent[Customer]):
    """A customer was created or changed in its owning system."""

    type: Literal["customer.upserted"]


class ProjectActivatedEvent(CloudEvent[Project]):
    """A project became active in the PSA."""

    type: Literal["project.activated"]


class ProjectStatusChangedEvent(CloudEvent[ProjectStatusChange]):
    """A project moved from one status to another."""

    type: Literal["project.status_changed"]


class ProjectFieldsChangedEvent(CloudEvent[ProjectFieldsChange]):
    """Firm-specific fields of a project changed in the system that owns them."""

    type: Literal["project.fields_changed"]


class TaskUpsertedEvent(CloudEvent[ProjectTask]):
    """A project task was created or changed (name, dates, estimate, progress)."""

    type: Literal["task.upserted"]


class AssignmentUpsertedEvent(CloudEvent[Assignment]):
    """A resource was put on a project or one of its tasks, or the assignment changed."""

    type: Literal["assignment.upserted"]


class VendorExpenseApprovedEvent(CloudEvent[Expense]):
    """A vendor (subcontractor, pass-through) expense was approved: ready to bill as payable."""

    type: Literal["vendor_expense.approved"]


class VendorBillPostedEvent(CloudEvent[VendorBill]):
    """A vendor bill charged to projects was posted in the ERP."""

    type: Literal["vendor_bill.posted"]


class TimesheetApprovedEvent(CloudEvent[Timesheet]):
    """A timesheet was approved: its time is ready to post and bill."""

    type: Literal["timesheet.approved"]


class ExpenseApprovedEvent(CloudEvent[Expense]):
    """An expense was approved: ready to post and, if billable, bill."""

    type: Literal["expense.approved"]


class MilestoneCompletedEvent(CloudEvent[Milestone]):
    """A billing milestone was completed: ready to invoice."""

    type: Literal["milestone.completed"]


class ContractAmendedEvent(CloudEvent[Contract]):
    """A contract was amended; ``data`` is the contract at its new version."""

    type: Literal["contract.amended"]


class InvoicePostedEvent(CloudEvent[Invoice]):
    """An invoice was posted in the ERP."""

    type: Literal["invoice.posted"]


class InvoicePaidEvent(CloudEvent[Invoice]):
    """An invoice was paid in full."""

    type: Literal["invoice.paid"]


class PaymentReceivedEvent(CloudEvent[Payment]):
    """A customer payment was received in the ERP."""

    type: Literal["payment.received"]


_EVENT_CLASS_LIST: Final[tuple[type[CloudEvent[Any]], ...]] = (
    OpportunityWonEvent,
    OpportunityUpdatedEvent,
    CustomerUpsertedEvent,
    ProjectActivatedEvent,
    ProjectStatusChangedEvent,
    TimesheetApprovedEvent,
    ExpenseApprovedEvent,
    MilestoneCompletedEvent,
    ContractAmendedEvent,
    InvoicePostedEvent,
    InvoicePaidEvent,
    PaymentReceivedEvent,
    ProjectFieldsChangedEvent,
    TaskUpsertedEvent,
    AssignmentUpsertedEvent,
    VendorExpenseApprovedEvent,
    VendorBillPostedEvent,
)

EVENT_CLASSES: Final[Mapping[str, type[CloudEvent[Any]]]] = MappingProxyType(
    {cls.event_type(): cls for cls in _EVENT_CLASS_LIST}
)
"""Event type -> envelope class (``"opportunity.won"`` -> :class:`OpportunityWonEvent`)."""


def _data_model_of(cls: type[CloudEvent[Any]]) -> type[BaseModel]:
    model = cls.model_fields["data"].annotation
    if not (isinstance(model, type) and issubclass(model, BaseModel)):
        raise TypeError(f"{cls.__name__}.data is not a model")  # a programming error
    return model


EVENT_TYPES: Final[Mapping[str, type[BaseModel]]] = MappingProxyType(
    {name: _data_model_of(cls) for name, cls in EVENT_CLASSES.items()}
)
"""Event type -> data model (``"opportunity.won"`` -> :class:`Opportunity`)."""

_KNOWN: Final = tuple(sorted(EVENT_CLASSES))


def _data_model(event_type: str) -> type[BaseModel]:
    model = EVENT_TYPES.get(event_type)
    if model is None:
        raise UnknownEventTypeError(event_type, known=_KNOWN)
    return model


def parse_event_data(event_type: str, raw: object) -> BaseModel:
    """Validate an event's ``data`` against the model of ``event_type``.

    Args:
        event_type: a key of :data:`EVENT_TYPES`.
        raw: the data as a mapping, or as JSON text/bytes.

    Raises:
        UnknownEventTypeError: ``event_type`` is not a canonical event type.
        pydantic.ValidationError: the data does not fit the model.
    """
    model = _data_model(event_type)
    if isinstance(raw, str | bytes | bytearray):
        return model.model_validate_json(raw)
    return model.model_validate(raw)


def parse_event(raw: object) -> CloudEvent[Any]:
    """Validate a whole structured-mode CloudEvent, choosing the class by its ``type``.

    Args:
        raw: the event as a mapping, or as JSON text/bytes.

    Raises:
        UnknownEventTypeError: ``type`` is missing or not a canonical event type.
        pydantic.ValidationError: the envelope or the data is invalid.
        ValueError: ``raw`` is text or bytes but not valid JSON.
    """
    # Parsing JSON in Rust and validating the dict costs about the same as validate_json,
    # and lets an unknown type fail with a domain error before any validation work.
    payload = from_json(raw) if isinstance(raw, str | bytes | bytearray) else raw
    event_type = payload.get("type") if isinstance(payload, Mapping) else None
    cls = EVENT_CLASSES.get(event_type) if isinstance(event_type, str) else None
    if cls is None:
        raise UnknownEventTypeError(event_type, known=_KNOWN)
    return cls.model_validate(payload)


def business_key(event_type: str, data: BaseModel) -> str:
    """Return the key that orders events about the same business object.

    Events with equal keys are applied in order; different keys may run in parallel.
    Opportunities, customers, contracts, invoices, payments and vendor bills are keyed by
    their own id; project, task, assignment, time, expense and milestone events by their
    project (``project:<id>``), so a project's time, structure and status changes are applied
    in order.

    Raises:
        UnknownEventTypeError: ``event_type`` is not a canonical event type.
        EventDataTypeError: ``data`` is not the model that ``event_type`` carries.
    """
    model = _data_model(event_type)
    if not isinstance(data, model):
        raise EventDataTypeError(event_type, expected=model.__name__, actual=type(data).__name__)
    return _key_of(data)


def _key_of(data: BaseModel) -> str:  # noqa: PLR0911 - one branch per data model reads best
    match data:
        case Opportunity():
            return f"opportunity:{data.id}"
        case Customer():
            return f"customer:{data.id}"
        case Project():
            return f"project:{data.id}"
        case (
            ProjectStatusChange()
            | ProjectFieldsChange()
            | ProjectTask()
            | Assignment()
            | Timesheet()
            | Expense()
        ):
            return f"project:{data.project_id}"
        case Milestone():
            if data.project_id is not None:
                return f"project:{data.project_id}"
            if data.contract_id is not None:
                return f"contract:{data.contract_id}"
            return f"milestone:{data.id}"
        case Contract():
            return f"contract:{data.id}"
        case Invoice():
            return f"invoice:{data.id}"
        case Payment():
            return f"payment:{data.id}"
        case VendorBill():
            return f"vendor_bill:{data.id}"
    raise EventDataTypeError(
        "?", expected="a canonical event data model", actual=type(data).__name__
    )


def make_event(
    event_type: str,
    data: BaseModel,
    *,
    event_id: str,
    source: str,
    time: datetime,
    subject: str | None = None,
) -> CloudEvent[Any]:
    """Build a validated event of ``event_type`` around ``data``.

    ``subject`` defaults to the business key, so brokers that partition by subject keep
    the ordering Accord relies on.

    Raises:
        UnknownEventTypeError: ``event_type`` is not a canonical event type.
        EventDataTypeError: ``data`` is not the model that ``event_type`` carries.
        pydantic.ValidationError: an envelope attribute is invalid (e.g. a naive ``time``).
    """
    key = business_key(event_type, data)
    return EVENT_CLASSES[event_type].model_validate(
        {
            "specversion": "1.0",
            "id": event_id,
            "source": source,
            "type": event_type,
            "subject": key if subject is None else subject,
            "time": time,
            "datacontenttype": "application/json",
            "data": data,
        }
    )
