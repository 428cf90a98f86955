"""Change capture of delivery: the PSA's delivery feeds and each ERP's projects and vendor bills.

Polled pairs (registered by :func:`enable_delivery_capture` when ``delivery.capture_interval_s``
is set), each starting at the present the first time:

- the PSA's delivery feeds (:meth:`~accord.connectors.roles.Psa.delivery_feeds`): a project's
  state, tasks, people on the project and its tasks, approved vendor expenses;
- each ERP's changed projects (:meth:`~accord.connectors.roles.Erp.project_states`) and vendor
  bills (:meth:`~accord.connectors.roles.Erp.vendor_bills`); an ERP whose vendor-bill feed
  refuses to be built (``UnsupportedOperationError``: Dynamics 365 Finance) is polled for its
  projects only, with the reason logged once per start.

What is mapped:

- a project's state -> ``project.status_changed`` when its status differs from what the same
  system last reported, ``project.fields_changed`` with the firm-specific fields whose value
  differs from what it last reported (:mod:`.state`);
- a task -> ``task.upserted``; an assignment -> ``assignment.upserted``;
- an approved vendor expense -> ``vendor_expense.approved`` (one event per expense, however
  often the approval is read again);
- an ERP vendor bill -> ``vendor_bill.posted`` (one per bill: its payment later is no new bill).

A record Accord cannot place never becomes a half-empty event: an exception names what is
missing (``project.unmappable`` for delivery-ops, ``billing.unmappable`` for a vendor bill,
finance-ops), refreshed when read again and resolved once it maps.

At start, the rules' firm-specific fields are checked against the PSA's and each ERP's
metadata (:meth:`~accord.connectors.roles.Psa.project_field_problems`): a field a system cannot
carry opens a ``mapping.custom_field`` exception (integration) until it can.
"""

import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Final, TypeVar

from accord.connectors.roles import ChangeFeed, DeliveryRecord, Mapped, ProjectState
from accord.domain import (
    Assignment,
    Expense,
    ProjectFieldsChange,
    ProjectStatusChange,
    ProjectTask,
    VendorBill,
)
from accord.errors import ConfigError, ConnectorError, UnsupportedOperationError
from accord.flows import stepkit
from accord.flows.capture import CaptureSpec, canonical_event
from accord.flows.connections import Connections
from accord.flows.delivery.settings import delivery_settings
from accord.flows.delivery.state import changed_fields, known_fields, known_status
from accord.flows.shared.feeds import ConnectionIds, Registrations, feed_spec
from accord.flows.shared.finance import open_exception, resolve_exceptions
from accord.flows.shared.settings import flow_settings, rules_for
from accord.store.journal import NewEvent

__all__ = [
    "FLOW",
    "OVERLAP",
    "check_custom_fields",
    "delivery_specs",
    "enable_delivery_capture",
    "state_events",
]

logger = logging.getLogger(__name__)

FLOW: Final = "delivery"
"""The flow's name (package, metrics label, exceptions)."""
OVERLAP: Final = timedelta(seconds=30)
"""How far behind the newest change each sweep re-reads."""

T = TypeVar("T")

_registered = Registrations()


def _placed(connection: str, code: str, mapped: Mapped[T] | None) -> T | None:
    """The record's canonical value; ``None`` and an exception when it cannot be placed."""
    if mapped is None:
        return None
    key = f"{FLOW}:{connection}:{mapped.kind}:{mapped.record_id}:unmappable"
    business_key = f"{mapped.kind}:{mapped.canonical_id}"
    if mapped.value is None:
        missing = dict(sorted(mapped.missing.items()))
        open_exception(
            code=code,
            title=f"{mapped.kind} {mapped.label} on {connection} cannot be placed: "
            + "; ".join(f"{k} {v}" for k, v in missing.items()),
            detail={
                "connection": connection,
                "kind": mapped.kind,
                "record_id": mapped.record_id,
                "missing": missing,
                "context": {k: str(v) for k, v in mapped.context.items()},
            },
            business_key=business_key,
            dedupe_key=key,
            flow=FLOW,
        )
        return None
    resolve_exceptions(key, f"the {mapped.kind} maps now", business_key=business_key)
    return mapped.value


def state_events(state: ProjectState, connection: str) -> list[NewEvent]:
    """A project's status and field changes against what Accord last knew (module docstring)."""
    events: list[NewEvent] = []
    at = state.changed_at or datetime.now(UTC)
    last = known_status(state.project_id, connection)
    if state.status is not last:
        change = ProjectStatusChange(
            project_id=state.project_id,
            previous_status=last,
            status=state.status,
            changed_at=at,
            reason=f"{state.label} is {state.status.value} in {connection}",
        )
        events.append(canonical_event("project.status_changed", change))
    changed = changed_fields(state.fields, known_fields(state.project_id, connection))
    if changed:
        fields = ProjectFieldsChange(project_id=state.project_id, fields=changed, changed_at=at)
        events.append(canonical_event("project.fields_changed", fields))
    return events


def _vendor_expense(expense: Expense, key: str | None) -> NewEvent:
    # One approval, one event: the key is the approval's, re-reads of it repeat it.
    event_id = f"{key}#{expense.id}" if key else ""
    return canonical_event("vendor_expense.approved", expense, event_id=event_id)


def _psa_events(connection: str) -> Callable[[Mapped[DeliveryRecord] | None], list[NewEvent]]:
    def to_events(mapped: Mapped[DeliveryRecord] | None) -> list[NewEvent]:
        value = _placed(connection, "project.unmappable", mapped)
        key = mapped.key if mapped is not None else None
        match value:
            case ProjectState():
                return state_events(value, connection)
            case ProjectTask():
                return [canonical_event("task.upserted", value)]
            case Assignment():
                return [canonical_event("assignment.upserted", value)]
            case Expense():
                return [_vendor_expense(value, key)]
            case tuple():
                return [_vendor_expense(expense, key) for expense in value]
        return []

    return to_events


def _erp_state_events(connection: str) -> Callable[[Mapped[ProjectState] | None], list[NewEvent]]:
    def to_events(mapped: Mapped[ProjectState] | None) -> list[NewEvent]:
        state = _placed(connection, "project.unmappable", mapped)
        return state_events(state, connection) if state is not None else []

    return to_events


def _bill_events(connection: str) -> Callable[[Mapped[VendorBill] | None], list[NewEvent]]:
    def to_events(mapped: Mapped[VendorBill] | None) -> list[NewEvent]:
        bill = _placed(connection, "billing.unmappable", mapped)
        if bill is None:
            return []
        return [canonical_event("vendor_bill.posted", bill, event_id=f"{bill.id}@posted")]

    return to_events


def _psa_feed(connection: str, name: str) -> ChangeFeed[Mapped[DeliveryRecord] | None]:
    feeds = stepkit.psa(connection).delivery_feeds(ConnectionIds(connection))
    found = next((f for f in feeds if f.name == name), None)
    if found is None:
        msg = f"delivery capture: {connection} has no feed {name} any more"
        raise ConfigError(msg)
    return found


def _named_psa_feed(psa: str, name: str) -> Callable[[], ChangeFeed[Mapped[DeliveryRecord] | None]]:
    return lambda: _psa_feed(psa, name)


def _states_feed(erp: str) -> Callable[[], ChangeFeed[Mapped[ProjectState] | None]]:
    return lambda: stepkit.erp(erp).project_states(ConnectionIds(erp))


def _bills_feed(erp: str) -> Callable[[], ChangeFeed[Mapped[VendorBill] | None]]:
    return lambda: stepkit.erp(erp).vendor_bills(ConnectionIds(erp))


def delivery_specs(psa: str | None, erps: list[str], *, interval: timedelta) -> list[CaptureSpec]:
    """The capture pairs of the PSA connection ``psa`` and the ERP connections ``erps``.

    Raises:
        UnsupportedOperationError: A connection does not play its role.
    """
    specs: list[CaptureSpec] = []
    if psa is not None:
        feeds = stepkit.psa(psa).delivery_feeds(ConnectionIds(psa))
        specs.extend(
            feed_spec(psa, f.name, _named_psa_feed(psa, f.name), _psa_events(psa),
                      interval=interval, overlap=OVERLAP)
            for f in feeds
        )  # fmt: skip
    for erp in erps:
        states = _states_feed(erp)
        specs.append(
            feed_spec(erp, states().name, states, _erp_state_events(erp),
                      interval=interval, overlap=OVERLAP)
        )  # fmt: skip
        bills = _bills_feed(erp)
        try:
            name = bills().name
        except UnsupportedOperationError as exc:
            # An ERP that plays its role but has no vendor-bill feed yet (Dynamics 365
            # Finance): its projects are still polled; the reason is logged once per start.
            logger.warning("delivery capture leaves out vendor bills of %s: %s", erp, exc)
            continue
        specs.append(
            feed_spec(erp, name, bills, _bill_events(erp), interval=interval, overlap=OVERLAP)
        )
    return specs


def check_custom_fields(psa: str | None, erps: list[str]) -> dict[str, dict[str, str]]:
    """Check the rules' firm-specific fields against each system; returns the problems found.

    Each problem opens (or refreshes) a ``mapping.custom_field`` exception; a field that has
    become fine resolves its exception. A system that cannot be reached is skipped (logged).
    """
    names = list(stepkit.rules().spec.custom_fields.project)
    found: dict[str, dict[str, str]] = {}
    roles: list[tuple[str, Callable[[], dict[str, str]]]] = []
    if psa is not None:
        roles.append((psa, stepkit.psa(psa).project_field_problems))
    roles += [(erp, stepkit.erp(erp).project_field_problems) for erp in erps]
    for connection, problems_of in roles:
        try:
            problems = problems_of()
        except ConnectorError as exc:
            logger.warning("custom fields not checked on %s: %s", connection, exc)
            continue
        found[connection] = problems
        for name in names:
            key = f"{FLOW}:{connection}:custom_field:{name}"
            business_key = f"custom_field:{name}"
            if name not in problems:
                resolve_exceptions(key, "the field exists now", business_key=business_key)
                continue
            open_exception(
                code="mapping.custom_field",
                title=f"custom field {name} cannot be kept in step on {connection}: "
                f"{problems[name]}",
                detail={"connection": connection, "field": name, "problem": problems[name]},
                business_key=business_key,
                dedupe_key=key,
                flow=FLOW,
            )
            logger.warning("custom field %s on %s: %s", name, connection, problems[name])
    return found


def _erp_connections(config_file: Path | None, listed: tuple[str, ...] | None) -> list[str]:
    if listed is not None:
        return list(listed)
    entities = rules_for(flow_settings(config_file)).spec.legal_entities.values()
    return sorted({entity.connection for entity in entities})


def enable_delivery_capture(connections: Connections, config_file: Path | None) -> bool:
    """Register the delivery pairs when ``delivery.capture_interval_s`` is set.

    Called by ``Services.start`` before capture schedules are applied; returns whether it
    registered anything. The custom fields are checked here, once per start.
    """
    _registered.clear()
    try:
        settings = delivery_settings(config_file)
        if settings.capture_interval_s <= 0:
            return False
        flow = flow_settings(config_file)
        _, psa = flow.psa(rules_for(flow))
        names = set(connections.names())
        erps = [e for e in _erp_connections(config_file, settings.erp_connections) if e in names]
    except ConfigError:
        logger.exception("delivery capture not enabled: accord.yaml is invalid")
        return False
    interval = timedelta(seconds=settings.capture_interval_s)
    try:
        specs = delivery_specs(psa if psa in names else None, erps, interval=interval)
    except UnsupportedOperationError:
        logger.warning("delivery capture not enabled: a connection does not play its role")
        return False
    for spec in specs:
        _registered.register(spec, from_now=True)
    check_custom_fields(psa if psa in names else None, erps)
    return bool(_registered)
