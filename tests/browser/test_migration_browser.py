"""The migration pages in a real browser: DE01 on Business Central, Dynamics 365 in shadow.

Accord (the time-to-bill e2e build, DE01 under migration) posts two projects' time to BC: one
project the shadow holds (carried over by a cut-over and rolled back), one it does not. A
viewer finds DE01 under Migrations, opens its diff (the shadow differs: a project missing,
its entries on one side only), then narrows it to the carried-over project, where both ERPs
book the same. Screenshots go to ``/tmp/migration-*.png``.
"""

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from tests.e2e.time_to_bill.conftest import sandbox, start_billing
from tests.e2e.time_to_bill.test_migration import carry_over, migrating, move_entity, post_day
from tests.support import serve

from accord.api.app import create_app

pytestmark = [pytest.mark.browser, pytest.mark.slow]

__all__ = ["sandbox"]  # the time-to-bill suite's module sandbox, used here as a fixture

SHOTS = Path("/tmp")


@pytest.fixture(scope="module")
def served(sandbox: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """Accord with both projects posted, then served by uvicorn (its services already run)."""
    for billing in start_billing(
        tmp_path_factory.mktemp("mig-browser"), sandbox, edit_rules=migrating
    ):
        held = billing.project("time_and_materials", entity="DE01")
        move_entity(billing, "cutover")
        carry_over(billing, held)
        move_entity(billing, "rollback")
        for day in ("2026-09-14", "2026-09-15"):
            post_day(billing, held, day)
        missing = billing.project("time_and_materials", entity="DE01")
        post_day(billing, missing, "2026-09-15")
        # Lifespan off (serve's): the services run already (start_billing stops them afterwards).
        app = create_app(billing.services.settings, services=billing.services, configure_logs=False)
        with serve(lambda _base, app=app: app) as url:
            yield {
                "url": url,
                "viewer": billing.accord.viewer_key,
                "held": held,
                "missing": missing,
            }


def test_a_viewer_reads_the_shadow_diff(served: dict[str, Any], browser: Any) -> None:
    base = served["url"]
    page = browser.new_context(viewport={"width": 1360, "height": 900}).new_page()
    page.set_default_timeout(30_000)
    page.goto(f"{base}/migrations")
    page.fill("#key", served["viewer"])
    page.click("button[type=submit]")
    page.wait_for_selector("#migrations")
    assert page.locator("nav a.active").inner_text() == "Migrations"
    row = page.locator("#migrations tbody tr")
    assert row.count() == 1
    assert "business_central" in row.inner_text()
    assert "dynamics_finance" in row.inner_text()

    page.click("#migrations a[href='/migrations/DE01']")
    page.wait_for_selector("#days")
    page.screenshot(path=str(SHOTS / "migration-diff.png"), full_page=True)
    assert "differs" in page.locator("#verdict").inner_text()
    one_side = page.locator("#one-side").inner_text()
    assert f"Project {served['missing']}: not in the shadow ERP" in one_side
    assert "booked in the system of record only" in one_side
    days = page.locator("#days tbody tr")
    assert days.count() == 3
    same = page.locator("#days tbody tr.same")
    assert [same.nth(i).locator("td").first.inner_text() for i in range(same.count())] == [
        served["held"]
    ] * 2

    page.fill("#project", served["held"])
    page.fill("#from", "2026-09-14")
    page.fill("#to", "2026-09-15")
    page.click("#filter button")
    page.wait_for_url(f"**/migrations/DE01?from=2026-09-14&to=2026-09-15&project={served['held']}")
    page.screenshot(path=str(SHOTS / "migration-diff-project.png"), full_page=True)
    verdict = page.locator("#verdict").inner_text()
    assert verdict == "The shadow books exactly what the system of record booked."
    first = page.locator("#days tbody tr").first.locator("td")
    assert [first.nth(i).inner_text() for i in (2, 3, 5, 6)] == ["1", "8.00", "1", "8.00"]
    assert page.locator("#one-side").count() == 0

    page.goto(f"{base}/migrations/XX99")
    assert "unknown legal entity 'XX99'" in page.content()
