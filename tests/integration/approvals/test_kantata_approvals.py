"""Kantata: approved timesheets and expenses become events, once each, hours and rates exact."""

import copy
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from tests.integration.approvals.conftest import unique

from accord.flows.approvals.capture import feed_reader
from accord.store import cursors
from accord.store.cursors import CursorState

FEED = "approvals"  # the Kantata PSA role's approvals feed (the capture pair's name)
WEEK = "2026-11-16"  # a Monday
MONDAY, TUESDAY, WEDNESDAY = "2026-11-16", "2026-11-17", "2026-11-18"


def test_approved_timesheet_becomes_one_event_carrying_all_its_entries(approvals):
    user_id, consultant = approvals.consultant(0)
    project = unique("PRJ-K")
    workspace = approvals.workspace(project)
    entries = [
        approvals.log_time(workspace, user_id, MONDAY, 480),
        approvals.log_time(workspace, user_id, TUESDAY, 450),
        # 40 minutes is 0.666... hours: two places, half-up.
        approvals.log_time(workspace, user_id, WEDNESDAY, 40, billable=False),
    ]
    submission = approvals.submit(workspace, user_id, WEEK)
    approvals.kantata().approve_timesheet(submission)

    approvals.poll()

    (event,) = approvals.events("timesheet.approved", subject=f"kantata-ts-{submission}")
    assert event["ce_id"] == f"kantata:timesheet_submission:{submission}@approved"
    data = event["data"]
    assert data["project_id"] == project
    assert data["resource_id"] == consultant
    assert data["status"] == "approved"
    assert data["week_start"] == WEEK
    assert data["approved_at"]
    by_id = {e["id"]: e for e in data["entries"]}
    assert set(by_id) == {f"kantata-te-{i}" for i in entries}
    hours = [Decimal(by_id[f"kantata-te-{i}"]["hours"]) for i in entries]
    assert hours == [Decimal("8.00"), Decimal("7.50"), Decimal("0.67")]
    native = approvals.kantata().get("time_entries", entries[0])
    rate = data["entries"][0]["bill_rate"]
    assert Decimal(rate["amount"]) == Decimal(native["rate_in_cents"]) / 100
    assert rate["currency"] == "USD"
    assert [by_id[f"kantata-te-{i}"]["billable"] for i in entries] == [True, True, False]
    for entry in by_id.values():
        assert (entry["project_id"], entry["resource_id"]) == (project, consultant)


def test_feed_duplicates_and_rereads_give_one_event(approvals, sandbox):
    user_id, consultant = approvals.consultant(1)
    project = unique("PRJ-K")
    # A project known to Accord only through xref (as lead-to-project links it).
    workspace = approvals.workspace(project, linked=True)
    approvals.log_time(workspace, user_id, MONDAY, 60)
    submission = approvals.submit(workspace, user_id, WEEK)
    approvals.kantata().approve_timesheet(submission)
    # The feed re-delivers the approval later, under its original id.
    log = sandbox.emulators["kantata"].events
    approval = next(
        e
        for e in reversed(log.events)
        if e["event_type"] == "timesheet_submission:updated" and e["subject_id"] == submission
    )
    again = copy.deepcopy(approval)
    again["created_at"] = (datetime.now(UTC) + timedelta(seconds=1)).isoformat()
    log.events.append(again)

    approvals.poll()
    approvals.poll()
    # A fresh sweep re-reads the whole feed: the journal drops what it already holds.
    with approvals.services.engine.begin() as conn:
        cursors.save(conn, CursorState(connection="kantata", resource=FEED))
    reread = approvals.poll()

    (event,) = approvals.events("timesheet.approved", subject=f"kantata-ts-{submission}")
    assert event["data"]["project_id"] == project
    assert event["data"]["resource_id"] == consultant
    assert reread.records  # the approval was read again ...
    assert reread.journaled == 0  # ... and not journaled again


def test_rejected_submission_gives_no_event(approvals):
    user_id, _ = approvals.consultant(0)
    workspace = approvals.workspace(unique("PRJ-K"))
    approvals.log_time(workspace, user_id, MONDAY, 120)
    submission = approvals.submit(workspace, user_id, WEEK)
    approvals.kantata().resolve_submission("timesheet_submissions", submission, approve=False)

    approvals.poll()

    assert approvals.events("timesheet.approved", subject=f"kantata-ts-{submission}") == []
    assert approvals.exceptions_about("timesheet", "kantata", submission) == []


def test_approved_expense_becomes_one_expense_event(approvals):
    user_id, consultant = approvals.consultant(0)
    project = unique("PRJ-K")
    workspace = approvals.workspace(project)
    expense = (
        approvals.kantata()
        .create(
            "expenses",
            {
                "workspace_id": workspace,
                "user_id": user_id,
                "date": TUESDAY,
                "category": "Travel",
                "amount_in_cents": 12345,
                "billable": True,
                "notes": "Train to the client",
            },
        )
        .id
    )
    report = (
        approvals.kantata()
        .create("expense_report_submissions", {"user_id": user_id, "expense_ids": [expense]})
        .id
    )
    approvals.kantata().resolve_submission("expense_report_submissions", report, approve=True)

    approvals.poll()
    approvals.poll()

    (event,) = approvals.events("expense.approved", subject=f"kantata-ex-{expense}")
    assert event["ce_id"] == f"kantata:expense:{expense}@approved"
    data = event["data"]
    assert data["amount"] == {"amount": "123.45", "currency": "USD"}
    assert data["project_id"] == project
    assert data["resource_id"] == consultant
    assert data["category"] == "travel"
    assert data["status"] == "approved"
    assert data["billable"] is True


def test_unmappable_approval_opens_one_delivery_ops_exception_and_no_event(approvals):
    # Time by a user without a consultant id, on a workspace Accord does not know.
    user_id = approvals.admin_user()
    workspace = approvals.workspace(None)
    approvals.log_time(workspace, user_id, MONDAY, 90)
    submission = approvals.submit(workspace, user_id, WEEK)
    approvals.kantata().approve_timesheet(submission)

    approvals.poll()
    with approvals.services.engine.begin() as conn:
        cursors.save(conn, CursorState(connection="kantata", resource=FEED))
    approvals.poll()  # read again: the same exception, not a second one

    assert approvals.events("timesheet.approved", subject=f"kantata-ts-{submission}") == []
    (found,) = approvals.exceptions_about("timesheet", "kantata", submission)
    assert found.queue == "delivery-ops"
    assert found.code == "psa.approval.unmapped"
    assert found.status.value == "open"
    assert found.occurrences == 1
    assert set(found.detail["problems"]) == {"project", "resource"}
    assert workspace in found.detail["problems"]["project"]
    assert user_id in found.detail["problems"]["resource"]


def test_an_approval_fixed_later_is_retried_and_its_exception_resolved(approvals):
    user_id, consultant = approvals.consultant(1)
    workspace = approvals.workspace(None)  # not (yet) known to Accord
    approvals.log_time(workspace, user_id, TUESDAY, 30)
    submission = approvals.submit(workspace, user_id, WEEK)
    approvals.kantata().approve_timesheet(submission)
    quick = feed_reader("kantata", retry_every=timedelta(seconds=1))

    approvals.poll(read=quick)
    (found,) = approvals.exceptions_about("timesheet", "kantata", submission)
    assert set(found.detail["problems"]) == {"project"}
    # The owner fixes it: the project becomes known (as lead-to-project would link it).
    project = unique("PRJ-K")
    approvals.link("psa_project", project, "kantata", workspace)
    time.sleep(1.1)  # the next retry slot
    approvals.poll(read=quick)

    (event,) = approvals.events("timesheet.approved", subject=f"kantata-ts-{submission}")
    assert event["data"]["project_id"] == project
    assert event["data"]["resource_id"] == consultant
    (found,) = approvals.exceptions_about("timesheet", "kantata", submission)
    assert found.status.value == "resolved"
