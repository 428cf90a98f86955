"""Time-to-bill's postings through the ERP connection's dispatcher.

A run hands its planned postings to the outbox (kind ``posting``, lane ``bulk``, batch
``<kind>:<submission id>``) in the transaction that writes their ``queued`` ledger rows
(:func:`outbox_items`), then waits (:func:`wait_settled`) until none of its entries is queued.
The dispatcher of the ERP connection (:mod:`accord.flows.dispatcher`) sends the batches through
the ERP role's poster and :class:`PostingHandler` turns each answer into what a run used to do
itself:

- posted: ledger ``posted`` and the lineage edges;
- a transient failure: the item is queued again (backoff from the error class, ``Retry-After``
  honoured, full jitter); a concurrency refusal also narrows the dispatcher's slots;
- a closed period the ERP refused: remembered for the burst, then by policy: ``redate`` queues
  the posting again on the first open day (memo and ledger keep the original date), ``hold``
  records it ``held``, ``ask`` records it ``rejected``;
- any other refusal: ledger ``rejected`` with the exception code of its reason.

The run's wait is woken at once in the process that recorded the outcome and otherwise polls
the ledger; after a crash the re-executed step finds the ledger as the dispatcher left it.
"""

import asyncio
import threading
import time
from collections.abc import Collection, Sequence
from dataclasses import dataclass, replace
from typing import Any, Final

import sqlalchemy as sa

from accord.connectors.budget import slot_held
from accord.connectors.roles import AsyncPoster, CallGate, Erp, PostingBatch, PostingKind
from accord.errors import PermanentError, RetryableError
from accord.flows import stepkit
from accord.flows.dispatcher import Disposition, Gate, backoff_at
from accord.flows.time_to_bill import erp
from accord.flows.time_to_bill.ledger import PassResult, Submission, ledger_writes
from accord.flows.time_to_bill.payload import Queued, decode, encode
from accord.flows.time_to_bill.post import (
    Outcome,
    Unit,
    classify,
    error_detail,
    posting_of,
    redated,
)
from accord.flows.time_to_bill.settings import BillingSettings, billing_settings
from accord.flows.time_to_bill.shadow import ShadowTarget, shadow_items, shadow_target
from accord.flows.time_to_bill.validation import PERIOD_CLOSED, EntryPlan, ProjectFacts
from accord.flows.time_to_bill.watch import LedgerWatch
from accord.rules import Rules
from accord.store import lineage, outbox, postings
from accord.store.lineage import Edge
from accord.store.outbox import OutboxItem, OutboxRow

__all__ = [
    "KIND",
    "LANE",
    "PostingHandler",
    "Queued",
    "StoppingError",
    "batch_id_of",
    "outbox_items",
    "wait_settled",
]

KIND: Final = "posting"
"""Outbox item kind of a time or expense posting."""
LANE: Final = "bulk"
_POLL_S: Final = 0.5
_SELF_POLL_S: Final = 10.0
_watch = LedgerWatch(_POLL_S)


def batch_id_of(sub: Submission) -> str:
    """The outbox batch (and ERP posting batch) of a submission."""
    return f"{sub.kind}:{sub.submission_id}"


def outbox_items(
    units: Sequence[Unit],
    *,
    sub: Submission,
    facts: ProjectFacts,
    event_id: str,
    event_type: str,
    run_id: str | None,
) -> list[OutboxItem]:
    """The outbox items of a run's planned postings."""
    return [
        OutboxItem(
            connection=facts.connection,
            lane=LANE,
            kind=KIND,
            batch_id=batch_id_of(sub),
            item_key=u.external_id,
            payload=encode(Queued(u, sub, facts, event_id, event_type, run_id)),
        )
        for u in units
    ]


# ---------------------------------------------------------------------- waiting
# Waiters by outbox batch: a recorded outcome wakes only the run whose batch it settled. Waking
# every waiting run on every record made each run re-read the ledger dozens of times a second
# at quarter-end (hundreds of waiting runs, tens of records a second).
_waiters_lock = threading.Lock()
_waiters: dict[str, list[threading.Event]] = {}
_stopping = threading.Event()


class StoppingError(BaseException):
    """The process is stopping while a run waits for its postings.

    A ``BaseException`` on purpose: DBOS records a step's ``Exception`` as its outcome (and a
    recovered run would replay it), but lets this one pass unrecorded, so the run stays pending
    and its step runs again on recovery (it queues nothing twice). Without it, a stopping
    process waited up to ``_WAIT_S`` for outcomes no dispatcher would record any more.
    """


def _wake(batch_ids: Collection[str] | None) -> None:
    with _waiters_lock:
        if batch_ids is None:
            events = [e for found in _waiters.values() for e in found]
        else:
            events = [e for b in batch_ids for e in _waiters.get(b, ())]
    for event in events:
        event.set()


def wait_settled(engine: sa.Engine, sub: Submission, *, timeout: float) -> bool:
    """Wait until none of the submission's entries is ``queued``; False on timeout.

    Woken at once when this process's dispatcher records one of the batch's outcomes; another
    process's dispatcher is noticed by the process's :class:`LedgerWatch`, which reads the
    ledger every ``_POLL_S`` for all waiting runs at once.

    Raises:
        StoppingError: This process's dispatcher stopped (see :class:`StoppingError`).
    """
    deadline = time.monotonic() + timeout
    ids = [e.id for e in sub.entries]
    batch_id = batch_id_of(sub)
    event = threading.Event()
    with _waiters_lock:
        _waiters.setdefault(batch_id, []).append(event)
    _watch.add(engine, sub.kind, ids, event)
    try:
        while True:
            event.clear()
            if _stopping.is_set():
                raise StoppingError(f"stopping while {batch_id} waits for its postings")
            with engine.connect() as conn:
                if postings.count_queued(conn, kind=sub.kind, entry_ids=ids) == 0:
                    return True
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            # The watch wakes it when another process's dispatcher settled it; its own read
            # every _SELF_POLL_S is the backstop should the watch's reads be failing.
            event.wait(timeout=min(_SELF_POLL_S, left))
    finally:
        _watch.remove(event)
        with _waiters_lock:
            found = _waiters.get(batch_id, [])
            if event in found:
                found.remove(event)
            if not found:
                _waiters.pop(batch_id, None)


# ---------------------------------------------------------------------- the handler
@dataclass(frozen=True)
class _Settled:
    queued: Queued
    status: str
    outcome: Outcome | None = None
    code: str | None = None
    detail: dict[str, Any] | None = None
    plan: EntryPlan | None = None
    shadow: ShadowTarget | None = None
    """Where the accepted posting also goes (a migrating entity's shadow ERP)."""


class PostingHandler:
    """The dispatcher's handler of ``posting`` items (see the module docstring)."""

    kind = KIND

    def __init__(self) -> None:
        self._posters: dict[tuple[str, str], AsyncPoster] = {}
        # A new handler is a (re)started dispatcher in this process: runs may wait again.
        _stopping.clear()

    def _context(self, connection: str) -> tuple[Rules, Erp, BillingSettings]:
        """The rules in force, the ERP role and the billing settings (blocking reads)."""
        # The rules read for every batch, not cached: a new version (an intercompany policy, a
        # mapping) must apply from the next batch on.
        return (
            stepkit.rules(),
            stepkit.erp(connection),
            billing_settings(stepkit.config_file()),
        )

    async def _poster(self, role: Erp, gate: CallGate, version: str) -> AsyncPoster:
        key = (role.connection, version)
        found = self._posters.get(key)
        if found is None:
            # A new rules version (or connection settings) gets a new poster; the old one's
            # kept-alive connections are closed.
            for old in [k for k in self._posters if k[0] == role.connection]:
                await self._posters.pop(old).aclose()
            found = self._posters[key] = role.poster(gate)
        return found

    async def aclose(self) -> None:
        """Close the posters' connections and end the waits of this process's runs (stopping)."""
        _stopping.set()
        _wake(None)
        posters, self._posters = list(self._posters.values()), {}
        for poster in posters:
            await poster.aclose()

    async def send(self, gate: Gate, rows: list[OutboxRow]) -> list[Disposition]:
        """Post one submission's queued postings; one disposition each."""
        queued = [decode(r.payload) for r in rows]
        facts = queued[0].facts
        # Off the event loop: reading the rules or accord.yaml must not hold up the other
        # batches in flight, nor the lease's renewal.
        rules, role, settings = await asyncio.to_thread(self._context, facts.connection)
        poster = await self._poster(role, gate, rules.version)
        batch = PostingBatch(
            batch_id=rows[0].batch_id,
            project=erp.erp_project(facts),
            postings=tuple(posting_of(q.unit) for q in queued),
        )
        answers = {o.key: o for o in await poster.post(batch)}
        shadow = shadow_target(
            rules, settings, entity=facts.legal_entity, connection=facts.connection
        )
        out: list[Disposition] = []
        for row, q in zip(rows, queued, strict=True):
            answer = answers[q.unit.external_id]
            if answer.posted:
                outcome = Outcome(
                    unit=q.unit,
                    record_id=answer.record_id,
                    amounts=answer.amounts,
                    intercompany=answer.intercompany,
                )
                settled = _Settled(q, postings.POSTED, outcome, shadow=shadow)
                out.append(Disposition(row, result=settled))
                continue
            error = answer.error
            if isinstance(error, RetryableError):
                if error.status_code == 429:
                    gate.refused()
                out.append(Disposition(row, retry_at=backoff_at(row.attempts, error.retry_after)))
                continue
            if not isinstance(error, PermanentError):
                error = PermanentError("the ERP gave no outcome", reason="validation")
            code = classify(error)
            detail = error_detail(error)
            if code == PERIOD_CLOSED:
                again = await self._closed_period(gate, q, role, settings.closed_period_policy)
                if again is not None:
                    out.append(Disposition(row, retry_at=time.time(), payload=encode(again)))
                    continue
                if settings.closed_period_policy == "hold":
                    settled = _Settled(q, postings.HELD, plan=q.unit.plan)
                    out.append(Disposition(row, result=settled))
                    continue
            if code.startswith("erp.dimension"):
                detail["mapping"] = q.unit.plan.dimensions.get("mapping")
            settled = _Settled(q, postings.REJECTED, code=code, detail=detail)
            out.append(Disposition(row, result=settled))
        return out

    @staticmethod
    async def _closed_period(gate: Gate, q: Queued, role: Erp, policy: str) -> Queued | None:
        """Remember the refused period; under ``redate`` the posting re-dated, else None."""
        day = q.unit.plan.posting_date
        erp.note_closed(role, q.facts.legal_entity, day)
        if policy != "redate":
            return None
        # The periods read (when not cached) is a call of its own: it takes one of the slots
        # the dispatcher holds. Asking the budget for another would wait for the dispatcher,
        # which waits for this.
        async with gate():
            with slot_held():
                table = await asyncio.to_thread(erp.periods, role, q.facts, ttl=60.0)
        target = table.with_closed(f"{day:%Y-%m}").first_open_on_or_after(day)
        if target is None:
            return None
        plan = replace(q.unit.plan, posting_date=target, period_closed=False)
        return replace(q, unit=redated(q.unit, plan))

    def record(self, conn: sa.Connection, done: list[Disposition]) -> None:
        """Ledger rows and lineage of the recorded outcomes, written once for all submissions."""
        groups: dict[str, list[_Settled]] = {}
        for d in done:
            settled: _Settled = d.result
            groups.setdefault(d.row.batch_id, []).append(settled)
        rows: dict[str, list[postings.Posting]] = {}
        edges: list[Edge] = []
        for members in groups.values():
            first = members[0].queued
            result = PassResult(posted=[], rejected={}, held=[], run_id=first.run_id)
            for s in members:
                for entry in s.queued.unit.entries:
                    if s.status == postings.POSTED and s.outcome is not None:
                        result.posted.append((entry, s.outcome))
                    elif s.status == postings.HELD:
                        result.held.append((entry, s.plan or s.queued.unit.plan))
                    else:
                        result.rejected.setdefault(s.code or "erp.posting.rejected", []).append(
                            (entry, dict(s.detail or {}))
                        )
            kind: PostingKind = "time" if first.sub.kind == "time" else "expense"
            sub_rows, sub_edges = ledger_writes(
                first.sub,
                result,
                event_id=first.event_id,
                facts=first.facts,
                record_type=stepkit.erp(first.facts.connection).record_type(kind),
            )
            rows.setdefault(first.sub.kind, []).extend(sub_rows)
            edges.extend(sub_edges)
        for kind_rows in rows.values():
            postings.record_many(conn, kind_rows)
        lineage.link_many(conn, edges)
        # In the transaction that records them posted: every accepted posting of a migrating
        # entity reaches its shadow once, and a crash loses none.
        outbox.enqueue(conn, _shadowed(done, rows))

    def settled(self, batch_ids: Collection[str]) -> None:
        """Wake the runs of this process that wait for these batches' postings."""
        _wake(batch_ids)


def _shadowed(done: list[Disposition], rows: dict[str, list[postings.Posting]]) -> list[OutboxItem]:
    """The shadow items of the accepted postings (none outside a migration)."""
    posted = {
        (p.kind, p.entry_id): p
        for found in rows.values()
        for p in found
        if p.status == postings.POSTED
    }
    items: list[OutboxItem] = []
    for d in done:
        s: _Settled = d.result
        if s.shadow is None or s.status != postings.POSTED:
            continue
        kind = s.queued.sub.kind
        mine = [posted[(kind, e.id)] for e in s.queued.unit.entries if (kind, e.id) in posted]
        if mine:
            items.append(shadow_items(s.shadow, d.row, mine))
    return items
