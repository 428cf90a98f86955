"""Alert rules firing and clearing, delivered to a local webhook that verifies the signature."""

import threading
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from fastapi import FastAPI, Request, Response
from pydantic import SecretStr
from tests.support import serve

from accord.alerts.config import (
    AlertsConfig,
    ConnectionAuthRuleSpec,
    MetricRuleSpec,
    WebhookSpec,
    load_alerts_config,
)
from accord.alerts.engine import AlertEngine, AuthView
from accord.alerts.notify import ALERT_ID_HEADER, Notifier
from accord.connectors.webhooks import verify_signature
from accord.errors import ConfigError
from accord.observability.metrics import get_metrics
from accord.store import alerts as alerts_repo
from accord.store import exceptions, journal, lineage
from accord.store.journal import NewEvent
from accord.store.tables import alerts

SECRET = "alert-secret"


class Receiver:
    """A webhook receiver that verifies every signature and can be told to fail."""

    def __init__(self) -> None:
        self.received: list[dict] = []
        self.alert_ids: list[str] = []
        self.fail_next = 0
        self.lock = threading.Lock()

    def app(self, _base_url: str) -> FastAPI:
        app = FastAPI()

        @app.post("/hook")
        async def hook(request: Request) -> Response:
            body = await request.body()
            verify_signature(
                secret=SECRET, headers=dict(request.headers), body=body, now=datetime.now(UTC)
            )
            with self.lock:
                if self.fail_next:
                    self.fail_next -= 1
                    return Response(status_code=503)
                self.received.append(await request.json())
                self.alert_ids.append(request.headers[ALERT_ID_HEADER])
            return Response(status_code=204)

        return app


@pytest.fixture(scope="module")
def receiver():
    rec = Receiver()
    with serve(rec.app) as url:
        rec.url = f"{url}/hook"
        yield rec


@pytest.fixture
def fresh_receiver(receiver):
    with receiver.lock:
        receiver.received.clear()
        receiver.alert_ids.clear()
        receiver.fail_next = 0
    return receiver


def _engine(engine, receiver, *rules, auth=dict, max_attempts=5):
    webhook = WebhookSpec(
        url=receiver.url, secret=SecretStr(SECRET), backoff_s=0, max_attempts=max_attempts
    )
    config = AlertsConfig(webhook=webhook, rules=list(rules))
    return AlertEngine(engine, config, auth=auth, notifier=Notifier(engine, webhook))


def _journal(engine, event_type: str, key: str):
    with engine.begin() as conn:
        (entry,) = journal.insert_many(
            conn,
            [
                NewEvent(
                    source="test/alerts",
                    ce_id=uuid.uuid4().hex,
                    type=event_type,
                    subject=None,
                    business_key=key,
                    time=None,
                    data_json="{}",
                )
            ],
        )
    return entry


def _firing(engine, rule):
    with engine.connect() as conn:
        return [a for a in alerts_repo.list_active_alerts(conn) if a.rule == rule]


def test_timesheet_sla_fires_notifies_once_and_clears_when_posted(engine, fresh_receiver):
    alert_engine = _engine(engine, fresh_receiver)
    entry = _journal(engine, "timesheet.approved", "project:P-1")
    later = datetime.now(UTC) + timedelta(hours=5)

    # Within the SLA nothing fires.
    alert_engine.evaluate(now=datetime.now(UTC) + timedelta(hours=3))
    assert _firing(engine, "timesheet_not_posted") == []

    fired, _ = alert_engine.evaluate(now=later)["timesheet_not_posted"]
    assert fired == [entry.event_id]
    assert alert_engine.deliver() == 1
    # Evaluated again while still breached: no second row, no second notification.
    assert alert_engine.evaluate(now=later + timedelta(minutes=1))["timesheet_not_posted"] == (
        [],
        [],
    )
    assert alert_engine.deliver() == 0
    (sent,) = fresh_receiver.received
    assert sent["kind"] == "firing"
    assert sent["alert"]["rule"] == "timesheet_not_posted"
    assert sent["alert"]["instance"] == entry.event_id
    assert sent["alert"]["labels"]["business_key"] == "project:P-1"
    (active,) = _firing(engine, "timesheet_not_posted")
    assert active.notified_at is not None
    assert get_metrics().alerts_firing.labels(rule="timesheet_not_posted")._value.get() == 1

    # The flow posts the timesheet: the lineage edge of the event says so.
    with engine.begin() as conn:
        lineage.link(
            conn,
            from_type="event",
            from_id=entry.event_id,
            to_type="netsuite:timebill",
            to_id="TB-1",
            relation="posted_as",
            event_id=entry.event_id,
            status="posted",
        )
    _, resolved = alert_engine.evaluate(now=later + timedelta(minutes=2))["timesheet_not_posted"]
    assert resolved == [entry.event_id]
    assert alert_engine.deliver() == 1
    assert [m["kind"] for m in fresh_receiver.received] == ["firing", "resolved"]
    assert _firing(engine, "timesheet_not_posted") == []

    # It can fire again later as a new instance row (the old one stays resolved).
    with engine.connect() as conn:
        rows = alerts_repo.list_(conn, rule="timesheet_not_posted")
    assert [r.status for r in rows] == ["resolved"]


def test_won_opportunity_not_provisioned_within_an_hour(engine, fresh_receiver):
    alert_engine = _engine(engine, fresh_receiver)
    entry = _journal(engine, "opportunity.won", "opportunity:006X")
    changes = alert_engine.evaluate(now=datetime.now(UTC) + timedelta(minutes=61))
    assert changes["opportunity_not_provisioned"][0] == [entry.event_id]
    assert changes["timesheet_not_posted"] == ([], [])


def test_failed_deliveries_are_retried_and_deduplicated(engine, fresh_receiver):
    alert_engine = _engine(engine, fresh_receiver)
    with engine.begin() as conn:
        exc = exceptions.open_(
            conn,
            queue="finance-ops",
            flow="post_approved_time",
            run_id=None,
            business_key="project:P-9",
            code="closed_period",
            title="Period closed",
            detail={},
            dedupe_key=f"k-{uuid.uuid4().hex}",
        )
    fresh_receiver.fail_next = 2
    alert_engine.evaluate(now=datetime.now(UTC) + timedelta(days=3))
    assert alert_engine.deliver() == 0
    (row,) = [a for a in _firing(engine, "exception_aged") if a.instance_key == str(exc.id)]
    assert row.attempts == 1
    assert row.last_error == "firing notification: HTTP 503"
    assert alert_engine.deliver() == 0
    assert alert_engine.deliver() == 1
    assert alert_engine.deliver() == 0
    ids = [i for i in fresh_receiver.alert_ids if i.startswith(f"{row.id}:")]
    assert ids == [f"{row.id}:firing"]

    with engine.begin() as conn:
        exceptions.resolve(conn, id=exc.id, resolution="reopened the period", actor="test")
    _, resolved = alert_engine.evaluate(now=datetime.now(UTC) + timedelta(days=3))["exception_aged"]
    assert str(exc.id) in resolved
    alert_engine.deliver()
    assert f"{row.id}:resolved" in fresh_receiver.alert_ids


def test_delivery_gives_up_after_max_attempts(engine, fresh_receiver):
    alert_engine = _engine(
        engine,
        fresh_receiver,
        MetricRuleSpec(
            name="always", kind="metric", metric="accord_alert_probe", op=">=", threshold=0
        ),
        max_attempts=2,
    )
    get_metrics().alerts_firing.labels(rule="probe").set(1)
    alert_engine.rules = [
        MetricRuleSpec(
            name="probe_firing",
            kind="metric",
            metric="accord_alerts_firing",
            labels={"rule": "probe"},
            op=">",
            threshold=0,
        )
    ]
    fresh_receiver.fail_next = 10
    alert_engine.evaluate()
    for _ in range(4):
        alert_engine.deliver()
    (row,) = _firing(engine, "probe_firing")
    assert row.attempts == 2
    assert row.notified_at is None
    assert fresh_receiver.received == []


def test_connection_auth_rule_fires_and_clears_only_for_connections_it_knows(
    engine, fresh_receiver
):
    state = {"crm": AuthView(failing=True, since=datetime.now(UTC), status_code=401)}
    alert_engine = _engine(engine, fresh_receiver, auth=lambda: dict(state))
    fired, _ = alert_engine.evaluate()["connection_auth_failing"]
    assert fired == ["crm"]
    # Another worker that never called "crm" knows nothing about it: the alert stays.
    other = _engine(engine, fresh_receiver, auth=dict)
    assert other.evaluate()["connection_auth_failing"] == ([], [])
    assert [a.instance_key for a in _firing(engine, "connection_auth_failing")] == ["crm"]
    state["crm"] = AuthView(failing=False, since=datetime.now(UTC), status_code=200)
    assert alert_engine.evaluate()["connection_auth_failing"] == ([], ["crm"])


def test_metric_rule_fires_per_label_set_and_clears(engine, fresh_receiver):
    gauge = get_metrics().queue_depth
    gauge.labels(queue="q-alert-test").set(50)
    rule = MetricRuleSpec(
        name="queue_backlog",
        kind="metric",
        metric="accord_queue_depth",
        labels={"queue": "q-alert-test"},
        op=">",
        threshold=10,
    )
    alert_engine = _engine(engine, fresh_receiver, rule)
    assert alert_engine.evaluate()["queue_backlog"] == (["queue=q-alert-test"], [])
    (active,) = _firing(engine, "queue_backlog")
    assert active.value == 50
    gauge.labels(queue="q-alert-test").set(0)
    assert alert_engine.evaluate()["queue_backlog"] == ([], ["queue=q-alert-test"])


def test_two_engines_never_open_the_same_instance_twice(engine, fresh_receiver):
    state = {"erp": AuthView(failing=True, since=datetime.now(UTC), status_code=403)}
    first = _engine(engine, fresh_receiver, auth=lambda: dict(state))
    second = _engine(engine, fresh_receiver, auth=lambda: dict(state))
    first.evaluate()
    second.evaluate()
    first.deliver()
    second.deliver()
    with engine.connect() as conn:
        n = conn.execute(
            sa.select(sa.func.count())
            .select_from(alerts)
            .where(alerts.c.rule == "connection_auth_failing", alerts.c.instance_key == "erp")
        ).scalar_one()
    assert n == 1
    assert len([m for m in fresh_receiver.received if m["alert"]["instance"] == "erp"]) == 1


def test_config_from_accord_yaml_overrides_defaults_by_name(tmp_path: Path):
    path = tmp_path / "accord.yaml"
    path.write_text(
        """
alerts:
  interval_s: 15
  webhook:
    url: https://hooks.example.com/alerts
    secret: ${env:ALERT_SECRET}
  rules:
    - {name: timesheet_not_posted, kind: sla, event_type: timesheet.approved,
       within: 2h, done_statuses: [posted, skipped]}
    - {name: exception_aged, kind: exception_age, older_than: 2d, enabled: false}
    - {name: queue_backlog, kind: metric, metric: accord_queue_depth, op: ">", threshold: 5000}
""",
        encoding="utf-8",
    )
    config = load_alerts_config(path, {"ALERT_SECRET": "s3cret"})
    assert config.webhook is not None
    assert config.webhook.secret.get_secret_value() == "s3cret"
    rules = {r.name: r for r in config.effective_rules()}
    assert rules["timesheet_not_posted"].within == timedelta(hours=2)
    assert "exception_aged" not in rules
    assert isinstance(rules["connection_auth_failing"], ConnectionAuthRuleSpec)
    assert rules["queue_backlog"].threshold == 5000
    assert load_alerts_config(tmp_path / "missing.yaml", {}).effective_rules()

    path.write_text("alerts:\n  rules:\n    - {name: x, kind: sla}\n", encoding="utf-8")
    with pytest.raises(ConfigError):
        load_alerts_config(path, {})


def test_an_exception_past_its_queues_sla_is_escalated_once_and_alerted(
    engine, db_url, fresh_receiver, tmp_path
):
    from accord.flows.services import Services
    from accord.settings import Settings
    from accord.store import audit

    # The default rules: finance-ops escalates after 24 hours to finance-controller.
    services = Services.build(
        Settings(database_url=db_url, worker_id="test-esc", config_file=tmp_path / "none.yaml")
    )
    webhook = WebhookSpec(url=fresh_receiver.url, secret=SecretStr(SECRET), backoff_s=0)
    alert_engine = AlertEngine(
        engine,
        AlertsConfig(webhook=webhook),
        notifier=Notifier(engine, webhook),
        escalate=services.escalate,
    )
    with engine.begin() as conn:
        exc = exceptions.open_(
            conn,
            queue="finance-ops",
            flow="post_approved_time",
            run_id=None,
            business_key="project:P-ESC",
            code="closed_period",
            title="Period closed",
            detail={},
            dedupe_key=f"k-{uuid.uuid4().hex}",
        )
        exceptions.assign(conn, id=exc.id, assignee="ann", actor="key:ann")
    start = datetime.now(UTC)

    alert_engine.evaluate(now=start + timedelta(hours=23))
    with engine.connect() as conn:
        assert exceptions.get(conn, id=exc.id).escalated_at is None
    changes = alert_engine.evaluate(now=start + timedelta(hours=25))
    assert changes["exception_escalated"][0] == [str(exc.id)]
    with engine.connect() as conn:
        escalated = exceptions.get(conn, id=exc.id)
        (row,) = audit.list_(conn, action="exception.escalate", target=f"exception:{exc.id}")
    assert escalated.assignee == "finance-controller"
    assert escalated.escalated_to == "finance-controller"
    assert escalated.escalated_at is not None
    assert row.actor == "accord"
    assert row.before["assignee"] == "ann"
    assert row.after["sla_hours"] == 24
    assert alert_engine.deliver() >= 1
    sent = [m for m in fresh_receiver.received if m["alert"]["rule"] == "exception_escalated"]
    assert [m["kind"] for m in sent] == ["firing"]
    assert sent[0]["alert"]["labels"]["owner"] == "finance-controller"

    # Later passes neither escalate it again nor notify again.
    alert_engine.evaluate(now=start + timedelta(hours=30))
    with engine.connect() as conn:
        assert (
            len(audit.list_(conn, action="exception.escalate", target=f"exception:{exc.id}")) == 1
        )
    # Closing it clears the alert.
    with engine.begin() as conn:
        exceptions.resolve(conn, id=exc.id, resolution="period reopened", actor="key:fc")
    _, resolved = alert_engine.evaluate(now=start + timedelta(hours=31))["exception_escalated"]
    assert resolved == [str(exc.id)]
    services.engine.dispose()
