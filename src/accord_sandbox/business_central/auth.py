"""The Entra ID (Azure AD) side of Business Central: client-credentials tokens and their errors.

Tokens are stateless (HMAC-signed with the client secret) so that they survive an emulator
restart with ``--state``. Entra's error JSON is not in ``shared/reference/saas-apis.md``;
the ``AADSTS`` codes and the body shape below are [inferred] from Entra's public error
catalogue and marked so.
"""

import base64
import hashlib
import hmac
import json
import time
import uuid
from datetime import UTC, datetime

from fastapi.responses import JSONResponse

__all__ = [
    "BC_SCOPE",
    "TOKEN_LIFETIME_S",
    "entra_error",
    "issue_token",
    "verify_token",
]

BC_SCOPE = "https://api.businesscentral.dynamics.com/.default"
"""The only scope a client-credentials request for Business Central may ask for."""
TOKEN_LIFETIME_S = 3599
"""``expires_in`` of the reference's token response."""


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def issue_token(*, client_id: str, secret: str, tenant: str, now: float | None = None) -> str:
    """A bearer token for ``client_id``; opaque to clients, JWT-like only for readability."""
    issued = time.time() if now is None else now
    claims = {"appid": client_id, "tid": tenant, "exp": int(issued) + TOKEN_LIFETIME_S}
    body = _b64(json.dumps(claims, separators=(",", ":")).encode())
    sig = _b64(hmac.new(secret.encode(), body.encode(), hashlib.sha256).digest())
    return f"sandbox.{body}.{sig}"


def verify_token(token: str, *, client_id: str, secret: str, tenant: str) -> bool:
    """Whether ``token`` was issued by :func:`issue_token` for this client and is unexpired."""
    parts = token.split(".")
    if len(parts) != 3 or parts[0] != "sandbox":
        return False
    expected = _b64(hmac.new(secret.encode(), parts[1].encode(), hashlib.sha256).digest())
    if not hmac.compare_digest(expected, parts[2]):
        return False
    try:
        claims = json.loads(_unb64(parts[1]))
    except ValueError:
        return False
    return (
        claims.get("appid") == client_id
        and claims.get("tid") == tenant
        and int(claims.get("exp", 0)) > time.time()
    )


def entra_error(status: int, error: str, aadsts: int, description: str) -> JSONResponse:
    """Entra's OAuth error body [inferred shape].

    Fields: ``error``, ``error_description`` (the AADSTS code, then trace and correlation
    ids), ``error_codes``, ``timestamp``, ``trace_id``, ``correlation_id``, ``error_uri``.
    """
    trace_id, correlation_id = str(uuid.uuid4()), str(uuid.uuid4())
    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%SZ")
    text = (
        f"AADSTS{aadsts}: {description} Trace ID: {trace_id} "
        f"Correlation ID: {correlation_id} Timestamp: {stamp}"
    )
    return JSONResponse(
        {
            "error": error,
            "error_description": text,
            "error_codes": [aadsts],
            "timestamp": stamp,
            "trace_id": trace_id,
            "correlation_id": correlation_id,
            "error_uri": f"https://login.microsoftonline.com/error?code={aadsts}",
        },
        status_code=status,
    )
