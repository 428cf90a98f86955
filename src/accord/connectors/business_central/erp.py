"""Business Central in the ERP role (:class:`~accord.connectors.roles.Erp`).

Projects are BC projects (Jobs) looked up by number in each company of the connection;
periods are the company's ``accountingPeriods``.

Postings are project journal lines, posted as a batch, exactly once per posting under any
concurrency and any crash point. BC has no upsert and posts a journal batch all or nothing,
and a posted line *leaves* the journal, so neither the staging journal nor a shared batch can
tell what BC holds. Hence, per :class:`~accord.connectors.roles.PostingBatch`:

1. **What BC holds first.** The project ledger (``projectLedgerEntries``, BC's Job Ledger
   Entry) is read by document number (``bc_number(key)``): a posting already there is
   reported posted (``found``) and never staged again, whoever posted it and whenever.
2. **A journal batch of its own**, named from the batch id (``AC`` + 8 characters of its
   hash; BC batch names are ``Code[10]``): no other batch's post can take its lines, and a
   re-run after a crash finds the lines it staged. Lines in it that are duplicates (a create
   whose answer was lost, then retried) or not wanted any more are removed before posting.
3. **Stage** the postings not yet staged, then **post** the batch.
4. **Outcomes from BC's truth.** The ledger is read again: a posting there is posted, whatever
   the post answered ("There is nothing to post." included). A refused post whose lines are
   still staged is a real refusal of the batch: its lines are removed (so a retry starts
   clean) and every posting carries the refusal. Lines gone but not in the ledger leave the
   outcome unknown: :class:`~accord.errors.RetryableError`, and the retry stages them again.
5. The emptied batch is deleted.

Before any of this, each posting is priced (its amounts in the project company's local
currency; for a resource employed by another company, its intercompany recharge): a posting
that cannot be priced (a missing rate) is refused and not staged. After it, the recharges of
the postings BC holds are posted in their home companies, exactly once the same way (G/L
entries read by document number first, a journal batch of their own):
:mod:`accord.connectors.business_central._entities`.

Two calls for the *same* batch must not overlap (the caller holds a lease on the batch id);
calls for different batches may run at once.

Cash and billing (invoices, receivables, milestone invoices):
:mod:`accord.connectors.business_central._erp_billing`.
"""

import asyncio
import base64
import datetime as dt
import hashlib
import logging
from collections.abc import Sequence
from dataclasses import replace
from typing import Any, Final

from typing_extensions import override

from accord.connectors.budget import slot_held
from accord.connectors.business_central._entities import (
    BusinessCentralEntities,
    Priced,
    intercompany_number,
)
from accord.connectors.business_central._erp_billing import BusinessCentralBilling
from accord.connectors.business_central.connector import BusinessCentralConnector
from accord.connectors.business_central.mapping import (
    BusinessCentralLookups,
    bc_number,
    journal_line_from_expense,
    journal_line_from_time_entry,
)
from accord.connectors.business_central.masters import BusinessCentralMasterData
from accord.connectors.roles import (
    AsyncPoster,
    CallGate,
    EntryPosting,
    Erp,
    ErpProject,
    PostingBatch,
    PostingKind,
    PostingOutcome,
)
from accord.domain import BillingModel, ErpSystem, TimeEntry
from accord.errors import ConnectorError, MappingError, PermanentError, RetryableError
from accord.rules import Rules

__all__ = ["BusinessCentralErp", "BusinessCentralPoster", "batch_code"]

logger = logging.getLogger(__name__)

_BILLING: Final = {
    "Time and Materials": BillingModel.TIME_AND_MATERIALS,
    "Fixed Fee": BillingModel.FIXED_FEE,
    "Milestone": BillingModel.MILESTONE,
    "Retainer": BillingModel.RETAINER,
}


def batch_code(batch_id: str) -> str:
    """The journal batch name (``Code[10]``) of a posting batch: ``AC`` + 8 hash characters."""
    digest = base64.b32encode(hashlib.sha256(batch_id.encode()).digest()).decode()
    return "AC" + digest[:8]


def _date(value: object) -> dt.date | None:
    if not value:
        return None
    try:
        return dt.date.fromisoformat(str(value)[:10])
    except ValueError:
        return None


class BusinessCentralErp(
    BusinessCentralBilling, BusinessCentralMasterData, BusinessCentralEntities, Erp
):
    """A Business Central connection (one company per legal entity) as an ERP."""

    def __init__(self, connector: BusinessCentralConnector, rules: Rules) -> None:
        self._connector = connector
        self._rules = rules

    @property
    @override
    def connection(self) -> str:
        return self._connector.name

    @override
    def record_type(self, kind: PostingKind) -> str:
        del kind  # time and expenses are both project journal lines
        return f"{ErpSystem.BUSINESS_CENTRAL.value}:journalLine"

    # ----------------------------------------------------------------- projects, periods
    @override
    def project(self, erp_id: str) -> ErpProject | None:
        spec = self._rules.spec
        for code in self._entities():
            company = self._connector.for_company(code)
            record = company.get_by_external_id("projects", erp_id)
            if record is None:
                continue
            status = str(record.get("status") or "Open")
            blocked = str(record.get("blocked") or " ").strip()
            department, area = record.get("departmentCode"), record.get("areaCode")
            return ErpProject(
                erp_id=erp_id,
                legal_entity=code,
                active=status == "Open" and not blocked,
                status=f"{status} (blocked: {blocked})" if blocked else status,
                start_date=_date(record.get("startDate")),
                end_date=_date(record.get("endDate")),
                billing_model=_BILLING.get(
                    str(record.get("billingModel")), BillingModel.TIME_AND_MATERIALS
                ),
                practice=next(
                    (c for c, p in spec.practices.items() if p.bc_department_code == department),
                    None,
                ),
                region=next((c for c, r in spec.regions.items() if r.bc_area_code == area), None),
                currency=str(record.get("currencyCode") or spec.legal_entities[code].currency),
            )
        return None

    @override
    def closed_periods(self, legal_entity: str) -> frozenset[str]:
        company = self._connector.for_company(legal_entity)
        page = company.read_page("accountingPeriods", limit=1000)
        closed: set[str] = set()
        for r in page.records:
            start = _date(r.get("startingDate"))
            if start and (r.get("closed") is True or r.get("dateLocked") is True):
                closed.add(f"{start:%Y-%m}")
        return frozenset(closed)

    # ----------------------------------------------------------------- postings
    @override
    def posted_entries(self, project: ErpProject, keys: Sequence[str]) -> dict[str, str]:
        company = self._connector.for_company(project.legal_entity)
        numbers = {bc_number(key): key for key in keys}
        held = company.ledger_entries(list(numbers))
        return {numbers[number]: number for number in held}

    @override
    def post_entries(self, batch: PostingBatch) -> list[PostingOutcome]:
        company = self._connector.for_company(batch.project.legal_entity)
        numbers = {p.key: bc_number(p.key) for p in batch.postings}
        outcomes = {p.key: PostingOutcome(key=p.key) for p in batch.postings}
        priced: dict[str, Priced] = {}
        for posting in batch.postings:
            try:
                priced[posting.key] = self.price(batch, posting)
            except PermanentError as exc:
                outcomes[posting.key].error = exc
        held = company.ledger_entries(list(numbers.values()))
        todo = [p for p in batch.postings if numbers[p.key] not in held and p.key in priced]
        for posting in batch.postings:
            if numbers[posting.key] in held and posting.key in priced:
                outcomes[posting.key].record_id = numbers[posting.key]
                outcomes[posting.key].found = True
        if todo:
            self._stage_and_post(company, batch, todo, numbers, outcomes)
        self._post_recharges(batch, priced, outcomes)
        for key, found in priced.items():
            if outcomes[key].posted:
                outcomes[key].amounts = found.amounts
        return [outcomes[p.key] for p in batch.postings]

    def _post_recharges(
        self, batch: PostingBatch, priced: dict[str, Priced], outcomes: dict[str, PostingOutcome]
    ) -> None:
        """The intercompany lines of the posted postings, exactly once, in their homes."""
        homes: dict[str, list[str]] = {}
        for key, found in priced.items():
            if found.home is not None and found.line is not None and outcomes[key].posted:
                homes.setdefault(found.home, []).append(key)
        for home, keys in homes.items():
            company = self._connector.for_company(home)
            numbers = {key: intercompany_number(key) for key in keys}
            held = company.ledger_entries(list(numbers.values()), ledger="generalLedgerEntries")
            todo = [key for key in keys if numbers[key] not in held]
            if todo:
                journal = company.journal_batch(
                    batch_code(f"IC:{batch.batch_id}"), display_name="Accord recharges"
                )
                staged = self._tidy(company, journal, {numbers[k] for k in todo})
                for key in todo:
                    if numbers[key] not in staged:
                        company.stage_line(journal, priced[key].line or {})
                refusal: PermanentError | None = None
                try:
                    company.post_batch(journal)
                except PermanentError as exc:
                    refusal = exc
                held = company.ledger_entries(list(numbers.values()), ledger="generalLedgerEntries")
                still = {str(ln.get("documentNumber")): ln for ln in company.batch_lines(journal)}
                self._settle_recharges(
                    company,
                    journal,
                    unposted=todo_numbers(todo, numbers, held),
                    still=still,
                    refusal=refusal,
                )
                for key in todo:
                    if numbers[key] not in held and refusal is not None:
                        outcomes[key].record_id, outcomes[key].found = None, False
                        outcomes[key].error = refusal
            for key in keys:
                charge = priced[key].charge
                if numbers[key] in held and charge is not None:
                    outcomes[key].intercompany = replace(charge, record_id=numbers[key])

    def _settle_recharges(
        self,
        company: BusinessCentralConnector,
        journal: str,
        *,
        unposted: list[str],
        still: dict[str, Any],
        refusal: PermanentError | None,
    ) -> None:
        """Clean the recharge batch after its post (as :meth:`_settle` does for postings).

        ``unposted`` are the document numbers staged but not in the G/L after the post.
        """
        if refusal is not None:
            for line in still.values():
                company.delete_line(journal, str(line["id"]))
        elif any(number not in still for number in unposted):
            raise RetryableError(
                "staged recharge lines neither posted nor in the batch any more",
                connector=self.connection,
                resource="journalLines",
            )
        if not still or refusal is not None:
            self._drop(company, journal)

    def _stage_and_post(
        self,
        company: BusinessCentralConnector,
        batch: PostingBatch,
        todo: list[EntryPosting],
        numbers: dict[str, str],
        outcomes: dict[str, PostingOutcome],
    ) -> None:
        journal = company.journal_batch(batch_code(batch.batch_id), display_name="Accord postings")
        wanted = {numbers[p.key] for p in todo}
        staged = self._tidy(company, journal, wanted)
        for posting in todo:
            number = numbers[posting.key]
            if number in staged:
                continue
            try:
                company.stage_line(journal, self._line(batch, posting, number))
            except (PermanentError, MappingError) as exc:
                outcomes[posting.key].error = _refusal(exc, posting)
                continue
            staged.add(number)
        if not staged:
            return
        refusal: PermanentError | None = None
        try:
            company.post_batch(journal)
        except PermanentError as exc:
            refusal = exc
        self._settle(
            company,
            journal,
            todo=todo,
            numbers=numbers,
            staged=staged,
            refusal=refusal,
            outcomes=outcomes,
        )

    def _settle(
        self,
        company: BusinessCentralConnector,
        journal: str,
        *,
        todo: list[EntryPosting],
        numbers: dict[str, str],
        staged: set[str],
        refusal: PermanentError | None,
        outcomes: dict[str, PostingOutcome],
    ) -> None:
        """Each staged posting's outcome from what BC holds now (module docstring, step 4)."""
        held = company.ledger_entries(sorted(staged))
        still = {str(line.get("documentNumber")): line for line in company.batch_lines(journal)}
        unknown = []
        for posting in todo:
            number = numbers[posting.key]
            if number not in staged:
                continue
            if number in held:
                outcomes[posting.key].record_id = number
            elif refusal is not None and number in still:
                outcomes[posting.key].error = refusal
            else:
                unknown.append(number)
        if refusal is not None:
            # BC refused the batch as a whole: remove its lines so that a retry starts clean.
            for line in still.values():
                company.delete_line(journal, str(line["id"]))
        if unknown:
            raise RetryableError(
                f"{len(unknown)} staged lines neither posted nor in the batch any more",
                connector=self.connection,
                resource="journalLines",
            )
        if not still or refusal is not None:
            self._drop(company, journal)

    @override
    def posting_body(self, batch: PostingBatch, posting: EntryPosting) -> dict[str, Any]:
        return self._line(batch, posting, bc_number(posting.key))

    @override
    def poster(self, gate: CallGate) -> AsyncPoster:
        return BusinessCentralPoster(self, gate)

    @staticmethod
    def _tidy(company: BusinessCentralConnector, journal: str, wanted: set[str]) -> set[str]:
        """Document numbers staged in the batch, after removing duplicates and unwanted lines.

        A duplicate is a create whose answer was lost and which was sent again; an unwanted
        line is one whose posting BC already holds or the batch no longer carries. Lines are
        kept by line number, so two tidy passes agree on which copy stays.
        """
        kept: set[str] = set()
        lines = sorted(company.batch_lines(journal), key=lambda ln: int(ln.get("lineNumber") or 0))
        for line in lines:
            number = str(line.get("documentNumber") or "")
            if number in wanted and number not in kept:
                kept.add(number)
                continue
            company.delete_line(journal, str(line["id"]))
        return kept

    def _drop(self, company: BusinessCentralConnector, journal: str) -> None:
        """Delete the emptied batch; a failure only leaves an empty batch behind."""
        try:
            company.delete_batch(journal)
        except ConnectorError as exc:
            logger.warning("empty journal batch not deleted on %s: %s", self.connection, exc)

    @staticmethod
    def _line(batch: PostingBatch, posting: EntryPosting, number: str) -> dict[str, Any]:
        entry = posting.entry
        if isinstance(entry, TimeEntry):
            lookups = BusinessCentralLookups(
                legal_entity=batch.project.legal_entity,
                resources={entry.resource_id: bc_number(entry.resource_id)},
                records={"projects": {entry.project_id: batch.project.erp_id}},
            )
            body = journal_line_from_time_entry(entry, lookups=lookups)
        else:
            body = journal_line_from_expense(
                entry, project_number=batch.project.erp_id, key=posting.key
            )
        body["documentNumber"] = number
        return body


class BusinessCentralPoster(AsyncPoster):
    """Batches posted from the dispatcher's event loop, each in a worker thread.

    A batch is a sequence of dependent calls (ledger read, stage, post, ledger read), so it
    runs as :meth:`BusinessCentralErp.post_entries` does, one slot of the gate per batch.
    """

    def __init__(self, erp: BusinessCentralErp, gate: CallGate) -> None:
        self._erp = erp
        self._gate = gate

    @override
    async def post(self, batch: PostingBatch) -> list[PostingOutcome]:
        async with self._gate():
            with slot_held():
                return await asyncio.to_thread(self._erp.post_entries, batch)

    @override
    async def aclose(self) -> None:
        return None


def todo_numbers(keys: list[str], numbers: dict[str, str], held: dict[str, Any]) -> list[str]:
    """The document numbers of ``keys`` that the ledger read ``held`` does not hold."""
    return [numbers[k] for k in keys if numbers[k] not in held]


def _refusal(exc: PermanentError | MappingError, posting: EntryPosting) -> PermanentError:
    if isinstance(exc, PermanentError):
        return exc
    return PermanentError(str(exc), external_id=posting.key, detail=str(exc), reason="validation")
