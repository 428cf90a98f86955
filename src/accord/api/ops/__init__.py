"""Ops API v1: runs, exceptions, dead letters, replay, connections, audit log, keys, rules.

Each module holds one resource's router; :data:`router` gathers them for ``create_app``.
Roles (see :mod:`accord.api.ops.common`): viewers read, operators act on exceptions, runs and
replays, admins manage keys and connections (and may do everything else); ingest keys get 403
here. Every mutating call writes its audit row in the same transaction as the change.
"""

from fastapi import APIRouter

from accord.api.ops import (
    audit,
    connections,
    dead_letters,
    exceptions,
    keys,
    replay,
    rules,
    runs,
)

__all__ = ["router"]

router = APIRouter()
for _module in (runs, exceptions, dead_letters, replay, connections, audit, keys, rules):
    router.include_router(_module.router)
