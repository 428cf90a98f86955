"""The Salesforce (with Certinia PSA) emulator: OAuth2 token endpoint, REST routes, limits, knobs.

Paths, verbs, status codes and bodies follow ``shared/reference/saas-apis.md`` sections 1, 2
and 6. This module owns HTTP: authentication, the daily API request limit and its
``Sforce-Limit-Info`` header, the route table, and the emulator-specific control endpoints under
``/__sandbox/salesforce/``. Resource behaviour is in ``rest.py``, data rules in ``engine.py``.
"""

import base64
import hashlib
import hmac
import json
import re
import time
from collections import deque
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

import jwt
from cryptography import x509
from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from typing_extensions import override

from accord_sandbox.common import (
    DEFAULT_CLIENT_ID,
    DEFAULT_CLIENT_SECRET,
    Emulator,
    FaultSpec,
    utc_now,
)
from accord_sandbox.firm import Firm
from accord_sandbox.salesforce.engine import Engine, SfError
from accord_sandbox.salesforce.ids import ORG_ID, IdFactory
from accord_sandbox.salesforce.rest import Answer, RestApi, decode_body
from accord_sandbox.salesforce.schema import build_schema
from accord_sandbox.salesforce.seed import seed_firm

__all__ = ["API_VERSIONS", "LATEST_VERSION", "SalesforceEmulator"]

OLDEST_VERSION = 31
LATEST_VERSION = 68
"""Newest API version served; the reference's examples go up to v68.0."""
API_VERSIONS = tuple(f"{n}.0" for n in range(OLDEST_VERSION, LATEST_VERSION + 1))
"""Every ``vNN.0`` the emulator answers ([inferred] range)."""
JWT_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"
JWT_AUDIENCES = ("https://login.salesforce.com", "https://test.salesforce.com")
DAY_SECONDS = 86_400.0
LONG_RUNNING_CONCURRENCY = 25
"""Concurrent long-running requests allowed per production org or sandbox."""
LONG_RUNNING_S = 20.0
"""How long a request runs before it counts as long-running."""
_VERSIONED = re.compile(r"^/services/data/v(\d+\.\d)(?:/(.*))?$")

Handler = Callable[[Request], Awaitable[Response]]


class LockRowsRequest(BaseModel):
    """Body of ``POST /__sandbox/salesforce/lock_rows``."""

    model_config = ConfigDict(extra="forbid")

    count: int = Field(ge=0, description="the next N record writes fail with UNABLE_TO_LOCK_ROW")


class MergeRequest(BaseModel):
    """Body of ``POST /__sandbox/salesforce/merge``: merge ``loser_id`` into ``master_id``."""

    model_config = ConfigDict(extra="forbid")

    master_id: str = Field(description="the account that survives")
    loser_id: str = Field(description="the account merged into it (deleted, MasterRecordId set)")


class ApiUsageRequest(BaseModel):
    """Body of ``POST /__sandbox/salesforce/api_usage``: set the rolling 24 h request count."""

    model_config = ConfigDict(extra="forbid")

    used: int = Field(ge=0)
    limit: int | None = Field(default=None, ge=1)


def _release_label(version: int) -> str:
    """Release name of an API version (v66.0 is Spring '26; three releases a year)."""
    r = version - 66
    season = ("Spring", "Summer", "Winter")[r % 3]
    year = 26 + r // 3 + (1 if season == "Winter" else 0)
    return f"{season} '{year:02d}"


def _token_error(error: str, description: str) -> JSONResponse:
    return JSONResponse({"error": error, "error_description": description}, status_code=400)


def _jwt_claims(assertion: str) -> dict[str, Any] | None:
    """The claims of a compact JWT, or None when it is not one."""
    parts = assertion.split(".")
    if len(parts) != 3:
        return None
    padded = parts[1] + "=" * (-len(parts[1]) % 4)
    try:
        claims = json.loads(base64.urlsafe_b64decode(padded))
    except ValueError:
        return None
    return claims if isinstance(claims, dict) else None


class SalesforceEmulator(Emulator):
    """Salesforce REST (v31.0-v68.0) with Certinia PSA objects, seeded from a :class:`Firm`."""

    name = "salesforce"

    def __init__(
        self,
        *,
        client_id: str = DEFAULT_CLIENT_ID,
        client_secret: str = DEFAULT_CLIENT_SECRET,
        seed: int = 7,
        base_url: str = "http://127.0.0.1:8801",
        daily_limit: int = 100_000,
        clock: Callable[[], datetime] = utc_now,
        limits: bool = True,
    ) -> None:
        self.daily_limit = daily_limit
        self._configured_daily_limit = daily_limit
        self.clock = clock
        self.schema = build_schema()
        self.ids = IdFactory()
        self.tokens: dict[str, str] = {}
        """Issued access tokens -> grant type; they never expire unless expired via the knob."""
        self.jwt_certificates: list[str] = []
        """PEM certificates uploaded to the connected app ("Use digital signatures")."""
        self.firm: Firm | None = None
        self.firm_ids: dict[str, str] = {}
        self._calls: deque[float] = deque()
        super().__init__(
            client_id=client_id,
            client_secret=client_secret,
            seed=seed,
            base_url=base_url,
            limits=limits,
        )
        self.user_id = self.ids.next("005")
        self.engine = Engine(self.schema, self.store, self.ids, clock, self.user_id)
        self.rest = RestApi(self.engine, self.created, self.count_write, self.limits)
        self._seed_user()

    # ------------------------------------------------------------------ Emulator hooks
    @override
    def error_response(
        self, status: int, code: str, message: str, *, retry_after: float | None = None
    ) -> Response:
        headers = {"Sforce-Limit-Info": self.limit_info()}
        if retry_after:
            headers["Retry-After"] = str(max(1, round(retry_after)))
        body = [{"message": message, "errorCode": code, "fields": []}]
        return JSONResponse(body, status_code=status, headers=headers)

    @override
    def throttle_response(self, *, retry_after: float) -> Response:
        # Salesforce's own throttle is the 403 daily limit; a burst fault injected through
        # /__sandbox/faults answers 429 + Retry-After so clients' backoff can be exercised.
        return self.error_response(
            429,
            "REQUEST_LIMIT_EXCEEDED",
            "Too many requests. Retry after the delay in Retry-After.",
            retry_after=max(retry_after, 1.0),
        )

    @override
    def vendor_limits(self) -> list[FaultSpec]:
        """25 concurrent requests that have run 20 s or longer, per production org or sandbox.

        Salesforce "API Request Limits and Allocations" (salesforce-app-limits-platform-api);
        reference 1.6. The daily allowance is :attr:`daily_limit`, enforced in the middleware.
        """
        return [
            FaultSpec(
                path="/services/data/*",
                concurrency=LONG_RUNNING_CONCURRENCY,
                long_running_s=LONG_RUNNING_S,
            )
        ]

    @override
    def concurrency_response(self) -> Response:
        # Reference 1.6 [inferred text]: the concurrent long-running request limit.
        return self.error_response(
            403, "REQUEST_LIMIT_EXCEEDED", "ConcurrentPerOrgLongTxn Limit exceeded."
        )

    @override
    def seed_firm(self, firm: Any) -> None:
        self.firm = firm if isinstance(firm, Firm) else Firm.model_validate(firm)
        self.firm_ids = seed_firm(self.engine, self.firm)

    @override
    def reset_state(self) -> None:
        super().reset_state()
        self.ids.counters.clear()
        self.engine.autonumbers.clear()
        self.engine.lock_rows = 0
        self.engine.journal = None
        self.engine.rebuild_index()
        self.rest.cursors.clear()
        self._calls.clear()
        # /__sandbox/salesforce/api_usage may have lowered it; a reset is a fresh org.
        self.daily_limit = self._configured_daily_limit
        self.firm_ids = {}
        self.user_id = self.ids.next("005")
        self.engine.user_id = self.user_id
        self._seed_user()
        if self.firm is not None:
            self.firm_ids = seed_firm(self.engine, self.firm)

    @override
    def dump_extra(self) -> dict[str, Any]:
        return {
            "ids": dict(self.ids.counters),
            "autonumbers": dict(self.engine.autonumbers),
            "tokens": dict(self.tokens),
            "jwt_certificates": list(self.jwt_certificates),
            "firm_ids": dict(self.firm_ids),
            "firm": self.firm.model_dump(mode="json") if self.firm is not None else None,
            "picklists": {
                f"{o.name}.{f.name}": list(f.picklist)
                for o in self.schema.objects.values()
                for f in o.fields.values()
                if f.picklist
            },
        }

    @override
    def load_extra(self, data: dict[str, Any]) -> None:
        self.jwt_certificates = list(data.get("jwt_certificates", []))
        self.ids.counters = {k: int(v) for k, v in data.get("ids", {}).items()}
        self.engine.autonumbers = {k: int(v) for k, v in data.get("autonumbers", {}).items()}
        self.tokens = dict(data.get("tokens", {}))
        self.firm_ids = dict(data.get("firm_ids", {}))
        firm = data.get("firm")
        self.firm = Firm.model_validate(firm) if firm else None
        for key, values in data.get("picklists", {}).items():
            obj, _, field_name = key.partition(".")
            if obj in self.schema.objects and field_name in self.schema.objects[obj].fields:
                self.schema.add_picklist_values(obj, field_name, values)
        self.engine.rebuild_index()

    def _seed_user(self) -> None:
        """The integration ("run-as") user that owns everything the API creates."""
        now = self.engine.clock()
        stamp = now.strftime("%Y-%m-%dT%H:%M:%S.000+0000")
        self.store.put(
            "User",
            self.user_id,
            {
                "Id": self.user_id,
                "IsDeleted": False,
                "Name": "Integration User",
                "FirstName": "Integration",
                "LastName": "User",
                "Email": "integration@accord.example",
                "Username": "integration@accord.example",
                "Alias": "integ",
                "IsActive": True,
                "CreatedDate": stamp,
                "CreatedById": self.user_id,
                "LastModifiedDate": stamp,
                "LastModifiedById": self.user_id,
                "SystemModstamp": stamp,
                "CurrencyIsoCode": "USD",
            },
        )

    # ------------------------------------------------------------------ limits
    def _prune(self) -> None:
        cutoff = time.monotonic() - DAY_SECONDS
        while self._calls and self._calls[0] < cutoff:
            self._calls.popleft()

    def limit_info(self) -> str:
        """The ``Sforce-Limit-Info`` value: calls in the rolling 24 h / the daily limit."""
        self._prune()
        return f"api-usage={len(self._calls)}/{self.daily_limit}"

    def limits(self) -> dict[str, Any]:
        """``GET /limits`` ([inferred] shape, reference 1.6)."""
        self._prune()
        used = len(self._calls)
        return {
            "DailyApiRequests": {
                "Max": self.daily_limit,
                "Remaining": max(0, self.daily_limit - used),
            }
        }

    # ------------------------------------------------------------------ auth
    def _session_ok(self, request: Request) -> bool:
        auth = request.headers.get("authorization", "")
        scheme, _, token = auth.partition(" ")
        return scheme.lower() in {"bearer", "oauth"} and token.strip() in self.tokens

    def _issue(self, grant: str) -> dict[str, Any]:
        token = f"{ORG_ID[:15]}!AQ{self.rng.getrandbits(256):064x}"
        self.tokens[token] = grant
        return {
            "access_token": token,
            "scope": "api",
            "instance_url": self.base_url,
            "id": f"{self.base_url}/id/{ORG_ID}/{self.user_id}",
            "token_type": "Bearer",
        }

    async def token(self, request: Request) -> Response:
        """``POST /services/oauth2/token``: client credentials or JWT bearer."""
        form = dict((await request.form()).items())
        fields = {k: str(v) for k, v in form.items()}
        grant = fields.get("grant_type", "")
        if grant == "client_credentials":
            client_id, secret = fields.get("client_id", ""), fields.get("client_secret", "")
            basic = request.headers.get("authorization", "")
            if basic.lower().startswith("basic "):
                client_id, _, secret = base64.b64decode(basic[6:]).decode().partition(":")
            if not hmac.compare_digest(client_id, self.client_id) or not hmac.compare_digest(
                secret, self.client_secret
            ):
                return _token_error("invalid_client", "invalid client credentials")
            body = self._issue(grant)
            issued = str(int(self.clock().timestamp() * 1000))
            digest = hmac.new(
                self.client_secret.encode(), (body["id"] + issued).encode(), hashlib.sha256
            )
            body.update(issued_at=issued, signature=base64.b64encode(digest.digest()).decode())
            return JSONResponse(body)
        if grant == JWT_GRANT:
            return self._jwt(fields.get("assertion", ""))
        if not grant:
            return _token_error("invalid_request", "grant type is required")
        return _token_error("unsupported_grant_type", "grant type not supported")

    def _signed_by_app_certificate(self, assertion: str) -> bool:
        """Whether an uploaded certificate verifies the RS256 signature.

        Salesforce verifies the JWT bearer assertion with the certificate uploaded to the
        connected app (Salesforce Help "OAuth 2.0 JWT Bearer Flow for Server-to-Server
        Integration", reference 1.1); the claims are checked apart, below.
        """
        for pem in self.jwt_certificates:
            key = x509.load_pem_x509_certificate(pem.encode()).public_key()
            try:
                jwt.decode(
                    assertion,
                    key,  # type: ignore[arg-type]  # RSA, as uploaded
                    algorithms=["RS256"],
                    options={
                        "verify_aud": False,
                        "verify_exp": False,
                        "verify_iat": False,
                        "verify_nbf": False,
                    },
                )
            except jwt.PyJWTError:
                continue
            return True
        return False

    def _jwt(self, assertion: str) -> Response:
        claims = _jwt_claims(assertion)
        if claims is None or not self._signed_by_app_certificate(assertion):
            # [inferred description] for a signature no uploaded certificate verifies.
            return _token_error("invalid_grant", "invalid assertion")
        if claims.get("iss") != self.client_id:
            return _token_error("invalid_client", "client identifier invalid")
        if not claims.get("sub"):
            return _token_error("invalid_grant", "invalid assertion")
        aud = str(claims.get("aud", "")).rstrip("/")
        if aud not in (*JWT_AUDIENCES, self.base_url):
            return _token_error("invalid_grant", "audience is invalid")
        exp = claims.get("exp")
        if not isinstance(exp, (int, float)) or exp < self.clock().timestamp():
            # [inferred description] an expired or missing exp claim.
            return _token_error("invalid_grant", "expired assertion")
        return JSONResponse(self._issue(JWT_GRANT))

    # ------------------------------------------------------------------ HTTP layer
    async def _gate(self, request: Request, call_next: Handler) -> Response:
        """Session check, daily limit and ``Sforce-Limit-Info`` around every versioned call."""
        m = _VERSIONED.match(request.url.path)
        if m is None:
            return await call_next(request)
        if m.group(1) not in API_VERSIONS:
            return self.error_response(404, "NOT_FOUND", "The requested resource does not exist")
        if not self._session_ok(request):
            # Reference 1.1 [inferred text]: the body of an expired or invalid session.
            return self.error_response(401, "INVALID_SESSION_ID", "Session expired or invalid")
        self._prune()
        if len(self._calls) >= self.daily_limit:
            # Reference 1.6: 403, not 429; the message text is [inferred].
            return self.error_response(
                403, "REQUEST_LIMIT_EXCEEDED", "TotalRequests Limit exceeded."
            )
        self._calls.append(time.monotonic())
        response = await call_next(request)
        response.headers["Sforce-Limit-Info"] = self.limit_info()
        return response

    async def _serve(self, request: Request) -> Response:
        m = _VERSIONED.match(request.url.path)
        version, rest = (m.group(1), m.group(2) or "") if m else (f"{LATEST_VERSION}.0", "")
        try:
            body = (
                decode_body(await request.body())
                if request.method in {"POST", "PATCH", "PUT"}
                else None
            )
        except SfError as err:
            return self._respond(Answer(err.status, err.body()))
        params = dict(request.query_params)
        answer = self.rest.dispatch(
            request,
            request.method,
            version,
            rest,
            params=params,
            body=body,
            headers=dict(request.headers),
        )
        return self._respond(answer)

    def _respond(self, answer: Answer) -> Response:
        if answer.status in {204, 304}:
            return Response(status_code=answer.status, headers=answer.headers)
        return JSONResponse(answer.body, status_code=answer.status, headers=answer.headers)

    @override
    def add_routes(self, app: FastAPI) -> None:
        app.middleware("http")(self._gate)

        async def versions() -> list[dict[str, str]]:
            return [
                {
                    "label": _release_label(int(float(v))),
                    "url": f"/services/data/v{v}",
                    "version": v,
                }
                for v in API_VERSIONS
            ]

        for path in ("/services/data", "/services/data/"):
            app.add_api_route(path, versions, methods=["GET"])
        app.add_api_route("/services/oauth2/token", self.token, methods=["POST"])
        prefix = "/services/data/{version}"
        table: list[tuple[str, list[str]]] = [
            ("", ["GET"]),
            ("/limits", ["GET"]),
            ("/sobjects", ["GET"]),
            ("/sobjects/{sobject}", ["GET", "POST"]),
            ("/sobjects/{sobject}/describe", ["GET"]),
            ("/sobjects/{sobject}/{record_id}", ["GET", "PATCH", "DELETE", "POST"]),
            ("/sobjects/{sobject}/{ext_field}/{ext_value}", ["GET", "PATCH", "DELETE"]),
            ("/query", ["GET"]),
            ("/query/{locator}", ["GET"]),
            ("/queryAll", ["GET"]),
            ("/queryAll/{locator}", ["GET"]),
            ("/composite", ["POST"]),
            ("/composite/sobjects", ["GET", "POST", "PATCH", "DELETE"]),
            ("/composite/sobjects/{sobject}", ["GET"]),
            ("/composite/sobjects/{sobject}/{ext_field}", ["PATCH"]),
        ]
        for suffix, methods in table:
            # simple-salesforce and others append a trailing slash (``.../sobjects/Account/``).
            for path in (prefix + suffix, prefix + suffix + "/"):
                app.add_api_route(path, self._serve, methods=methods, include_in_schema=False)
        self._control_routes(app)

    def _control_routes(self, app: FastAPI) -> None:
        """Knobs only this emulator has, next to the common ``/__sandbox/`` control API."""

        async def lock_rows(body: LockRowsRequest) -> dict[str, int]:
            self.engine.lock_rows = body.count
            return {"pending": self.engine.lock_rows}

        async def expire_sessions() -> dict[str, int]:
            expired = len(self.tokens)
            self.tokens.clear()
            return {"expired": expired}

        async def api_usage(body: ApiUsageRequest) -> dict[str, Any]:
            if body.limit is not None:
                self.daily_limit = body.limit
            now = time.monotonic()
            self._calls = deque([now] * body.used)
            return {"api_usage": self.limit_info()}

        async def firm_ids() -> dict[str, str]:
            return dict(self.firm_ids)

        async def merge(body: MergeRequest) -> Response:
            # [inferred]: a person merging two accounts in the UI (the REST API has no merge).
            try:
                master = self.engine.merge(body.master_id, body.loser_id)
            except SfError as exc:
                return JSONResponse(exc.body(), status_code=exc.status)
            return JSONResponse({"master_id": str(master["Id"]), "loser_id": body.loser_id})

        async def remove_field(sobject: str, field_name: str) -> Response:
            # An org whose admin deleted a field (or never deployed it): describe stops listing
            # it and the REST API refuses it, as it would for any unknown field. Until restart.
            obj = self.schema.get(sobject)
            if obj is None or obj.fields.pop(field_name, None) is None:
                return JSONResponse({"detail": "no such field"}, status_code=404)
            return Response(status_code=204)

        app.add_api_route("/__sandbox/salesforce/lock_rows", lock_rows, methods=["POST"])
        app.add_api_route(
            "/__sandbox/salesforce/fields/{sobject}/{field_name}", remove_field, methods=["DELETE"]
        )
        app.add_api_route(
            "/__sandbox/salesforce/expire_sessions", expire_sessions, methods=["POST"]
        )
        app.add_api_route("/__sandbox/salesforce/api_usage", api_usage, methods=["POST"])
        app.add_api_route("/__sandbox/salesforce/firm_ids", firm_ids, methods=["GET"])

        async def jwt_certificate(body: dict[str, str]) -> Response:
            """Upload a certificate to the connected app ("Use digital signatures")."""
            pem = body.get("certificate", "")
            try:
                x509.load_pem_x509_certificate(pem.encode())
            except ValueError:
                return JSONResponse({"detail": "give an X.509 certificate in PEM"}, 400)
            self.jwt_certificates.append(pem)
            return Response(status_code=204)

        app.add_api_route(
            "/__sandbox/salesforce/jwt_certificates", jwt_certificate, methods=["POST"]
        )
        app.add_api_route("/__sandbox/salesforce/merge", merge, methods=["POST"])
