"""The KPIs over HTTP: ``/api/v1/kpis`` (JSON, CSV, problem+json), the gauges, ``/business``.

One app on a SQLite database holding the known history of ``tests/kpi_history.py`` (the store
tests check every figure on both databases; these check what each surface makes of them).
"""

import csv
import io
import math
import re
from collections.abc import Iterator
from typing import Any

import pytest
import yaml
from fastapi.testclient import TestClient
from tests import kpi_history as h
from tests.integration.console.support import local_client, make_app, sign_in

from accord.flows.reporting import KpiGauges, load_kpi_settings
from accord.observability.metrics import get_metrics
from accord.store import create_db_engine, keys, migrate

WINDOW = "from=2026-03-02&to=2026-03-15"


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    folder = tmp_path_factory.mktemp("business")
    config = folder / "accord.yaml"
    config.write_text(
        yaml.safe_dump(
            {"kpis": {"base_currency": "USD", "fx_rates": {"GBP": "1.2345", "EUR": 1.10}}}
        ),
        encoding="utf-8",
    )
    engine = create_db_engine(f"sqlite:///{folder / 'accord.db'}")
    migrate(engine)
    h.seed(engine)
    with engine.begin() as conn:
        _, viewer = keys.create(conn, name="viewer", role=keys.Role.VIEWER, actor="test")
        _, ingest = keys.create(conn, name="ingest", role=keys.Role.INGEST, actor="test")
    app, _ = make_app(folder / "accord.db", config_file=config)
    with TestClient(app) as client:
        # The console signs in over plain http only from this machine: call from loopback.
        console = local_client(app)
        sign_in(console, viewer)
        yield {
            "client": client,
            "console": console,
            "viewer": {"Authorization": f"Bearer {viewer}"},
            "ingest": {"Authorization": f"Bearer {ingest}"},
            "engine": engine,
            "config": config,
        }
    engine.dispose()


def test_kpis_json_for_a_window_of_weeks(env):
    resp = env["client"].get(f"/api/v1/kpis?{WINDOW}&granularity=week", headers=env["viewer"])
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert (body["first_day"], body["last_day"], body["granularity"]) == (
        "2026-03-02", "2026-03-15", "week",
    )  # fmt: skip
    assert body["fx_rates"] == {"EUR": "1.1", "GBP": "1.2345"}
    assert body["won_to_provisioned"] == {"count": 3, "p50_seconds": 3600.0, "p90_seconds": 86400.0}
    assert body["postings"]["error_rate"] == pytest.approx(1 / 9)
    assert body["manual_touches"] == {
        "touches": 6, "records": 13, "per_100_records": pytest.approx(600 / 13),
    }  # fmt: skip
    assert body["wip"]["total"] == {"amount": "1475.88", "currency": "USD"}
    assert body["wip"]["unconverted"] == {"JPY": "50000.0000"}
    assert [p["wip"]["amount"] for p in body["periods"]] == ["1349.33", "1475.88"]
    assert [p["first_day"] for p in body["periods"]] == ["2026-03-02", "2026-03-09"]
    assert body["drift"]["open_amount"] == {"amount": "2469.00", "currency": "USD"}


def test_bad_windows_are_problem_json_naming_the_parameter(env):
    client = env["client"]
    for query, field in (
        ("from=2026-03-10&to=2026-03-01", "to"),
        ("from=2026-02-30", "from"),
        ("to=0", "to"),  # not a Unix timestamp: a day, YYYY-MM-DD
        ("from=2020-01-01&to=2026-01-01", "from"),
        ("granularity=month", "granularity"),
    ):
        resp = client.get(f"/api/v1/kpis?{query}", headers=env["viewer"])
        assert resp.status_code == 422, query
        assert resp.headers["content-type"] == "application/problem+json"
        assert [e["field"] for e in resp.json()["errors"]] == [field], query
    assert client.get("/api/v1/kpis").status_code == 401
    assert client.get("/api/v1/kpis", headers=env["ingest"]).status_code == 403


def test_csv_tables(env):
    client = env["client"]
    resp = client.get(f"/api/v1/kpis.csv?{WINDOW}&granularity=week", headers=env["viewer"])
    assert resp.status_code == 200
    assert resp.headers["content-type"].startswith("text/csv")
    assert "accord-kpis-periods-2026-03-02-2026-03-15.csv" in resp.headers["content-disposition"]
    rows = list(csv.DictReader(io.StringIO(resp.text)))
    assert [r["first_day"] for r in rows] == ["2026-03-02", "2026-03-09"]
    assert rows[0]["won_to_provisioned_p90_hours"] == "1.0000"
    assert rows[1]["wip_USD"] == "1475.88"
    assert (rows[0]["first_time_right_rate"], rows[0]["manual_touches_per_100_records"]) == (
        "0.6000", "60.0000",
    )  # fmt: skip
    entities = client.get(
        f"/api/v1/kpis.csv?{WINDOW}&table=wip_entities", headers=env["viewer"]
    ).text.splitlines()
    assert entities[0] == "legal_entity,amount_USD,entries,original_GBP,original_JPY,original_USD"
    assert entities[1] == "UK01,925.88,1,750.0000,,"


def test_gauges_hold_the_trailing_window(env):
    gauges = KpiGauges(env["engine"], env["config"])
    report = gauges.refresh(now=h.NOW)
    assert report.query.first.isoformat() == "2026-03-10"  # seven days up to NOW
    registry = get_metrics().registry

    def value(name, **labels):
        return registry.get_sample_value(name, labels)

    assert value("accord_kpi_window_days") == 7
    # Provisioned in the window: C only (86,400 s). Posted: t4, t6, x1, x2, t7.
    assert value("accord_kpi_won_to_provisioned_seconds", quantile="0.5") == 86400
    assert value("accord_kpi_approved_to_posted_seconds", quantile="0.9") == 432000
    assert value("accord_kpi_first_time_right_ratio") == 1.0
    assert value("accord_kpi_wip_exposure", legal_entity="UK01", currency="USD") == 925.88
    assert value("accord_kpi_exceptions_closed", queue="delivery-ops") == 1
    assert value("accord_kpi_drift_open", kind="contract") == 1
    # Billing: only t5's invoice (03-13) is in the window.
    assert value("accord_kpi_approved_to_invoiced_seconds", quantile="0.5") == 687600
    gauges.refresh(now=h.at(1, month=1))  # a quiet window: no data is NaN, not zero
    assert math.isnan(value("accord_kpi_approved_to_posted_seconds", quantile="0.5"))
    assert value("accord_kpi_exceptions_closed", queue="delivery-ops") is None
    metrics = env["client"].get("/metrics").text
    assert "accord_kpi_wip_exposure{" in metrics


def test_kpi_settings_refuse_bad_rates(tmp_path):
    bad = tmp_path / "accord.yaml"
    bad.write_text("kpis: {fx_rates: {GBP: -1}}", encoding="utf-8")
    with pytest.raises(Exception, match="positive"):
        load_kpi_settings(bad)
    bad.write_text("kpis: {base_currency: XXX}", encoding="utf-8")
    with pytest.raises(Exception, match="kpis"):
        load_kpi_settings(bad)
    assert load_kpi_settings(tmp_path / "missing.yaml").base_currency == "USD"


def _tiles(html: str) -> dict[str, str]:
    found = re.finditer(r'<div class="kpi[^"]*" id="kpi-([^"]+)">(.*?)</div>', html, re.DOTALL)
    return {m[1]: " ".join(re.sub("<[^>]+>", " ", m[2]).split()) for m in found}


def test_business_page_reads_like_a_report(env):
    console = env["console"]
    page = console.get(f"/business?{WINDOW}&per=week")
    assert page.status_code == 200
    html = page.text
    assert html.count('class="chart trend"') == 8
    tiles = _tiles(html)
    assert tiles["provisioning"] == (
        "Deal won → project ready 60 min median · 9 in 10 within 24 h · 3 projects"
    )
    assert tiles["billing"].startswith("Billing cycle: approved → invoiced 2.8 days median")
    assert tiles["first-time-right"].startswith("Posted right first time 77.8% 7 of 9 entries")
    assert tiles["touches"].startswith("Manual touches 46.2 per 100 6 actions by people")
    assert tiles["wip"].startswith("Approved, not yet invoiced USD 1,475.88 4 entries")
    assert tiles["drift"].endswith("last run 12 Mar 02:00 UTC: found drift")
    for expected in ("JPY 50,000.00", "w/c 09 Mar", "Deal A"):
        assert expected in html, expected
    assert (
        'href="/business.csv?from=2026-03-02&amp;to=2026-03-15&amp;per=week&amp;table=wip_projects"'
        in html
    )
    bad = console.get("/business?from=2026-03-10&to=2026-03-01")
    assert bad.status_code == 200
    assert "is before" in bad.text
    download = console.get(f"/business.csv?{WINDOW}&per=week&table=exceptions")
    assert download.headers["content-type"].startswith("text/csv")
    assert download.text.splitlines()[0].startswith("queue,opened,closed")
    assert TestClient(console.app).get("/business", follow_redirects=False).status_code == 303


def test_overview_shows_posting_statuses(env):
    html = env["console"].get("/").text
    section = html[html.index('id="posting-status"') :]
    section = section[: section.index("</section>")]
    assert ">posted</text>" in section
    assert "posted: 2 expense, 7 time" in section
