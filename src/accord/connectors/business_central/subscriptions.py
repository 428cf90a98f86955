"""Keeping Business Central webhook subscriptions alive: one reconciliation pass.

BC subscriptions expire after three days and must be renewed (``PATCH``, which repeats the
validation handshake); one that expired, or that BC dropped, must be created again (reference
5.5). :func:`keep_alive` compares what BC lists with what is wanted, for one connection and
notification URL, and makes the few calls that close the gap:

* a wanted entity set without a live subscription gets one (created, or re-created when the
  one listed has expired);
* a subscription expiring within ``renew_within`` is renewed; one BC no longer knows when
  renewed (404) is created again;
* a subscription to this notification URL for a set no longer wanted is deleted.

Subscriptions to other URLs (another Accord, another application) are left alone. Running a
pass twice in a row changes nothing the second time.
"""

import re
from collections.abc import Iterable
from datetime import datetime, timedelta

from pydantic import SecretStr

from accord.connectors.business_central.connector import BusinessCentralConnector, _parse_time
from accord.connectors.types import RawRecord
from accord.connectors.webhooks import UpkeepReport
from accord.errors import NotFoundError

__all__ = ["DEFAULT_RENEW_WITHIN", "UpkeepReport", "keep_alive"]

DEFAULT_RENEW_WITHIN = timedelta(hours=24)
"""Renew a subscription when it expires within this (they live three days)."""
_TARGET = re.compile(r"companies\((?P<company>[^)]+)\)/(?P<set>[A-Za-z]+)/?$")


def _target(sub: RawRecord) -> tuple[str, str] | None:
    match = _TARGET.search(str(sub.get("resource") or ""))
    if match is None:
        return None
    return match["company"].strip("'").lower(), match["set"]


def keep_alive(
    connector: BusinessCentralConnector,
    *,
    notification_url: str,
    entity_sets: Iterable[str],
    client_state: SecretStr,
    now: datetime,
    renew_within: timedelta = DEFAULT_RENEW_WITHIN,
) -> UpkeepReport:
    """One pass over this connection's subscriptions to ``notification_url``.

    Args:
        connector: The connection (its default company is the one subscribed to).
        notification_url: Where BC posts notifications (``https://<accord>/hooks/<name>``).
        entity_sets: The sets that must have a live subscription.
        client_state: The connection's webhook secret (BC echoes it in every notification).
        now: The current time (UTC).
        renew_within: Renew what expires sooner than this.

    Raises:
        ConnectorError: A call failed; the pass can simply be run again.
    """
    report = UpkeepReport()
    wanted = set(entity_sets)
    ours: dict[str, RawRecord] = {}
    for sub in connector.list_subscriptions():
        target = _target(sub)
        if sub.get("notificationUrl") != notification_url or target is None:
            continue
        company, entity_set = target
        if company != connector.company_id or entity_set not in wanted or entity_set in ours:
            # Not wanted any more, or a duplicate of one already kept.
            connector.delete_subscription(str(sub["subscriptionId"]), etag=sub.get("@odata.etag"))
            report.deleted.append(entity_set)
            continue
        ours[entity_set] = sub
    for entity_set in sorted(wanted):
        found = ours.get(entity_set)
        expires = _parse_time(found.get("expirationDateTime")) if found is not None else None
        if found is None:
            connector.create_subscription(
                notification_url=notification_url, resource=entity_set, client_state=client_state
            )
            report.created.append(entity_set)
        elif expires is None or expires <= now:
            connector.delete_subscription(
                str(found["subscriptionId"]), etag=found.get("@odata.etag")
            )
            connector.create_subscription(
                notification_url=notification_url, resource=entity_set, client_state=client_state
            )
            report.recreated.append(entity_set)
        elif expires - now <= renew_within:
            try:
                connector.renew_subscription(
                    str(found["subscriptionId"]), etag=found.get("@odata.etag")
                )
                report.renewed.append(entity_set)
            except NotFoundError:
                # Dropped between the list and the renewal: subscribe again.
                connector.create_subscription(
                    notification_url=notification_url,
                    resource=entity_set,
                    client_state=client_state,
                )
                report.recreated.append(entity_set)
        else:
            report.kept.append(entity_set)
    return report
