"""What a flow's DBOS step reads from its context, and the xref/lineage writes every flow makes.

Everything here runs inside a DBOS step or a capture mapper (the flow context is installed) and
is the same for every flow: the process's connections and database, the ``accord.yaml`` in use,
lead-to-project's rules and CRM connection (the flows that follow it reuse them), one-row xref
reads and writes, a lineage edge stamped with the running workflow, an exception routed by the
rules (:func:`open_routed`) or opened unless the same one is open already
(:func:`open_unless_same`), the retry options of a
step that calls a remote system (:data:`STEP_RETRIES`, :func:`step_retries`: the waits come
from :func:`accord.retry.backoff_delay`), and NetSuite's currency ids (read once
per connection and process, for every flow writing NetSuite records).

What does *not* belong here: anything one flow alone needs (keep it in that flow's package),
steps themselves (nothing here is decorated with ``@DBOS.step``), and settings loading
(:mod:`accord.flows.config_sections` and each flow's ``settings`` module).
"""

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from dbos import DBOS

from accord.connectors.roles import Crm, Erp, Psa
from accord.domain import Money
from accord.flows.connections import CONTEXT_KEY, Connections
from accord.flows.context import flow_context
from accord.flows.retries import StepRetry, step_retries
from accord.flows.shared.settings import flow_settings, rules_for
from accord.rules import Rules
from accord.store import exceptions, lineage, xref

__all__ = [
    "STEP_RETRIES",
    "StepRetry",
    "canonical_of",
    "config_file",
    "connections",
    "crm",
    "crm_connection",
    "engine",
    "erp",
    "known_external",
    "link_edge",
    "link_xref",
    "open_routed",
    "open_unless_same",
    "psa",
    "rules",
    "step_retries",
]

STEP_RETRIES: dict[str, Any] = step_retries()
"""``@DBOS.step(**STEP_RETRIES)`` for a step calling a remote system: retried by error class."""


def connections() -> Connections:
    """The process's connections."""
    found: Connections = flow_context().extras[CONTEXT_KEY]
    return found


def engine() -> sa.Engine:
    """Accord's database."""
    return flow_context().engine


def config_file() -> Path | None:
    """This process's ``accord.yaml``."""
    return flow_context().settings.config_file


def rules() -> Rules:
    """The current rules (the file lead-to-project uses)."""
    # Imported here, not above: the provisioning package imports this module (its steps use
    # the kit), so a module-level import made ``import accord.flows.stepkit`` fail whenever
    # it was the first of the two to be imported (a test module run alone, in random order).
    return rules_for(flow_settings(config_file()))


def erp(connection: str) -> Erp:
    """The ERP role of a connection, under the current rules."""
    return connections().connector(connection).as_erp(rules())


def psa(connection: str) -> Psa:
    """The PSA role of a connection, under the current rules."""
    return connections().connector(connection).as_psa(rules())


def crm(connection: str) -> Crm:
    """The CRM role of a connection, under the current rules."""
    return connections().connector(connection).as_crm(rules())


def crm_connection() -> str:
    """The CRM connection (lead-to-project's setting)."""
    return flow_settings(config_file()).crm_connection


def canonical_of(entity_type: str, connection: str, external_id: str) -> str | None:
    """The canonical id behind an external id in a connection, or None."""
    with engine().connect() as conn:
        return xref.get_canonical(
            conn, entity_type=entity_type, connection=connection, external_id=external_id
        )


def known_external(entity_type: str, canonical_id: str, connection: str) -> str | None:
    """The external id of a canonical object in a connection, or None."""
    with engine().connect() as conn:
        return xref.get_external(
            conn, entity_type=entity_type, canonical_id=canonical_id, connection=connection
        )


def link_xref(
    entity_type: str,
    canonical_id: str,
    system: str,
    connection: str,
    ext: str,
    *,
    conn: sa.Connection | None = None,
) -> None:
    """Record a cross-reference (idempotent): in ``conn``'s transaction, else in its own."""
    if conn is None:
        with engine().begin() as own:
            link_xref(entity_type, canonical_id, system, connection, ext, conn=own)
        return
    xref.link(
        conn,
        entity_type=entity_type,
        canonical_id=canonical_id,
        system=system,
        connection=connection,
        external_id=ext,
    )


def link_edge(
    conn: sa.Connection,
    from_node: tuple[str, str],
    to_node: tuple[str, str],
    relation: str,
    *,
    status: str,
    event_id: str | None = None,
) -> None:
    """Record a lineage edge from the running workflow (idempotent)."""
    lineage.link(
        conn,
        from_type=from_node[0],
        from_id=from_node[1],
        to_type=to_node[0],
        to_id=to_node[1],
        relation=relation,
        run_id=DBOS.workflow_id,
        event_id=event_id,
        status=status,
    )


def open_routed(
    *,
    code: str,
    flow: str,
    run_id: str | None,
    business_key: str,
    title: str,
    detail: Mapping[str, Any],
    dedupe_key: str,
    amount: Money | None = None,
) -> int:
    """Open (or refresh) an exception routed by the rules for ``code``; returns its id."""
    route = rules().route(code)
    with engine().begin() as conn:
        opened = exceptions.open_(
            conn,
            queue=route.queue.value,
            severity=route.severity.value,
            flow=flow,
            run_id=run_id,
            business_key=business_key,
            code=code,
            title=title,
            detail=dict(detail),
            amount=amount,
            dedupe_key=dedupe_key,
        )
    return opened.id


def open_unless_same(
    *,
    queue: str,
    severity: str,
    flow: str,
    run_id: str | None,
    business_key: str,
    code: str,
    title: str,
    detail: Mapping[str, Any],
    dedupe_key: str,
    scan: int,
) -> bool:
    """Open (or refresh) an exception unless the same one is open already.

    An unchanged open exception is left alone, so that a repeat of the same problem (the echo
    of Accord's own write, a poll seeing the record again) does not count as a new occurrence.

    Args:
        queue: The owner queue.
        severity: The severity.
        flow: The flow filing it.
        run_id: The run filing it, if any.
        business_key: The business object it is about.
        code: Its code.
        title: Its title.
        detail: Its detail; the open exception's is compared with it.
        dedupe_key: One open exception per key.
        scan: How many open exceptions of ``business_key`` are read to find the open one.

    Returns:
        True when it was opened or its detail changed, False when the same one is open.
    """
    with engine().begin() as conn:
        current = [
            e
            for e in exceptions.list_(conn, business_key=business_key, status="open", limit=scan)
            if e.dedupe_key == dedupe_key
        ]
        if current and current[0].detail == detail:
            return False
        exceptions.open_(
            conn,
            queue=queue,
            severity=severity,
            flow=flow,
            run_id=run_id,
            business_key=business_key,
            code=code,
            title=title,
            detail=dict(detail),
            dedupe_key=dedupe_key,
        )
    return True
