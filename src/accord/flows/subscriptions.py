"""Business Central webhook subscriptions kept alive on a schedule (``subscriptions:``).

BC subscriptions expire after three days, and BC drops those whose endpoint stops answering;
without upkeep, change notifications stop silently and Accord falls back to polling alone. When
``accord.yaml`` says where BC can reach Accord::

    subscriptions:
      public_url: https://accord.example.com   # BC posts to {public_url}/hooks/{connection}
      check_interval_s: 3600                   # how often to check (default: hourly)
      renew_within_h: 24                       # renew what expires sooner (default: 24)
      connections:                             # optional: entity sets per connection
        business-central: [customers, salesInvoices]

a DBOS schedule runs :func:`keep_subscriptions` every ``check_interval_s``, and once at start:
for every connection whose system notifies through subscriptions (its connector's
``webhook_scheme`` is ``subscription``: Business Central) and that has a webhook secret
(``webhooks:``), it subscribes the connection to the entity sets listed, by default the ones
Accord captures from it, renews what expires within ``renew_within_h`` and re-creates what was
lost (``Connector.keep_subscriptions``). Each connection is one step: an unreachable
environment is retried, and the others are not held up.

What does *not* belong here: receiving notifications (:mod:`accord.api.hooks`) and the
subscription calls (the Business Central connector).
"""

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Final

from dbos import DBOS, SetWorkflowID

from accord.connectors.registry import connector_class
from accord.errors import ConfigError, is_retryable
from accord.flows.capture import capture_specs
from accord.flows.config_sections import PerFileCache, read_section
from accord.flows.connections import CONTEXT_KEY, Connections
from accord.flows.context import flow_context

__all__ = [
    "SCHEDULE",
    "SECTION",
    "SubscriptionSettings",
    "enable_subscription_upkeep",
    "keep_subscriptions",
    "load_subscription_settings",
    "subscriptions_tick",
]

logger = logging.getLogger(__name__)

SECTION: Final = "subscriptions"
"""The top-level key of ``accord.yaml`` this module reads."""
SCHEDULE: Final = "business_central:subscriptions"
"""Name of the DBOS schedule that checks the subscriptions."""


@dataclass(frozen=True)
class SubscriptionSettings:
    """The ``subscriptions:`` section, resolved; ``public_url`` empty means off."""

    public_url: str = ""
    check_interval_s: int = 3600
    renew_within: timedelta = timedelta(hours=24)
    connections: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    """Entity sets per connection; a connection not named subscribes to what is captured."""


def load_subscription_settings(config_file: Path | None) -> SubscriptionSettings:
    """Read the section (a missing file or section: upkeep off).

    Raises:
        ConfigError: A key is malformed.
    """
    raw = read_section(config_file, SECTION)
    if raw is None:
        return SubscriptionSettings()
    where = f"{config_file}: {SECTION}"
    url = str(raw.get("public_url") or "").rstrip("/")
    if url and not url.startswith(("https://", "http://")):
        raise ConfigError(f"{where}.public_url must be an http(s) URL")
    interval, renew = raw.get("check_interval_s", 3600), raw.get("renew_within_h", 24)
    # A minute at least (the cron step), and a check well inside the three-day lifetime.
    if not isinstance(interval, int) or not 60 <= interval <= 86_400:
        raise ConfigError(f"{where}.check_interval_s must be whole seconds from 60 to 86400")
    if not isinstance(renew, int | float) or not 1 <= renew < 72:
        raise ConfigError(f"{where}.renew_within_h must be hours from 1 to under 72")
    named = raw.get("connections") or {}
    if not isinstance(named, Mapping) or not all(
        isinstance(v, list) and all(isinstance(s, str) for s in v) for v in named.values()
    ):
        raise ConfigError(f"{where}.connections must map connection names to entity set lists")
    return SubscriptionSettings(
        public_url=url,
        check_interval_s=interval,
        renew_within=timedelta(hours=float(renew)),
        connections={str(k): tuple(v) for k, v in named.items()},
    )


_settings = PerFileCache(load_subscription_settings, reload=True)


def _targets(connections: Connections, settings: SubscriptionSettings) -> dict[str, list[str]]:
    """Connections that keep subscriptions and have a webhook secret, and the sets of each."""
    captured: dict[str, set[str]] = {}
    for spec in capture_specs():
        if spec.read is None:
            captured.setdefault(spec.connection, set()).add(spec.resource)
    targets: dict[str, list[str]] = {}
    for name in connections.names():
        if not _subscribes(connections, name) or connections.webhook_secret(name) is None:
            continue
        sets = settings.connections.get(name, tuple(captured.get(name, ())))
        targets[name] = sorted(sets)
    return targets


def _subscribes(connections: Connections, name: str) -> bool:
    """Whether the connection's system notifies through subscriptions Accord must keep."""
    return connector_class(connections.config(name).kind).webhook_scheme == "subscription"


@DBOS.step(
    name="subscriptions.keep",
    retries_allowed=True,
    max_attempts=4,
    interval_seconds=30.0,
    should_retry=is_retryable,
)
def keep_subscriptions(connection: str) -> dict[str, Any]:
    """One connection's pass: create, renew, re-create or delete; returns what it did."""
    ctx = flow_context()
    settings = _settings(ctx.settings.config_file)
    connections: Connections = ctx.extras[CONTEXT_KEY]
    sets = _targets(connections, settings).get(connection, [])
    connector = connections.connector(connection)
    secret = connections.webhook_secret(connection)
    if not settings.public_url or secret is None or connector.webhook_scheme != "subscription":
        return {"connection": connection, "skipped": True}
    report = connector.keep_subscriptions(
        notification_url=f"{settings.public_url}/hooks/{connection}",
        entity_sets=sets,
        client_state=secret,
        now=datetime.now(UTC),
        renew_within=settings.renew_within,
    )
    changed = {k: v for k, v in report.as_dict().items() if v and k != "kept"}
    if changed:
        logger.info("subscriptions of %s: %s", connection, changed)
    return {"connection": connection, **report.as_dict()}


@DBOS.workflow(name="subscriptions.tick")
def subscriptions_tick(scheduled_at: datetime, context: Any) -> None:  # noqa: ANN401 - DBOS's context
    """A schedule's tick (or the pass at start): every connection's upkeep, one step each."""
    del scheduled_at, context
    ctx = flow_context()
    connections: Connections = ctx.extras[CONTEXT_KEY]
    settings = _settings(ctx.settings.config_file)
    for name in _targets(connections, settings):
        try:
            keep_subscriptions(name)
        except Exception as exc:  # noqa: BLE001 - one environment down must not stop the others
            # The step's output (and its error) is in the run's history; the next tick retries.
            logger.warning("subscriptions of %s not kept: %s", name, type(exc).__name__)


def enable_subscription_upkeep(connections: Connections, config_file: Path | None) -> bool:
    """Schedule the upkeep (its registry spec's switch, at start) and run one pass now."""
    try:
        settings = _settings(config_file)
    except ConfigError:
        logger.exception("subscription upkeep not enabled: accord.yaml is invalid")
        settings = SubscriptionSettings()
    if not settings.public_url or not _targets(connections, settings):
        for existing in DBOS.list_schedules(schedule_name_prefix=SCHEDULE):
            DBOS.delete_schedule(existing["schedule_name"])
        return False
    minutes = max(1, settings.check_interval_s // 60)
    cron = f"0 */{minutes} * * * *" if minutes < 60 else f"0 0 */{max(1, minutes // 60)} * * *"
    DBOS.apply_schedules(
        [{"schedule_name": SCHEDULE, "workflow_fn": subscriptions_tick, "schedule": cron}]
    )
    # The first scheduled tick may be an hour away; a new deployment should not wait for it.
    # One id per hour: workers starting together run the pass once.
    now = datetime.now(UTC)
    with SetWorkflowID(f"{SCHEDULE}:start:{now:%Y%m%d%H}"):
        DBOS.start_workflow(subscriptions_tick, now, None)
    return True
