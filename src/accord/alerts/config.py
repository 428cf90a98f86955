"""Alert rules and their configuration: the ``alerts:`` section of ``accord.yaml``.

Rules are pydantic specs loaded from the ``alerts:`` section of ``accord.yaml``, merged over
:data:`DEFAULT_RULES` by name (a rule named like a default replaces it; ``enabled: false``
turns one off)::

    alerts:
      interval_s: 30
      webhook:
        url: https://hooks.example.com/accord-alerts
        secret: ${env:ACCORD_ALERT_WEBHOOK_SECRET}
      rules:
        - {name: timesheet_not_posted, kind: sla, event_type: timesheet.approved,
           within: 4h, done_statuses: [posted]}
        - {name: queue_backlog, kind: metric, metric: accord_queue_depth,
           labels: {queue: accord-events}, op: ">", threshold: 5000}

An alert *instance* is one rule applied to one thing (an event, an exception, a connection, a
label set). The table keeps one row per firing of an instance: while it fires, its
``active_key`` (``<rule>|<instance>``) is set and unique, which is what makes one webhook
notification per instance until it clears hold across every worker evaluating rules. When it
clears, ``active_key`` goes back to NULL and one ``resolved`` notification follows.

The table lives in :mod:`accord.store.alerts`, evaluation in :mod:`accord.alerts.engine`,
delivery in :mod:`accord.alerts.notify`.
"""

import re
from collections.abc import Mapping
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Literal

import yaml
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
)

from accord.connectors.config import resolve_references
from accord.errors import ConfigError

__all__ = [
    "DEFAULT_RULES",
    "AlertRuleSpec",
    "AlertsConfig",
    "ConnectionAuthRuleSpec",
    "EscalationRuleSpec",
    "ExceptionAgeRuleSpec",
    "MetricRuleSpec",
    "Rule",
    "SlaRuleSpec",
    "WebhookSpec",
    "load_alerts_config",
    "parse_duration",
]

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_duration(value: object) -> object:
    """``"4h"``, ``"30m"``, ``"2d"``, ``"90s"``, ``"1w"`` or a number of seconds; else as is."""
    if isinstance(value, str):
        m = _DURATION.match(value)
        if m:
            return timedelta(seconds=float(m.group(1)) * _UNITS[m.group(2)])
    if isinstance(value, int | float) and not isinstance(value, bool):
        return timedelta(seconds=value)
    return value


Duration = Annotated[timedelta, BeforeValidator(parse_duration)]
Severity = Literal["info", "warning", "critical"]


class _Rule(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(pattern=r"^[a-z][a-z0-9_.-]{0,127}$")
    """Unique rule name; also the ``rule`` label of the alert metrics."""
    severity: Severity = "warning"
    enabled: bool = True
    description: str = ""


class SlaRuleSpec(_Rule):
    """A journaled event of ``event_type`` not done within ``within``.

    Done means a lineage edge recorded for the event (``event_id``) with a status in
    ``done_statuses``: the business flow writes it when its target write succeeded.
    """

    kind: Literal["sla"]
    event_type: str
    within: Duration
    done_statuses: list[str] = Field(min_length=1)
    lookback: Duration = timedelta(days=7)
    """Only events received this recently can start firing (bounds the query)."""
    max_instances: int = Field(default=500, ge=1)


class ExceptionAgeRuleSpec(_Rule):
    """An open business exception older than ``older_than`` (optionally in some queues)."""

    kind: Literal["exception_age"]
    older_than: Duration
    queues: list[str] | None = None
    max_instances: int = Field(default=500, ge=1)


class EscalationRuleSpec(_Rule):
    """An open exception escalated past its queue's SLA (the ``queues:`` of the rules file).

    The escalation itself (assigning the queue's escalation owner, once, audited) happens in
    the same evaluation pass, just before this rule is evaluated; the alert clears when the
    exception is resolved or ignored.
    """

    kind: Literal["escalation"]
    max_instances: int = Field(default=500, ge=1)


class ConnectionAuthRuleSpec(_Rule):
    """A connection whose last outbound call was refused authentication (401/403)."""

    kind: Literal["connection_auth"]
    failing_for: Duration = timedelta(0)
    """Fire only once it has been failing this long."""


class MetricRuleSpec(_Rule):
    """A Prometheus sample of this process compared with a threshold, per label set."""

    kind: Literal["metric"]
    metric: str = Field(pattern=r"^[a-zA-Z_:][a-zA-Z0-9_:]*$")
    """A sample name as ``/metrics`` shows it (``accord_queue_depth``, ``..._total``)."""
    labels: dict[str, str] = Field(default_factory=dict)
    """Only samples with these label values."""
    op: Literal[">", ">=", "<", "<=", "==", "!="]
    threshold: float


Rule = (
    SlaRuleSpec
    | ExceptionAgeRuleSpec
    | EscalationRuleSpec
    | ConnectionAuthRuleSpec
    | MetricRuleSpec
)
"""Any rule, by kind."""
AlertRuleSpec = Annotated[Rule, Field(discriminator="kind")]

DEFAULT_RULES: tuple[Rule, ...] = (
    SlaRuleSpec(
        name="timesheet_not_posted",
        kind="sla",
        event_type="timesheet.approved",
        within=timedelta(hours=4),
        done_statuses=["posted"],
        description="An approved timesheet was not posted to the ERP within 4 hours.",
    ),
    SlaRuleSpec(
        name="opportunity_not_provisioned",
        kind="sla",
        event_type="opportunity.won",
        within=timedelta(hours=1),
        done_statuses=["provisioned"],
        description="A won opportunity was not provisioned as a project within 1 hour.",
    ),
    ExceptionAgeRuleSpec(
        name="exception_aged",
        kind="exception_age",
        older_than=timedelta(days=2),
        description="A business exception has been open for more than 2 days.",
    ),
    EscalationRuleSpec(
        name="exception_escalated",
        kind="escalation",
        description="A business exception passed its queue's SLA and went to the queue's "
        "escalation owner.",
    ),
    ConnectionAuthRuleSpec(
        name="connection_auth_failing",
        kind="connection_auth",
        severity="critical",
        description="A connection's credentials are refused (401/403).",
    ),
)
"""Rules in force unless ``accord.yaml`` replaces or disables them by name."""


class WebhookSpec(BaseModel):
    """Where notifications go, HMAC-signed like inbound webhooks are verified."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    url: str
    secret: SecretStr | None = None
    """Signs ``X-Accord-Signature: sha256=<hmac(timestamp + "." + body)>``."""
    timeout_s: float = Field(default=5.0, gt=0)
    max_attempts: int = Field(default=8, ge=1)
    backoff_s: float = Field(default=10.0, ge=0)
    """First retry delay; doubled per failed attempt, capped at 10 minutes."""

    @field_validator("url")
    @classmethod
    def _http(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://")
        return value


class AlertsConfig(BaseModel):
    """The ``alerts:`` section of ``accord.yaml``."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    enabled: bool = True
    interval_s: float = Field(default=30.0, gt=0)
    """How often rules are evaluated."""
    webhook: WebhookSpec | None = None
    rules: list[AlertRuleSpec] = Field(default_factory=list)
    """Added to (or replacing by name) :data:`DEFAULT_RULES`."""

    def effective_rules(self) -> list[Rule]:
        """Defaults overlaid with the configured rules, enabled ones only."""
        by_name = {r.name: r for r in DEFAULT_RULES}
        for rule in self.rules:
            by_name[rule.name] = rule
        return [r for r in by_name.values() if r.enabled]


def load_alerts_config(path: Path | None, env: Mapping[str, str]) -> AlertsConfig:
    """Read the ``alerts:`` section (defaults when the file or section is missing).

    Raises:
        ConfigError: The section is invalid or a reference cannot be resolved.
    """
    if path is None or not path.exists():
        return AlertsConfig()
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"cannot read alerts from {path}") from exc
    section = document.get("alerts") if isinstance(document, Mapping) else None
    if section is None:
        return AlertsConfig()
    resolved = resolve_references(section, env=env, base_dir=path.parent, where="alerts")
    try:
        return AlertsConfig.model_validate(resolved)
    except ValidationError as exc:
        raise ConfigError(f"{path}: invalid 'alerts' section: {exc}") from exc
