"""Business Central subscriptions kept alive: created at start, renewed, re-created, on a schedule.

Accord is served over HTTP so the Business Central emulator's validation handshake reaches its
real ``/hooks/{connection}``; the emulator's clock is moved to age the subscriptions. The same
worker also schedules the daily retention purge, checked at the end (one runtime launch).
"""

import time
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import yaml
from dbos import DBOS
from tests.dbs import sqlite_only
from tests.support import serve

from accord.api.app import create_app
from accord.flows import retention
from accord.flows.services import Services
from accord.flows.subscriptions import SCHEDULE, subscriptions_tick
from accord.settings import Settings
from accord_sandbox.business_central import BusinessCentralEmulator
from accord_sandbox.scenario import generate

SECRET = "bc-webhook-secret-0123456789"
TENANT = "sandbox-tenant"


def _subs(emulator: BusinessCentralEmulator) -> list[dict[str, Any]]:
    return emulator.store.all("subscriptions")


def _wait_for(predicate, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError("condition not met")
        time.sleep(0.1)


def _pass() -> None:
    """One upkeep pass, as a scheduled tick runs it."""
    DBOS.start_workflow(subscriptions_tick, datetime.now(UTC), None).get_result()


def _expiry(sub: dict[str, Any]) -> datetime:
    return datetime.fromisoformat(sub["expirationDateTime"])


@sqlite_only
def test_subscriptions_are_created_renewed_and_recreated(db_url, tmp_path):
    offset = [timedelta(days=-2.5)]  # subscriptions made now expire in half a day
    firm = generate("small", 7)
    company = next(e.bc_company_id for e in firm.legal_entities if e.code == "DE01")
    holder: dict[str, BusinessCentralEmulator] = {}

    def make_bc(url: str) -> Any:
        emulator = BusinessCentralEmulator(
            base_url=url, clock=lambda: datetime.now(UTC) + offset[0]
        )
        emulator.seed_firm(firm)
        holder["bc"] = emulator
        return emulator.app

    config = tmp_path / "accord.yaml"
    settings = Settings(database_url=db_url, worker_id="test-subs", config_file=config)
    svc = Services.build(settings)

    with serve(make_bc) as bc_url:

        def make_accord(url: str) -> Any:
            document = {
                "connections": {
                    "bc": {
                        "kind": "business_central",
                        "tenant": TENANT,
                        "company_id": company,
                        "api_host": bc_url,
                        "login_host": bc_url,
                        "client_id": "sandbox",
                        "client_secret": "sandbox-secret",
                    }
                },
                "webhooks": {"bc": {"secret": SECRET}},
                "subscriptions": {"public_url": url, "connections": {"bc": ["customers"]}},
                "retention": {"archive_dir": "archive", "runs": "30d", "purge_hour_utc": 3},
            }
            config.write_text(yaml.safe_dump(document), encoding="utf-8")
            return create_app(settings, services=svc, configure_logs=False)

        with serve(make_accord) as accord_url:
            svc.start()
            try:
                bc = holder["bc"]
                # 1. At start: one subscription, handshaken with Accord's own /hooks/bc.
                _wait_for(lambda: len(_subs(bc)) == 1)
                (first,) = _subs(bc)
                assert first["notificationUrl"] == f"{accord_url}/hooks/bc"
                assert first["resource"].endswith(f"companies({company})/customers")
                assert first["clientState"] == SECRET
                (schedule,) = DBOS.list_schedules(schedule_name_prefix=SCHEDULE)
                assert schedule["schedule"] == "0 0 */1 * * *"

                # 2. Expiring within a day: renewed in place, three days from now.
                offset[0] = timedelta(0)
                _pass()
                (renewed,) = _subs(bc)
                assert renewed["subscriptionId"] == first["subscriptionId"]
                left = _expiry(renewed) - datetime.now(UTC)
                assert timedelta(days=2, hours=23) < left <= timedelta(days=3)

                # 3. Nothing to do: the pass changes nothing.
                _pass()
                assert _subs(bc) == [renewed]

                # 4. Lost (Business Central dropped it): subscribed again.
                bc.store.delete("subscriptions", renewed["subscriptionId"])
                _pass()
                (again,) = _subs(bc)
                assert again["subscriptionId"] != renewed["subscriptionId"]

                # 5. Expired while Accord was down: replaced by a live one.
                bc.store.put(
                    "subscriptions",
                    again["subscriptionId"],
                    {**again, "expirationDateTime": "2020-01-01T00:00:00.000Z"},
                )
                _pass()
                (replaced,) = _subs(bc)
                assert replaced["subscriptionId"] != again["subscriptionId"]
                assert _expiry(replaced) > datetime.now(UTC) + timedelta(days=2)

                # The live subscription delivers: a customer change reaches Accord's hook.
                token = httpx.post(
                    f"{bc_url}/{TENANT}/oauth2/v2.0/token",
                    data={
                        "grant_type": "client_credentials",
                        "client_id": "sandbox",
                        "client_secret": "sandbox-secret",
                        "scope": "https://api.businesscentral.dynamics.com/.default",
                    },
                ).json()["access_token"]
                created = httpx.post(
                    f"{bc_url}/v2.0/{TENANT}/production/api/v2.0/companies({company})/customers",
                    json={"displayName": "Webhook GmbH"},
                    headers={"Authorization": f"Bearer {token}"},
                )
                assert created.status_code == 201, created.text
                _wait_for(lambda: bc.webhooks.delivered >= 1)
                assert bc.webhooks.failed == 0

                # The daily purge is scheduled, and a tick archives (the audit log, here).
                (purge,) = DBOS.list_schedules(schedule_name_prefix=retention.SCHEDULE)
                assert purge["schedule"] == "0 17 3 * * *"
                DBOS.start_workflow(retention.purge_tick, datetime.now(UTC), None).get_result()
                assert (tmp_path / "archive").is_dir()
            finally:
                svc.stop()
