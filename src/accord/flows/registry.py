"""The business flows: one :class:`FlowSpec` per flow package, and the tables built from them.

Each flow package declares who it is in its own ``spec.py`` (``FLOW = FlowSpec(...)``): its
name, the event types its workflow handles, the module that registers the workflow, its
change-capture enablers, its outbox handlers and its compensation declaration.
:data:`FLOW_PACKAGES` lists the packages; :data:`SERVICES` declares Accord's own scheduled
work that is no flow (it handles no event).
Everything the runtime and the services need (which workflow an event type starts, which
modules to import before DBOS launches, which capture switches to call, which outbox handlers
to start, which event types need no order) is built from these specs, here, once.

A flow's **name** is one string everywhere: its package (``accord.flows.<name>``), its DBOS
workflow, the ``flow`` label of its metrics (``accord_runs_total{flow=...}``), the ``flow`` of
the exceptions it opens and the workflow name its runs show in run lists and lineage.

Specs name modules and functions as text (``module:attribute``) and this module imports the
specs only when a table is first asked for: the flows import the runtime (capture enqueues
runs), so the runtime cannot import the flows when it is itself imported.

What does *not* belong here: how a run is enqueued (:mod:`accord.flows.runtime`), how the
process starts what the specs name (:mod:`accord.flows.services`).
"""

import functools
import importlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from accord.flows.connections import Connections
from accord.flows.shared.compensation import Saga

__all__ = [
    "DEFAULT_WORKFLOW",
    "FLOW_PACKAGES",
    "SERVICES",
    "FlowSpec",
    "capture_enablers",
    "check",
    "compensations",
    "enable_captures",
    "flows",
    "modules",
    "order_free",
    "outbox_handlers",
    "resolve",
    "services",
    "workflow_for",
    "workflows",
]

FLOW_PACKAGES: tuple[str, ...] = (
    "lead_to_project",
    "contract_change",
    "time_to_bill",
    "cash",
    "bill_milestone",
    "approvals",
    "customer_master",
    "delivery",
    "reconciliation",
    "migration",
)
"""The flow packages under ``accord.flows``, each declaring ``FLOW`` in its ``spec`` module."""

DEFAULT_WORKFLOW = "record_event"
"""The workflow of event types no flow claims: it records the event's lineage and ends."""


@dataclass(frozen=True, kw_only=True)
class FlowSpec:
    """What one flow package is, for the runtime: declared once, in the package's ``spec.py``."""

    name: str
    """The flow's one name: package, DBOS workflow, metrics label, exception ``flow``, lineage."""
    module: str | None = None
    """The module whose import registers the flow's workflows and steps with DBOS (imported
    before DBOS launches, so recovery finds them); ``None`` for a flow without a workflow."""
    events: tuple[str, ...] = ()
    """The event types whose runs the flow's workflow handles (each claimed by one flow)."""
    capture: tuple[str, ...] = ()
    """``module:function`` of each change-capture switch, called as
    ``function(connections, config_file)`` before capture starts: it registers its polling (or
    unregisters it) from ``accord.yaml`` and returns whether it registered."""
    outbox: tuple[str, ...] = ()
    """``module:Class`` of each outbox item kind's handler this flow hands work to."""
    order_free: frozenset[str] = frozenset()
    """Event types (of :attr:`events`) whose runs need no order among themselves: they are
    spread over the queue's partitions by run id instead of waiting in their business key's."""
    compensation: str | None = None
    """``module:attribute`` of the flow's compensation declaration (a
    :class:`~accord.flows.shared.compensation.Saga`): what undoes or holds each of its steps
    when a later system refuses. Every flow with a workflow declares one."""


SERVICES: tuple[FlowSpec, ...] = (
    FlowSpec(
        name="retention",
        module="accord.flows.retention",
        capture=("accord.flows.retention:enable_scheduled_purge",),
    ),
    # Last: it subscribes Business Central to what the flows' capture switches turned on.
    FlowSpec(
        name="subscriptions",
        module="accord.flows.subscriptions",
        capture=("accord.flows.subscriptions:enable_subscription_upkeep",),
    ),
)
"""Accord's own scheduled work that is no flow: modules under ``accord.flows`` that register
DBOS workflows (a daily purge, Business Central's webhook upkeep) and are switched on at start
like capture, after every flow's switch. They handle no event type (:func:`check` holds that)."""


def resolve(target: str) -> Any:  # noqa: ANN401 - whatever the spec names
    """Import ``module:attribute`` (or a bare ``module``) and return the attribute (or module)."""
    module, _, attribute = target.partition(":")
    imported = importlib.import_module(module)
    return getattr(imported, attribute) if attribute else imported


def check(specs: tuple[FlowSpec, ...], packages: tuple[str, ...] = FLOW_PACKAGES) -> None:
    """Refuse specs that disagree: names, packages, claimed events, order-free events.

    Raises:
        ValueError: A spec is not named for its package, two claim one event type, a spec's
            order-free types are not among its events, events have no workflow, or a flow
            with a workflow declares no compensation.
    """
    claimed: dict[str, str] = {}
    for package, spec in zip(packages, specs, strict=True):
        if spec.name != package:
            msg = f"accord.flows.{package} declares the flow {spec.name!r}: use its package name"
            raise ValueError(msg)
        for event_type in spec.events:
            if event_type in claimed:
                msg = f"{event_type!r} is claimed by {claimed[event_type]} and {spec.name}"
                raise ValueError(msg)
            claimed[event_type] = spec.name
        unknown = spec.order_free - set(spec.events)
        if unknown:
            msg = f"{spec.name}: {sorted(unknown)} are not among its events"
            raise ValueError(msg)
        if spec.events and spec.module is None:
            msg = f"{spec.name} handles events but names no workflow module"
            raise ValueError(msg)
    for spec in specs:
        if spec.module is not None and spec.compensation is None:
            msg = f"{spec.name} runs a workflow but declares no compensation"
            raise ValueError(msg)


@functools.cache
def flows() -> tuple[FlowSpec, ...]:
    """Every flow's spec, in :data:`FLOW_PACKAGES` order (imported on first use).

    Raises:
        ValueError: The specs disagree (see :func:`check`).
    """
    specs = tuple(
        importlib.import_module(f"accord.flows.{package}.spec").FLOW for package in FLOW_PACKAGES
    )
    check(specs)
    return specs


def services() -> tuple[FlowSpec, ...]:
    """The specs of :data:`SERVICES`, checked.

    Raises:
        ValueError: One of them claims an event type.
    """
    for spec in SERVICES:
        if spec.events:
            msg = f"{spec.name} is no flow: it handles no event type"
            raise ValueError(msg)
    return SERVICES


@functools.cache
def workflows() -> dict[str, str]:
    """Event type -> the workflow its runs start (its flow's name), for every type a flow claims.

    One dict for the process (tests route a type of their own by patching it).
    """
    return {t: spec.name for spec in flows() for t in spec.events}


def workflow_for(event_type: str) -> str:
    """The workflow that handles an event type (:data:`DEFAULT_WORKFLOW` if no flow claims it)."""
    return workflows().get(event_type, DEFAULT_WORKFLOW)


def modules() -> tuple[str, ...]:
    """The modules whose import registers the workflows and steps of the flows and services."""
    return tuple(spec.module for spec in (*flows(), *services()) if spec.module is not None)


@functools.cache
def order_free() -> frozenset[str]:
    """The event types whose runs need no order (see :attr:`FlowSpec.order_free`)."""
    return frozenset().union(*(spec.order_free for spec in flows()))


def capture_enablers() -> tuple[str, ...]:
    """``module:function`` of every capture switch: the flows' in order, then the services'."""
    return tuple(target for spec in (*flows(), *services()) for target in spec.capture)


def outbox_handlers() -> tuple[str, ...]:
    """``module:Class`` of every outbox handler the flows and services declare."""
    return tuple(target for spec in (*flows(), *services()) for target in spec.outbox)


@functools.cache
def compensations() -> dict[str, Saga]:
    """Flow name -> its compensation declaration, for every flow that declares one.

    Raises:
        ValueError: A spec names something that is not a :class:`Saga` of its own flow.
    """
    out: dict[str, Saga] = {}
    for spec in flows():
        if spec.compensation is None:
            continue
        saga = resolve(spec.compensation)
        if not isinstance(saga, Saga) or saga.flow != spec.name:
            msg = f"{spec.name}: {spec.compensation} is not the flow's Saga"
            raise ValueError(msg)
        out[spec.name] = saga
    return out


def enable_captures(connections: Connections, config_file: Path | None) -> None:
    """Call every capture switch (``Services.start`` does, before capture starts)."""
    for target in capture_enablers():
        resolve(target)(connections, config_file)
