"""End to end: a deal won in Salesforce, time approved in Kantata, posted in NetSuite once.

Lead-to-project provisions the project (PSA workspace, NetSuite job); a consultant's week is
logged, submitted and approved in Kantata; one capture poll journals ``timesheet.approved``;
the time-to-bill run posts one ``timeBill`` per entry, keyed by the entry's canonical id.
"""

import time
from datetime import timedelta
from decimal import Decimal

import pytest
from dbos import DBOS
from tests.e2e.lead_to_project.conftest import Accord

from accord.connectors.kantata import KantataConnector
from accord.flows.approvals.capture import approval_specs
from accord.flows.capture import poll_once

PSA = "kantata"
WEEK = "2026-10-05"  # the opportunity's start (a Monday), in an open period
MINUTES = (480, 450, 465)


def settle_time_to_bill(timeout: float = 90.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not DBOS.list_workflows(
            status=["PENDING", "ENQUEUED"], name="time_to_bill", load_input=False
        ):
            return
        time.sleep(0.2)
    pytest.fail("time-to-bill runs did not finish in time")


def poll_approvals(accord: Accord) -> int:
    (spec,) = approval_specs("kantata")
    result = poll_once(
        accord.services.connections.connector("kantata"),
        connection=spec.connection,
        resource=spec.resource,
        engine=accord.services.engine,
        runtime=accord.services.runtime,
        to_events=spec.to_events,
        overlap=timedelta(seconds=30),
        read=spec.read,
        describe=spec.describe,
    )
    return result.journaled


def test_time_approved_in_kantata_is_posted_in_netsuite_once(accord: Accord) -> None:
    account = accord.account(entity="US01")
    opp = accord.opportunity(
        account, entity="US01", package="ADVISORY-TM", model="Time and Materials", amount=90000
    )
    run = accord.provision(opp)
    assert run["status"] == "provisioned", run
    kantata = accord.services.connections.connector("kantata")
    assert isinstance(kantata, KantataConnector)
    workspace = str(run["psa"]["id"])
    user = next(
        u
        for u in kantata.read_page("users").records
        if kantata.describe("users", u).external_id and u.get("currency") == "USD"
    )
    entries = [
        kantata.create(
            "time_entries",
            {
                "workspace_id": workspace,
                "user_id": user["id"],
                "date_performed": f"2026-10-0{5 + day}",
                "time_in_minutes": minutes,
                "billable": True,
            },
        ).id
        for day, minutes in enumerate(MINUTES)
    ]
    submission = kantata.create(
        "timesheet_submissions",
        {"workspace_id": workspace, "user_id": user["id"], "start_date": WEEK},
    ).id
    kantata.approve_timesheet(submission)

    poll_approvals(accord)
    settle_time_to_bill()
    assert poll_approvals(accord) == 0  # read again: nothing new to post
    settle_time_to_bill()

    posted = {
        r["externalId"]: r
        for r in accord.records("netsuite", "timeBill")
        if str(r.get("externalId", "")).startswith("kantata-te-")
    }
    mine = {f"kantata-te-{e}" for e in entries}
    assert mine <= set(posted), sorted(posted)
    hours = sum(Decimal(str(posted[key]["hours"])) for key in mine)
    assert hours == Decimal(sum(MINUTES)) / 60
    assert accord.duplicates()["netsuite"] == 0
