"""The demo's traffic: what the firm's people do in the sandbox while Accord watches.

Two kinds of people act, each through the systems' own APIs, never through Accord:

- salespeople win the firm's open opportunities (:class:`Traffic`: a PATCH of ``StageName``
  on the Salesforce emulator's REST API), which lead-to-project provisions;
- consultants log a week of time on each project Accord has provisioned, submit it, and their
  manager approves it (:class:`TimeTraffic`: Kantata time entries, a timesheet submission and
  its approval, or a Certinia timecard saved, submitted and approved), which time-to-bill
  captures as ``timesheet.approved`` and posts to the ERP. Each project is staffed from its
  own legal entity and, where another entity books in the same ERP, from that one too: the
  cross-entity time the intercompany policy recharges.

:func:`read_time_status` reads back what became of that time: approvals journaled by Accord
and time posted in the ERP emulators (their control API, as a person would look in the ERP).

What does *not* belong here: starting the sandbox and Accord, and the live summary
(:mod:`accord.cli.demo_cmd`).
"""

import datetime as dt
import itertools
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Final

import httpx
import sqlalchemy as sa

from accord.connectors.base import Connector
from accord.connectors.kantata import KantataConnector
from accord.errors import AccordError
from accord.store import journal, progress

__all__ = [
    "BATCH",
    "CLOSED_WON",
    "INVALID_AT",
    "SF_API_VERSION",
    "PlannedWin",
    "TimeStatus",
    "TimeTraffic",
    "Traffic",
    "read_time_status",
]

logger = logging.getLogger(__name__)

BATCH: Final = 3
"""Opportunities won per tick of the traffic."""
SF_API_VERSION: Final = "v60.0"
CLOSED_WON: Final = "Closed Won"
INVALID_AT: Final = {2: ("Start_Date__c", "no start date"), 7: ("Amount", "no amount")}
"""Plan positions won with a required field cleared, so that validation opens exceptions."""
TIMESHEETS_PER_TICK: Final = 2
"""Projects whose week of time is logged and approved per tick of the time traffic."""
CONSULTANTS_PER_PROJECT: Final = 2
"""Consultants who log a week on each project."""
WEEK_MINUTES: Final = (480, 450, 465, 420, 240)
"""Minutes logged Monday to Friday: quarter hours, so that hours are exact at two places."""
PROVISIONED: Final = "provisioned"


# --------------------------------------------------------------------------- deals won
@dataclass(frozen=True)
class PlannedWin:
    """One open opportunity the traffic will win, and the field it clears, if any."""

    id: str
    name: str
    billing_model: str
    legal_entity: str
    clear: tuple[str, str] | None = None
    """``(field, reason)``: won with this field emptied, to fail validation on purpose."""


@dataclass
class Traffic:
    """Wins the firm's open opportunities through the Salesforce REST API, a few at a time.

    Winning is what a salesperson does: a PATCH of ``StageName`` to ``Closed Won`` on the
    emulator's real REST API (OAuth client credentials first), which Accord's change capture
    then picks up like any other change. The plan interleaves billing models and legal
    entities so that every kind of project shows up early.
    """

    salesforce_url: str
    client_id: str
    client_secret: str
    http: httpx.Client = field(default_factory=lambda: httpx.Client(timeout=10.0))
    plan: list[PlannedWin] = field(default_factory=list)
    won: list[PlannedWin] = field(default_factory=list)
    """The opportunities Salesforce accepted as Closed Won."""
    _next: int = 0
    _token: str | None = None

    def load_plan(self) -> list[PlannedWin]:
        """Read the open opportunities (SOQL) and order them into a varied plan."""
        soql = (
            "SELECT Id, Name, Billing_Model__c, Legal_Entity__c FROM Opportunity "
            "WHERE IsClosed = false ORDER BY CreatedDate"
        )
        records: list[dict[str, Any]] = []
        resp = self._call("GET", f"/services/data/{SF_API_VERSION}/query", params={"q": soql})
        while True:
            body = resp.json()
            records.extend(body.get("records", []))
            next_url = body.get("nextRecordsUrl")
            if body.get("done", True) or not next_url:
                break
            resp = self._call("GET", next_url)
        groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
        for r in records:
            key = (str(r.get("Billing_Model__c")), str(r.get("Legal_Entity__c")))
            groups.setdefault(key, []).append(r)
        # Round-robin over (billing model, entity) so the first minute shows a bit of each.
        mixed = [
            r for batch in itertools.zip_longest(*groups.values()) for r in batch if r is not None
        ]
        self.plan = [
            PlannedWin(
                id=str(r["Id"]),
                name=str(r.get("Name") or ""),
                billing_model=str(r.get("Billing_Model__c") or ""),
                legal_entity=str(r.get("Legal_Entity__c") or ""),
                clear=INVALID_AT.get(i),
            )
            for i, r in enumerate(mixed)
        ]
        return self.plan

    @property
    def remaining(self) -> int:
        """Opportunities of the plan not tried yet."""
        return len(self.plan) - self._next

    def win_next(self, count: int = BATCH) -> list[PlannedWin]:
        """Win the next ``count`` opportunities of the plan; returns those the API accepted."""
        done: list[PlannedWin] = []
        batch = self.plan[self._next : self._next + count]
        self._next += len(batch)
        for win in batch:
            body: dict[str, Any] = {"StageName": CLOSED_WON}
            if win.clear is not None:
                body[win.clear[0]] = None
                logger.info("winning opportunity %s with %s, on purpose", win.id, win.clear[1])
            try:
                self._call(
                    "PATCH", f"/services/data/{SF_API_VERSION}/sobjects/Opportunity/{win.id}", body
                )
            except httpx.HTTPError as exc:
                # Skipped, not retried: the demo goes on with the rest of the pipeline.
                logger.warning("could not win opportunity %s: %s", win.id, exc)
            else:
                done.append(win)
        self.won.extend(done)
        return done

    def close(self) -> None:
        """Close the HTTP client."""
        self.http.close()

    def _call(
        self,
        method: str,
        path: str,
        json: Mapping[str, Any] | None = None,
        params: Mapping[str, str] | None = None,
    ) -> httpx.Response:
        url = path if path.startswith("http") else f"{self.salesforce_url}{path}"
        resp = self._send(method, url, json, params)
        if resp.status_code == httpx.codes.UNAUTHORIZED:
            self._token = None  # the session expired: one fresh token, then give up
            resp = self._send(method, url, json, params)
        resp.raise_for_status()
        return resp

    def _send(
        self,
        method: str,
        url: str,
        json: Mapping[str, Any] | None,
        params: Mapping[str, str] | None,
    ) -> httpx.Response:
        if self._token is None:
            self._token = self._authenticate()
        return self.http.request(
            method,
            url,
            json=json,
            params=params,
            headers={"Authorization": f"Bearer {self._token}"},
        )

    def _authenticate(self) -> str:
        resp = self.http.post(
            f"{self.salesforce_url}/services/oauth2/token",
            data={
                "grant_type": "client_credentials",
                "client_id": self.client_id,
                "client_secret": self.client_secret,
            },
        )
        resp.raise_for_status()
        return str(resp.json()["access_token"])


# --------------------------------------------------------------------------- time logged
def _monday_on_or_after(day: dt.date) -> dt.date:
    return day + dt.timedelta(days=(7 - day.weekday()) % 7)


def project_entity(engine: sa.Engine, psa_id: str, connection: str) -> str | None:
    """The legal entity of a provisioned PSA project: its won opportunity's, as journaled."""
    with engine.connect() as conn:
        return progress.project_legal_entity(conn, connection=connection, psa_id=psa_id)


def provisioned_projects(engine: sa.Engine, connection: str) -> list[str]:
    """PSA ids (in ``connection``) of the projects lead-to-project fully provisioned.

    "Provisioned" is the flow's ``psa_project -> erp_project`` lineage edge, as in the summary:
    time logged on a project the ERP does not have could not be posted.
    """
    with engine.connect() as conn:
        return progress.provisioned_projects(conn, connection=connection, status=PROVISIONED)


@dataclass
class TimeTraffic:
    """Consultants log a week on each provisioned project; their manager approves it.

    Each project gets one week, this week or its first full week if it starts later (within
    its dates, in an open accounting period), from :data:`CONSULTANTS_PER_PROJECT`
    consultants: one of the project's legal entity and, where another entity books in the
    same ERP connection, one of that entity (cross-entity staffing; the sandbox's people work
    in their entity's currency, which tells their entity). The PSA calls go through the
    demo's PSA connection (the same API a consultant's browser uses); Accord learns about the
    approvals only from its capture.

    Attributes:
        psa: ``kantata`` or ``certinia``.
        connector: The PSA's connector.
        engine: Accord's database, to find the provisioned projects.
        connection: The PSA's connection name (its xref key).
        entities: Legal-entity code -> (currency, ERP connection), from the rules.
        done: PSA project ids whose week is logged (or that cannot take time).
        approved: Timesheets approved so far.
        hours: Hours approved so far.
    """

    psa: str
    connector: Connector[Any]
    engine: sa.Engine
    connection: str
    entities: Mapping[str, tuple[str, str]] = field(default_factory=dict)
    done: set[str] = field(default_factory=set)
    approved: int = 0
    hours: Decimal = Decimal(0)
    clock: Callable[[], dt.datetime] = field(default=lambda: dt.datetime.now(dt.UTC))
    """Today's source (injected in tests)."""
    _people: list[dict[str, Any]] | None = None
    _cancelled: Callable[[], bool] = field(default=lambda: False)

    def tick(
        self, limit: int = TIMESHEETS_PER_TICK, *, cancelled: Callable[[], bool] = lambda: False
    ) -> int:
        """Log and approve a week on up to ``limit`` new projects; returns how many.

        ``cancelled`` is asked before each person's week, so that Ctrl-C does not wait for
        the rest.
        """
        self._cancelled = cancelled
        logged = 0
        try:
            projects = provisioned_projects(self.engine, self.connection)
        except sa.exc.SQLAlchemyError as exc:
            logger.warning("could not read the provisioned projects: %s", exc)
            return 0
        for project in projects:
            if logged >= limit or cancelled():
                break
            if project in self.done:
                continue
            self.done.add(project)
            try:
                logged += self._log_week(project)
            except (AccordError, httpx.HTTPError, ValueError) as exc:
                # Skipped, not retried: the demo goes on with the other projects.
                logger.warning("could not log time on %s project %s: %s", self.psa, project, exc)
        return logged

    def _log_week(self, project: str) -> int:
        if self.psa == "kantata":
            return self._kantata_week(project)
        return self._certinia_week(project)

    def _consultants(self, project: str, currency: str) -> list[dict[str, Any]]:
        """The project's team: its own entity's people first, then a partner entity's."""
        if self._people is None:
            self._people = self._read_people()
        entity = project_entity(self.engine, project, self.connection)
        own, partners = currency, []
        if entity is not None and entity in self.entities:
            own, erp = self.entities[entity]
            partners = [c for code, (c, e) in self.entities.items() if e == erp and code != entity]
        home = self._rotated([p for p in self._people if p["currency"] == own])
        away = self._rotated([p for p in self._people if p["currency"] in partners])
        return (home[:1] + away[:1] if away else home)[:CONSULTANTS_PER_PROJECT]

    def _rotated(self, people: list[dict[str, Any]]) -> list[dict[str, Any]]:
        # The same pair per project would load two people only; rotate through them.
        if not people:
            return []
        start = (self.approved // CONSULTANTS_PER_PROJECT) % len(people)
        return people[start:] + people[:start]

    def _read_people(self) -> list[dict[str, Any]]:
        if self.psa == "kantata":
            assert isinstance(self.connector, KantataConnector)
            users = self.connector.read_page("users").records
            return [
                {"id": str(u["id"]), "currency": u.get("currency")}
                for u in users
                if self.connector.describe("users", u).external_id
            ]
        contacts = self.connector.read_page("Contact").records
        return [
            {"id": str(c["Id"]), "currency": c.get("CurrencyIsoCode")}
            for c in contacts
            if c.get("Accord_Id__c")
        ]

    def _kantata_week(self, workspace_id: str) -> int:
        workspace = self.connector.get("workspaces", workspace_id)
        week = self._week(workspace.get("start_date"), workspace.get("due_date"))
        status = workspace.get("status")
        on_hold = isinstance(status, Mapping) and status.get("message") == "On Hold"
        if week is None or on_hold:
            return 0
        for person in self._consultants(workspace_id, str(workspace.get("currency"))):
            if self._cancelled():
                break
            for offset, minutes in enumerate(WEEK_MINUTES):
                self.connector.create(
                    "time_entries",
                    {
                        "workspace_id": workspace_id,
                        "user_id": person["id"],
                        "date_performed": (week + dt.timedelta(days=offset)).isoformat(),
                        "time_in_minutes": minutes,
                        "billable": True,
                        "notes": "Delivery work",
                    },
                )
            submission = self.connector.create(
                "timesheet_submissions",
                {
                    "workspace_id": workspace_id,
                    "user_id": person["id"],
                    "start_date": week.isoformat(),
                },
            )
            assert isinstance(self.connector, KantataConnector)
            self.connector.approve_timesheet(submission.id, comment="Approved in the demo")
            self._count(sum(WEEK_MINUTES))
        return 1

    def _certinia_week(self, project_id: str) -> int:
        project = self.connector.get("pse__Proj__c", project_id)
        week = self._week(project.get("pse__Start_Date__c"), project.get("pse__End_Date__c"))
        if week is None or project.get("pse__Stage__c") == "On Hold":
            return 0
        days = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday")
        for person in self._consultants(project_id, str(project.get("CurrencyIsoCode"))):
            if self._cancelled():
                break
            hours = {
                f"pse__{day}_Hours__c": float(Decimal(minutes) / 60)
                for day, minutes in zip(days, WEEK_MINUTES, strict=True)
            }
            card = self.connector.create(
                "pse__Timecard_Header__c",
                {
                    "pse__Resource__c": person["id"],
                    "pse__Project__c": project_id,
                    "pse__Start_Date__c": week.isoformat(),
                    "pse__Status__c": "Submitted",
                    "pse__Billable__c": True,
                    **hours,
                },
            )
            self.connector.update(
                "pse__Timecard_Header__c", card.id, {"pse__Status__c": "Approved"}
            )
            self._count(sum(WEEK_MINUTES))
        return 1

    def _week(self, start: object, end: object) -> dt.date | None:
        """This week, or the project's first full week if it starts later; ``None`` if over.

        This week lies in an open accounting period (the sandbox closes only past months), so
        the time posts as logged; a project that ended earlier gets no time.
        """
        if not isinstance(start, str) or not start:
            return None
        today = self.clock().date()
        this_week = today - dt.timedelta(days=today.weekday())
        week = max(this_week, _monday_on_or_after(dt.date.fromisoformat(start)))
        if isinstance(end, str) and end and dt.date.fromisoformat(end) < week + dt.timedelta(4):
            return None
        return week

    def _count(self, minutes: int) -> None:
        self.approved += 1
        self.hours += Decimal(minutes) / 60


# --------------------------------------------------------------------------- time status
@dataclass(frozen=True)
class TimeStatus:
    """Time as Accord and the ERP see it (never the traffic's own counts).

    Attributes:
        approvals: ``timesheet.approved`` events Accord journaled.
        hours_approved: Their hours.
        posted: Timesheets with time posted in the ERP emulators.
        hours_posted: Hours of the time entries posted there.
    """

    approvals: int = 0
    hours_approved: Decimal = Decimal(0)
    posted: int = 0
    hours_posted: Decimal = Decimal(0)
    recharged: int = 0
    """Time entries of a consultant of another legal entity, recharged between the two."""
    foreign: int = 0
    """Time entries posted in another currency than their legal entity's."""


def _journaled_hours(engine: sa.Engine) -> tuple[int, Decimal, dict[str, str]]:
    """Approvals journaled, their hours, and entry id -> timesheet id."""
    with engine.connect() as conn:
        sheets = journal.data_of_type(conn, "timesheet.approved")
    hours = Decimal(0)
    owner: dict[str, str] = {}
    for sheet in sheets:
        for entry in sheet.get("entries", ()):
            hours += Decimal(str(entry.get("hours", 0)))
            # ERPs may upper-case document numbers (Business Central does).
            owner[str(entry.get("id")).upper()] = str(sheet.get("id"))
    return len(sheets), hours, owner


def _posted_entries(urls: Mapping[str, str], http: httpx.Client) -> list[tuple[str, Decimal]]:
    """``(external id, hours)`` of the time posted in the ERP emulators."""
    posted: list[tuple[str, Decimal]] = []
    netsuite = urls.get("netsuite")
    if netsuite:
        response = http.get(f"{netsuite}/__sandbox/records/timeBill")
        if response.status_code == httpx.codes.OK:
            posted.extend(
                (str(r["externalId"]), Decimal(str(r["hours"])))
                for r in _records(response.json())
                if r.get("externalId") and r.get("hours") is not None
            )
    bc = urls.get("business_central")
    if bc:
        # Posted project journal lines (the emulator's ledger of ``Microsoft.NAV.post``).
        response = http.get(f"{bc}/__sandbox/records/postedJournalLines")
        if response.status_code == httpx.codes.OK:
            for record in _records(response.json()):
                key = record.get("externalDocumentNumber") or record.get("documentNumber")
                if key and record.get("projectNumber") and record.get("quantity") is not None:
                    posted.append((str(key), Decimal(str(record["quantity"]))))
    return posted


def _records(body: object) -> Sequence[Mapping[str, Any]]:
    records = body.get("records") if isinstance(body, Mapping) else body
    if not isinstance(records, list):
        return []
    return [r for r in records if isinstance(r, Mapping)]


def read_time_status(
    engine: sa.Engine, urls: Mapping[str, str], http: httpx.Client | None = None
) -> TimeStatus:
    """Approvals journaled by Accord and their time posted in the ERP emulators."""
    approvals, hours_approved, owner = _journaled_hours(engine)
    posted_sheets: set[str] = set()
    hours_posted = Decimal(0)
    client = http or httpx.Client(timeout=5.0)
    try:
        for key, hours in _posted_entries(urls, client):
            # Only time this demo's approvals carried (the firm's history posts too).
            if key.upper() in owner:
                posted_sheets.add(owner[key.upper()])
                hours_posted += hours
    except httpx.HTTPError as exc:
        logger.warning("could not read the ERP's time: %s", exc)
    finally:
        if http is None:
            client.close()
    with engine.connect() as conn:
        recharged, foreign = progress.posted_time_mix(conn)
    return TimeStatus(
        approvals=approvals,
        hours_approved=hours_approved,
        posted=len(posted_sheets),
        hours_posted=hours_posted,
        recharged=recharged,
        foreign=foreign,
    )
