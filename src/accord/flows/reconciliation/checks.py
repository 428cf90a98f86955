"""The checks: read each system through its role, and Accord's own records, then compare.

One check at a time, each returning a :class:`CheckResult` (the drift it found, the scope in
which drift not found again is resolved, and for time and expense the totals and the ledger
rows to mark):

- :func:`check_time` (per ERP connection): the projects' approved work in their PSA, the
  ledger, the ERP's postings, read in bulk; an incremental run first reads what changed since
  it began and compares the projects with changes (:mod:`.work`);
- :func:`check_contracts`: each provisioned project's deal in the CRM, its terms in the PSA,
  its ERP project and billing plan (:mod:`.terms`);
- :func:`check_customers`: each customer's CRM account and its customer in every ERP;
- :func:`check_xref` (per connection): every reference points at a record that exists; and
  in an ERP, records that look like Accord's but no reference names (``dangling_xref``,
  ``unlinked_record``).

Reads go through the roles on the connection budget's ``background`` lane; a check never
writes to a system.
"""

from collections import defaultdict
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Final

from accord.connectors.roles import BACKGROUND, Erp, ErpProject, Psa
from accord.domain import Expense, Timesheet
from accord.errors import NotFoundError
from accord.flows import stepkit
from accord.flows.reconciliation import terms, work
from accord.flows.reconciliation.universe import (
    Links,
    RunScope,
    Universe,
    connections_of,
    role,
    role_of,
)
from accord.store import postings
from accord.store import reconciliation as store
from accord.store.postings import Posting
from accord.store.reconciliation import Drift

__all__ = [
    "CheckResult",
    "check_contracts",
    "check_customers",
    "check_time",
    "check_xref",
    "entry_json",
]

_XREF: Final = "xref"
HOURLY: Final = "time_entries"
"""The revenue policy's billing of models that bill time by the hour (the rest post time
non-billable)."""


@dataclass
class CheckResult:
    """What one check found.

    Attributes:
        check: ``time_expense``, ``contract``, ``customer`` or ``xref``.
        connection: The connection it was about, if one.
        drifts: The disagreements.
        close: ``(drift kind, item field, values)``: open items of that kind whose field is
            one of the values, and that this run did not find again, agree again.
        checked: Records compared.
        totals: Per project and currency (time and expense, full runs).
        missing: Ledger rows whose ERP record is gone.
        found_again: Ledger rows marked missing whose record is back.
        unchecked: Reference types the system cannot check (``entity type@connection``).
    """

    check: str
    connection: str | None = None
    drifts: list[Drift] = field(default_factory=list)
    close: tuple[str, str, list[str]] | None = None
    checked: int = 0
    totals: list[dict[str, Any]] = field(default_factory=list)
    missing: list[Posting] = field(default_factory=list)
    found_again: list[Posting] = field(default_factory=list)
    unchecked: list[str] = field(default_factory=list)


# ----------------------------------------------------------------------- time and expense
def _erp_projects(erp: Erp, projects: Sequence[Links]) -> dict[str, ErpProject]:
    """Canonical project -> the ERP's project, for those the ERP still holds."""
    found: dict[str, ErpProject] = {}
    for links in projects:
        assert links.erp is not None
        held = erp.project(links.erp[1])
        if held is not None:
            found[links.project_id] = held
    return found


def _psa_work(
    projects: Sequence[Links],
    scope: RunScope,
    universe: Universe,
    *,
    entry_ids: Collection[str] = (),
) -> list[work.PsaItem]:
    """Approved work of the projects in their PSAs (changed since, incrementally).

    With ``entry_ids`` only those entries are read, wherever they are (a second look).
    """
    by_connection: dict[str, list[str]] = defaultdict(list)
    for links in projects:
        if links.psa is not None:
            by_connection[links.psa[0]].append(links.psa[1])
    items: list[work.PsaItem] = []
    for connection, ids in sorted(by_connection.items()):
        psa: Psa = stepkit.psa(connection)
        held = psa.approved_work(
            [] if entry_ids else ids,
            changed_since=None if scope.full else scope.since,
            entry_ids=entry_ids,
            lane=BACKGROUND,
        )
        for w in held:
            project = universe.canonical("psa_project", connection, w.project)
            items.append(work.PsaItem(w, project or f"{connection}:{w.project}", connection))
    return items


def _erp_work(
    erp: Erp,
    projects: dict[str, ErpProject],
    scope: RunScope,
    *,
    keys: Collection[str] = (),
    read_projects: bool = True,
) -> list[work.ErpItem]:
    canonical = {p.erp_id: c for c, p in projects.items()}
    currency = {p.erp_id: p.currency for p in projects.values()}
    held = erp.posted_work(
        list(projects.values()) if read_projects else [],
        changed_since=None if scope.full else scope.since,
        keys=keys,
        lane=BACKGROUND,
    )
    out = []
    for held_work in held:
        placed = held_work
        if placed.currency is None and placed.amount is not None and placed.project in currency:
            placed = replace(placed, currency=currency[placed.project])
        out.append(work.ErpItem(placed, canonical.get(placed.project)))
    return out


def check_time(scope: RunScope, universe: Universe, connection: str) -> CheckResult:
    """Time and expense of one ERP connection's projects (module docstring)."""
    erp = stepkit.erp(connection)
    links = [p for p in universe.projects.values() if p.erp and p.erp[0] == connection]
    projects = _erp_projects(erp, links)
    result = CheckResult("time_expense", connection)
    if not scope.full:
        links = _touched(scope, universe, erp, links, projects)
        projects = {k: v for k, v in projects.items() if k in {p.project_id for p in links}}
    wanted = [p for p in links if p.project_id in projects]
    ids = [p.project_id for p in wanted]
    full = replace(scope, full=True, since=None)
    with stepkit.engine().connect() as conn:
        ledger = postings.list_for_reconciliation(conn, project_ids=ids) if ids else []
        invoiced = store.invoiced_lines(conn) if ids else []
    psa = _psa_work(wanted, full, universe)
    held = _erp_work(erp, projects, full)
    psa_projects = {p.project_id for p in wanted if p.psa is not None}
    keys, entries = work.second_look(
        ledger, psa, held, held_key=erp.held_key, psa_projects=psa_projects
    )
    if keys:
        held += _erp_work(erp, projects, full, keys=keys, read_projects=False)
    if entries:
        named = {entry for _, entry in entries}
        psa += _psa_work(wanted, full, universe, entry_ids=named)
        psa = list({(p.work.kind, p.work.key): p for p in psa}.values())
    rules = stepkit.rules()
    hourly = {
        c for c, p in projects.items() if rules.revenue_policy(p.billing_model).billing == HOURLY
    }
    outcome = work.compare_work(
        connection=connection,
        system=_system(connection),
        ledger=ledger,
        psa=psa,
        erp=held,
        held_key=erp.held_key,
        psa_projects=psa_projects,
        hourly=hourly,
        settle_before=scope.settle_before,
        invoiced=invoiced,
        totals=scope.full,
    )
    result.drifts = outcome.drifts
    result.totals = outcome.totals
    result.missing = outcome.missing
    result.found_again = outcome.found_again
    result.checked = outcome.checked
    result.close = (work.KIND, "project_id", ids)
    return result


def _touched(
    scope: RunScope,
    universe: Universe,
    erp: Erp,
    links: list[Links],
    projects: dict[str, ErpProject],
) -> list[Links]:
    """The projects with work changed since the run's ``since`` (in any of the three)."""
    changed: set[str] = set()
    with stepkit.engine().connect() as conn:
        rows = postings.list_for_reconciliation(
            conn, project_ids=[p.project_id for p in links], updated_since=scope.since
        )
    changed.update(r.project_id for r in rows)
    changed.update(item.project_id for item in _psa_work(links, scope, universe))
    changed.update(i.project_id for i in _erp_work(erp, projects, scope) if i.project_id)
    return [p for p in links if p.project_id in changed]


def _system(connection: str) -> str:
    return stepkit.connections().config(connection).kind


def entry_json(kind: str, entry_id: str, data: Any) -> str | None:  # noqa: ANN401 - event data
    """The canonical JSON of one entry in an approval event's data, if it carries it."""
    try:
        if kind == "expense":
            expense = Expense.model_validate(data)
            return expense.model_dump_json() if expense.id == entry_id else None
        sheet = Timesheet.model_validate(data)
    except ValueError:
        return None
    return next((e.model_dump_json() for e in sheet.entries if e.id == entry_id), None)


# ----------------------------------------------------------------------- contracts
def check_contracts(scope: RunScope, universe: Universe) -> CheckResult:
    """Each provisioned project's terms against its deal (module docstring)."""
    result = CheckResult(terms.CONTRACT)
    crm_connection = stepkit.crm_connection()
    deals: dict[str, str] = {}
    for links in universe.projects.values():
        crm_id = universe.external("opportunity", links.opportunity or "", crm_connection)
        if crm_id is not None:
            deals[links.project_id] = crm_id
    if not deals:
        result.close = (terms.CONTRACT, "project_id", [])
        return result
    held = stepkit.crm(crm_connection).deals(sorted(set(deals.values())), lane=BACKGROUND)
    psa_terms: dict[str, dict[str, Any]] = {}
    by_psa: dict[str, list[str]] = defaultdict(list)
    for project_id in deals:
        links = universe.projects[project_id]
        if links.psa is not None:
            by_psa[links.psa[0]].append(links.psa[1])
    for connection, ids in by_psa.items():
        psa_terms[connection] = dict(stepkit.psa(connection).project_terms(ids, lane=BACKGROUND))
    rules = stepkit.rules()
    checked: list[str] = []
    for project_id, crm_id in sorted(deals.items()):
        deal = held.get(crm_id)
        opportunity = deal.opportunity if deal is not None else None
        if opportunity is None or (
            opportunity.updated_at is not None and opportunity.updated_at > scope.settle_before
        ):
            continue
        expected = terms.expected_terms(project_id, opportunity, rules)
        if expected is None:
            continue
        links = universe.projects[project_id]
        psa = None
        if links.psa is not None and links.psa[1] in psa_terms.get(links.psa[0], {}):
            psa = (links.psa[0], psa_terms[links.psa[0]][links.psa[1]])
        erp = plan_total = None
        if links.erp is not None:
            role_erp = stepkit.erp(links.erp[0])
            project = role_erp.project(links.erp[1])
            erp = (links.erp[0], project) if project is not None else None
            if links.schedule is not None:
                plan_total = role_erp.billing_plan_total(links.schedule, lane=BACKGROUND)
        result.drifts += terms.compare_contract(expected, psa=psa, erp=erp, plan_total=plan_total)
        checked.append(project_id)
    result.checked = len(checked)
    result.close = (terms.CONTRACT, "project_id", checked)
    return result


# ----------------------------------------------------------------------- customers
def check_customers(scope: RunScope, universe: Universe) -> CheckResult:
    """Each customer's CRM-owned fields in every ERP holding it (module docstring)."""
    result = CheckResult(terms.CUSTOMER)
    crm_connection = stepkit.crm_connection()
    rows = universe.of_type("customer")
    crm_ids = {r.canonical_id: r.external_id for r in rows if r.connection == crm_connection}
    erp_rows = [
        r for r in rows if r.connection != crm_connection and role_of(r.connection) == "erp"
    ]
    if scope.project_id is not None:
        erp_rows = []  # a project-scoped run leaves customers alone
    accounts = (
        stepkit.crm(crm_connection).accounts(sorted(set(crm_ids.values())), lane=BACKGROUND)
        if erp_rows
        else {}
    )
    owned = [f for f in terms.CUSTOMER_FIELDS if str(stepkit.rules().owner("customer", f)) == "crm"]
    checked: list[str] = []
    for row in erp_rows:
        account = accounts.get(crm_ids.get(row.canonical_id, ""))
        customer = account.customer if account is not None else None
        if account is None or customer is None:
            continue
        if customer.updated_at is not None and customer.updated_at > scope.settle_before:
            continue
        parent = (
            universe.canonical("customer", crm_connection, account.parent_crm_id)
            if account.parent_crm_id
            else None
        )
        parent_erp = universe.external("customer", parent, row.connection) if parent else None
        try:
            held = stepkit.erp(row.connection).customer(
                row.external_id, legal_entity=customer.legal_entity
            )
        except NotFoundError:
            continue  # a dangling reference: the xref check reports it
        drift = terms.compare_customer(
            row.canonical_id,
            connection=row.connection,
            erp_id=row.external_id,
            held=terms.erp_view(held),
            expected=terms.crm_view(customer, parent_erp),
            fields=owned,
        )
        if drift is not None:
            result.drifts.append(drift)
        checked.append(row.canonical_id)
    result.checked = len(checked)
    result.close = (terms.CUSTOMER, "business_key", checked)
    return result


# ----------------------------------------------------------------------- references
def check_xref(scope: RunScope, universe: Universe, connection: str) -> CheckResult:
    """Every reference of one connection exists; an ERP's Accord-like records are known."""
    del scope
    result = CheckResult(_XREF, connection)
    system = role(connection)
    if system is None:
        result.unchecked.append(f"*@{connection}")
        return result
    rows = [r for r in universe.rows if r.connection == connection]
    by_type: dict[str, list[str]] = defaultdict(list)
    for r in rows:
        by_type[r.entity_type].append(r.external_id)
    for entity_type, ids in sorted(by_type.items()):
        found = system.existing(entity_type, ids, lane=BACKGROUND)
        if found is None:
            result.unchecked.append(f"{entity_type}@{connection}")
            continue
        result.checked += len(ids)
        for external_id in sorted(set(ids) - found):
            canonical = universe.canonical(entity_type, connection, external_id)
            result.drifts.append(
                Drift(
                    kind=_XREF,
                    code="dangling_xref",
                    fingerprint=f"xref:dangling:{connection}:{entity_type}:{external_id}",
                    business_key=canonical,
                    system=role_of(connection),
                    connection=connection,
                    record_id=external_id,
                    detail={
                        "entity_type": entity_type,
                        "canonical_id": canonical,
                        "external_id": external_id,
                    },
                )
            )
    if isinstance(system, Erp):
        result.drifts += _unlinked(system, universe, connection, result)
    result.close = (_XREF, "connection", [connection])
    return result


def _unlinked(erp: Erp, universe: Universe, connection: str, result: CheckResult) -> list[Drift]:
    out: list[Drift] = []
    for entity_type in ("customer", "erp_project"):
        keyed = erp.keyed_records(entity_type, lane=BACKGROUND)
        if keyed is None:
            result.unchecked.append(f"{entity_type} records@{connection}")
            continue
        result.checked += len(keyed)
        for record_id, key in sorted(keyed.items()):
            if universe.canonical(entity_type, connection, record_id) is not None:
                continue
            out.append(
                Drift(
                    kind=_XREF,
                    code="unlinked_record",
                    fingerprint=f"xref:unlinked:{connection}:{entity_type}:{record_id}",
                    business_key=key,
                    system="erp",
                    connection=connection,
                    record_id=record_id,
                    detail={"entity_type": entity_type, "key": key, "record_id": record_id},
                )
            )
    return out


def xref_connections(universe: Universe) -> list[str]:
    """The connections a run checks the references of."""
    return connections_of(universe.rows)
