"""Business Central webhook subscriptions: validation handshake, expiry and notifications.

Follows reference 5.5: ``POST api/v2.0/subscriptions`` with ``notificationUrl``,
``resource`` and ``clientState``; BC calls ``notificationUrl?validationToken=...`` and
requires the token echoed as text with 200 before it answers 201; subscriptions expire
after three days and are renewed by PATCH with ``If-Match`` (the handshake repeats).
Notifications are POSTed in background tasks so a write never waits for a subscriber.

Routes live in :mod:`accord_sandbox.business_central.routes`; this module only holds state
and outbound HTTP.
"""

import asyncio
import logging
import re
import secrets
import uuid
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta
from typing import Any

import httpx

from accord_sandbox.business_central.errors import BCError
from accord_sandbox.common import RecordStore

__all__ = ["SUBSCRIPTION_LIFETIME", "WebhookHub"]

logger = logging.getLogger(__name__)

SUBSCRIPTION_LIFETIME = timedelta(days=3)
"""How long a subscription lives before it must be renewed (reference 5.5)."""
HANDSHAKE_TIMEOUT_S = 5.0
"""The subscriber must echo the validation token within this many seconds."""
OBJ = "subscriptions"

_RESOURCE = re.compile(
    r"^(?:https?://[^/]+)?/?(?:v2\.0/[^/]+/[^/]+/)?(?:api/v2\.0/)?"
    r"companies\((?P<company>[^)]+)\)/(?P<set>[A-Za-z]+)/?$"
)

Record = dict[str, Any]


def iso(moment: datetime) -> str:
    """BC's timestamp format: UTC, milliseconds, ``Z``."""
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


class WebhookHub:
    """Subscriptions (kept in the emulator's record store) and notification delivery."""

    def __init__(
        self,
        store: RecordStore,
        *,
        clock: Callable[[], datetime],
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.store = store
        self.clock = clock
        self.transport = transport
        self.delivered = 0
        self.failed = 0
        self._tasks: set[asyncio.Task[None]] = set()

    # ----------------------------------------------------------------- subscriptions
    @staticmethod
    def parse_resource(resource: str) -> tuple[str, str]:
        """``(company id, entity set)`` named by a subscription's ``resource``.

        Accepts the forms seen in practice: ``companies(id)/customers``,
        ``/api/v2.0/companies(id)/customers`` and a full URL.

        Raises:
            BCError: when the resource is not a company-scoped collection.
        """
        match = _RESOURCE.match(resource.strip())
        if match is None:
            # Wording [inferred]: the reference gives no text for this refusal.
            raise BCError(400, "BadRequest", f"The resource '{resource}' is not valid.")
        return match["company"].strip("'").lower(), match["set"]

    async def handshake(self, url: str) -> bool:
        """Call ``url?validationToken=...`` and check the token comes back with 200.

        The verb is POST [inferred: the reference names only the query parameter; Microsoft
        Graph, which BC's webhooks mirror, POSTs].
        """
        token = secrets.token_urlsafe(24)
        try:
            async with httpx.AsyncClient(
                transport=self.transport, timeout=HANDSHAKE_TIMEOUT_S
            ) as client:
                response = await client.post(url, params={"validationToken": token})
        except httpx.HTTPError as exc:
            logger.info("webhook handshake with %s failed: %s", url, type(exc).__name__)
            return False
        echoed = response.text.strip().strip('"')
        return response.status_code == 200 and echoed == token

    async def create(self, body: Record, *, company_ids: Iterable[str], user_id: str) -> Record:
        """Validate, handshake and store a new subscription.

        Raises:
            BCError: on a missing field, an unknown resource or a failed handshake.
        """
        url, resource, state = self._fields(body, company_ids)
        if not await self.handshake(url):
            raise _handshake_failed(url)
        now = self.clock()
        sub_id = uuid.uuid4().hex  # BC's subscriptionId is a 32-hex string
        record: Record = {
            "subscriptionId": sub_id,
            "notificationUrl": url,
            "resource": resource,
            "userId": user_id,
            "lastModifiedDateTime": iso(now),
            "clientState": state,
            "expirationDateTime": iso(now + SUBSCRIPTION_LIFETIME),
            "systemCreatedAt": iso(now),
            "systemCreatedBy": user_id,
            "systemModifiedAt": iso(now),
            "systemModifiedBy": user_id,
        }
        self.store.put(OBJ, sub_id, record)
        return record

    async def renew(self, record: Record, body: Record, *, company_ids: Iterable[str]) -> Record:
        """Apply a PATCH: optional new URL/state, a repeated handshake, a fresh expiry.

        Raises:
            BCError: on an invalid field or a failed handshake.
        """
        merged = {**record, **{k: v for k, v in body.items() if not k.startswith("@")}}
        url, resource, state = self._fields(merged, company_ids)
        if not await self.handshake(url):
            raise _handshake_failed(url)
        now = self.clock()
        updated = {
            **record,
            "notificationUrl": url,
            "resource": resource,
            "clientState": state,
            "lastModifiedDateTime": iso(now),
            "systemModifiedAt": iso(now),
            "expirationDateTime": iso(now + SUBSCRIPTION_LIFETIME),
        }
        self.store.put(OBJ, record["subscriptionId"], updated)
        return updated

    def _fields(self, body: Record, company_ids: Iterable[str]) -> tuple[str, str, str]:
        url, resource, state = (body.get(k) for k in ("notificationUrl", "resource", "clientState"))
        if not isinstance(url, str) or not url.startswith(("http://", "https://")):
            raise BCError(400, "BadRequest", "The notificationUrl must be an absolute http(s) URL.")
        if not isinstance(resource, str):
            raise BCError(400, "BadRequest", "The resource field is required.")
        state = "" if state is None else state
        if not isinstance(state, str) or len(state) > 2048:
            raise BCError(400, "BadRequest", "The clientState must be text of at most 2048 chars.")
        company, _ = self.parse_resource(resource)
        if company not in {c.lower() for c in company_ids}:
            raise BCError(404, "BadRequest_NotFound", f"The company '{company}' does not exist.")
        return url, resource, state

    # ----------------------------------------------------------------- notifications
    def notify(self, company_id: str, set_name: str, entity_id: str, change_type: str) -> None:
        """Schedule one notification per live subscription on ``companies(id)/set``.

        BC batches changes and may send ``collection`` instead; the sandbox sends one
        notification per change straight away, which a correct receiver handles the same way.
        """
        now = self.clock()
        resource = f"api/v2.0/companies({company_id})/{set_name}({entity_id})"
        for sub in self.store.all(OBJ):
            try:
                company, sub_set = self.parse_resource(sub["resource"])
            except BCError:
                continue
            if company != company_id.lower() or sub_set != set_name:
                continue
            if datetime.fromisoformat(sub["expirationDateTime"]) <= now:
                continue
            payload = {
                "value": [
                    {
                        "subscriptionId": sub["subscriptionId"],
                        "clientState": sub["clientState"],
                        "expirationDateTime": sub["expirationDateTime"],
                        "resource": resource,
                        "changeType": change_type,
                        "lastModifiedDateTime": iso(now),
                    }
                ]
            }
            task = asyncio.get_running_loop().create_task(
                self._deliver(sub["notificationUrl"], payload)
            )
            # The loop keeps only weak references to tasks; hold one until it finishes.
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _deliver(self, url: str, payload: Record) -> None:
        try:
            async with httpx.AsyncClient(transport=self.transport, timeout=10.0) as client:
                response = await client.post(url, json=payload)
        except httpx.HTTPError as exc:
            self.failed += 1
            logger.info("webhook delivery to %s failed: %s", url, type(exc).__name__)
            return
        if response.is_success:
            self.delivered += 1
        else:
            self.failed += 1

    async def drain(self) -> None:
        """Wait for every notification scheduled so far (tests and shutdown)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)


def _handshake_failed(url: str) -> BCError:
    # Status and wording [inferred]: the reference says only that the token must be echoed.
    return BCError(
        400,
        "BadRequest",
        f"The subscription was not created: the notification URL '{url}' did not return "
        "the validationToken with status 200 in time.",
    )
