"""Inline shadow posting: a migrating legal entity's postings, also sent to its shadow ERP.

For a legal entity under migration (``legal_entities.<code>.migration`` in the rules), every
posting the system of record *accepts* is handed, in the transaction that records it ``posted``
(:meth:`.queue.PostingHandler.record`), to the other ERP of the migration as an outbox item of
kind ``shadow_posting`` on that connection's ``background`` lane. Its own dispatcher sends it;
nothing the shadow does reaches the system of record's path: the run never waits for it, a
shadow failure is recorded as an outcome, never raised, and its items are taken only after the
connection's higher lanes.

What the shadow does follows ``time_to_bill.shadow_mode`` (:mod:`.settings`):

- ``validate`` (default): the posting is translated for the shadow exactly as its ERP role
  would send it (:meth:`~accord.connectors.roles.Erp.posting_body`, on the shadow's copy of
  the project, with the dimensions the rules give the entity on the shadow ERP). Nothing is
  written: ``validated`` or ``refused`` with the reason.
- ``post``: the posting is booked through the role's poster on the shadow's *test* connection
  (``shadow_test_connections``: a copy of the shadow environment, with the same project ids),
  idempotent by its key like any posting: ``booked`` or ``refused`` with the ERP's reason. A
  shadow without a test connection is only validated.
- ``off``: nothing.

The other ERP is the one of the migration the posting did not go to, so after a cut-over the
old ERP is the shadow (and the check goes the other way round). Outcomes are kept in
:mod:`accord.store.shadow`, one per entry and mode however often an item is redelivered.

Customers, projects and billing plans are shadowed by lead-to-project and customer master
(:mod:`accord.flows.shared.shadow_masters`); a posting on a project the shadow does not hold
(yet) is ``refused`` with reason ``project.missing``.
"""

import asyncio
import datetime as dt
import json
import logging
from collections.abc import Collection, Sequence
from dataclasses import asdict, dataclass, replace
from decimal import Decimal
from typing import Any, Final

import sqlalchemy as sa

from accord.connectors.budget import Lane, lane, slot_held
from accord.connectors.roles import AsyncPoster, Erp, ErpProject, PostingBatch
from accord.errors import (
    ConnectorError,
    MappingError,
    NotFoundError,
    RetryableError,
    RuleViolation,
)
from accord.flows import stepkit
from accord.flows.dispatcher import Disposition, Gate, backoff_at
from accord.flows.shared.shadow import ShadowTarget, booked_view
from accord.flows.shared.shadow import shadow_target as shared_target
from accord.flows.time_to_bill.payload import Queued, decode
from accord.flows.time_to_bill.post import posting_of
from accord.flows.time_to_bill.settings import BillingSettings
from accord.rules import Rules
from accord.store import postings, xref
from accord.store import shadow as outcomes_store
from accord.store.outbox import OutboxItem, OutboxRow
from accord.store.shadow import ShadowOutcome

__all__ = ["KIND", "LANE", "ShadowHandler", "ShadowTarget", "shadow_items", "shadow_target"]

logger = logging.getLogger(__name__)

KIND: Final = "shadow_posting"
"""Outbox item kind of a shadow posting."""
LANE: Final = "background"
_GIVE_UP_AFTER: Final = 12
"""Transient failures of one item before its outcome is recorded ``refused`` (``unavailable``)."""
_warned: set[str] = set()


def shadow_target(
    rules: Rules, settings: BillingSettings, *, entity: str, connection: str
) -> ShadowTarget | None:
    """The shadow of a posting booked on ``connection`` for ``entity``; ``None``: no shadow.

    :func:`accord.flows.shared.shadow.shadow_target` with this flow's settings; ``post``
    without a test connection is said once in the log, then only validated.
    """
    target = shared_target(
        rules,
        mode=settings.shadow_mode,
        test_connections=settings.shadow_test_connections,
        entity=entity,
        connection=connection,
    )
    if (
        target is not None
        and settings.shadow_mode == "post"
        and target.mode == "validate"
        and target.connection not in _warned
    ):
        _warned.add(target.connection)
        logger.warning(
            "shadow_mode post: no test connection for %s in shadow_test_connections; "
            "its shadow postings are only validated",
            target.connection,
        )
    return target


def shadow_items(
    target: ShadowTarget, row: OutboxRow, ledger: Sequence[postings.Posting]
) -> OutboxItem:
    """The shadow item of one accepted posting (``row``) and its entries' ledger rows."""
    return OutboxItem(
        connection=target.target,
        lane=LANE,
        kind=KIND,
        batch_id=f"shadow:{target.mode}:{row.batch_id}",
        item_key=row.item_key,
        payload=json.dumps(
            {
                "posting": row.payload,
                "target": asdict(target),
                "ledger": [
                    {
                        "kind": p.kind,
                        "entry_id": p.entry_id,
                        "project_id": p.project_id,
                        "day": (p.posted_date or p.entry_date).isoformat(),
                        "hours": None if p.hours is None else str(p.hours),
                        "amount": None if p.amount is None else str(p.amount),
                        "currency": p.currency,
                        "connection": p.erp_connection,
                    }
                    for p in ledger
                ],
            },
            separators=(",", ":"),
        ),
    )


@dataclass(frozen=True)
class _Item:
    """One decoded shadow item."""

    queued: Queued
    target: ShadowTarget
    ledger: list[dict[str, Any]]


def _decode(payload: str) -> _Item:
    data = json.loads(payload)
    return _Item(decode(data["posting"]), ShadowTarget(**data["target"]), list(data["ledger"]))


def _outcomes(
    item: _Item,
    status: str,
    *,
    reason: str | None = None,
    message: str | None = None,
    record_id: str | None = None,
) -> list[ShadowOutcome]:
    return [
        ShadowOutcome(
            entity=item.target.entity,
            kind=str(e["kind"]),
            entry_id=str(e["entry_id"]),
            project_id=str(e["project_id"]),
            day=dt.date.fromisoformat(str(e["day"])),
            hours=None if e["hours"] is None else Decimal(str(e["hours"])),
            amount=None if e["amount"] is None else Decimal(str(e["amount"])),
            currency=e["currency"],
            mode=item.target.mode,
            status=status,
            reason=reason,
            message=None if message is None else message[:2000],
            shadow_connection=item.target.target,
            sor_connection=str(e["connection"] or ""),
            shadow_record_id=record_id,
        )
        for e in item.ledger
    ]


def _refused(
    rows: list[OutboxRow], items: list[_Item], reason: str, message: str
) -> list[Disposition]:
    """Every item of a batch refused for one reason."""
    return [
        Disposition(r, result=_outcomes(i, outcomes_store.REFUSED, reason=reason, message=message))
        for r, i in zip(rows, items, strict=True)
    ]


class ShadowHandler:
    """The dispatcher's handler of ``shadow_posting`` items (see the module docstring)."""

    kind = KIND

    def __init__(self) -> None:
        self._posters: dict[tuple[str, str], AsyncPoster] = {}

    @staticmethod
    def _role(target: ShadowTarget) -> tuple[Rules, Erp]:
        """The shadow's rules and ERP role (blocking reads: off the event loop)."""
        view = booked_view(stepkit.rules(), target.entity, target.erp, target.target)
        return view, stepkit.connections().connector(target.target).as_erp(view)

    @staticmethod
    def _project(role: Erp, target: ShadowTarget, project_id: str) -> ErpProject | None:
        """The shadow's copy of the project where the shadow work goes.

        In ``post`` mode that is the test company: the project the shadow's provisioning
        booked there (its own id), else the shadow's id (a test company copied from the
        shadow environment keeps its ids).
        """
        erp_id = None
        with stepkit.engine().connect() as conn:
            for name in dict.fromkeys((target.target, target.connection)):
                erp_id = xref.get_external(
                    conn, entity_type="erp_project", canonical_id=project_id, connection=name
                )
                if erp_id is not None:
                    break
        if erp_id is None:
            return None
        try:
            return role.project(erp_id)
        except NotFoundError:
            return None

    async def send(self, gate: Gate, rows: list[OutboxRow]) -> list[Disposition]:
        """Validate or book one batch's shadow postings; one disposition each, never raises."""
        with lane(Lane.BACKGROUND):
            items = [_decode(r.payload) for r in rows]
            try:
                return await self._send(gate, rows, items)
            except RetryableError as exc:
                return [self._later(r, i, exc) for r, i in zip(rows, items, strict=True)]
            except Exception as exc:
                # The shadow must never hold up the outbox: whatever went wrong is its outcome.
                logger.exception("shadow: %d postings for %s failed", len(rows), items[0].target)
                return _refused(rows, items, "error", f"{type(exc).__name__}: {exc}")

    @staticmethod
    def _later(row: OutboxRow, item: _Item, exc: RetryableError) -> Disposition:
        if row.attempts >= _GIVE_UP_AFTER:
            return Disposition(
                row,
                result=_outcomes(
                    item, outcomes_store.REFUSED, reason="unavailable", message=str(exc)
                ),
            )
        return Disposition(row, retry_at=backoff_at(row.attempts, exc.retry_after))

    async def _send(
        self, gate: Gate, rows: list[OutboxRow], items: list[_Item]
    ) -> list[Disposition]:
        target = items[0].target
        facts = items[0].queued.facts
        view, role = await asyncio.to_thread(self._role, target)
        async with gate():
            with slot_held():
                project = await asyncio.to_thread(self._project, role, target, facts.project_id)
        if project is None:
            message = f"project {facts.project_id} is not in the shadow ERP ({target.connection})"
            return _refused(rows, items, "project.missing", message)
        try:
            placed = view.placement(
                legal_entity=target.entity, practice=facts.practice or "", region=facts.region or ""
            )
        except (RuleViolation, MappingError) as exc:
            return _refused(rows, items, "dimension_invalid", str(exc))
        dims = {"department": placed.department, "class": placed.class_}
        batch = PostingBatch(
            batch_id=rows[0].batch_id,
            project=project,
            postings=tuple(
                replace(posting_of(i.queued.unit), dimensions={k: v for k, v in dims.items() if v})
                for i in items
            ),
        )
        if target.mode == "post":
            return await self._post(gate, role, view, batch, rows=rows, items=items)
        out: list[Disposition] = []
        for row, item, posting in zip(rows, items, batch.postings, strict=True):
            try:
                role.posting_body(batch, posting)
            except (ConnectorError, MappingError, RuleViolation) as exc:
                if isinstance(exc, RetryableError):
                    out.append(self._later(row, item, exc))
                    continue
                reason = str(getattr(exc, "reason", None) or "validation")
                refused = _outcomes(item, outcomes_store.REFUSED, reason=reason, message=str(exc))
                out.append(Disposition(row, result=refused))
                continue
            out.append(Disposition(row, result=_outcomes(item, outcomes_store.VALIDATED)))
        return out

    async def _post(
        self,
        gate: Gate,
        role: Erp,
        view: Rules,
        batch: PostingBatch,
        *,
        rows: list[OutboxRow],
        items: list[_Item],
    ) -> list[Disposition]:
        key = (role.connection, view.version)
        poster = self._posters.get(key)
        if poster is None:
            for old in [k for k in self._posters if k[0] == role.connection]:
                await self._posters.pop(old).aclose()
            poster = self._posters[key] = role.poster(gate)
        answers = {o.key: o for o in await poster.post(batch)}
        out: list[Disposition] = []
        for row, item, posting in zip(rows, items, batch.postings, strict=True):
            answer = answers.get(posting.key)
            if answer is not None and answer.posted:
                booked = _outcomes(item, outcomes_store.BOOKED, record_id=answer.record_id)
                out.append(Disposition(row, result=booked))
                continue
            error = answer.error if answer is not None else None
            if isinstance(error, RetryableError):
                out.append(self._later(row, item, error))
                continue
            reason = str(getattr(error, "reason", None) or "validation")
            message = str(error) if error is not None else "the shadow ERP gave no outcome"
            refused = _outcomes(item, outcomes_store.REFUSED, reason=reason, message=message)
            out.append(Disposition(row, result=refused))
        return out

    def record(self, conn: sa.Connection, done: list[Disposition]) -> None:
        """Keep the outcomes (one row per entry and mode) in the dispatcher's transaction."""
        outcomes_store.record(conn, [o for d in done for o in d.result])

    def settled(self, batch_ids: Collection[str]) -> None:
        """Nobody waits for the shadow."""

    async def aclose(self) -> None:
        """Close the posters' connections."""
        posters, self._posters = list(self._posters.values()), {}
        for poster in posters:
            await poster.aclose()
