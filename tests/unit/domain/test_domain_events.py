import datetime as dt
import json
import subprocess
import sys

import pytest
from pydantic import BaseModel, ValidationError

from accord.domain import (
    EVENT_CLASSES,
    EVENT_TYPES,
    Assignment,
    CloudEvent,
    Contract,
    Customer,
    EventDataTypeError,
    Expense,
    Invoice,
    Milestone,
    Opportunity,
    OpportunityWonEvent,
    Payment,
    Project,
    ProjectFieldsChange,
    ProjectStatusChange,
    ProjectTask,
    Timesheet,
    TimesheetApprovedEvent,
    UnknownEventTypeError,
    VendorBill,
    business_key,
    make_event,
    parse_event,
    parse_event_data,
)

ALL_EVENT_TYPES = {
    "opportunity.won": Opportunity,
    "opportunity.updated": Opportunity,
    "customer.upserted": Customer,
    "project.activated": Project,
    "project.status_changed": ProjectStatusChange,
    "timesheet.approved": Timesheet,
    "expense.approved": Expense,
    "milestone.completed": Milestone,
    "contract.amended": Contract,
    "invoice.posted": Invoice,
    "invoice.paid": Invoice,
    "payment.received": Payment,
    "project.fields_changed": ProjectFieldsChange,
    "task.upserted": ProjectTask,
    "assignment.upserted": Assignment,
    "vendor_expense.approved": Expense,
    "vendor_bill.posted": VendorBill,
}

EXPECTED_KEYS = {
    "opportunity.won": "opportunity:OPP-0001",
    "opportunity.updated": "opportunity:OPP-0001",
    "customer.upserted": "customer:CUST-0002",
    "project.activated": "project:PRJ-0001",
    "project.status_changed": "project:PRJ-0001",
    "timesheet.approved": "project:PRJ-0001",
    "expense.approved": "project:PRJ-0001",
    "milestone.completed": "project:PRJ-0001",
    "contract.amended": "contract:CON-1",
    "invoice.posted": "invoice:INV-1",
    "invoice.paid": "invoice:INV-1",
    "payment.received": "payment:PAY-1",
    "project.fields_changed": "project:PRJ-0001",
    "task.upserted": "project:PRJ-0001",
    "assignment.upserted": "project:PRJ-0001",
    "vendor_expense.approved": "project:PRJ-0001",
    "vendor_bill.posted": "vendor_bill:VB-1",
}


def test_registry_lists_every_event_type_with_its_data_model():
    assert dict(EVENT_TYPES) == ALL_EVENT_TYPES
    assert set(EVENT_CLASSES) == set(ALL_EVENT_TYPES)
    for event_type, cls in EVENT_CLASSES.items():
        assert cls.event_type() == event_type
        assert cls.model_fields["data"].annotation is ALL_EVENT_TYPES[event_type]


def test_registry_is_read_only():
    with pytest.raises(TypeError):
        EVENT_TYPES["thing.happened"] = Opportunity  # type: ignore[index]


@pytest.mark.parametrize("event_type", sorted(ALL_EVENT_TYPES))
def test_parse_event_data_and_business_key(event_samples, event_type):
    raw = event_samples[event_type]
    data = parse_event_data(event_type, raw)
    assert type(data) is ALL_EVENT_TYPES[event_type]
    assert parse_event_data(event_type, json.dumps(raw)) == data
    assert parse_event_data(event_type, json.dumps(raw).encode()) == data
    assert business_key(event_type, data) == EXPECTED_KEYS[event_type]


def test_milestone_key_falls_back_to_contract_then_milestone(milestone_data):
    no_project = Milestone.model_validate({**milestone_data, "project_id": None})
    assert business_key("milestone.completed", no_project) == "contract:CON-1"
    alone = Milestone.model_validate({**milestone_data, "project_id": None, "contract_id": None})
    assert business_key("milestone.completed", alone) == "milestone:MS-1"


@pytest.mark.parametrize("bad", ["opportunity.lost", "", "Opportunity.Won", "invoice"])
def test_unknown_event_type_is_a_clear_domain_error(bad):
    with pytest.raises(UnknownEventTypeError, match="unknown event type") as info:
        parse_event_data(bad, {})
    assert info.value.event_type == bad
    assert "opportunity.won" in info.value.known
    assert isinstance(info.value, ValueError)
    with pytest.raises(UnknownEventTypeError):
        business_key(bad, Opportunity.model_construct())


def test_invalid_data_is_a_validation_error(opportunity_data):
    with pytest.raises(ValidationError):
        parse_event_data("opportunity.won", {**opportunity_data, "amount": "12"})
    with pytest.raises(ValidationError):
        parse_event_data("customer.upserted", opportunity_data)


def test_business_key_refuses_data_of_another_model(event_samples):
    customer = Customer.model_validate(event_samples["customer.upserted"])
    with pytest.raises(EventDataTypeError, match="carries Opportunity, not Customer"):
        business_key("opportunity.won", customer)


@pytest.mark.parametrize("event_type", sorted(ALL_EVENT_TYPES))
def test_parse_event_picks_the_class_by_type(event_samples, make_envelope, event_type):
    raw = make_envelope(event_type, event_samples[event_type])
    event = parse_event(raw)
    assert type(event) is EVENT_CLASSES[event_type]
    assert isinstance(event, CloudEvent)
    assert type(event.data) is ALL_EVENT_TYPES[event_type]
    assert event.time == dt.datetime(2024, 3, 29, 17, 4, 5, 123000, tzinfo=dt.UTC)
    assert event.business_key == EXPECTED_KEYS[event_type]
    assert parse_event(json.dumps(raw)) == event
    assert parse_event(event.model_dump_json().encode()) == event


@pytest.mark.parametrize("raw", [{}, {"type": 3}, {"type": "nope"}, [], "null", b'{"type":"x"}'])
def test_parse_event_with_missing_or_unknown_type(raw):
    with pytest.raises(UnknownEventTypeError):
        parse_event(raw)


def test_parse_event_with_malformed_json_is_a_value_error():
    with pytest.raises(ValueError, match=r"EOF|expected"):
        parse_event(b'{"type": ')


@pytest.mark.parametrize(
    ("changes", "fragment"),
    [
        ({"specversion": "0.3"}, "specversion"),
        ({"time": "2024-03-29T17:04:05"}, "timezone"),
        ({"time": None}, "time"),
        ({"id": ""}, "id"),
        ({"source": ""}, "source"),
        ({"source": "has space"}, "source"),
        ({"datacontenttype": "text/xml"}, "datacontenttype"),
        ({"Bad-Name": "x"}, "extension attribute name"),
        ({"toolongextensionname123": "x"}, "extension attribute name"),
        ({"traceparent": {"nested": 1}}, "string/int/bool"),
    ],
)
def test_invalid_envelopes(event_samples, make_envelope, changes, fragment):
    raw = make_envelope("opportunity.won", event_samples["opportunity.won"], **changes)
    with pytest.raises(ValidationError, match=fragment):
        parse_event(raw)


def test_missing_required_envelope_attributes(event_samples, make_envelope):
    for attribute in ("specversion", "id", "source", "time", "data"):
        raw = make_envelope("opportunity.won", event_samples["opportunity.won"])
        del raw[attribute]
        with pytest.raises(ValidationError, match=attribute):
            parse_event(raw)


def test_data_of_the_wrong_model_is_refused(event_samples, make_envelope):
    raw = make_envelope("opportunity.won", event_samples["customer.upserted"])
    with pytest.raises(ValidationError):
        parse_event(raw)


def test_extension_attributes_are_kept(event_samples, make_envelope):
    raw = make_envelope(
        "customer.upserted",
        event_samples["customer.upserted"],
        traceparent="00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
        attempt=2,
    )
    event = parse_event(raw)
    assert event.model_extra == {"traceparent": raw["traceparent"], "attempt": 2}


def test_make_event_defaults_subject_to_business_key(event_samples):
    sheet = Timesheet.model_validate(event_samples["timesheet.approved"])
    event = make_event(
        "timesheet.approved",
        sheet,
        event_id="evt-1",
        source="kantata://acme",
        time=dt.datetime(2024, 4, 6, 11, tzinfo=dt.timezone(dt.timedelta(hours=2))),
    )
    assert isinstance(event, TimesheetApprovedEvent)
    assert event.subject == "project:PRJ-0001"
    assert event.time == dt.datetime(2024, 4, 6, 9, tzinfo=dt.UTC)
    assert event.data is sheet
    assert parse_event(event.model_dump_json()) == event
    custom = make_event(
        "timesheet.approved",
        sheet,
        event_id="evt-1",
        source="kantata://acme",
        time=event.time,
        subject="ts:TS-1",
    )
    assert custom.subject == "ts:TS-1"


def test_make_event_refuses_naive_time_and_wrong_data(event_samples):
    sheet = Timesheet.model_validate(event_samples["timesheet.approved"])
    with pytest.raises(ValidationError):
        make_event(
            "timesheet.approved",
            sheet,
            event_id="e",
            source="s",
            time=dt.datetime(2024, 1, 1),  # noqa: DTZ001 - the point of the test
        )
    with pytest.raises(EventDataTypeError):
        make_event("opportunity.won", sheet, event_id="e", source="s", time=dt.datetime.now(dt.UTC))


def test_typed_event_class_can_be_built_directly(event_samples):
    opp = Opportunity.model_validate(event_samples["opportunity.won"])
    event = OpportunityWonEvent(
        specversion="1.0",
        id="evt-9",
        source="salesforce://acme",
        type="opportunity.won",
        time=dt.datetime(2024, 1, 1, tzinfo=dt.UTC),
        data=opp,
    )
    assert event.data.amount.currency == "USD"
    with pytest.raises(ValidationError):
        OpportunityWonEvent.model_validate({**event.model_dump(), "type": "opportunity.updated"})


def test_business_key_rejects_a_foreign_model():
    class Foreign(BaseModel):
        id: str

    with pytest.raises(EventDataTypeError):
        business_key("customer.upserted", Foreign(id="x"))


def test_domain_never_imports_the_runtime_layers():
    code = (
        "import sys, accord.domain\n"
        "layers = ('dbos', 'fastapi', 'typer', 'sqlalchemy', 'httpx')\n"
        "bad = [m for m in layers if m in sys.modules]\n"
        "print(','.join(bad))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == ""
