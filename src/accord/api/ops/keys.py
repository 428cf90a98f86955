"""``/api/v1/keys``: API keys for admins: list, create (the secret is shown once), rotate, revoke.

A revoked key keeps working for at most ``api.key_cache_seconds`` (the verifier's cache, at
most one second). A key expires ``api.key_days`` after it is created or rotated unless the
request says otherwise; a rotated-away secret keeps working for the overlap asked for.
"""

from datetime import datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Path, Request
from pydantic import BaseModel, Field

from accord.api.errors import Problem
from accord.api.ops.common import PROBLEMS, Admin, Engine
from accord.store import keys as keys_repo
from accord.store.keys import Role
from accord.store.util import utc_now

__all__ = ["router"]

router = APIRouter(prefix="/api/v1/keys", tags=["keys"], responses=PROBLEMS)


class KeyOut(BaseModel):
    """A key, never its secret."""

    name: str
    role: Role
    prefix: str
    created_at: datetime
    revoked_at: datetime | None
    expires_at: datetime | None = Field(default=None, description="null: never expires")
    last_used_at: datetime | None = Field(
        default=None, description="last use, to the minute; null: never used"
    )
    superseded_at: datetime | None = Field(
        default=None, description="when the key was rotated away from this secret"
    )

    @classmethod
    def of(cls, k: keys_repo.ApiKey) -> "KeyOut":
        """From the store's value (the fields of the same names; the row id stays inside)."""
        return cls.model_validate(k, from_attributes=True)


class KeyList(BaseModel):
    """Every key secret, oldest first (rotated-away ones too)."""

    items: list[KeyOut]


class KeyIn(BaseModel):
    """A new key."""

    name: str = Field(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9_.@-]+$")
    role: Role
    expires_in_days: int | None = Field(
        default=None, ge=0, le=3650, description="null: the server's default; 0: never expires"
    )


class RotateIn(BaseModel):
    """A rotation: how long the old secret keeps working, and the new one's lifetime."""

    overlap_seconds: int = Field(
        default=86_400, ge=0, le=30 * 86_400, description="the old secret's remaining life"
    )
    expires_in_days: int | None = Field(
        default=None, ge=0, le=3650, description="null: the server's default; 0: never expires"
    )


class CreatedKeyOut(KeyOut):
    """The new key with its secret, shown this once."""

    secret: str


class RotatedKeyOut(BaseModel):
    """The new secret (shown this once) and the old one, working until its ``expires_at``."""

    key: CreatedKeyOut
    previous: KeyOut


_NAME = Annotated[str, Path(max_length=100, pattern=r"^[^\x00]+$")]


def _expiry(request: Request, days: int | None) -> datetime | None:
    """When a new secret expires: ``days`` from now, or the server's default (0: never)."""
    if days is None:
        days = int(request.app.state.settings.api.key_days)
    return utc_now() + timedelta(days=days) if days > 0 else None


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
def create_key(body: KeyIn, principal: Admin, engine: Engine, request: Request) -> CreatedKeyOut:
    """Create a key (admin); the answer holds the secret, which is never shown again."""
    try:
        with engine.begin() as conn:
            key, secret = keys_repo.create(
                conn,
                name=body.name,
                role=body.role,
                actor=principal.actor,
                expires_at=_expiry(request, body.expires_in_days),
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
def revoke_key(name: _NAME, principal: Admin, engine: Engine) -> KeyOut:
    """Revoke an active key by name (admin): every secret of it stops working."""
    with engine.begin() as conn:
        revoked = keys_repo.revoke(conn, name=name, actor=principal.actor)
    if revoked is None:
        raise Problem(404, "Not found", f"no active key named {name!r}")
    return KeyOut.of(revoked)


@router.post(
    "/{name}/rotate",
    response_model=RotatedKeyOut,
    status_code=201,
    responses={404: {"description": "No such active key"}},
    summary="Rotate a key",
)
def rotate_key(
    name: _NAME,
    principal: Admin,
    engine: Engine,
    request: Request,
    body: RotateIn | None = None,
) -> RotatedKeyOut:
    """Give a key a new secret (admin); the old one keeps working for ``overlap_seconds``."""
    body = body or RotateIn()
    try:
        with engine.begin() as conn:
            old, new, secret = keys_repo.rotate(
                conn,
                name=name,
                actor=principal.actor,
                overlap=timedelta(seconds=body.overlap_seconds),
                expires_at=_expiry(request, body.expires_in_days),
            )
    except keys_repo.UnknownKeyError as exc:
        raise Problem(404, "Not found", str(exc)) from exc
    return RotatedKeyOut(
        key=CreatedKeyOut(**KeyOut.of(new).model_dump(), secret=secret), previous=KeyOut.of(old)
    )
