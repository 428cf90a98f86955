"""The demo's billing clerk against the NetSuite emulator: billable time invoiced once."""

import datetime as dt
from collections.abc import Iterator
from typing import Any

import pytest
from tests.support import serve

from accord.cli.demo_billing import BillingTraffic
from accord.connectors.netsuite import NetSuiteConfig, NetSuiteConnector
from accord_sandbox.credentials import TBA_TOKEN_ID, TBA_TOKEN_SECRET
from accord_sandbox.netsuite import NetSuiteEmulator
from accord_sandbox.scenario import generate


@pytest.fixture(scope="module")
def netsuite() -> Iterator[NetSuiteConnector]:
    def make_app(base_url: str) -> Any:
        emulator = NetSuiteEmulator(base_url=base_url)
        emulator.seed_firm(generate("small", 7))
        return emulator.app

    with serve(make_app) as url:
        config = NetSuiteConfig.model_validate(
            {
                "name": "netsuite",
                "account_id": "TSTDRV0000001",
                "base_url": f"{url}/services/rest",
                "client_id": "sandbox",
                "client_secret": "sandbox-secret",
                "token_id": TBA_TOKEN_ID,
                "token_secret": TBA_TOKEN_SECRET,
            }
        )
        yield NetSuiteConnector(config)


def _project(ns: NetSuiteConnector, name: str) -> str:
    customer = ns.create("customer", {"companyName": name, "subsidiary": {"id": "2"}})
    job = ns.create(
        "job",
        {"companyName": f"{name} - Rollout", "parent": {"id": customer.id},
         "subsidiary": {"id": "2"}, "currency": {"id": "1"}},
    )  # fmt: skip
    return job.id


def _time(ns: NetSuiteConnector, entry: str, job: str, *, billable: bool, hours: float) -> None:
    employee = ns.read_page("employee", limit=1).records[0]["id"]
    ns.upsert(
        "timeBill",
        entry,
        {"employee": {"id": str(employee)}, "customer": {"id": job}, "tranDate": "2026-12-07",
         "hours": hours, "rate": 120.0, "isBillable": billable, "subsidiary": {"id": "2"}},
    )  # fmt: skip


def _invoices(ns: NetSuiteConnector) -> list[dict[str, Any]]:
    return [ns.get("invoice", str(r["id"])) for r in ns.read_page("invoice").records]


def test_billable_time_is_invoiced_once_per_project_naming_each_entry(netsuite):
    a, b = _project(netsuite, "Acme"), _project(netsuite, "Borealis")
    _time(netsuite, "kantata-te-1", a, billable=True, hours=7.5)
    _time(netsuite, "kantata-te-2", a, billable=True, hours=2.25)
    _time(netsuite, "kantata-te-3", a, billable=False, hours=4)  # fixed-fee time: no invoice
    _time(netsuite, "kantata-te-4", b, billable=True, hours=1)
    clerk = BillingTraffic(netsuite, clock=lambda: dt.datetime(2026, 12, 7, tzinfo=dt.UTC))

    assert clerk.tick() == 2
    invoices = {inv["entity"]["id"]: inv for inv in _invoices(netsuite)}
    assert set(invoices) == {a, b}
    lines = invoices[a]["item"]["items"]
    assert [(ln["custcol_accord_source_id"], ln["quantity"]) for ln in lines] == [
        ("kantata-te-1", 7.5),
        ("kantata-te-2", 2.25),
    ]
    assert {ln["custcol_accord_source_kind"] for ln in lines} == {"time"}
    assert invoices[a]["currency"]["id"] == "1"
    assert invoices[a]["dueDate"] == "2027-01-06"
    assert (clerk.invoices, clerk.lines) == (2, 3)

    assert clerk.tick() == 0  # nothing new: nothing invoiced twice
    _time(netsuite, "kantata-te-5", b, billable=True, hours=3)
    assert clerk.tick() == 1
    newest = max(_invoices(netsuite), key=lambda inv: int(inv["id"]))
    assert [ln["custcol_accord_source_id"] for ln in newest["item"]["items"]] == ["kantata-te-5"]


def test_time_of_another_subsidiary_is_billed_by_the_projects(netsuite):
    job = _project(netsuite, "Cirrus")
    uk = next(e for e in netsuite.read_page("employee").records if str(e["subsidiary"]) == "3")
    # A UK consultant's time on a US project: the time bill is in the consultant's subsidiary.
    netsuite.upsert(
        "timeBill",
        "kantata-te-uk",
        {"employee": {"id": str(uk["id"])}, "customer": {"id": job}, "tranDate": "2026-12-07",
         "hours": 6, "rate": 120.0, "isBillable": True},
    )  # fmt: skip
    try:
        BillingTraffic(netsuite, clock=lambda: dt.datetime(2026, 12, 7, tzinfo=dt.UTC)).tick()
        (invoice,) = [inv for inv in _invoices(netsuite) if inv["entity"]["id"] == job]
        assert invoice["subsidiary"]["id"] == "2"
    finally:
        # Gone again, so that the other test (reading every time bill and invoice) never sees
        # them.
        netsuite.delete("timeBill", netsuite.get_by_external_id("timeBill", "kantata-te-uk")["id"])
        for inv in _invoices(netsuite):
            if inv["entity"]["id"] == job:
                netsuite.delete("invoice", str(inv["id"]))
