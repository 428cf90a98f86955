"""The Dynamics 365 Finance emulator: state, keys, versions, seeding and F&O's error answers.

:class:`DynamicsFinanceEmulator` owns the record store (records by entity set and key), the
per-company number sequences, the row versions behind ``@odata.etag``, the undo log that
makes a ``$batch`` changeset all or nothing, and the registered Entra applications. HTTP
routes are in :mod:`accord_sandbox.dynamics_finance.routes` (``$batch`` framing in
:mod:`.batch`), business rules (relations, posting) in :mod:`.rules`, seeding in :mod:`.seed`.
"""

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import Any

from fastapi import FastAPI, Response
from fastapi.responses import JSONResponse
from typing_extensions import override

from accord_sandbox.common import (
    DEFAULT_CLIENT_ID,
    DEFAULT_CLIENT_SECRET,
    FaultSpec,
    retry_after_header,
)
from accord_sandbox.dynamics_finance.auth import TokenIssuer
from accord_sandbox.dynamics_finance.entities import (
    ENTITY_SETS,
    EntitySet,
    make_etag,
    normalize_number,
)
from accord_sandbox.dynamics_finance.errors import FinError, not_found
from accord_sandbox.firm import Firm
from accord_sandbox.odata import ODataEmulator

__all__ = ["CONCURRENCY_LIMIT", "DEFAULT_PAGE_SIZE", "DynamicsFinanceEmulator"]

Record = dict[str, Any]

DEFAULT_PAGE_SIZE = 10_000
"""Finance and operations' server-driven page size (Microsoft, "Open Data Protocol")."""
CONCURRENCY_LIMIT = 52
"""Concurrent requests per user per web server (Microsoft, "Service protection API limits")."""
DEFAULT_COMPANY = "dat"
"""The sandbox app user's default company: what a read without ``cross-company`` sees."""

# Finance and operations answers every OData error with an empty code; the fault layer's
# generic codes become its messages.
_FAULT_MESSAGES = {
    500: "An error has occurred.",
    502: "Bad Gateway",
    503: "The service is unavailable.",
    504: "Gateway Timeout",
}
_REQUEST_LIMIT = "Number of requests exeeded the limit of 6000 over the time window of 300 seconds."
"""Microsoft's documented text for the request-count limit (its spelling kept)."""
_CONCURRENCY_MESSAGE = "Number of concurrent requests exceeded the limit of 52."

INDEXED = frozenset(
    {
        "CustomerAccount",
        "CustomersOrderReference",
        "Description",
        "Document",
        "InvoiceIdentifier",
        "JournalBatchNumber",
        "JournalId",
        "PaymentReference",
        "ProjId",
        "ProjectContractId",
        "ProjectID",
        "ProjectId",
        "TransactionID",
        "TransactionId",
    }
)
"""Fields whose ``eq`` filters are answered from an index (look-ups by key or reference)."""


class DynamicsFinanceEmulator(ODataEmulator):
    """Dynamics 365 Finance OData (``/data/``) with Entra ID client-credentials auth.

    Args:
        client_id: The Entra application (client) id accepted by the token endpoint and
            registered on the environment's Microsoft Entra applications page.
        client_secret: Its secret.
        seed: Seed of the emulator's random generator (faults).
        base_url: Where clients reach the emulator; it is also the environment URL (the
            token resource) and the root of ``@odata.context`` and ``@odata.nextLink``.
        tenant: The tenant id in ``/{tenant}/oauth2/v2.0/token``.
        page_size: Entities per page before ``@odata.nextLink`` (F&O: 10,000).
        clock: Source of ``ModifiedDateTime`` and posting times (UTC-aware).
        limits: enforce F&O's concurrency limit (default); False only where a test says why.
    """

    name = "dynamics_finance"

    def __init__(
        self,
        *,
        client_id: str = DEFAULT_CLIENT_ID,
        client_secret: str = DEFAULT_CLIENT_SECRET,
        seed: int = 7,
        base_url: str = "http://127.0.0.1:8805",
        tenant: str = "sandbox-tenant",
        page_size: int = DEFAULT_PAGE_SIZE,
        clock: Callable[[], datetime] | None = None,
        limits: bool = True,
    ) -> None:
        self.apps: dict[str, str] = {client_id: "Admin"}
        """Microsoft Entra applications page: client id -> the user it acts as."""
        self._undo: list[tuple[str, str, Record | None]] | None = None
        self._index: dict[tuple[str, str, str], dict[str, None]] = {}
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
        self.tokens = TokenIssuer(
            tenant=tenant,
            resource=self.base_url,
            client_id=client_id,
            client_secret=client_secret,
        )

    # ----------------------------------------------------------------- Emulator hooks
    @override
    def add_routes(self, app: FastAPI) -> None:
        # Imported here because routes needs this class's type for its annotations.
        from accord_sandbox.dynamics_finance.routes import register  # noqa: PLC0415

        register(self, app)

    @override
    def error_response(
        self, status: int, code: str, message: str, *, retry_after: float | None = None
    ) -> Response:
        """F&O's ``{"error":{"code":"","message":...}}`` (injected faults included)."""
        if code.isupper():
            message = _FAULT_MESSAGES.get(status, message)
        headers = retry_after_header(retry_after)
        return JSONResponse(FinError(status, message).body(), status, headers=headers)

    @override
    def throttle_response(self, *, retry_after: float) -> Response:
        """429 with ``Retry-After`` and the documented request-limit text."""
        return self.error_response(429, "", _REQUEST_LIMIT, retry_after=max(retry_after, 1.0))

    @override
    def concurrency_response(self) -> Response:
        """429 with ``Retry-After`` and the documented concurrency-limit text."""
        return self.error_response(429, "", _CONCURRENCY_MESSAGE, retry_after=1.0)

    @override
    def vendor_limits(self) -> list[FaultSpec]:
        """52 concurrent requests (Microsoft, "Service protection API limits").

        The documented limit that holds at any moment; the 6,000 requests per 300 s window is
        left to an explicit fault (``rate_limit_per_s=20``) so long benchmarks still run.
        """
        return [FaultSpec(path="/data/*", concurrency=CONCURRENCY_LIMIT)]

    @override
    def load_firm(self, firm: Firm) -> None:
        """Load legal entities, resources, periods, currencies, dimensions and journal names."""
        from accord_sandbox.dynamics_finance.seed import load_firm  # noqa: PLC0415

        load_firm(self, firm)

    @override
    def reset_state(self) -> None:
        self._index.clear()
        self.apps = {self.client_id: "Admin"}
        super().reset_state()

    @override
    def dump_extra(self) -> dict[str, Any]:
        return {**super().dump_extra(), "apps": dict(self.apps)}

    @override
    def load_extra(self, data: dict[str, Any]) -> None:
        super().load_extra(data)
        self.apps = dict(data.get("apps", {self.client_id: "Admin"}))
        self._index.clear()
        for spec in ENTITY_SETS.values():
            for record_id, record in self.store.objects.get(spec.name, {}).items():
                self._index_record(spec.name, record_id, record, add=True)

    # ----------------------------------------------------------------- numbers and time
    def next_number(self, company: str, series: str, width: int = 6) -> str:
        """The next number of a per-company number sequence, e.g. ``PRJ-000001``."""
        key = f"{company}:{series}"
        self.counters[key] = self.counters.get(key, 0) + 1
        return f"{series}{self.counters[key]:0{width}d}"

    def next_recid(self) -> int:
        """A RecId-like surrogate key (``InvoiceIdentifier``)."""
        self.counters["recid"] = self.counters.get("recid", 0) + 1
        return 5637144576 + self.counters["recid"]

    def now_iso(self) -> str:
        """``ModifiedDateTime`` for a change made now (F&O keeps whole seconds)."""
        return self.clock().replace(microsecond=0).strftime("%Y-%m-%dT%H:%M:%SZ")

    def today(self) -> str:
        """The session date as a date field (``T12:00:00Z``)."""
        return self.clock().strftime("%Y-%m-%dT12:00:00Z")

    @staticmethod
    def days_after(day: str, days: int) -> str:
        """A date field ``days`` after ``day``."""
        moment = datetime.fromisoformat(day) + timedelta(days=days)
        return moment.strftime("%Y-%m-%dT12:00:00Z")

    # ----------------------------------------------------------------- companies, periods
    def companies(self) -> list[str]:
        """Every dataAreaId, the default company first."""
        return [DEFAULT_COMPANY, *sorted(c for c in self.company_codes if c != DEFAULT_COMPANY)]

    def require_company(self, company: str, table: str) -> str:
        """``company`` in lower case, or a write failure when the environment has none."""
        area = company.lower()
        if area not in self.company_codes and area != DEFAULT_COMPANY:
            raise FinError(
                400,
                "An error has occurred.",
                inner=f"Write failed for table row of type '{table}'. Infolog: Warning: "
                f"Company '{company}' does not exist.",
            )
        return area

    def period_closed(self, company: str, day: str) -> bool:
        """Whether ``day`` (a date field) falls in a closed period of the company."""
        code = self.company_codes.get(company)
        if code is None or not day or day.startswith("1900-01-01"):
            return False
        return self.period_status(code, day[:10]) == "closed"

    def currency_of(self, company: str) -> str:
        """The company's accounting currency."""
        entity = self.lookup(ENTITY_SETS["LegalEntities"], LegalEntityId=company)
        return str(entity.get("AccountingCurrency") or "USD") if entity else "USD"

    # ----------------------------------------------------------------- keys and records
    @staticmethod
    def record_id(spec: EntitySet, values: dict[str, Any]) -> str:
        """The store id of a record: its key values, case-insensitive as SQL compares them."""
        parts = []
        for name in spec.key_fields:
            value = values.get(name)
            text = str(normalize_number(value)) if isinstance(value, int | float) else str(value)
            parts.append(text.casefold())
        return "|".join(parts)

    def find(self, spec: EntitySet, key: dict[str, Any]) -> Record:
        """One record by its full key.

        Raises:
            FinError: 404 when there is none.
        """
        rec = self.store.get(spec.name, self.record_id(spec, key))
        if rec is None:
            raise not_found(spec.name)
        return rec

    def lookup(self, spec: EntitySet, **key: Any) -> Record | None:  # noqa: ANN401 - key values
        """One record by its full key, or None."""
        return self.store.get(spec.name, self.record_id(spec, key))

    def records(self, spec: EntitySet, company: str | None = None) -> list[Record]:
        """Every record of ``spec`` (in one company when given), in creation order."""
        rows = self.store.all(spec.name)
        if company is None or not spec.company:
            return rows
        return [r for r in rows if r.get("dataAreaId") == company]

    def put_version(self, spec: EntitySet, record: Record) -> Record:
        """Store a new version: fresh etag and ``ModifiedDateTime`` (undo-logged in a changeset)."""
        self.rowversion += 1
        record["_rowversion"] = self.rowversion
        if spec.modified:
            record["ModifiedDateTime"] = self.now_iso()
        record_id = self.record_id(spec, record)
        old = self._store(spec.name, record_id, record)
        if self._undo is not None:
            self._undo.append((spec.name, record_id, old))
        return record

    def remove(self, spec: EntitySet, record: Record) -> None:
        """Delete one record (undo-logged in a changeset)."""
        record_id = self.record_id(spec, record)
        old = self._store(spec.name, record_id, None)
        if self._undo is not None and old is not None:
            self._undo.append((spec.name, record_id, old))

    def _store(self, set_name: str, record_id: str, record: Record | None) -> Record | None:
        """Put (or, with None, delete) one record, keeping the index; returns the old one."""
        old = self.store.get(set_name, record_id)
        if old is not None:
            self._index_record(set_name, record_id, old, add=False)
        if record is None:
            self.store.delete(set_name, record_id)
        else:
            self.store.put(set_name, record_id, record)
            self._index_record(set_name, record_id, record, add=True)
        return old

    def _index_record(self, set_name: str, record_id: str, record: Record, *, add: bool) -> None:
        for name in INDEXED.intersection(record):
            key = (set_name, name, str(record[name]).casefold())
            if add:
                self._index.setdefault(key, {})[record_id] = None
            else:
                self._index.get(key, {}).pop(record_id, None)

    def candidates(self, spec: EntitySet, field: str, values: list[str]) -> list[Record]:
        """Records whose indexed ``field`` equals one of ``values`` (index order)."""
        ids: dict[str, None] = {}
        for value in values:
            ids.update(self._index.get((spec.name, field, value.casefold()), {}))
        rows = self.store.objects.get(spec.name, {})
        return [rows[i] for i in ids if i in rows]

    @contextmanager
    def changeset(self) -> Iterator[Callable[[], None]]:
        """Collect an undo log; the yielded callable rolls every change back.

        Handlers run on the event loop without awaiting between writes, so nothing else
        interleaves with a changeset.
        """
        self._undo = []
        log = self._undo

        def rollback() -> None:
            for set_name, record_id, old in reversed(log):
                self._store(set_name, record_id, old)
            log.clear()

        try:
            yield rollback
        finally:
            self._undo = None

    def view(self, spec: EntitySet, record: Record, select: list[str] | None = None) -> Record:
        """The public representation: ``@odata.etag`` then the properties."""
        out: Record = {"@odata.etag": make_etag(int(record.get("_rowversion", 0)))}
        names = spec.names if select is None else [n for n in spec.names if n in select]
        for name in names:
            prop = spec.prop(name)
            if prop is None:  # pragma: no cover - names come from the spec
                continue
            value = record.get(name, prop.blank())
            if prop.type == "decimal" and isinstance(value, int | float):
                value = normalize_number(value)
            out[name] = value
        if spec.name == "LedgerFiscalPeriods" and (select is None or "PeriodStatus" in select):
            closed = self.period_closed(str(record["dataAreaId"]), str(record["StartDate"]))
            out["PeriodStatus"] = "Closed" if closed else "Open"
        return out


def entity_set(name: str) -> EntitySet:
    """The entity set called ``name``.

    Raises:
        FinError: 404 for a name the service does not expose (names are case-sensitive).
    """
    spec = ENTITY_SETS.get(name)
    if spec is None:
        raise not_found(name)
    return spec
