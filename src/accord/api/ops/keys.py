"""``/api/v1/keys``: API keys for admins: list, create (the secret is shown once), revoke.

A revoked key keeps working for at most ``api.key_cache_seconds`` (the verifier's cache).
"""

from datetime import datetime
from typing import Annotated

import sqlalchemy as sa
from fastapi import APIRouter, Depends, Path
from pydantic import BaseModel, Field

from accord.api.errors import Problem
from accord.api.ops.common import PROBLEMS, Admin, engine_of
from accord.store import keys as keys_repo
from accord.store.keys import Role

__all__ = ["router"]

router = APIRouter(prefix="/api/v1/keys", tags=["keys"], responses=PROBLEMS)


class KeyOut(BaseModel):
    """A key, never its secret."""

    name: str
    role: Role
    prefix: str
    created_at: datetime
    revoked_at: datetime | None

    @classmethod
    def of(cls, k: keys_repo.ApiKey) -> "KeyOut":
        """From the store's value."""
        return cls(
            name=k.name,
            role=k.role,
            prefix=k.prefix,
            created_at=k.created_at,
            revoked_at=k.revoked_at,
        )


class KeyList(BaseModel):
    """Every key, oldest first."""

    items: list[KeyOut]


class KeyIn(BaseModel):
    """A new key."""

    name: str = Field(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9_.@-]+$")
    role: Role


class CreatedKeyOut(KeyOut):
    """The new key with its secret, shown this once."""

    secret: str


Engine = Annotated[sa.Engine, Depends(engine_of)]


@router.get("", response_model=KeyList, summary="List keys")
def list_keys(_p: Admin, engine: Engine) -> KeyList:
    """Every key (admin)."""
    with engine.connect() as conn:
        return KeyList(items=[KeyOut.of(k) for k in keys_repo.list_(conn)])


@router.post(
    "",
    response_model=CreatedKeyOut,
    status_code=201,
    responses={409: {"description": "A key with this name exists"}},
    summary="Create a key",
)
def create_key(body: KeyIn, principal: Admin, engine: Engine) -> CreatedKeyOut:
    """Create a key (admin); the answer holds the secret, which is never shown again."""
    try:
        with engine.begin() as conn:
            key, secret = keys_repo.create(
                conn, name=body.name, role=body.role, actor=principal.actor
            )
    except keys_repo.DuplicateKeyNameError as exc:
        raise Problem(409, "Conflict", str(exc)) from exc
    return CreatedKeyOut(**KeyOut.of(key).model_dump(), secret=secret)


@router.delete(
    "/{name}",
    response_model=KeyOut,
    responses={404: {"description": "No such active key"}},
    summary="Revoke a key",
)
def revoke_key(
    name: Annotated[str, Path(max_length=100, pattern=r"^[^\x00]+$")],
    principal: Admin,
    engine: Engine,
) -> KeyOut:
    """Revoke an active key by name (admin)."""
    with engine.begin() as conn:
        revoked = keys_repo.revoke(conn, name=name, actor=principal.actor)
    if revoked is None:
        raise Problem(404, "Not found", f"no active key named {name!r}")
    return KeyOut.of(revoked)
