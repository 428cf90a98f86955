"""``/api/v1/audit``: the hash-chained audit log, filtered and paged, and its verification.

Checkpoints (a signed head kept outside Accord) are taken and checked with the CLI
(``accord audit checkpoint``, ``accord audit verify --checkpoint FILE``).

Filters by actor, action, target (exact, or a prefix ending in ``*`` such as
``exception:*``) and time; pages newest first with the ``before_seq`` keyset cursor.
"""

import json
from datetime import datetime
from typing import Annotated, Any

import sqlalchemy as sa
from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, Field

from accord.api.ops.common import PROBLEMS, IsoDateTime, Reader, engine_of
from accord.store import audit as audit_repo
from accord.store.tables import audit_log
from accord.store.util import as_utc, utc_now

__all__ = ["router"]

router = APIRouter(prefix="/api/v1/audit", tags=["audit"], responses=PROBLEMS)


class AuditOut(BaseModel):
    """One audit entry: who did what to which target, when, with before and after."""

    seq: int
    at: datetime
    actor: str
    action: str
    target: str
    before: Any = None
    after: Any = None
    hash: str


class AuditPage(BaseModel):
    """A page of entries, newest first; pass ``next_before_seq`` as ``before_seq``."""

    items: list[AuditOut]
    limit: int
    next_before_seq: int | None = Field(description="null on the last page")


class VerifyOut(BaseModel):
    """Whether the hash chain is intact, and the first broken row if not."""

    ok: bool
    first_broken_seq: int | None
    problem: str | None = Field(default=None, description="what is broken; null when intact")
    rows: int = Field(default=0, description="rows verified")
    keyed_rows: int = Field(default=0, description="rows whose hash is keyed (an HMAC)")


def _loads(raw: str | None) -> Any:  # noqa: ANN401 - arbitrary audit JSON
    return json.loads(raw) if raw else None


@router.get("", response_model=AuditPage, summary="Search the audit log")
def list_audit(
    *,
    _p: Reader,
    engine: Annotated[sa.Engine, Depends(engine_of)],
    actor: Annotated[str | None, Query(max_length=128, pattern=r"^[^\x00]*$")] = None,
    action: Annotated[str | None, Query(max_length=128, pattern=r"^[^\x00]*$")] = None,
    target: Annotated[str | None, Query(max_length=256, pattern=r"^[^\x00]*$")] = None,
    since: IsoDateTime | None = None,
    until: IsoDateTime | None = None,
    before_seq: Annotated[int | None, Query(ge=1, le=2**62)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> AuditPage:
    """Entries matching the filters (``since`` inclusive, ``until`` exclusive), newest first."""
    q = sa.select(audit_log).order_by(audit_log.c.seq.desc()).limit(limit)
    if actor:
        q = q.where(audit_log.c.actor == actor)
    if action:
        q = q.where(audit_log.c.action == action)
    if target:
        if target.endswith("*"):
            prefix = target[:-1].replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
            q = q.where(audit_log.c.target.like(f"{prefix}%", escape="\\"))
        else:
            q = q.where(audit_log.c.target == target)
    # Audit times are stored without microseconds (they are hashed), so compare at seconds.
    if since:
        q = q.where(audit_log.c.at >= since.replace(microsecond=0))
    if until:
        q = q.where(audit_log.c.at < until)
    if before_seq is not None:
        q = q.where(audit_log.c.seq < before_seq)
    with engine.connect() as conn:
        rows = conn.execute(q).all()
    items = [
        AuditOut(
            seq=r.seq,
            at=as_utc(r.at) or utc_now(),
            actor=r.actor,
            action=r.action,
            target=r.target,
            before=_loads(r.before),
            after=_loads(r.after),
            hash=r.hash,
        )
        for r in rows
    ]
    return AuditPage(
        items=items,
        limit=limit,
        next_before_seq=items[-1].seq if len(items) == limit else None,
    )


@router.get("/verify", response_model=VerifyOut, summary="Verify the hash chain")
def verify(_p: Reader, engine: Annotated[sa.Engine, Depends(engine_of)]) -> VerifyOut:
    """Walk the chain from the first row; name the first row whose hash does not match."""
    with engine.connect() as conn:
        report = audit_repo.check(conn)
    return VerifyOut(
        ok=report.ok,
        first_broken_seq=report.first_broken_seq,
        problem=report.problem,
        rows=report.rows,
        keyed_rows=report.keyed_rows,
    )
