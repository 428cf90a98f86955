"""Inbound webhook verification, pure: no web framework, no I/O, the clock injected.

Two schemes:

* **Signed JSON** (the generic scheme, used by the sandbox's SuiteScript-like NetSuite hook and
  by partners): the sender puts a Unix timestamp in :data:`TIMESTAMP_HEADER` and
  ``sha256=<hex HMAC-SHA256 of f"{timestamp}.{body}">`` in :data:`SIGNATURE_HEADER`;
  :func:`verify_signature` checks it in constant time within a 5-minute replay window.
* **Business Central subscriptions**: the ``validationToken`` handshake is echoed
  (:func:`bc_validation_token`) and every notification's ``clientState`` must equal the secret
  given at subscription time (:func:`parse_bc_notifications`). A connector of this scheme
  keeps its subscriptions alive with ``Connector.keep_subscriptions``, which reports what one
  pass did as an :class:`UpkeepReport`.

The API layer only wires routes: it passes the raw body bytes, the headers and the connection's
secret, maps :class:`WebhookSignatureError` to 401, and journals what these functions return.
"""

import hashlib
import hmac
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

from pydantic import SecretStr

from accord.errors import AuthError

__all__ = [
    "REPLAY_WINDOW_S",
    "SIGNATURE_HEADER",
    "TIMESTAMP_HEADER",
    "BcNotification",
    "UpkeepReport",
    "WebhookSignatureError",
    "bc_validation_token",
    "parse_bc_notifications",
    "sign",
    "verify_signature",
]

TIMESTAMP_HEADER = "X-Accord-Timestamp"
"""Header carrying the sender's Unix time in seconds."""
SIGNATURE_HEADER = "X-Accord-Signature"
"""Header carrying ``sha256=<hex digest>``."""
REPLAY_WINDOW_S = 300.0
"""How far (either way) a signed timestamp may be from now: 5 minutes."""


@dataclass
class UpkeepReport:
    """What one pass over a connection's webhook subscriptions did, by entity set."""

    created: list[str] = field(default_factory=list)
    renewed: list[str] = field(default_factory=list)
    recreated: list[str] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, list[str]]:
        """A JSON-friendly copy (a step's output)."""
        return {
            "created": self.created,
            "renewed": self.renewed,
            "recreated": self.recreated,
            "deleted": self.deleted,
            "kept": self.kept,
        }


Reason = Literal["missing", "malformed", "stale", "mismatch", "replayed"]


class WebhookSignatureError(AuthError):
    """An inbound webhook failed verification; answer 401 and do not journal it.

    Attributes:
        reason: ``missing`` header, ``malformed`` value, ``stale`` timestamp (outside the
            replay window), signature ``mismatch``, or ``replayed`` (a signature already
            accepted within the window; the receiver checks that, see
            :mod:`accord.store.replays`).
    """

    default_message = "webhook signature refused"

    def __init__(self, reason: Reason, *, connector: str | None = None) -> None:
        super().__init__(
            f"webhook signature refused ({reason})", connector=connector, reason=reason
        )
        self.reason: Reason = reason


def _secret_bytes(secret: SecretStr | str | bytes) -> bytes:
    if isinstance(secret, SecretStr):
        secret = secret.get_secret_value()
    return secret.encode() if isinstance(secret, str) else secret


def sign(secret: SecretStr | str | bytes, timestamp: str, body: bytes) -> str:
    """The signature header value for ``body`` sent at ``timestamp``: ``sha256=<hex>``."""
    message = timestamp.encode("ascii") + b"." + body
    digest = hmac.new(_secret_bytes(secret), message, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


def verify_signature(
    *,
    secret: SecretStr | str | bytes,
    headers: Mapping[str, str],
    body: bytes,
    now: datetime,
    window_s: float = REPLAY_WINDOW_S,
    connector: str | None = None,
) -> None:
    """Check a signed JSON webhook; return normally when it is authentic and fresh.

    Args:
        secret: The connection's shared webhook secret.
        headers: The request headers; looked up case-insensitively.
        body: The raw request body, exactly as received (never re-serialised JSON).
        now: Current UTC time (injected).
        window_s: Accepted distance between the signed timestamp and ``now``.
        connector: Connection name, for the error.

    Raises:
        WebhookSignatureError: A header is missing or malformed, the timestamp is outside the
            window, or the signature does not match.
    """
    lowered = {k.lower(): v for k, v in headers.items()}
    timestamp = lowered.get(TIMESTAMP_HEADER.lower())
    signature = lowered.get(SIGNATURE_HEADER.lower())
    if not timestamp or not signature:
        raise WebhookSignatureError("missing", connector=connector)
    try:
        sent_at = float(timestamp)
    except ValueError:
        raise WebhookSignatureError("malformed", connector=connector) from None
    if abs(now.timestamp() - sent_at) > window_s:
        raise WebhookSignatureError("stale", connector=connector)
    expected = sign(secret, timestamp, body)
    given = signature if signature.startswith("sha256=") else f"sha256={signature}"
    if not hmac.compare_digest(expected.encode(), given.strip().lower().encode()):
        raise WebhookSignatureError("mismatch", connector=connector)


def bc_validation_token(query: Mapping[str, str]) -> str | None:
    """The ``validationToken`` to echo (as ``text/plain`` with 200), when this is a handshake.

    Business Central calls the notification URL with ``?validationToken=...`` when a
    subscription is created or renewed; any other request returns ``None``.
    """
    token = query.get("validationToken")
    return token or None


@dataclass(frozen=True, slots=True)
class BcNotification:
    """One Business Central change notification (it carries no entity data: GET it after)."""

    subscription_id: str
    resource: str
    change_type: str
    """``created``, ``updated``, ``deleted`` or ``collection`` (re-read the whole set)."""
    last_modified_at: str | None
    expires_at: str | None


def parse_bc_notifications(
    body: bytes, *, client_state: SecretStr | str, connector: str | None = None
) -> list[BcNotification]:
    """Verify and parse a Business Central notification POST.

    Every item's ``clientState`` must equal the secret given at subscription time (compared in
    constant time); one mismatch refuses the whole batch.

    Raises:
        WebhookSignatureError: The body is not a notification batch (``malformed``), or a
            ``clientState`` is missing (``missing``) or wrong (``mismatch``).
    """
    try:
        document = json.loads(body)
        items = document["value"]
    except (ValueError, KeyError, TypeError):
        raise WebhookSignatureError("malformed", connector=connector) from None
    if not isinstance(items, list):
        raise WebhookSignatureError("malformed", connector=connector)
    expected = _secret_bytes(client_state)
    out: list[BcNotification] = []
    for item in items:
        if not isinstance(item, dict):
            raise WebhookSignatureError("malformed", connector=connector)
        state = item.get("clientState")
        if not isinstance(state, str) or not state:
            raise WebhookSignatureError("missing", connector=connector)
        if not hmac.compare_digest(state.encode(), expected):
            raise WebhookSignatureError("mismatch", connector=connector)
        out.append(
            BcNotification(
                subscription_id=str(item.get("subscriptionId", "")),
                resource=str(item.get("resource", "")),
                change_type=str(item.get("changeType", "")),
                last_modified_at=_opt_str(item.get("lastModifiedDateTime")),
                expires_at=_opt_str(item.get("expirationDateTime")),
            )
        )
    return out


def _opt_str(value: object) -> str | None:
    return None if value is None else str(value)
