"""Alert delivery: signed webhook POSTs with retries, one per alert instance and transition.

A row of ``accord_alerts`` owes a ``firing`` notification until ``fired_sent_at`` is set, and
(once resolved, if the firing one went out) a ``resolved`` one until ``resolved_sent_at`` is
set. Each attempt is claimed first by moving ``next_attempt_at`` forward in a conditional
UPDATE, so two workers never send the same notification at once; a failed attempt backs off
exponentially (``backoff_s``, doubled, capped at 10 minutes) until ``max_attempts``, after
which the row keeps its ``last_error`` for the console and nothing more is sent.

The body is JSON; the headers are those inbound webhooks are verified with
(:func:`accord.connectors.webhooks.verify_signature`): ``X-Accord-Timestamp`` and
``X-Accord-Signature: sha256=<hex HMAC-SHA256 of "<timestamp>.<body>">``, plus
``X-Accord-Alert-Id: <id>:<kind>`` for receivers that deduplicate.
"""

import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import httpx
import sqlalchemy as sa

from accord.connectors.webhooks import SIGNATURE_HEADER, TIMESTAMP_HEADER, sign
from accord.observability.alerts import WebhookSpec
from accord.observability.metrics import get_metrics
from accord.store.tables import alerts
from accord.store.util import as_utc, utc_now

__all__ = ["ALERT_ID_HEADER", "Notifier"]

logger = logging.getLogger(__name__)

ALERT_ID_HEADER = "X-Accord-Alert-Id"
"""``<alert id>:<firing|resolved>``: the same value on every retry of one notification."""
_MAX_BACKOFF_S = 600.0
_CLAIM_S = 60.0
"""How long a claimed attempt is ours; longer than the webhook timeout."""

Kind = Literal["firing", "resolved"]


@dataclass(frozen=True)
class _Due:
    id: int
    kind: Kind
    attempts: int


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

    def _due(self, limit: int) -> list[_Due]:
        now = self.clock()
        retry = sa.and_(
            alerts.c.attempts < self.webhook.max_attempts, alerts.c.next_attempt_at <= now
        )
        firing = sa.and_(alerts.c.status == "firing", alerts.c.fired_sent_at.is_(None))
        resolved = sa.and_(
            alerts.c.status == "resolved",
            alerts.c.fired_sent_at.is_not(None),
            alerts.c.resolved_sent_at.is_(None),
        )
        with self.engine.connect() as conn:
            rows = conn.execute(
                sa.select(alerts.c.id, alerts.c.status, alerts.c.attempts)
                .where(retry, sa.or_(firing, resolved))
                .order_by(alerts.c.id)
                .limit(limit)
            ).all()
        return [
            _Due(r.id, "firing" if r.status == "firing" else "resolved", r.attempts) for r in rows
        ]

    def _claim(self, due: _Due) -> bool:
        now = self.clock()
        with self.engine.begin() as conn:
            result = conn.execute(
                sa.update(alerts)
                .where(
                    alerts.c.id == due.id,
                    alerts.c.attempts == due.attempts,
                    alerts.c.next_attempt_at <= now,
                )
                .values(next_attempt_at=now + _CLAIM_S)
            )
        return result.rowcount == 1

    def deliver_due(self, *, limit: int = 100) -> int:
        """Send every notification due now; returns how many were delivered."""
        delivered = 0
        for due in self._due(limit):
            if self._claim(due) and self._send(due):
                delivered += 1
        return delivered

    def _body(self, alert_id: int, kind: Kind) -> bytes | None:
        with self.engine.connect() as conn:
            r = conn.execute(sa.select(alerts).where(alerts.c.id == alert_id)).first()
        if r is None:
            return None
        fired_at = as_utc(r.fired_at)
        resolved_at = as_utc(r.resolved_at)
        document = {
            "kind": kind,
            "alert": {
                "id": r.id,
                "rule": r.rule,
                "instance": r.instance_key,
                "severity": r.severity,
                "summary": r.summary,
                "labels": json.loads(r.labels or "{}"),
                "value": r.value,
                "fired_at": fired_at.isoformat() if fired_at else None,
                "resolved_at": resolved_at.isoformat() if resolved_at else None,
            },
        }
        return json.dumps(document, sort_keys=True).encode()

    def _send(self, due: _Due) -> bool:
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
        with self.engine.begin() as conn:
            if error is None:
                sent = "fired_sent_at" if due.kind == "firing" else "resolved_sent_at"
                conn.execute(
                    sa.update(alerts)
                    .where(alerts.c.id == due.id)
                    .values(
                        {sent: utc_now(), "attempts": 0, "next_attempt_at": 0, "last_error": None}
                    )
                )
            else:
                attempts = due.attempts + 1
                delay = min(self.webhook.backoff_s * 2 ** (attempts - 1), _MAX_BACKOFF_S)
                conn.execute(
                    sa.update(alerts)
                    .where(alerts.c.id == due.id)
                    .values(
                        attempts=attempts,
                        next_attempt_at=self.clock() + delay,
                        last_error=f"{due.kind} notification: {error}"[:512],
                    )
                )
                if attempts >= self.webhook.max_attempts:
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
