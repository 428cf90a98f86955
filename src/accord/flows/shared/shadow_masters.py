"""Shadow master data: a migrating entity's customers, projects and billing plans, shadowed.

For a legal entity under migration (``legal_entities.<code>.migration`` in the rules), the
customers, project and billing plan lead-to-project wrote to the system of record are handed
to the other ERP of the migration (the *shadow*), as time-to-bill hands it every accepted
posting: once the system of record holds them, one idempotent step
(:func:`shadow_masters`, the run's last) queues one outbox item of kind ``shadow_master`` per
record, in one batch, on the shadow connection's ``background`` lane. The shadow
connection's dispatcher sends them with :class:`ShadowMasterHandler`; nothing the shadow does
reaches the system of record's path: the run does not wait for it, a failure is an outcome,
never raised.

What the shadow does follows ``time_to_bill.shadow_mode`` (the setting postings follow):

- ``validate`` (default): the canonical customer, project or billing plan is translated for
  the shadow exactly as its ERP role would write it
  (:meth:`~accord.connectors.roles.Erp.master_body`, with the dimensions the rules give the
  entity on the shadow ERP); nothing is written. A customer or project the shadow does not
  hold yet is named by its canonical id (the key the roles write it by).
- ``post``: it is upserted, idempotently (the roles key customers, projects and billing lines
  by their canonical ids), in the shadow's *test* connection (``shadow_test_connections``); a
  project waits (is retried) until its customer is there, a billing plan until its project is.
- ``off``: nothing.

Outcomes go to :mod:`accord.store.shadow`, kind ``customer``, ``project`` or ``billing_plan``,
one per record and mode (the entry is the customer's or the project's canonical id; amount
the project's contract amount or the billing plan's total).
"""

import asyncio
import datetime as dt
import hashlib
import json
import logging
from collections.abc import Collection, Mapping, Sequence
from dataclasses import asdict, dataclass
from decimal import Decimal
from typing import Any, Final

import sqlalchemy as sa
from dbos import DBOS

from accord.connectors.budget import Lane, lane, slot_held
from accord.connectors.roles import (
    BillingPlan,
    BillingTerms,
    CustomerBooking,
    Erp,
    ErpProjectPlan,
)
from accord.domain import Customer, Money
from accord.errors import ConnectorError, MappingError, RetryableError, RuleViolation
from accord.flows import stepkit
from accord.flows.config_sections import read_section
from accord.flows.dispatcher import Disposition, Gate, backoff_at
from accord.flows.shared.billing import _plan_line, billing_lines
from accord.flows.shared.plan import Plan, _project
from accord.flows.shared.settings import flow_settings, rules_for
from accord.flows.shared.shadow import ShadowTarget, booked_view, shadow_target
from accord.rules import Rules
from accord.store import outbox
from accord.store import shadow as outcomes_store
from accord.store.outbox import OutboxItem, OutboxRow
from accord.store.shadow import ShadowOutcome

__all__ = [
    "CUSTOMER",
    "KIND",
    "PLAN",
    "PROJECT",
    "ShadowCustomersRequest",
    "ShadowMasterHandler",
    "ShadowMasterRequest",
    "shadow_customers",
    "shadow_masters",
]

logger = logging.getLogger(__name__)

KIND: Final = "shadow_master"
"""Outbox item kind of a shadowed customer, project or billing plan."""
LANE: Final = "background"
CUSTOMER: Final = "customer"
PROJECT: Final = "project"
PLAN: Final = "billing_plan"
_GIVE_UP_AFTER: Final = 12
"""Transient failures (or waits for a dependency) before the outcome is ``refused``."""


def _target(rules: Rules, entity: str, connection: str) -> ShadowTarget | None:
    """The shadow of ``entity``'s records written on ``connection``, per ``accord.yaml``."""
    config = read_section(stepkit.config_file(), "time_to_bill") or {}
    tests = config.get("shadow_test_connections")
    return shadow_target(
        rules,
        mode=str(config.get("shadow_mode") or "validate"),
        test_connections=tests if isinstance(tests, Mapping) else {},
        entity=entity,
        connection=connection,
    )


def _today() -> str:
    return dt.datetime.now(dt.UTC).date().isoformat()


@dataclass(frozen=True)
class ShadowMasterRequest:
    """Input of :func:`shadow_masters`: the provisioning plan the system of record holds."""

    plan: dict[str, Any]
    run_id: str | None = None


@DBOS.step(name="shadow.queue_masters", **stepkit.STEP_RETRIES)
def shadow_masters(request: ShadowMasterRequest) -> dict[str, Any]:
    """Queue the plan's customers, project and billing plan for the shadow ERP, if any.

    Idempotent: a rerun queues the same items (same batch and keys), which the outbox keeps
    once while they wait; one already sent is validated or upserted again (by the same keys)
    and its outcome overwritten.

    Returns:
        ``{"shadow": {"connection": ..., "mode": ..., "queued": n}}`` or ``{}`` (no shadow).
    """
    plan = Plan.from_json(request.plan)
    rules = rules_for(flow_settings(stepkit.config_file()))
    target = _target(rules, plan.legal_entity, plan.erp_connection)
    if target is None:
        return {}
    day = _today()
    ops: list[tuple[str, str, str | None]] = [
        (CUSTOMER, c.canonical_id, c.customer_json) for c in plan.customers
    ]
    ops.append((PROJECT, plan.project_id, None))
    if billing_lines(plan):
        ops.append((PLAN, plan.project_id, None))
    batch_id = f"shadow-master:{target.mode}:{plan.project_id}:{request.run_id or ''}"
    items = [
        OutboxItem(
            connection=target.target,
            lane=LANE,
            kind=KIND,
            batch_id=batch_id,
            item_key=f"{op}:{record}",
            payload=json.dumps(
                {
                    "op": op,
                    "seq": seq,
                    "record": record,
                    "customer": customer,
                    "day": day,
                    "target": asdict(target),
                    "plan": request.plan,
                    "project_id": plan.project_id,
                    "currency": plan.currency,
                    "sor_connection": plan.erp_connection,
                },
                separators=(",", ":"),
            ),
        )
        for seq, (op, record, customer) in enumerate(ops)
    ]
    with stepkit.engine().begin() as conn:
        outbox.enqueue(conn, items)
    return {"shadow": {"connection": target.target, "mode": target.mode, "queued": len(items)}}


@dataclass(frozen=True)
class ShadowCustomersRequest:
    """Input of :func:`shadow_customers`: the customer writes an ERP accepted.

    Attributes:
        writes: Each ``{"target": ErpCustomerTarget fields, "customer_json": ..., "omit":
            [fields the ERP owns]}``, as customer master wrote it.
    """

    writes: tuple[dict[str, Any], ...]


@DBOS.step(name="shadow.queue_customers", **stepkit.STEP_RETRIES)
def shadow_customers(request: ShadowCustomersRequest) -> dict[str, Any]:
    """Queue customer master's accepted writes of migrating entities for their shadow ERP.

    Each write goes as the system of record took it (the same fields left out); one batch per
    customer version. Idempotent as :func:`shadow_masters`.

    Returns:
        ``{"shadow": {connection: items queued}}``, or ``{}`` (no write has a shadow).
    """
    rules = stepkit.rules()
    day = _today()
    items: list[OutboxItem] = []
    for seq, write in enumerate(request.writes):
        written = write["target"]
        entity, connection = str(written["legal_entity"]), str(written["connection"])
        target = _target(rules, entity, connection)
        booked = rules.spec.legal_entities.get(entity)
        if target is None or booked is None:
            continue
        customer = Customer.model_validate_json(write["customer_json"])
        omit = sorted(str(f) for f in write.get("omit") or ())
        if "currency" in omit:
            # As customer master books an update: the entity's currency, left out anyway.
            customer = customer.model_copy(update={"currency": booked.currency})
        version = hashlib.sha256(customer.model_dump_json().encode()).hexdigest()[:16]
        payload = {
            "op": CUSTOMER,
            "seq": seq,
            "record": customer.id,
            "customer": customer.model_dump_json(),
            "day": day,
            "target": asdict(target),
            "plan": None,
            "project_id": "",
            "currency": customer.currency,
            "sor_connection": connection,
            "omit": omit,
        }
        items.append(
            OutboxItem(
                connection=target.target,
                lane=LANE,
                kind=KIND,
                batch_id=f"shadow-customer:{target.mode}:{customer.id}:{version}",
                item_key=f"{CUSTOMER}:{customer.id}:{entity}",
                payload=json.dumps(payload, separators=(",", ":")),
            )
        )
    if not items:
        return {}
    with stepkit.engine().begin() as conn:
        outbox.enqueue(conn, items)
    queued: dict[str, int] = {}
    for item in items:
        queued[item.connection] = queued.get(item.connection, 0) + 1
    return {"shadow": queued}


@dataclass(frozen=True)
class _Item:
    """One decoded shadow master item."""

    op: str
    seq: int
    record: str
    customer: str | None
    day: dt.date
    target: ShadowTarget
    plan: Plan | None
    """The provisioning plan (lead-to-project); ``None`` for a customer master update."""
    project_id: str
    currency: str
    sor_connection: str
    omit: frozenset[str]


def _decode(payload: str) -> _Item:
    data = json.loads(payload)
    return _Item(
        op=str(data["op"]),
        seq=int(data["seq"]),
        record=str(data["record"]),
        customer=data["customer"],
        day=dt.date.fromisoformat(str(data["day"])),
        target=ShadowTarget(**data["target"]),
        plan=Plan.from_json(data["plan"]) if data.get("plan") else None,
        project_id=str(data.get("project_id") or ""),
        currency=str(data["currency"]),
        sor_connection=str(data["sor_connection"]),
        omit=frozenset(data.get("omit") or ()),
    )


class _WaitingError(RetryableError):
    """A post-mode record whose customer or project the test connection does not hold yet."""


def _amount(item: _Item) -> Decimal | None:
    if item.plan is None or item.op == CUSTOMER:
        return None
    if item.op == PROJECT:
        return Decimal(item.plan.amount)
    return sum((Decimal(line.amount) for line in billing_lines(item.plan)), Decimal(0))


def _outcome(
    item: _Item,
    status: str,
    *,
    reason: str | None = None,
    message: str | None = None,
    record_id: str | None = None,
) -> ShadowOutcome:
    amount = _amount(item)
    return ShadowOutcome(
        entity=item.target.entity,
        kind=item.op,
        entry_id=item.record,
        project_id=item.project_id,
        day=item.day,
        hours=None,
        amount=amount,
        currency=item.currency if amount is not None else None,
        mode=item.target.mode,
        status=status,
        reason=reason,
        message=None if message is None else message[:2000],
        shadow_connection=item.target.target,
        sor_connection=item.sor_connection,
        shadow_record_id=record_id,
    )


class ShadowMasterHandler:
    """The dispatcher's handler of ``shadow_master`` items (see the module docstring)."""

    kind = KIND

    @staticmethod
    def _role(target: ShadowTarget) -> tuple[Rules, Erp]:
        """The shadow's rules and ERP role (blocking reads: off the event loop)."""
        view = booked_view(stepkit.rules(), target.entity, target.erp, target.target)
        return view, stepkit.connections().connector(target.target).as_erp(view)

    def _known(self, entity_type: str, canonical_id: str, item: _Item) -> str | None:
        found = stepkit.known_external(entity_type, canonical_id, item.target.target)
        if found is None and item.target.mode == "post":
            raise _WaitingError(f"the shadow's {entity_type} {canonical_id} is not written yet")
        return found

    def _customer(self, item: _Item, role: Erp, subsidiary: str) -> tuple[str, str | None]:
        target = item.target
        customer = Customer.model_validate_json(item.customer or "{}")
        customer = customer.model_copy(update={"currency": item.currency})
        parent = None
        if customer.parent_id:
            parent = self._known("customer", customer.parent_id, item) or customer.parent_id
        booking = CustomerBooking(
            customer=customer,
            legal_entity=target.entity,
            parent_erp_id=parent,
            omit=item.omit,
            dimensions={"subsidiary": subsidiary} if subsidiary else {},
        )
        if target.mode != "post":
            role.master_body(booking)
            return outcomes_store.VALIDATED, None
        erp_id, _ = role.upsert_customer(booking)
        stepkit.link_xref("customer", customer.id, target.erp, target.target, erp_id)
        return outcomes_store.BOOKED, erp_id

    def _apply(self, item: _Item) -> tuple[str, str | None]:
        """Validate or write one record; its status and the shadow's id (blocking)."""
        target, plan = item.target, item.plan
        view, role = self._role(target)
        if plan is None:  # a customer master update: the role's own mapping of the entity
            return self._customer(item, role, "")
        placed = view.placement(
            legal_entity=plan.legal_entity, practice=plan.practice, region=plan.region
        )
        dims = {"subsidiary": placed.subsidiary, "department": placed.department}
        dims["class"] = placed.class_
        post = target.mode == "post"
        if item.op == CUSTOMER:
            return self._customer(item, role, placed.subsidiary)
        if item.op == PROJECT:
            customer_id = self._known("customer", plan.customer_id, item) or plan.customer_id
            project_plan = ErpProjectPlan(
                project=_project(plan),
                customer_erp_id=customer_id,
                dimensions={k: v for k, v in dims.items() if v},
                terms=BillingTerms(
                    basis=plan.billing_basis,
                    recognition=plan.revenue_recognition,
                    amount=Money.of(Decimal(plan.amount), plan.currency),
                ),
            )
            if not post:
                role.master_body(project_plan)
                return outcomes_store.VALIDATED, None
            erp_id = role.upsert_project(project_plan)
            stepkit.link_xref("erp_project", plan.project_id, target.erp, target.target, erp_id)
            return outcomes_store.BOOKED, erp_id
        project_id = self._known("erp_project", plan.project_id, item) or plan.project_id
        billing = BillingPlan(
            project=_project(plan),
            erp_project_id=project_id,
            lines=tuple(_plan_line(line) for line in billing_lines(plan)),
            dimensions={k: v for k, v in dims.items() if v},
        )
        if not post:
            role.master_body(billing)
            return outcomes_store.VALIDATED, None
        return outcomes_store.BOOKED, role.write_billing_plan(billing).schedule_id

    async def send(self, gate: Gate, rows: list[OutboxRow]) -> list[Disposition]:
        """Validate or write one batch's records in order; one disposition each, never raises."""
        out: dict[int, Disposition] = {}
        with lane(Lane.BACKGROUND):
            # In order: a customer before its project, a project before its billing plan.
            decoded = sorted(((r, _decode(r.payload)) for r in rows), key=lambda p: p[1].seq)
            for row, item in decoded:
                out[row.id] = await self._send_one(gate, row, item)
        return [out[row.id] for row in rows]

    async def _send_one(self, gate: Gate, row: OutboxRow, item: _Item) -> Disposition:
        try:
            async with gate():
                with slot_held():
                    status, record_id = await asyncio.to_thread(self._apply, item)
        except RetryableError as exc:
            if row.attempts >= _GIVE_UP_AFTER:
                reason = "waiting" if isinstance(exc, _WaitingError) else "unavailable"
                refused = _outcome(item, outcomes_store.REFUSED, reason=reason, message=str(exc))
                return Disposition(row, result=[refused])
            return Disposition(row, retry_at=backoff_at(row.attempts, exc.retry_after))
        except (ConnectorError, MappingError, RuleViolation) as exc:
            reason = str(getattr(exc, "reason", None) or "validation")
            if isinstance(exc, RuleViolation):
                reason = "dimension_invalid"
            refused = _outcome(item, outcomes_store.REFUSED, reason=reason, message=str(exc))
            return Disposition(row, result=[refused])
        except Exception as exc:
            # The shadow must never hold up the outbox: whatever went wrong is its outcome.
            logger.exception("shadow: %s %s for %s failed", item.op, item.record, item.target)
            message = f"{type(exc).__name__}: {exc}"
            refused = _outcome(item, outcomes_store.REFUSED, reason="error", message=message)
            return Disposition(row, result=[refused])
        return Disposition(row, result=[_outcome(item, status, record_id=record_id)])

    def record(self, conn: sa.Connection, done: Sequence[Disposition]) -> None:
        """Keep the outcomes (one row per record and mode) in the dispatcher's transaction."""
        outcomes_store.record(conn, [o for d in done for o in d.result])

    def settled(self, batch_ids: Collection[str]) -> None:
        """Nobody waits for the shadow."""

    async def aclose(self) -> None:
        """Nothing is kept open: each record goes through the connection's role."""
