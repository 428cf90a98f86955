"""The Business page in a real browser, over the known history of ``tests/kpi_history.py``.

A viewer signs in, opens Business for the two weeks of the history, reads the headline figures
and the charts, switches the trend to days with the form, and downloads the unbilled work by
project as CSV. The app is served by uvicorn without its runtime (the page only reads the
store). The screenshot goes to ``/tmp/console-business.png``.
"""

import csv
import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from tests import kpi_history as h
from tests.support import serve

from accord.api.app import create_app
from accord.settings import Settings
from accord.store import create_db_engine, keys, migrate

pytestmark = [pytest.mark.browser]

WINDOW = "from=2026-03-02&to=2026-03-15"


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    folder = tmp_path_factory.mktemp("business-browser")
    config = folder / "accord.yaml"
    config.write_text(
        yaml.safe_dump({"kpis": {"fx_rates": {"GBP": "1.2345", "EUR": "1.10"}}}), encoding="utf-8"
    )
    url = f"sqlite:///{folder / 'accord.db'}"
    engine = create_db_engine(url)
    migrate(engine)
    h.seed(engine)
    with engine.begin() as conn:
        _, viewer = keys.create(conn, name="fd", role=keys.Role.VIEWER, actor="test")
    engine.dispose()
    settings = Settings(database_url=url, worker_id="test-business-browser", config_file=config)
    with serve(lambda _base: create_app(settings, configure_logs=False)) as base:
        yield {"url": base, "key": viewer}


def test_a_finance_director_reads_the_business_page(browser: Any, site: dict[str, str]) -> None:
    context = browser.new_context(viewport={"width": 1360, "height": 900}, accept_downloads=True)
    page = context.new_page()
    page.set_default_timeout(15_000)
    base = site["url"]
    page.goto(f"{base}/business?{WINDOW}&per=week")
    page.fill("#key", site["key"])
    page.click("button[type=submit]")
    page.wait_for_url(f"{base}/business?*")

    assert page.inner_text("nav a.active") == "Business"
    tile = page.locator("#kpi-wip")
    assert "USD 1,475.88" in tile.inner_text()
    assert "77.8%" in page.inner_text("#kpi-first-time-right")
    assert "2.8 days" in page.inner_text("#kpi-billing")
    assert "JPY 50,000.00" in page.inner_text("#unconverted")
    # Eight charts drawn, each point or column with its period and value on hover.
    charts = page.locator("svg.chart.trend")
    assert charts.count() == 8
    assert charts.first.bounding_box()["width"] > 400
    wip_bars = page.locator("#chart-wip svg rect title")
    assert [wip_bars.nth(i).text_content() for i in range(wip_bars.count())] == [
        "w/c 02 Mar · work in progress: USD 1.35k",
        "w/c 09 Mar · work in progress: USD 1.48k",
    ]
    assert page.locator("#wip-entities tfoot").inner_text().split() == ["Total", "1,475.88", "4"]
    page.screenshot(path=str(Path("/tmp/console-business.png")), full_page=True)

    # The form: the same window per day.
    page.select_option("select[name=per]", "day")
    page.click("#window button[type=submit]")
    page.wait_for_url("**per=day*")
    assert page.locator("#chart-provisioning svg circle").count() == 6  # 3 days x 2 lines
    assert "per day" in page.inner_text("h1")

    with page.expect_download() as download:
        page.click("#downloads a:has-text('Unbilled work by project')")
    text = Path(download.value.path()).read_text(encoding="utf-8")
    rows = list(csv.DictReader(io.StringIO(text)))
    assert [(r["project_id"], r["amount_USD"]) for r in rows] == [
        ("PRJ-B", "925.88"),
        ("PRJ-A", "550.00"),
        ("PRJ-J", "0.00"),
    ]
    context.close()
