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
   re-run after a crash finds the lines it staged. Lines in a batch found (not created now)
   that are duplicates (a create whose answer was lost, then retried) or not wanted any more
   are removed before posting.
3. **Stage** the postings not yet staged, then **post** the batch. A line BC refuses is that
   posting's outcome (its refusal), the others are staged and posted; a line whose staging
   failed transiently is not posted now (its outcome is that failure, to retry).
4. **Outcomes from BC's truth.** The ledger is read again: a posting there is posted, whatever
   the post answered ("There is nothing to post." included). A refused post whose lines are
   still staged is a real refusal of the batch: its lines are removed (so a retry starts
   clean) and every posting carries the refusal. Lines gone but not in the ledger leave the
   outcome unknown: :class:`~accord.errors.RetryableError`, and the retry stages them again.
5. The emptied batch is deleted.

The calls go in as few requests as BC allows (``$batch``, at most 100 operations each;
:mod:`accord.connectors.business_central.journals`): the ledger read and the batch lookup
share one request, the lines are staged a hundred to a request, the ledger read after the
post and the batch's remaining lines share one. A fresh batch of *n* postings takes
``2 + ceil(n / 100) + 3`` requests (ledger and lookup, create, stage, post, ledger and lines,
delete) instead of ``n + 8`` one by one (more when *n* > 15, whose ledger reads are chunked);
BC counts each operation against its rate limit all the same.

Before any of this, each posting is priced (its amounts in the project company's local
currency; for a resource employed by another company, its intercompany recharge): a posting
that cannot be priced (a missing rate) is refused and not staged. After it, the recharges of
the postings BC holds are posted in their home companies, exactly once the same way (G/L
entries read by document number first, a journal batch of their own, ``$batch`` requests):
:mod:`accord.connectors.business_central._entities`.

Two calls for the *same* batch must not overlap (the caller holds a lease on the batch id);
calls for different batches may run at once.

Cash and billing (invoices, receivables, milestone invoices):
:mod:`accord.connectors.business_central._erp_billing`; delivery (project status and fields,
tasks, resources, vendor bills): :mod:`accord.connectors.business_central._erp_delivery`.
Reconciliation (the project ledger, planning lines and Accord's records read in bulk):
:mod:`accord.connectors.business_central._erp_recon`.
"""

import asyncio
import base64
import hashlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any, Final

from typing_extensions import override

from accord.connectors.budget import slot_held
from accord.connectors.business_central._entities import (
    BusinessCentralEntities,
    Priced,
    intercompany_number,
)
from accord.connectors.business_central._erp_delivery import BusinessCentralDelivery
from accord.connectors.business_central._erp_recon import BusinessCentralReconciliation
from accord.connectors.business_central.batch import BatchAnswer
from accord.connectors.business_central.connector import BusinessCentralConnector
from accord.connectors.business_central.journals import FILTER_CHUNK, ProjectJournal
from accord.connectors.business_central.mapping import (
    BusinessCentralLookups,
    bc_number,
    journal_line_from_expense,
    journal_line_from_time_entry,
    journal_line_terms,
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
    PostingTerms,
)
from accord.connectors.roles.base import RoleBase
from accord.connectors.roles.recon import held_date
from accord.domain import BillingModel, ErpSystem, TimeEntry
from accord.errors import ConnectorError, MappingError, PermanentError, RetryableError

__all__ = ["BusinessCentralErp", "BusinessCentralPoster", "batch_code", "rate_units"]

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


class BusinessCentralErp(
    BusinessCentralDelivery,
    BusinessCentralMasterData,
    BusinessCentralEntities,
    BusinessCentralReconciliation,
    RoleBase[BusinessCentralConnector],
    Erp,
):
    """A Business Central connection (one company per legal entity) as an ERP."""

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
                start_date=held_date(record.get("startDate")),
                end_date=held_date(record.get("endDate")),
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
            start = held_date(r.get("startingDate"))
            if start and (r.get("closed") is True or r.get("dateLocked") is True):
                closed.add(f"{start:%Y-%m}")
        return frozenset(closed)

    # ----------------------------------------------------------------- postings
    @override
    def posted_entries(self, project: ErpProject, keys: Sequence[str]) -> dict[str, str]:
        journal = ProjectJournal(self._connector.for_company(project.legal_entity))
        numbers = {bc_number(key): key for key in keys}
        held = journal.ledger_entries(list(numbers))
        return {numbers[number]: number for number in held}

    @override
    def post_entries(self, batch: PostingBatch) -> list[PostingOutcome]:
        journal = ProjectJournal(self._connector.for_company(batch.project.legal_entity))
        numbers = {p.key: bc_number(p.key) for p in batch.postings}
        outcomes = {p.key: PostingOutcome(key=p.key) for p in batch.postings}
        priced: dict[str, Priced] = {}
        for posting in batch.postings:
            try:
                priced[posting.key] = self.price(batch, posting)
            except PermanentError as exc:
                outcomes[posting.key].error = exc
        # What BC holds, and whether the batch's journal exists (a re-run), in one request.
        reads = journal.company.batch(
            [
                *journal.ledger_reads(list(numbers.values())),
                journal.find_batch(batch_code(batch.batch_id)),
            ]
        )
        held = journal.ledger_of(reads[:-1])
        todo = [p for p in batch.postings if numbers[p.key] not in held and p.key in priced]
        for posting in batch.postings:
            if numbers[posting.key] in held and posting.key in priced:
                outcomes[posting.key].record_id = numbers[posting.key]
                outcomes[posting.key].found = True
        if todo:
            self._stage_and_post(journal, batch, todo, numbers, outcomes, found=reads[-1])
        self._post_recharges(batch, priced, outcomes)
        for key, found in priced.items():
            if outcomes[key].posted:
                outcomes[key].amounts = found.amounts
        return [outcomes[p.key] for p in batch.postings]

    def _post_recharges(
        self, batch: PostingBatch, priced: dict[str, Priced], outcomes: dict[str, PostingOutcome]
    ) -> None:
        """The intercompany lines of the posted postings, exactly once, in their homes.

        As for the project's postings (module docstring), in each home company's general
        ledger: its G/L entries and the recharge batch looked up in one request, the missing
        lines staged, the batch posted, then the G/L and the batch's lines read in one request.
        A recharge BC refuses (its line, or the batch) makes its posting's outcome that refusal,
        so that a retry finds the posting in the project ledger and posts only the recharge.
        """
        homes: dict[str, list[str]] = {}
        for key, found in priced.items():
            if found.home is not None and found.line is not None and outcomes[key].posted:
                homes.setdefault(found.home, []).append(key)
        code = batch_code(f"IC:{batch.batch_id}")
        for home, keys in homes.items():
            journal = ProjectJournal(
                self._connector.for_company(home), ledger="generalLedgerEntries"
            )
            numbers = {key: intercompany_number(key) for key in keys}
            reads = journal.company.batch(
                [*journal.ledger_reads(list(numbers.values())), journal.find_batch(code)]
            )
            held = journal.ledger_of(reads[:-1])
            todo = [key for key in keys if numbers[key] not in held]
            if todo:
                refused = self._recharge(
                    journal, code, {numbers[k]: priced[k].line or {} for k in todo}, reads[-1]
                )
                held = refused.held
                for key in todo:
                    error = refused.errors.get(numbers[key])
                    if numbers[key] not in held and error is not None:
                        outcomes[key].record_id, outcomes[key].found = None, False
                        outcomes[key].error = error
            for key in keys:
                charge = priced[key].charge
                if numbers[key] in held and charge is not None:
                    outcomes[key].intercompany = replace(charge, record_id=numbers[key])

    def _recharge(
        self,
        journal: ProjectJournal,
        code: str,
        lines: dict[str, dict[str, Any]],
        found: BatchAnswer,
    ) -> "_Recharged":
        """Stage and post one home company's recharge lines (by document number); what BC holds.

        Cleans the batch after its post as :meth:`_settle` does for postings.

        Raises:
            RetryableError: A staged line is neither posted nor in the batch any more, or a
                line's staging failed transiently (the retry reads the G/L first).
        """
        journal_id, created = journal.batch_id(code, display_name="Accord recharges", found=found)
        staged = set() if created else self._tidy(journal, journal_id, set(lines))
        errors: dict[str, PermanentError] = {}
        staging = [number for number in lines if number not in staged]
        answers = journal.stage(journal_id, [lines[number] for number in staging])
        for number, answer in zip(staging, answers, strict=True):
            if answer.error is None:
                staged.add(number)
            elif isinstance(answer.error, PermanentError):
                errors[number] = answer.error
            else:
                raise answer.error
        refusal: PermanentError | None = None
        if staged:
            try:
                journal.post(journal_id)
            except PermanentError as exc:
                refusal = exc
        reads = journal.company.batch(
            [*journal.ledger_reads(sorted(lines)), journal.lines_read(journal_id)]
        )
        held = journal.ledger_of(reads[:-1])
        still = {str(ln.get("documentNumber")): ln for ln in journal.lines_of(reads[-1])}
        if refusal is not None:
            errors.update(dict.fromkeys(staged, refusal))
            journal.remove(journal_id, [str(line["id"]) for line in still.values()])
        elif any(n in staged and n not in held and n not in still for n in lines):
            raise RetryableError(
                "staged recharge lines neither posted nor in the batch any more",
                connector=self.connection,
                resource="journalLines",
            )
        if not still or refusal is not None:
            self._drop(journal, journal_id)
        return _Recharged(held=held, errors=errors)

    def _stage_and_post(
        self,
        journal: ProjectJournal,
        batch: PostingBatch,
        todo: list[EntryPosting],
        numbers: dict[str, str],
        outcomes: dict[str, PostingOutcome],
        *,
        found: BatchAnswer,
    ) -> None:
        code = batch_code(batch.batch_id)
        journal_id, created = journal.batch_id(code, display_name="Accord postings", found=found)
        wanted = {numbers[p.key] for p in todo}
        # A batch created by this call holds nothing yet; one found is a re-run's to tidy.
        staged = set() if created else self._tidy(journal, journal_id, wanted)
        lines: list[tuple[EntryPosting, str, dict[str, Any]]] = []
        for posting in todo:
            number = numbers[posting.key]
            if number in staged:
                continue
            try:
                lines.append((posting, number, self._line(batch, posting, number)))
            except MappingError as exc:
                outcomes[posting.key].error = _refusal(exc, posting)
        pending = self._stage(journal, journal_id, lines, staged, outcomes)
        if not staged:
            for posting, number, _ in lines:
                if number in pending:
                    outcomes[posting.key].error = pending[number]
            return
        refusal: PermanentError | None = None
        try:
            journal.post(journal_id)
        except PermanentError as exc:
            refusal = exc
        self._settle(
            journal,
            journal_id,
            todo=todo,
            numbers=numbers,
            staged=staged,
            pending=pending,
            refusal=refusal,
            outcomes=outcomes,
        )

    @staticmethod
    def _stage(
        journal: ProjectJournal,
        journal_id: str,
        lines: list[tuple[EntryPosting, str, dict[str, Any]]],
        staged: set[str],
        outcomes: dict[str, PostingOutcome],
    ) -> dict[str, RetryableError]:
        """Stage the lines (``$batch``); a refused one's outcome is BC's refusal.

        Returns the lines whose staging failed transiently, by document number: they are not
        staged now, and their outcome is read after the post.
        """
        pending: dict[str, RetryableError] = {}
        answers = journal.stage(journal_id, [body for _, _, body in lines])
        for (posting, number, _), answer in zip(lines, answers, strict=True):
            error = answer.error
            if error is None:
                staged.add(number)
            elif isinstance(error, PermanentError):
                outcomes[posting.key].error = error
            elif isinstance(error, RetryableError):
                pending[number] = error
            else:
                raise error
        return pending

    def _settle(
        self,
        journal: ProjectJournal,
        journal_id: str,
        *,
        todo: list[EntryPosting],
        numbers: dict[str, str],
        staged: set[str],
        pending: dict[str, RetryableError],
        refusal: PermanentError | None,
        outcomes: dict[str, PostingOutcome],
    ) -> None:
        """Each staged posting's outcome from what BC holds now (module docstring, step 4).

        A posting whose staging failed transiently is read too: its outcome is BC's ledger if
        the line was staged after all, else that failure (the caller retries it).
        """
        reads = journal.company.batch(
            [*journal.ledger_reads(sorted(staged | set(pending))), journal.lines_read(journal_id)]
        )
        held = journal.ledger_of(reads[:-1])
        still = {str(line.get("documentNumber")): line for line in journal.lines_of(reads[-1])}
        unknown = []
        for posting in todo:
            number = numbers[posting.key]
            if number in held:
                outcomes[posting.key].record_id = number
            elif number in pending:
                outcomes[posting.key].error = pending[number]
            elif number not in staged:
                continue
            elif refusal is not None and number in still:
                outcomes[posting.key].error = refusal
            else:
                unknown.append(number)
        if refusal is not None:
            # BC refused the batch as a whole: remove its lines so that a retry starts clean.
            journal.remove(journal_id, [str(line["id"]) for line in still.values()])
        if unknown:
            raise RetryableError(
                f"{len(unknown)} staged lines neither posted nor in the batch any more",
                connector=self.connection,
                resource="journalLines",
            )
        if not still or refusal is not None:
            self._drop(journal, journal_id)

    @override
    def posting_body(self, batch: PostingBatch, posting: EntryPosting) -> dict[str, Any]:
        return self._line(batch, posting, bc_number(posting.key))

    @override
    def posting_terms(self, batch: PostingBatch, posting: EntryPosting) -> PostingTerms:
        return journal_line_terms(
            self.posting_body(batch, posting), kind=posting.kind, currency=batch.project.currency
        )

    @override
    def poster(self, gate: CallGate) -> AsyncPoster:
        return BusinessCentralPoster(self, gate)

    @staticmethod
    def _tidy(journal: ProjectJournal, journal_id: str, wanted: set[str]) -> set[str]:
        """Document numbers staged in the batch, after removing duplicates and unwanted lines.

        A duplicate is a create whose answer was lost and which was sent again; an unwanted
        line is one whose posting BC already holds or the batch no longer carries. Lines are
        kept by line number, so two tidy passes agree on which copy stays.
        """
        kept: set[str] = set()
        extra: list[str] = []
        lines = sorted(journal.lines(journal_id), key=lambda ln: int(ln.get("lineNumber") or 0))
        for line in lines:
            number = str(line.get("documentNumber") or "")
            if number in wanted and number not in kept:
                kept.add(number)
                continue
            extra.append(str(line["id"]))
        if extra:
            journal.remove(journal_id, extra)
        return kept

    def _drop(self, journal: ProjectJournal, journal_id: str) -> None:
        """Delete the emptied batch; a failure only leaves an empty batch behind."""
        try:
            journal.drop(journal_id)
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
    runs as :meth:`BusinessCentralErp.post_entries` does, in one slot of the gate. BC counts
    every operation of a ``$batch`` against its rate limit, so the batch first pays the gate's
    pace for each operation it will send (:func:`rate_units`) beyond that slot's own: the
    connection's ``rate_per_s`` is then BC's operations per second (6,000 / 300 s = 20).
    """

    def __init__(self, erp: BusinessCentralErp, gate: CallGate) -> None:
        self._erp = erp
        self._gate = gate

    @override
    async def post(self, batch: PostingBatch) -> list[PostingOutcome]:
        for _ in range(rate_units(len(batch.postings)) - 1):
            async with self._gate():
                pass
        async with self._gate():
            with slot_held():
                return await asyncio.to_thread(self._erp.post_entries, batch)

    @override
    async def aclose(self) -> None:
        return None


@dataclass(frozen=True)
class _Recharged:
    """What a home company holds after its recharges were posted.

    Attributes:
        held: Its G/L entries of the recharges, by document number.
        errors: BC's refusals of recharges it does not hold, by document number.
    """

    held: dict[str, Any]
    errors: dict[str, PermanentError]


def rate_units(postings: int) -> int:
    """The operations BC counts for a fresh batch of ``postings`` (see the module docstring).

    Ledger reads before and after (``FILTER_CHUNK`` numbers each), the batch lookup, its
    create, one line each, the post, the lines read and the delete. A re-run tidies (one read
    more) and a refused line is not posted: close enough to pace by.
    """
    reads = -(-postings // FILTER_CHUNK)
    return 2 * reads + postings + 5


def _refusal(exc: PermanentError | MappingError, posting: EntryPosting) -> PermanentError:
    if isinstance(exc, PermanentError):
        return exc
    return PermanentError(str(exc), external_id=posting.key, detail=str(exc), reason="validation")
