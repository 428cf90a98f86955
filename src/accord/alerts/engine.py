"""Alert evaluation: each rule kind, and the thread that evaluates and delivers.

Rules read the store (SLA, exception-age and escalation rules) or this process's own state
(connection auth, metrics); :class:`AlertEngine` escalates exceptions past their queue's SLA,
evaluates the rules every ``interval_s`` and delivers the notifications they owe every second.

Why a thread in each worker rather than a DBOS scheduled workflow: evaluation is a few
read-mostly queries, and a scheduled workflow would add a run (and its step rows) to the run
list every tick, where people look for business runs; the ``connection_auth`` and ``metric``
rules also read this process's own state, which a workflow run on an arbitrary worker could
not see. Running in every worker is safe: the alerts table's unique ``active_key`` lets only
one worker open an instance, and delivery claims each notification before sending it.
"""

import logging
import operator
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa

from accord.alerts.config import (
    AlertsConfig,
    ConnectionAuthRuleSpec,
    EscalationRuleSpec,
    ExceptionAgeRuleSpec,
    MetricRuleSpec,
    Rule,
    SlaRuleSpec,
)
from accord.alerts.notify import Notifier
from accord.errors import ConfigError
from accord.observability.metrics import get_metrics
from accord.store import alerts as alerts_repo
from accord.store.alerts import Instance
from accord.store.util import utc_now, write_lock

__all__ = ["AlertEngine", "AuthView", "Escalate", "Evaluation", "evaluate_rule"]

logger = logging.getLogger(__name__)

Escalate = Callable[[datetime], list[str]]
"""Escalates the exceptions past their queue's SLA, in a transaction of its own; returns what it
escalated, for the log. The flows layer builds it from the rules file's ``queues:``: it reads
the rules before it takes the write lock, because reading them may write (a first read adopts
the rules file, in a transaction of the resolver's own, which would wait for that lock)."""


@dataclass(frozen=True)
class AuthView:
    """What the ``connection_auth`` rule needs to know about one connection."""

    failing: bool
    since: datetime
    status_code: int | None = None


AuthSource = Callable[[], Mapping[str, AuthView]]
"""Returns the connections this process has called and their last auth outcome."""


@dataclass(frozen=True)
class Evaluation:
    """What fires now, and which instance keys the evaluation could judge (None: all)."""

    instances: list[Instance]
    known: set[str] | None = None


_OPS: dict[str, Callable[[float, float], bool]] = {
    ">": operator.gt,
    ">=": operator.ge,
    "<": operator.lt,
    "<=": operator.le,
    "==": operator.eq,
    "!=": operator.ne,
}


def _sla(conn: sa.Connection, rule: SlaRuleSpec, now: datetime) -> Evaluation:
    # Instances already firing are re-checked by key, so one that ages out of the lookback
    # window (or past the limit) stays firing until it is actually done.
    breached = alerts_repo.overdue_events(
        conn,
        event_type=rule.event_type,
        done_statuses=rule.done_statuses,
        received_before=now - rule.within,
        received_since=now - rule.lookback,
        limit=rule.max_instances,
        also=alerts_repo.active_keys(conn, rule=rule.name),
    )
    instances: dict[str, Instance] = {}
    for r in breached:
        received = r.received_at or now
        hours = (now - received).total_seconds() / 3600
        instances[r.event_id] = Instance(
            key=r.event_id,
            summary=(
                f"{rule.event_type} for {r.business_key} not done after {hours:.1f} h "
                f"(SLA {rule.within})"
            ),
            labels={"event_type": rule.event_type, "business_key": r.business_key},
            value=round(hours, 3),
        )
    return Evaluation(list(instances.values()))


def _exception_age(conn: sa.Connection, rule: ExceptionAgeRuleSpec, now: datetime) -> Evaluation:
    active = [int(k) for k in alerts_repo.active_keys(conn, rule=rule.name) if k.isdigit()]
    rows = alerts_repo.aged_exceptions(
        conn,
        created_before=now - rule.older_than,
        queues=rule.queues or (),
        limit=rule.max_instances,
        also=active,
    )
    instances: dict[str, Instance] = {}
    for r in rows:
        created = r.created_at or now
        days = (now - created).total_seconds() / 86400
        instances[str(r.id)] = Instance(
            key=str(r.id),
            summary=f"exception {r.id} ({r.code}, {r.business_key}) open for {days:.1f} days",
            labels={"queue": r.queue, "code": r.code, "business_key": r.business_key},
            value=round(days, 3),
        )
    return Evaluation(list(instances.values()))


def _escalated(conn: sa.Connection, rule: EscalationRuleSpec) -> Evaluation:
    return Evaluation(
        [
            Instance(
                key=str(r.id),
                summary=f"exception {r.id} ({r.code}, {r.business_key}) passed the SLA of "
                f"{r.queue}: escalated to {r.escalated_to}",
                labels={
                    "queue": r.queue,
                    "code": r.code,
                    "business_key": r.business_key,
                    "owner": r.escalated_to or "",
                },
            )
            for r in alerts_repo.escalated_exceptions(conn, limit=rule.max_instances)
        ]
    )


def _connection_auth(
    rule: ConnectionAuthRuleSpec, now: datetime, auth: Mapping[str, AuthView]
) -> Evaluation:
    instances = [
        Instance(
            key=name,
            summary=f"connection {name} is refused authentication (HTTP {view.status_code})",
            labels={"connection": name},
            value=float(view.status_code or 0),
        )
        for name, view in sorted(auth.items())
        if view.failing and now - view.since >= rule.failing_for
    ]
    # Connections this process never called are someone else's to judge.
    return Evaluation(instances, known=set(auth))


def _metric(rule: MetricRuleSpec) -> Evaluation:
    compare = _OPS[rule.op]
    instances: list[Instance] = []
    for family in get_metrics().registry.collect():
        for sample in family.samples:
            if sample.name != rule.metric:
                continue
            if any(sample.labels.get(k) != v for k, v in rule.labels.items()):
                continue
            if compare(sample.value, rule.threshold):
                key = ",".join(f"{k}={v}" for k, v in sorted(sample.labels.items())) or "-"
                instances.append(
                    Instance(
                        key=key,
                        summary=f"{rule.metric}{{{key}}} = {sample.value:g} {rule.op} "
                        f"{rule.threshold:g}",
                        labels=dict(sample.labels),
                        value=float(sample.value),
                    )
                )
    return Evaluation(instances)


def evaluate_rule(
    conn: sa.Connection, rule: Rule, *, now: datetime, auth: Mapping[str, AuthView]
) -> Evaluation:
    """What one rule finds firing now."""
    match rule:
        case SlaRuleSpec():
            return _sla(conn, rule, now)
        case ExceptionAgeRuleSpec():
            return _exception_age(conn, rule, now)
        case EscalationRuleSpec():
            return _escalated(conn, rule)
        case ConnectionAuthRuleSpec():
            return _connection_auth(rule, now, auth)
        case MetricRuleSpec():
            return _metric(rule)


class AlertEngine:
    """Evaluates the configured rules and delivers their notifications.

    Args:
        engine: The database (store and alerts table).
        config: The ``alerts:`` section.
        auth: This process's connection auth states (for ``connection_auth`` rules).
        notifier: Delivers to the webhook; None when no webhook is configured (alerts are
            still kept for the console).
        escalate: Escalates exceptions past their queue's SLA, first thing in each pass, so
            that the ``escalation`` rule alerts on them in the same pass.
    """

    def __init__(
        self,
        engine: sa.Engine,
        config: AlertsConfig,
        *,
        auth: AuthSource = dict,
        notifier: Notifier | None = None,
        escalate: Escalate | None = None,
    ) -> None:
        self.engine = engine
        self.config = config
        self.rules = config.effective_rules()
        self.auth = auth
        self.notifier = notifier
        self.escalate = escalate
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def evaluate(self, *, now: datetime | None = None) -> dict[str, tuple[list[str], list[str]]]:
        """Evaluate every rule once; returns (fired, resolved) instance keys by rule."""
        now = now or utc_now()
        auth = self.auth()
        changes: dict[str, tuple[list[str], list[str]]] = {}
        if self.escalate is not None:
            try:
                for what in self.escalate(now):
                    logger.warning("escalated %s", what)
            except (sa.exc.SQLAlchemyError, ConfigError):
                logger.warning("escalating aged exceptions failed", exc_info=True)
        for rule in self.rules:
            try:
                with self.engine.begin() as conn:
                    write_lock(conn)
                    found = evaluate_rule(conn, rule, now=now, auth=auth)
                    changes[rule.name] = alerts_repo.sync_rule(
                        conn,
                        rule=rule.name,
                        severity=rule.severity,
                        instances=found.instances,
                        known=found.known,
                        now=now,
                    )
            except sa.exc.SQLAlchemyError:
                logger.warning("evaluating alert rule %s failed", rule.name, exc_info=True)
                continue
            fired, resolved = changes[rule.name]
            for key in fired:
                logger.warning("alert %s firing for %s", rule.name, key)
            for key in resolved:
                logger.info("alert %s resolved for %s", rule.name, key)
        with self.engine.connect() as conn:
            firing = alerts_repo.count_firing(conn)
        gauge = get_metrics().alerts_firing
        for rule in self.rules:
            gauge.labels(rule=rule.name).set(firing.get(rule.name, 0))
        return changes

    def deliver(self) -> int:
        """Send the notifications due now (0 without a webhook)."""
        if self.notifier is None:
            return 0
        try:
            return self.notifier.deliver_due()
        except sa.exc.SQLAlchemyError:
            logger.warning("delivering alert notifications failed", exc_info=True)
            return 0

    # ------------------------------------------------------------------ background thread
    def start(self) -> None:
        """Evaluate every ``interval_s`` and deliver every second, on a daemon thread."""
        self._stop.clear()
        self._thread = threading.Thread(target=self._loop, name="accord-alerts", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop the thread and close the webhook client."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=15)
            self._thread = None
        if self.notifier is not None:
            self.notifier.close()

    def _loop(self) -> None:
        next_eval = 0.0
        while not self._stop.wait(1.0 if next_eval else 0.0):
            if time.monotonic() >= next_eval:
                try:
                    self.evaluate()
                except Exception:  # the thread must outlive one bad tick
                    logger.exception("alert evaluation failed")
                next_eval = time.monotonic() + self.config.interval_s
            self.deliver()
