"""The Business Central emulator: state, seeding, persistence and BC's error answers.

:class:`BusinessCentralEmulator` owns the record store, the per-company number series, the
etag row versions and the equality index used by verify-before-create probes. HTTP routes
are in :mod:`accord_sandbox.business_central.routes`, business rules (posting, totals,
relations) in :mod:`accord_sandbox.business_central.rules`, OData parsing in
:mod:`accord_sandbox.business_central.odata`.
"""

import threading
import uuid
from collections import defaultdict
from collections.abc import Callable
from datetime import date, datetime
from typing import Any

import httpx
from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse
from typing_extensions import override

from accord_sandbox.business_central.auth import EntraApp, EntraDirectory
from accord_sandbox.business_central.entities import (
    BLANK_DATE,
    ENTITY_SETS,
    EntitySet,
    make_etag,
    normalize_number,
)
from accord_sandbox.business_central.errors import BCError
from accord_sandbox.business_central.webhooks import WebhookHub, iso
from accord_sandbox.common import (
    DEFAULT_CLIENT_ID,
    DEFAULT_CLIENT_SECRET,
    FaultSpec,
    retry_after_header,
)
from accord_sandbox.firm import Firm
from accord_sandbox.odata import ODataEmulator

__all__ = ["DEFAULT_PAGE_SIZE", "BusinessCentralEmulator"]

Record = dict[str, Any]

DEFAULT_PAGE_SIZE = 20_000
"""BC's maximum entities per page (reference 5.2)."""
RATE_PER_5_MINUTES = 6_000
"""Requests per principal in any 5-minute window (reference 5.3)."""
CONCURRENT_REQUESTS = 100
"""Concurrent requests (reference 5.3)."""

_NAMESPACE = uuid.UUID("6f1f1c1e-5b1a-4c8e-9a43-bc0000000000")

# The base class and the fault layer use upper-case generic codes; BC answers with its own
# Category_Reason codes. The translations are [inferred]: the reference gives only statuses.
_GENERIC_CODES = {
    429: "TooManyRequests",
    500: "Internal_ServerError",
    502: "BadGateway",
    503: "ServiceUnavailable",
    504: "GatewayTimeout",
}


def _rng_state(state: tuple[Any, ...]) -> list[Any]:
    version, internal, gauss = state
    return [version, list(internal), gauss]


class _Index:
    """(set, company, property, value) -> ids in insertion order, for ``eq`` probes."""

    def __init__(self) -> None:
        self._ids: dict[tuple[str, str, str, str], dict[str, None]] = defaultdict(dict)
        self._lock = threading.RLock()

    def update(self, spec: EntitySet, old: Record | None, new: Record | None) -> None:
        with self._lock:
            for rec, adding in ((old, False), (new, True)):
                if rec is None:
                    continue
                for prop in spec.indexed:
                    value = rec.get(prop)
                    if not isinstance(value, str) or not value:
                        continue
                    key = (spec.name, rec["_companyId"], prop, value)
                    if adding:
                        self._ids[key][rec["id"]] = None
                    else:
                        self._ids[key].pop(rec["id"], None)

    def lookup(self, set_name: str, company_id: str, prop: str, value: str) -> list[str]:
        return list(self._ids.get((set_name, company_id, prop, value), {}))

    def clear(self) -> None:
        with self._lock:
            self._ids.clear()


class BusinessCentralEmulator(ODataEmulator):
    """Dynamics 365 Business Central API v2.0 with Entra ID client-credentials auth.

    Args:
        client_id: The Entra application (client) id accepted by the token endpoint.
        client_secret: Its secret (certificates are added with
            ``emulator.entra.app.upload_certificate``).
        seed: Seed of the emulator's random generator (ids of created records, faults).
        base_url: Where clients reach the emulator; used in ``@odata.context``,
            ``@odata.nextLink`` and ``Location``.
        tenant: The tenant id in ``/{tenant}/oauth2/v2.0/token`` and ``/v2.0/{tenant}/...``.
        environment: The environment name in ``/v2.0/{tenant}/{environment}/api/v2.0``.
        page_size: Entities per page before ``@odata.nextLink`` (BC: 20,000).
        clock: Source of ``lastModifiedDateTime`` and webhook timestamps (UTC-aware).
        webhook_transport: httpx transport for handshakes and notifications (tests).
        limits: enforce BC's rate and concurrency limits (default); False only where a test
            says why.
    """

    name = "business_central"

    def __init__(
        self,
        *,
        client_id: str = DEFAULT_CLIENT_ID,
        client_secret: str = DEFAULT_CLIENT_SECRET,
        seed: int = 7,
        base_url: str = "http://127.0.0.1:8804",
        tenant: str = "sandbox-tenant",
        environment: str = "production",
        page_size: int = DEFAULT_PAGE_SIZE,
        clock: Callable[[], datetime] | None = None,
        webhook_transport: httpx.AsyncBaseTransport | None = None,
        limits: bool = True,
    ) -> None:
        self.environment = environment
        self.index = _Index()
        self._write_lock = threading.RLock()
        super().__init__(
            client_id=client_id,
            client_secret=client_secret,
            seed=seed,
            base_url=base_url,
            tenant=tenant,
            page_size=page_size,
            clock=clock,
            limits=limits,
        )
        self.entra = EntraDirectory(
            tenant=tenant,
            app=EntraApp(client_id, client_secret),
            signing_key=EntraDirectory.key_for(tenant, seed),
            token_url=lambda: f"{self.base_url}/{self.tenant}/oauth2/v2.0/token",
        )
        """Entra ID: the token endpoint, the app registration, and BC's check of tokens."""
        self.webhooks = WebhookHub(self.store, clock=self.clock, transport=webhook_transport)

    # ----------------------------------------------------------------- Emulator hooks
    @override
    def add_routes(self, app: FastAPI) -> None:
        # Imported here because routes needs this class's type for its annotations.
        from accord_sandbox.business_central.routes import register  # noqa: PLC0415

        register(self, app)

    @override
    def error_response(
        self, status: int, code: str, message: str, *, retry_after: float | None = None
    ) -> Response:
        """BC's ``{"error":{"code","message"}}``; messages end with a CorrelationId (ref 5.2)."""
        if code.isupper():
            code = _GENERIC_CODES.get(status, "BadRequest")
        body = {"error": {"code": code, "message": f"{message}  CorrelationId:  {uuid.uuid4()}."}}
        return JSONResponse(body, status_code=status, headers=retry_after_header(retry_after))

    @override
    def vendor_limits(self) -> list[FaultSpec]:
        """6,000 requests per 5-minute sliding window and 100 concurrent requests.

        Reference 5.3 (learn.microsoft.com, dynamics-rate-limits). One principal uses the
        sandbox, so the limit holds for the whole API; the token endpoint (Entra ID, another
        host in production) is outside it. A ``$batch`` request counts as its operations
        (:mod:`accord_sandbox.business_central.batch`) and holds one of the 100 connections.
        """
        api = "/v2.0/*/api/*"
        return [
            FaultSpec(path=api, limit_per_window=RATE_PER_5_MINUTES, window_s=300.0),
            FaultSpec(path=api, concurrency=CONCURRENT_REQUESTS),
        ]

    @override
    def is_batch_request(self, method: str, path: str) -> bool:
        return method == "POST" and path.endswith("/$batch")

    @override
    def throttle_response(self, *, retry_after: float) -> Response:
        """429 with ``Retry-After`` (reference 5.3; the header is [inferred] there)."""
        return self.error_response(
            429,
            "TooManyRequests",
            "The request was throttled: the rate limit of 6000 requests per 5 minutes "
            "was exceeded. Retry after the time in the Retry-After header.",
            retry_after=max(retry_after, 1.0),
        )

    @override
    def load_firm(self, firm: Firm) -> None:
        """Load companies, dimensions, employees/resources, periods, currencies and journals."""
        from accord_sandbox.business_central.seed import load_firm  # noqa: PLC0415

        load_firm(self, firm)

    @override
    def reset_state(self) -> None:
        self.index.clear()
        super().reset_state()

    @override
    def dump_extra(self) -> dict[str, Any]:
        return {
            **super().dump_extra(),
            # Ids come from the seeded generator: without its state a restored emulator
            # would hand out the ids of records it already holds.
            "rng": _rng_state(self.rng.getstate()),
            "entra": self.entra.dump(),
        }

    @override
    def load_extra(self, data: dict[str, Any]) -> None:
        super().load_extra(data)
        self.entra.load(data.get("entra", {}))
        rng = data.get("rng")
        if rng is not None:
            self.rng.setstate((rng[0], tuple(rng[1]), rng[2]))
        self.index.clear()
        for spec in ENTITY_SETS.values():
            for rec in self.store.all(spec.name):
                self.index.update(spec, None, rec)

    # ----------------------------------------------------------------- ids, numbers, time
    def new_id(self) -> str:
        """A fresh GUID, reproducible for a given seed and request sequence."""
        return str(uuid.UUID(int=self.rng.getrandbits(128), version=4))

    @staticmethod
    def stable_id(*parts: str) -> str:
        """A GUID derived from names, so seeded records keep their ids across resets."""
        return str(uuid.uuid5(_NAMESPACE, "/".join(parts)))

    def next_number(self, company_id: str, series: str, start: int = 1, width: int = 5) -> str:
        """The next number of a per-company number series, e.g. ``C00001``."""
        key = f"{company_id}:{series}"
        with self._write_lock:
            value = self.counters.get(key, start - 1) + 1
            self.counters[key] = value
        return f"{series}{value:0{width}d}"

    def now_iso(self) -> str:
        """``lastModifiedDateTime`` for a change made now."""
        return iso(self.clock())

    def today(self) -> str:
        """BC's work date: today, per the injected clock."""
        return self.clock().date().isoformat()

    # ----------------------------------------------------------------- companies, periods
    def company(self, company_id: str) -> Record:
        """The stored company ``company_id``.

        Raises:
            BCError: 404 when there is no such company.
        """
        rec = self.store.get("companies", company_id.strip("'").lower())
        if rec is None:
            raise BCError(
                404,
                "BadRequest_NotFound",
                f"The company does not exist. Identification fields and values: Id='{company_id}'",
            )
        return rec

    def period_closed(self, company_id: str, day: str) -> bool:
        """Whether ``day`` falls in a closed period of the company's legal entity."""
        code = self.company_codes.get(company_id)
        if code is None or day in ("", BLANK_DATE):
            return False
        return self.period_status(code, day) == "closed"

    # ----------------------------------------------------------------- records
    def records(self, spec: EntitySet, company_id: str) -> list[Record]:
        """Every stored record of ``spec`` in one company, in creation order."""
        return [r for r in self.store.all(spec.name) if r.get("_companyId") == company_id]

    def find(self, spec: EntitySet, company_id: str, record_id: str) -> Record:
        """One record by id.

        Raises:
            BCError: 404 ``BadRequest_NotFound`` when it does not exist in this company.
        """
        rec = self.store.get(spec.name, record_id.strip("'").lower())
        if rec is None or rec.get("_companyId") != company_id:
            # Wording [inferred] after BC's "does not exist. Identification fields" texts.
            raise BCError(
                404,
                "BadRequest_NotFound",
                f"The {spec.type_name} does not exist. Identification fields and values: "
                f"Id='{record_id}'",
            )
        return rec

    def find_by(self, spec: EntitySet, company_id: str, prop: str, value: str) -> Record | None:
        """The first record whose ``prop`` equals ``value`` (index-backed when possible)."""
        if prop in spec.indexed:
            ids = self.index.lookup(spec.name, company_id, prop, value)
            return self.store.get(spec.name, ids[0]) if ids else None
        return next((r for r in self.records(spec, company_id) if r.get(prop) == value), None)

    def candidates(self, spec: EntitySet, company_id: str, prop: str, value: str) -> list[Record]:
        """Records whose indexed ``prop`` equals ``value``, in creation order."""
        out = [
            self.store.get(spec.name, i)
            for i in self.index.lookup(spec.name, company_id, prop, value)
        ]
        return [r for r in out if r is not None]

    def put_version(self, spec: EntitySet, record: Record, old: Record | None = None) -> Record:
        """Store a new version: fresh etag and ``lastModifiedDateTime``, index updated."""
        with self._write_lock:
            self.rowversion += 1
            record["@odata.etag"] = make_etag(self.rowversion)
            if spec.prop("lastModifiedDateTime") is not None:
                record["lastModifiedDateTime"] = self.now_iso()
            self.index.update(spec, old, record)
            self.store.put(spec.name, record["id"], record)
        return record

    def remove(self, spec: EntitySet, record: Record) -> None:
        """Delete a record and, for a header, its lines."""
        with self._write_lock:
            self.store.delete(spec.name, record["id"])
            self.index.update(spec, record, None)
            for child in ENTITY_SETS.values():
                if child.parent == spec.name and child.parent_key:
                    for line in self.records(child, record["_companyId"]):
                        if line.get(child.parent_key) == record["id"]:
                            self.remove(child, line)

    def view(self, spec: EntitySet, record: Record) -> Record:
        """The public representation: ``@odata.etag`` then properties in BC's order."""
        out: Record = {"@odata.etag": record.get("@odata.etag", make_etag(0))}
        for prop in spec.props:
            value = record.get(prop.name, prop.blank())
            if prop.type == "decimal" and isinstance(value, int | float):
                value = normalize_number(value)
            out[prop.name] = value
        if spec.name == "accountingPeriods":
            closed = self.period_closed(record["_companyId"], str(record.get("startingDate")))
            out["closed"] = out["dateLocked"] = closed
        return out

    @override
    def count_duplicate(self, request: Request) -> None:
        """Count a refused duplicate create (same number twice) as a duplicate, not a write."""
        super().count_duplicate(request)
        self.stats.duplicates_by_identity["number"] += 1

    def count_posted_duplicate(self) -> None:
        """Count a posting BC already held (found at post time: no request endpoint to blame)."""
        self.stats.duplicates["POST journals/Microsoft.NAV.post"] += 1
        self.store.duplicate_count += 1

    def days_after(self, day: str, days: int) -> str:
        """``day`` plus ``days`` as ISO date (due dates)."""
        return date.fromordinal(date.fromisoformat(day).toordinal() + days).isoformat()
