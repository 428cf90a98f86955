"""Process APIs: questions that must be answered now, across systems.

- ``POST /api/v1/accounts/validate``: can this account be billed? Every check is named.
- ``POST /api/v1/projects``: provision a project from a canonical engagement (a won
  opportunity) through the same durable lead-to-project flow that events start, and wait for
  it up to a timeout (201 with the ids, or 202 with the run to poll).
- ``GET /api/v1/invoices/{id}`` and ``GET /api/v1/customers/{id}/receivables``: status and
  amounts from the ERP of record, whatever system's id the caller has (joined through the
  xref).

What does not belong here: single-system reads (:mod:`accord.api.systems`, whose reader and
cache these routes reuse) and the provisioning itself (the flow; this module only journals
the ``opportunity.won`` event and waits).
"""

import asyncio
import json
import time
from collections.abc import Callable, Iterable
from decimal import Decimal
from enum import StrEnum
from typing import Annotated, Any, Literal, Self, TypeVar

from fastapi import APIRouter, Depends, Header, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, model_validator

from accord.api.auth import Principal
from accord.api.errors import Problem
from accord.api.governance import API_PREFIX, PROBLEM_RESPONSES, PROCESS_ROLES, guard
from accord.api.systems import (
    CACHE_SECONDS,
    XREF_TYPES,
    Entity,
    Fetched,
    SystemReader,
    connector_problem,
    entity_kind,
    system_reader,
)
from accord.connectors.roles import CrmAccount
from accord.domain import Address, Customer, Invoice, Money, Opportunity, business_key
from accord.domain.enums import InvoiceStatus
from accord.errors import (
    AccordError,
    ConfigError,
    MappingError,
    NotFoundError,
    RuleViolation,
    UnsupportedOperationError,
)
from accord.flows.intake import IntakeWriter, Receipt
from accord.flows.registry import workflow_for
from accord.rules import Rules
from accord.rules.spec import LegalEntitySpec
from accord.store import journal, lineage, xref
from accord.store.ids import next_id
from accord.store.journal import NewEvent
from accord.store.util import utc_now

__all__ = ["PROVISION_SOURCE", "router"]

PROVISION_SOURCE = "accord/api/projects"
"""CloudEvents ``source`` of the ``opportunity.won`` events this API journals."""
_FINISHED = frozenset({"SUCCESS", "ERROR", "CANCELLED", "MAX_RECOVERY_ATTEMPTS_EXCEEDED"})
_POLL_SECONDS = 0.05

_GUARD = guard(*PROCESS_ROLES)
"""One guard object, so a route that also asks for the caller gets it from the request's
dependency cache (one authentication, one rate-limit token)."""
T = TypeVar("T")

router = APIRouter(
    prefix=API_PREFIX,
    tags=["process"],
    dependencies=[Depends(_GUARD)],
    responses=PROBLEM_RESPONSES,
)


# --------------------------------------------------------------------------- validate
class CheckStatus(StrEnum):
    """The outcome of one check."""

    PASSED = "passed"
    FAILED = "failed"
    UNKNOWN = "unknown"
    """The check could not be made now (a system did not answer); not billable until it is."""


class Check(BaseModel):
    """One named check of an account."""

    name: Literal[
        "hierarchy_resolved",
        "legal_entity_valid",
        "subsidiary_valid",
        "bill_to_complete",
        "tax_region_known",
        "credit_hold",
    ]
    status: CheckStatus
    detail: str


class AccountValidationRequest(BaseModel):
    """A CRM account id (read from the CRM) or a canonical customer, exactly one."""

    model_config = ConfigDict(extra="forbid")

    crm_account_id: str | None = Field(default=None, description="The CRM's id of the account.")
    crm_connection: str = Field(default="salesforce", description="The CRM connection to read.")
    customer: Customer | None = Field(default=None, description="A canonical customer instead.")

    @model_validator(mode="after")
    def _exactly_one(self) -> Self:
        if (self.crm_account_id is None) == (self.customer is None):
            raise ValueError("give exactly one of crm_account_id and customer")
        return self


class AccountValidation(BaseModel):
    """Whether an account can be billed, and why not."""

    customer_id: str
    billable: bool = Field(description="True when every check passed.")
    failed: list[str] = Field(description="Names of the checks that did not pass.")
    checks: list[Check]


class _Facts(BaseModel):
    """What the checks look at, taken from a canonical customer or a raw CRM account."""

    customer_id: str
    parent_id: str | None = None
    parent_crm_id: str | None = None
    legal_entity: str | None = None
    tax_region: str | None = None
    bill_to: dict[str, str | None] = Field(default_factory=dict)


def _facts_from_customer(customer: Customer, crm_parent_id: str | None) -> _Facts:
    """Facts of a canonical customer; ``crm_parent_id`` is its parent's CRM id, if it names one.

    A parent Accord has not linked yet carries the CRM's id in its canonical id: the check
    reads it there.
    """
    address: Address | None = customer.bill_to
    return _Facts(
        customer_id=customer.id,
        parent_id=customer.parent_id,
        parent_crm_id=crm_parent_id,
        legal_entity=customer.legal_entity,
        tax_region=customer.tax_region,
        bill_to=address.model_dump(mode="json") if address is not None else {},
    )


def _facts_from_account(account: CrmAccount) -> _Facts:
    """Facts from a CRM account that does not map: it may be incomplete, which is the point."""
    return _Facts(
        customer_id=account.id,
        parent_id=account.parent_id,
        parent_crm_id=account.parent_crm_id,
        legal_entity=account.legal_entity,
        tax_region=account.tax_region,
        bill_to=dict(account.bill_to),
    )


class _Validator:
    def __init__(self, reader: SystemReader, rules: Rules) -> None:
        self.reader = reader
        self.rules = rules

    def hierarchy(self, facts: _Facts, crm_connection: str) -> Check:
        if facts.parent_id is None:
            return Check(name="hierarchy_resolved", status=CheckStatus.PASSED, detail="top level")
        with self.reader.engine.connect() as conn:
            known = [
                r
                for r in xref.find_by_any_id(conn, facts.parent_id)
                if entity_kind(r.entity_type) == "Customer"
            ]
        if known:
            return Check(
                name="hierarchy_resolved",
                status=CheckStatus.PASSED,
                detail=f"parent {known[0].canonical_id} is known to Accord",
            )
        if facts.parent_crm_id is not None:
            try:
                self.reader.read(crm_connection, Entity.CUSTOMERS, facts.parent_crm_id)
            except AccordError as exc:
                return Check(
                    name="hierarchy_resolved",
                    status=CheckStatus.FAILED,
                    detail=f"parent {facts.parent_crm_id} cannot be read from the CRM: {exc}",
                )
            return Check(
                name="hierarchy_resolved",
                status=CheckStatus.PASSED,
                detail=f"parent {facts.parent_crm_id} resolved in the CRM",
            )
        return Check(
            name="hierarchy_resolved",
            status=CheckStatus.FAILED,
            detail=f"parent {facts.parent_id} is not known to Accord",
        )

    def run(self, facts: _Facts, crm_connection: str) -> list[Check]:
        checks = [self.hierarchy(facts, crm_connection)]
        entity = None
        try:
            entity = self.rules.legal_entity(facts.legal_entity or "")
            checks.append(
                Check(
                    name="legal_entity_valid",
                    status=CheckStatus.PASSED,
                    detail=f"{facts.legal_entity} books in {entity.erp.value}",
                )
            )
        except RuleViolation as exc:
            checks.append(
                Check(name="legal_entity_valid", status=CheckStatus.FAILED, detail=exc.message)
            )
        checks.append(self.subsidiary(facts, entity))
        missing = [
            f for f in ("line1", "city", "postal_code", "country") if not facts.bill_to.get(f)
        ]
        checks.append(
            Check(
                name="bill_to_complete",
                status=CheckStatus.FAILED if missing else CheckStatus.PASSED,
                detail=f"missing: {', '.join(missing)}" if missing else "complete",
            )
        )
        try:
            rule = self.rules.tax_rule(facts.tax_region or "")
            checks.append(
                Check(
                    name="tax_region_known",
                    status=CheckStatus.PASSED,
                    detail=f"{facts.tax_region}: {rule.kind.value}",
                )
            )
        except RuleViolation as exc:
            checks.append(
                Check(name="tax_region_known", status=CheckStatus.FAILED, detail=exc.message)
            )
        checks.append(self.credit(facts, entity.connection if entity is not None else None))
        return checks

    def subsidiary(self, facts: _Facts, entity: LegalEntitySpec | None) -> Check:
        if entity is None:
            return Check(
                name="subsidiary_valid",
                status=CheckStatus.FAILED,
                detail="no valid legal entity, so no subsidiary",
            )
        if entity.connection not in self.reader.connections.names():
            return Check(
                name="subsidiary_valid",
                status=CheckStatus.FAILED,
                detail=f"{facts.legal_entity}'s ERP connection {entity.connection!r} is not set up",
            )
        label, book = entity.erp_book
        where = f"{entity.erp.value} {label} {book}"
        return Check(name="subsidiary_valid", status=CheckStatus.PASSED, detail=where)

    def credit(self, facts: _Facts, connection: str | None) -> Check:
        if connection is None:
            return Check(
                name="credit_hold", status=CheckStatus.UNKNOWN, detail="no ERP of record known"
            )
        with self.reader.engine.connect() as conn:
            erp_id = next(
                (
                    found
                    for etype in XREF_TYPES["Customer"]
                    if (
                        found := xref.get_external(
                            conn,
                            entity_type=etype,
                            canonical_id=facts.customer_id,
                            connection=connection,
                        )
                    )
                ),
                None,
            )
        if erp_id is None:
            return Check(
                name="credit_hold",
                status=CheckStatus.PASSED,
                detail=f"not in {connection} yet: created without a hold on first provisioning",
            )
        try:
            held = self.reader.erp_customer(connection, erp_id).credit_hold
        except AccordError as exc:
            return Check(
                name="credit_hold",
                status=CheckStatus.UNKNOWN,
                detail=f"{connection} did not answer: {type(exc).__name__}",
            )
        return Check(
            name="credit_hold",
            status=CheckStatus.FAILED if held else CheckStatus.PASSED,
            detail=f"{connection} customer {erp_id} is {'on' if held else 'not on'} credit hold",
        )


def _customer_of(reader: SystemReader, connection: str, record_id: str) -> Customer:
    model = reader.read(connection, Entity.CUSTOMERS, record_id).model
    if not isinstance(model, Customer):
        raise MappingError(f"{connection} did not answer a customer")
    return model


def _validate(reader: SystemReader, body: AccountValidationRequest) -> AccountValidation:
    rules = reader.rules()
    if rules is None:
        raise Problem(503, "Rules not loaded", "no rules file is configured for this process")

    def facts_of(customer: Customer) -> _Facts:
        parent = None
        if customer.parent_id:
            try:
                parent = reader.crm(body.crm_connection).crm_id(customer.parent_id)
            except (ConfigError, UnsupportedOperationError):
                parent = None  # no CRM to read the parent in: the xref must know it
        return _facts_from_customer(customer, parent)

    if body.customer is not None:
        facts = facts_of(body.customer)
    else:
        crm_id = body.crm_account_id or ""
        try:
            facts = facts_of(_customer_of(reader, body.crm_connection, crm_id))
        except MappingError:
            # An incomplete account is an answer, not an error: check what it does have.
            system_id = reader.system_id(body.crm_connection, Entity.CUSTOMERS, crm_id)
            facts = _facts_from_account(reader.crm(body.crm_connection).account(system_id))
    checks = _Validator(reader, rules).run(facts, body.crm_connection)
    failed: list[str] = [c.name for c in checks if c.status is not CheckStatus.PASSED]
    return AccountValidation(
        customer_id=facts.customer_id, billable=not failed, failed=failed, checks=checks
    )


@router.post(
    "/accounts/validate",
    response_model=AccountValidation,
    summary="Can this account be billed? Every check named",
    responses={
        404: {"description": "Unknown CRM connection or account"},
        422: {"description": "Invalid request body"},
        502: {"description": "The CRM refused Accord's credentials"},
        503: {"description": "The CRM is unavailable, or no rules are loaded"},
    },
)
async def validate_account(
    body: AccountValidationRequest, reader: SystemReader = Depends(system_reader)
) -> AccountValidation:
    """Hierarchy, legal entity and subsidiary, bill-to, tax region and ERP credit hold."""
    try:
        return await asyncio.to_thread(_validate, reader, body)
    except AccordError as exc:
        raise connector_problem(exc, connection=body.crm_connection) from exc


# --------------------------------------------------------------------------- provision
class ProvisionRequest(BaseModel):
    """A canonical engagement to provision a project for."""

    model_config = ConfigDict(extra="forbid")

    opportunity: Opportunity = Field(description="The won opportunity (canonical).")
    wait_seconds: float = Field(
        default=10.0, ge=0, le=60, description="How long to wait for the run before 202."
    )


class ProvisionedProject(BaseModel):
    """The project a run provisioned."""

    run_id: str
    opportunity_id: str
    project_id: str = Field(description="Accord's canonical project id.")
    ids: dict[str, str] = Field(description="The project's id in each connection.")
    duplicate: bool = Field(description="True when the Idempotency-Key was seen before.")


class ProvisionAccepted(BaseModel):
    """The run is still going: poll ``run_url``."""

    run_id: str
    status: str = Field(description="The run's status (ENQUEUED, PENDING...).")
    run_url: str
    duplicate: bool


def _same_request(existing: dict[str, Any] | None, data_json: str) -> bool:
    return existing is None or existing == json.loads(data_json)


def _existing_data(reader: SystemReader, ce_id: str) -> tuple[bool, dict[str, Any] | None]:
    with reader.engine.connect() as conn:
        found = journal.find_existing(conn, [(PROVISION_SOURCE, ce_id)])
        entry = found.get((PROVISION_SOURCE, ce_id))
        if entry is None:
            return False, None
        stored = journal.get(conn, seq=entry.seq)
    return True, stored[1] if stored is not None else None


def _project_for(
    reader: SystemReader, opportunity_id: str, output: object
) -> ProvisionedProject | None:
    with reader.engine.connect() as conn:
        links = [
            link
            for node_type in XREF_TYPES["Opportunity"]
            for link in lineage.list_for(conn, node_type=node_type, node_id=opportunity_id)
        ]
        project_id = next(
            (
                link.to_id
                for link in links
                if entity_kind(link.to_type) == "Project" and link.from_id == opportunity_id
            ),
            None,
        )
        if project_id is None and isinstance(output, dict):
            candidate = output.get("project_id")
            project_id = str(candidate) if candidate else None
        if project_id is None:
            return None
        rows = [
            row
            for etype in XREF_TYPES["Project"]
            for row in xref.list_for(conn, entity_type=etype, canonical_ids=[project_id])
        ]
    return ProvisionedProject(
        run_id="",
        opportunity_id=opportunity_id,
        project_id=project_id,
        ids={r.connection: r.external_id for r in rows},
        duplicate=False,
    )


def _run_status(request: Request, run_id: str) -> tuple[str, object, str | None]:
    client = request.app.state.services.runtime.client
    status = client.retrieve_workflow(run_id).get_status()
    error = str(status.error) if status.error is not None else None
    return str(status.status), status.output, error


@router.post(
    "/projects",
    status_code=201,
    response_model=ProvisionedProject,
    summary="Provision a project now through the durable lead-to-project flow",
    responses={
        202: {"model": ProvisionAccepted, "description": "Still running: poll run_url"},
        409: {"description": "Idempotency-Key reused with a different body"},
        422: {"description": "Invalid engagement, or the run failed on a business rule"},
        500: {"description": "The run finished without provisioning a project"},
    },
)
async def provision_project(
    body: ProvisionRequest,
    request: Request,
    idempotency_key: Annotated[
        str | None,
        Header(
            max_length=200,
            pattern=r"^[A-Za-z0-9_.:-]+$",
            description="Makes retries safe: the same key gives the same run and project.",
        ),
    ] = None,
    reader: SystemReader = Depends(system_reader),
    principal: Principal = Depends(_GUARD),
) -> ProvisionedProject | JSONResponse:
    """Journal ``opportunity.won`` like intake does, then wait up to ``wait_seconds``."""
    opportunity = body.opportunity
    if not opportunity.won:
        raise Problem(422, "Not a won opportunity", "only won opportunities are provisioned")
    data_json = opportunity.model_dump_json()
    # Keys are scoped to the caller's API key: two partners may pick the same key.
    ce_id = f"idem-{principal.name}-{idempotency_key}" if idempotency_key else f"api-{next_id()}"
    seen, stored = await asyncio.to_thread(_existing_data, reader, ce_id)
    if seen and not _same_request(stored, data_json):
        raise Problem(
            409,
            "Idempotency-Key reused",
            "this Idempotency-Key was used with a different engagement; use a new key",
        )
    event = NewEvent(
        source=PROVISION_SOURCE,
        ce_id=ce_id,
        type="opportunity.won",
        subject=opportunity.id,
        business_key=business_key("opportunity.won", opportunity),
        time=utc_now(),
        data_json=data_json,
    )
    writer: IntakeWriter = request.app.state.services.writer
    receipt: Receipt = await asyncio.wrap_future(writer.submit([event])[0])
    run_id = receipt.run_id
    run_url = f"{API_PREFIX}/runs/{run_id}"
    deadline = time.monotonic() + body.wait_seconds
    status, output, error = await asyncio.to_thread(_run_status, request, run_id)
    while status not in _FINISHED and time.monotonic() < deadline:
        await asyncio.sleep(_POLL_SECONDS)
        status, output, error = await asyncio.to_thread(_run_status, request, run_id)
    if status not in _FINISHED:
        accepted = ProvisionAccepted(
            run_id=run_id, status=status, run_url=run_url, duplicate=receipt.duplicate
        )
        return JSONResponse(
            accepted.model_dump(mode="json"), status_code=202, headers={"Location": run_url}
        )
    if status != "SUCCESS":
        raise Problem(
            422,
            "Provisioning failed",
            f"run {run_id} ended {status}: {error or 'no error recorded'}; see {run_url}",
        )
    project = await asyncio.to_thread(_project_for, reader, opportunity.id, output)
    if project is None:
        raise Problem(
            500,
            "Run finished without a project",
            f"run {run_id} ({workflow_for('opportunity.won')}) linked no project to "
            f"opportunity {opportunity.id}; see {run_url}",
        )
    return project.model_copy(update={"run_id": run_id, "duplicate": receipt.duplicate})


# --------------------------------------------------------------------------- invoices
class ErpRef(BaseModel):
    """Where a record lives in its ERP of record."""

    connection: str
    system: str
    id: str


class InvoiceStatusView(BaseModel):
    """An invoice's status and amounts as its ERP of record has them."""

    invoice_id: str = Field(description="Accord's canonical invoice id.")
    number: str | None
    customer_id: str
    status: InvoiceStatus
    currency: str
    total: Money
    amount_due: Money
    amount_paid: Money
    issue_date: str
    due_date: str
    overdue: bool
    erp: ErpRef
    ids: dict[str, str] = Field(description="The invoice's id in every connection Accord knows.")
    cached: bool


_MAX_PAGES = 50
"""Pages of invoices read per receivables request at most (50 000 NetSuite rows)."""


def _erp_connections(reader: SystemReader) -> list[str]:
    return [name for name in reader.connections.names() if reader.is_erp(name)]


def _probe(reader: SystemReader, entity: Entity, any_id: str) -> Fetched | None:
    """Try an id nobody linked as each ERP's own id (the caller may hold a raw ERP id)."""
    failure: AccordError | None = None
    for name in _erp_connections(reader):
        try:
            return reader.read(name, entity, any_id)
        except NotFoundError:
            continue
        except AccordError as exc:
            # Another ERP might still know the id; if none does, this one's silence matters.
            failure = failure or exc
    if failure is not None:
        raise failure
    return None


def _find_invoice(reader: SystemReader, any_id: str) -> tuple[Fetched, dict[str, str]]:
    with reader.engine.connect() as conn:
        rows = [
            r for r in xref.find_by_any_id(conn, any_id) if entity_kind(r.entity_type) == "Invoice"
        ]
    ids = {r.connection: r.external_id for r in rows}
    for row in rows:
        if reader.is_erp(row.connection):
            return reader.read(row.connection, Entity.INVOICES, row.external_id), ids
    fetched = _probe(reader, Entity.INVOICES, any_id)
    if fetched is None:
        raise Problem(404, "Invoice not found", f"no ERP of record knows invoice {any_id!r}")
    return fetched, ids


def _erp_rows(reader: SystemReader, any_id: str) -> tuple[str, list[ErpRef]]:
    with reader.engine.connect() as conn:
        rows = [
            r for r in xref.find_by_any_id(conn, any_id) if entity_kind(r.entity_type) == "Customer"
        ]
    refs = [
        ErpRef(connection=r.connection, system=reader.kind(r.connection), id=r.external_id)
        for r in rows
        if reader.is_erp(r.connection)
    ]
    if refs:
        return rows[0].canonical_id, refs
    fetched = _probe(reader, Entity.CUSTOMERS, any_id)
    if fetched is None:
        raise Problem(404, "Customer not found", f"no ERP of record knows customer {any_id!r}")
    canonical = str(getattr(fetched.model, "id", any_id))
    return canonical, [
        ErpRef(connection=fetched.connection, system=fetched.kind, id=fetched.system_id)
    ]


def _customer_invoices(reader: SystemReader, ref: ErpRef) -> list[Fetched]:
    """Every invoice of one ERP customer: a keyset scan of the invoice list, then reads.

    The id list is cached like invoices are (15 s); each invoice read uses the record cache.
    """
    key = ("customer-invoices", ref.connection, ref.id)
    ids = reader.cache.get(key)
    if not isinstance(ids, list):
        ids = reader.erp(ref.connection).invoice_ids(ref.id, max_pages=_MAX_PAGES)
        reader.cache.put(key, ids, CACHE_SECONDS[Entity.INVOICES])
    return [reader.read(ref.connection, Entity.INVOICES, i) for i in ids]


async def _joined(connection: str, fn: Callable[..., T], *args: object) -> T:
    """``fn(*args)`` on a worker thread, connector errors answered as problems."""
    try:
        return await asyncio.to_thread(fn, *args)
    except AccordError as exc:
        raise connector_problem(exc, connection=connection) from exc


def _invoice_view(fetched: Fetched, ids: dict[str, str]) -> InvoiceStatusView:
    inv = fetched.model
    if not isinstance(inv, Invoice):
        raise Problem(
            502, "Record cannot be mapped", f"{fetched.connection} did not answer an invoice"
        )
    paid = Money.of(inv.total.amount - inv.amount_due.amount, inv.currency)
    today = utc_now().date()
    return InvoiceStatusView(
        invoice_id=inv.id,
        number=inv.number,
        customer_id=inv.customer_id,
        status=inv.status,
        currency=inv.currency,
        total=inv.total,
        amount_due=inv.amount_due,
        amount_paid=paid,
        issue_date=inv.issue_date.isoformat(),
        due_date=inv.due_date.isoformat(),
        overdue=inv.amount_due.amount > 0 and inv.due_date < today,
        erp=ErpRef(connection=fetched.connection, system=fetched.kind, id=fetched.system_id),
        ids={fetched.connection: fetched.system_id, **ids},
        cached=fetched.cached,
    )


@router.get(
    "/invoices/{invoice_id}",
    response_model=InvoiceStatusView,
    summary="An invoice's status and amounts from its ERP of record, by any system's id",
    responses={
        404: {"description": "No invoice is known by that id"},
        502: {"description": "The ERP refused Accord's credentials"},
        503: {"description": "The ERP is unavailable; see Retry-After"},
    },
)
async def get_invoice(
    invoice_id: str, reader: SystemReader = Depends(system_reader)
) -> InvoiceStatusView:
    """Join the id through the xref to the ERP of record, then read the invoice there."""
    fetched, ids = await _joined("erp", _find_invoice, reader, invoice_id)
    return _invoice_view(fetched, ids)


class ReceivableTotal(BaseModel):
    """Receivables of one customer in one currency."""

    currency: str
    invoiced: Money
    outstanding: Money
    overdue: Money
    open_invoices: int


class Receivables(BaseModel):
    """A customer's receivables across its ERPs of record."""

    customer_id: str
    erp: list[ErpRef]
    totals: list[ReceivableTotal]
    invoices: list[InvoiceStatusView]


def _totals(views: Iterable[InvoiceStatusView]) -> list[ReceivableTotal]:
    sums: dict[str, list[Decimal | int]] = {}
    for v in views:
        row = sums.setdefault(v.currency, [Decimal(0), Decimal(0), Decimal(0), 0])
        row[0] += v.total.amount
        row[1] += v.amount_due.amount
        row[2] += v.amount_due.amount if v.overdue else Decimal(0)
        row[3] += 1 if v.amount_due.amount > 0 else 0
    return [
        ReceivableTotal(
            currency=cur,
            invoiced=Money.of(Decimal(r[0]), cur),
            outstanding=Money.of(Decimal(r[1]), cur),
            overdue=Money.of(Decimal(r[2]), cur),
            open_invoices=int(r[3]),
        )
        for cur, r in sorted(sums.items())
    ]


@router.get(
    "/customers/{customer_id}/receivables",
    response_model=Receivables,
    summary="A customer's invoices and open amounts from its ERPs of record, by any id",
    responses={
        404: {"description": "No customer is known by that id in any ERP"},
        502: {"description": "The ERP refused Accord's credentials"},
        503: {"description": "The ERP is unavailable; see Retry-After"},
    },
)
async def get_receivables(
    customer_id: str, reader: SystemReader = Depends(system_reader)
) -> Receivables:
    """Every invoice of the customer in each ERP it is linked to, with totals per currency."""
    canonical, rows = await _joined("erp", _erp_rows, reader, customer_id)
    views: list[InvoiceStatusView] = []
    for row in rows:
        found = await _joined(row.connection, _customer_invoices, reader, row)
        views.extend(_invoice_view(fetched, {}) for fetched in found)
    views.sort(key=lambda v: (v.issue_date, v.invoice_id))
    return Receivables(customer_id=canonical, erp=rows, totals=_totals(views), invoices=views)
