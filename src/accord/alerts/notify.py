"""Alert delivery: signed webhook POSTs with retries, one per alert instance and transition.

What a row of the alerts table owes is :mod:`accord.store.alerts`'s business. Each attempt is
claimed first (:func:`~accord.store.alerts.claim_notification` moves ``next_attempt_at``
forward in a conditional UPDATE), so two workers never send the same notification at once; a
failed attempt backs off exponentially (``backoff_s``, doubled, capped at 10 minutes) until
``max_attempts``, after which the row keeps its ``last_error`` for the console and nothing
more is sent.

The body is JSON; the headers are those inbound webhooks are verified with
(:func:`accord.connectors.webhooks.verify_signature`): ``X-Accord-Timestamp`` and
``X-Accord-Signature: sha256=<hex HMAC-SHA256 of "<timestamp>.<body>">``, plus
``X-Accord-Alert-Id: <id>:<kind>`` for receivers that deduplicate.
"""

import json
import logging
import time
from collections.abc import Callable

import httpx
import sqlalchemy as sa

from accord.alerts.config import WebhookSpec
from accord.connectors.webhooks import SIGNATURE_HEADER, TIMESTAMP_HEADER, sign
from accord.observability.metrics import get_metrics
from accord.store import alerts as alerts_repo
from accord.store.alerts import AlertKind, AlertState

__all__ = ["ALERT_ID_HEADER", "Notifier"]

logger = logging.getLogger(__name__)

ALERT_ID_HEADER = "X-Accord-Alert-Id"
"""``<alert id>:<firing|resolved>``: the same value on every retry of one notification."""
_MAX_BACKOFF_S = 600.0
_CLAIM_S = 60.0
"""How long a claimed attempt is ours; longer than the webhook timeout."""


class Notifier:
    """Sends what the alerts table owes to one webhook.

    Args:
        engine: The database holding ``accord_alerts``.
        webhook: Where to send; its secret signs every body.
        transport: HTTP transport (tests); the real network when None.
        clock: Unix time, for claims and backoff.
    """

    def __init__(
        self,
        engine: sa.Engine,
        webhook: WebhookSpec,
        *,
        transport: httpx.BaseTransport | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.engine = engine
        self.webhook = webhook
        self.clock = clock
        self.client = httpx.Client(
            timeout=webhook.timeout_s, transport=transport, follow_redirects=False
        )

    def close(self) -> None:
        """Close the HTTP client."""
        self.client.close()

    def _due(self, limit: int) -> list[AlertState]:
        with self.engine.connect() as conn:
            return alerts_repo.notifications_due(
                conn, now=self.clock(), max_attempts=self.webhook.max_attempts, limit=limit
            )

    def _claim(self, due: AlertState) -> bool:
        now = self.clock()
        with self.engine.begin() as conn:
            return alerts_repo.claim_notification(conn, due, now=now, until=now + _CLAIM_S)

    def deliver_due(self, *, limit: int = 100) -> int:
        """Send every notification due now; returns how many were delivered."""
        delivered = 0
        for due in self._due(limit):
            if self._claim(due) and self._send(due):
                delivered += 1
        return delivered

    def _body(self, alert_id: int, kind: AlertKind) -> bytes | None:
        with self.engine.connect() as conn:
            alert = alerts_repo.get(conn, id=alert_id)
        if alert is None:
            return None
        document = {
            "kind": kind,
            "alert": {
                "id": alert.id,
                "rule": alert.rule,
                "instance": alert.instance_key,
                "severity": alert.severity,
                "summary": alert.summary,
                "labels": alert.labels,
                "value": alert.value,
                "fired_at": alert.fired_at.isoformat(),
                "resolved_at": alert.resolved_at.isoformat() if alert.resolved_at else None,
            },
        }
        return json.dumps(document, sort_keys=True).encode()

    def _send(self, due: AlertState) -> bool:
        body = self._body(due.id, due.kind)
        if body is None:
            return False
        rule = json.loads(body)["alert"]["rule"]
        timestamp = str(int(self.clock()))
        headers = {
            "Content-Type": "application/json",
            TIMESTAMP_HEADER: timestamp,
            ALERT_ID_HEADER: f"{due.id}:{due.kind}",
        }
        if self.webhook.secret is not None:
            headers[SIGNATURE_HEADER] = sign(self.webhook.secret, timestamp, body)
        error: str | None = None
        try:
            response = self.client.post(self.webhook.url, content=body, headers=headers)
            if not response.is_success:
                error = f"HTTP {response.status_code}"
        except httpx.HTTPError as exc:
            error = f"{type(exc).__name__}"
        metrics = get_metrics()
        attempts = due.attempts + 1
        delay = min(self.webhook.backoff_s * 2 ** (attempts - 1), _MAX_BACKOFF_S)
        with self.engine.begin() as conn:
            alerts_repo.record_notification(
                conn, due, error=error, next_attempt_at=self.clock() + delay
            )
        if error is not None and attempts >= self.webhook.max_attempts:
            logger.warning(
                "alert %d: giving up on its %s notification after %d attempts (%s)",
                due.id,
                due.kind,
                attempts,
                error,
            )
        outcome = "delivered" if error is None else "failed"
        metrics.alert_notifications.labels(rule=rule, kind=due.kind, outcome=outcome).inc()
        return error is None
