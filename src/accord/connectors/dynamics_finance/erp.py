"""Dynamics 365 Finance in the ERP role (:class:`~accord.connectors.roles.Erp`).

Projects are ``Projects`` records found across the connection's companies in one
cross-company read; periods are the company's ``LedgerFiscalPeriods`` (on hold counts as
closed: neither takes postings).

Postings are journal lines posted as a journal, exactly once per posting under any
concurrency and any crash point: time as **hour journal** lines (``TransactionID`` = the
posting's reference, :func:`~accord.connectors.dynamics_finance.mapping.posting_ref`, which
the posted project transaction keeps), expenses as **project expense journal** lines
(``Document`` = the reference). A journal posts all or nothing and is created with
``DeleteLinesAfterPosting = No``, so *a line with the reference in a posted journal* is what
finance and operations holds as posted. Per :class:`~accord.connectors.roles.PostingBatch`
and kind:

1. **What F&O holds first.** Lines carrying the references are read (``$filter`` of ``eq``
   terms: F&O has no ``in``), then their journals: a posting in a posted journal is
   reported posted (``found``) and never staged again, whoever posted it and whenever.
2. **A journal of its own**, found again by its description (``Accord <10 characters of the
   batch id's hash>``): no other batch's post can take its lines, and a re-run after a crash
   finds the lines it staged. An open journal created twice (a lost answer) is deleted
   (with its unposted lines); lines that duplicate a reference or are no longer wanted are
   deleted before posting.
3. **Stage** the missing lines in ``$batch`` changesets (all or nothing each): a line F&O
   refuses is that posting's refusal and the rest are sent again. Then **post** the journal
   (``PostJournal``).
4. **Outcomes from F&O's truth.** The references are read again: a posting in a posted
   journal is posted, whatever the post answered. A refused post whose journal is still open
   is a real refusal of the journal: every staged posting carries it and the journal is
   deleted (so a retry starts clean). A posting neither posted nor staged leaves the outcome
   unknown: :class:`~accord.errors.RetryableError`, and the retry stages it again.

Two calls for the *same* batch must not overlap (the caller holds a lease on the batch id);
calls for different batches may run at once.

Reconciliation (posted journal lines, milestone plans and Accord's records read in pages):
:mod:`accord.connectors.dynamics_finance._erp_recon`.
"""

import asyncio
import base64
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final

from typing_extensions import override

from accord.connectors.budget import slot_held
from accord.connectors.dynamics_finance._erp_delivery import DynamicsFinanceDelivery
from accord.connectors.dynamics_finance._erp_recon import DynamicsFinanceReconciliation
from accord.connectors.dynamics_finance.batch import BatchRequest
from accord.connectors.dynamics_finance.connector import (
    ACTION_NAMESPACE,
    DynamicsFinanceConnector,
    odata_string,
)
from accord.connectors.dynamics_finance.mapping import (
    date_day,
    dimension_display_value,
    expense_line,
    hour_line,
    line_terms,
    posting_ref,
)
from accord.connectors.dynamics_finance.masters import chunks
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
from accord.domain import System, TimeEntry
from accord.errors import ConnectorError, MappingError, PermanentError, RetryableError

__all__ = ["DynamicsFinanceErp", "DynamicsFinancePoster", "journal_marker"]


@dataclass(frozen=True)
class _Kind:
    """How one kind of posting becomes journal lines."""

    posting: PostingKind
    header: str
    lines: str
    journal_field: str
    """The line's field naming its journal."""
    ref_field: str
    """The line's field carrying the posting's reference."""
    record: str
    """Entity name for lineage."""


_KINDS: Final = {
    "time": _Kind(
        "time",
        "ProjectHourJournalHeaders",
        "ProjectHourJournalLines",
        "JournalId",
        "TransactionID",
        "ProjectHourJournalLine",
    ),
    "expense": _Kind(
        "expense",
        "ProjectExpenseJournalHeaders",
        "ProjectExpenseJournalLines",
        "JournalBatchNumber",
        "Document",
        "ProjectExpenseJournalLine",
    ),
}


def journal_marker(batch_id: str, kind: PostingKind) -> str:
    """The description a batch's journal carries: ``Accord `` + 10 hash characters."""
    digest = base64.b32encode(hashlib.sha256(f"{kind}:{batch_id}".encode()).digest()).decode()
    return f"Accord {digest[:10]}"


class DynamicsFinanceErp(
    DynamicsFinanceDelivery,
    DynamicsFinanceReconciliation,
    RoleBase[DynamicsFinanceConnector],
    Erp,
):
    """A Dynamics 365 Finance connection (one company per legal entity) as an ERP."""

    @override
    def record_type(self, kind: PostingKind) -> str:
        return f"{System.DYNAMICS_FINANCE.value}:{_KINDS[kind].record}"

    # ----------------------------------------------------------------- projects, periods
    @override
    def project(self, erp_id: str) -> ErpProject | None:
        record = self._project_record(erp_id)
        return None if record is None else self.project_view(record)

    @override
    def closed_periods(self, legal_entity: str) -> frozenset[str]:
        company = self._connector.for_company(legal_entity)
        records = company.query(
            "LedgerFiscalPeriods",
            f"PeriodStatus ne {ACTION_NAMESPACE}.FiscalPeriodStatus'Open'",
        )
        return frozenset(
            f"{start:%Y-%m}" for r in records if (start := date_day(r.get("StartDate"))) is not None
        )

    # ----------------------------------------------------------------- postings
    @override
    def posted_entries(self, project: ErpProject, keys: Sequence[str]) -> dict[str, str]:
        company = self._connector.for_company(project.legal_entity)
        refs = {posting_ref(key): key for key in keys}
        held: dict[str, str] = {}
        for kind in _KINDS.values():
            for ref in _held(company, kind, list(refs)):
                held[refs[ref]] = ref
        return held

    @override
    def post_entries(self, batch: PostingBatch) -> list[PostingOutcome]:
        company = self._connector.for_company(batch.project.legal_entity)
        outcomes = {p.key: PostingOutcome(key=p.key) for p in batch.postings}
        for kind in _KINDS.values():
            postings = [p for p in batch.postings if p.kind == kind.posting]
            if not postings:
                continue
            refs = {p.key: posting_ref(p.key) for p in postings}
            held = _held(company, kind, list(refs.values()))
            for posting in postings:
                if refs[posting.key] in held:
                    outcomes[posting.key].record_id = refs[posting.key]
                    outcomes[posting.key].found = True
            todo = [p for p in postings if refs[p.key] not in held]
            if todo:
                _Run(company, kind, batch, todo, refs, outcomes).stage_and_post()
        return [outcomes[p.key] for p in batch.postings]

    @override
    def posting_body(self, batch: PostingBatch, posting: EntryPosting) -> dict[str, Any]:
        """The journal line F&O would receive; its journal number is assigned when staged.

        Raises:
            MappingError: The posting cannot be a journal line (an unmapped category ...).
        """
        company = self._connector.for_company(batch.project.legal_entity)
        try:
            return _journal_line(
                company,
                posting,
                journal="",
                project=batch.project.erp_id,
                area=company.area,
                ref=posting_ref(posting.key),
            )
        except KeyError as exc:
            raise MappingError(f"cannot build the journal line: {exc}") from exc

    @override
    def posting_terms(self, batch: PostingBatch, posting: EntryPosting) -> PostingTerms:
        """The journal line F&O would receive, read back (:func:`mapping.line_terms`).

        Raises:
            MappingError: As :meth:`posting_body`.
        """
        company = self._connector.for_company(batch.project.legal_entity)
        return line_terms(self.posting_body(batch, posting), company.config)

    @override
    def poster(self, gate: CallGate) -> "DynamicsFinancePoster":
        """A poster for the connection's dispatcher: every batch holds one slot of ``gate``."""
        return DynamicsFinancePoster(self, gate)


class _Run:
    """Stage and post the missing postings of one kind of one batch (module docstring)."""

    def __init__(  # noqa: PLR0917 - the state of one run, kept together
        self,
        company: DynamicsFinanceConnector,
        kind: _Kind,
        batch: PostingBatch,
        todo: list[EntryPosting],
        refs: dict[str, str],
        outcomes: dict[str, PostingOutcome],
    ) -> None:
        self.company, self.kind, self.batch = company, kind, batch
        self.todo, self.refs, self.outcomes = todo, refs, outcomes
        self.marker = journal_marker(batch.batch_id, kind.posting)

    def stage_and_post(self) -> None:
        journal = self.journal()
        wanted = {self.refs[p.key] for p in self.todo}
        staged = self.tidy(journal, wanted)
        missing = [p for p in self.todo if self.refs[p.key] not in staged]
        staged |= self.stage(journal, missing)
        if not staged:
            self.drop(journal)
            return
        refusal: PermanentError | None = None
        try:
            self.company.action(self.kind.header, self.header_id(journal), "PostJournal")
        except PermanentError as exc:
            refusal = exc
        self.settle(journal, staged, refusal)

    def header_id(self, journal: str) -> str:
        area = odata_string(self.company.area)
        return f"dataAreaId={area},JournalBatchNumber={odata_string(journal)}"

    def journal(self) -> str:
        """The batch's open journal: found by its description, or created."""
        headers = self.company.query(
            self.kind.header,
            f"Description eq {odata_string(self.marker)}",
            order="JournalBatchNumber asc",
        )
        open_ = [h for h in headers if h.get("Posted") != "Yes"]
        for extra in open_[1:]:
            # Created twice (an answer was lost): one journal posts, the other goes with its
            # unposted lines, which the kept journal stages again.
            self.company.delete(self.kind.header, self.header_id(str(extra["JournalBatchNumber"])))
        if open_:
            return str(open_[0]["JournalBatchNumber"])
        config = self.company.config
        name = (
            config.hour_journal_name if self.kind.posting == "time" else config.expense_journal_name
        )
        created = self.company.insert(
            self.kind.header,
            {"JournalName": name, "Description": self.marker, "DeleteLinesAfterPosting": "No"},
        )
        return str(created["JournalBatchNumber"])

    def journal_lines(self, journal: str) -> list[dict[str, Any]]:
        return self.company.query(
            self.kind.lines,
            f"{self.kind.journal_field} eq {odata_string(journal)}",
            order="LineNumber asc",
        )

    def tidy(self, journal: str, wanted: set[str]) -> set[str]:
        """References staged in the journal, after deleting duplicate and unwanted lines.

        Lines are kept by line number, so two tidy passes agree on which copy stays.
        """
        kept: set[str] = set()
        for line in self.journal_lines(journal):
            ref = str(line.get(self.kind.ref_field) or "")
            if ref in wanted and ref not in kept:
                kept.add(ref)
                continue
            self.company.delete(self.kind.lines, self.line_id(journal, line))
        return kept

    def line_id(self, journal: str, line: dict[str, Any]) -> str:
        number = line.get("LineNumber")
        return (
            f"dataAreaId={odata_string(self.company.area)},"
            f"{self.kind.journal_field}={odata_string(journal)},LineNumber={number}"
        )

    def stage(self, journal: str, postings: list[EntryPosting]) -> set[str]:
        """Create the lines in changesets; a refused line is its posting's refusal."""
        staged: set[str] = set()
        pending = list(postings)
        size = self.company.config.batch_size
        while pending:
            chunk, pending = pending[:size], pending[size:]
            requests: list[BatchRequest] = []
            for posting in list(chunk):
                try:
                    body = _journal_line(
                        self.company,
                        posting,
                        journal=journal,
                        project=self.batch.project.erp_id,
                        area=self.company.area,
                        ref=self.refs[posting.key],
                    )
                except (MappingError, KeyError) as exc:
                    self.refuse(posting, _validation(exc, posting))
                    chunk.remove(posting)
                    continue
                requests.append(BatchRequest("POST", self.kind.lines, body))
            if not requests:
                continue
            failed = self.failed(self.company.batch(requests, atomic=True))
            if failed is None:
                staged |= {self.refs[p.key] for p in chunk}
                continue
            index, error = failed
            if not isinstance(error, PermanentError):
                raise error
            # The changeset was rolled back: refuse the one line, send the rest again.
            self.refuse(chunk[index], error)
            pending = chunk[:index] + chunk[index + 1 :] + pending
        return staged

    def failed(self, answers: list[Any]) -> tuple[int, ConnectorError] | None:
        """The failing request of a changeset (index, error), or None when all succeeded."""
        for answer in answers:
            if answer.ok:
                continue
            error = self.company.batch_error(answer, resource=self.kind.lines)
            try:
                index = int(answer.content_id or "") - 1
            except ValueError:
                raise RetryableError(
                    "a failed $batch answer without its Content-ID",
                    connector=self.company.name,
                    resource=self.kind.lines,
                ) from None
            return index, error
        return None

    def refuse(self, posting: EntryPosting, error: ConnectorError) -> None:
        error.external_id = error.external_id or posting.key
        self.outcomes[posting.key].error = error

    def settle(self, journal: str, staged: set[str], refusal: PermanentError | None) -> None:
        """Each staged posting's outcome from what F&O holds now (module docstring, step 4)."""
        held = _held(self.company, self.kind, sorted(staged))
        header = self.company.get(self.kind.header, self.header_id(journal))
        still_open = header.get("Posted") != "Yes"
        unknown = []
        for posting in self.todo:
            ref = self.refs[posting.key]
            if ref not in staged:
                continue
            if ref in held:
                self.outcomes[posting.key].record_id = ref
            elif refusal is not None and still_open:
                self.outcomes[posting.key].error = refusal
            else:
                unknown.append(ref)
        if refusal is not None and still_open:
            # F&O refused the journal as a whole: delete it so that a retry starts clean.
            self.drop(journal)
        if unknown:
            raise RetryableError(
                f"{len(unknown)} staged lines neither posted nor refused",
                connector=self.company.name,
                resource=self.kind.lines,
            )

    def drop(self, journal: str) -> None:
        """Delete an open journal (its lines go with it); a failure only leaves it behind."""
        try:
            self.company.delete(self.kind.header, self.header_id(journal))
        except ConnectorError:
            return


def _held(company: DynamicsFinanceConnector, kind: _Kind, refs: Sequence[str]) -> set[str]:
    """Of ``refs``, those on a line of a posted journal of ``kind``."""
    lines = _lines(company, kind, refs)
    journals = sorted({str(line.get(kind.journal_field)) for line in lines})
    posted: set[str] = set()
    for chunk in chunks(journals):
        condition = " or ".join(f"JournalBatchNumber eq {odata_string(j)}" for j in chunk)
        for header in company.query(kind.header, condition):
            if header.get("Posted") == "Yes":
                posted.add(str(header.get("JournalBatchNumber")))
    return {
        str(line[kind.ref_field]) for line in lines if str(line.get(kind.journal_field)) in posted
    }


def _lines(
    company: DynamicsFinanceConnector, kind: _Kind, refs: Sequence[str]
) -> list[dict[str, Any]]:
    """Every line of ``kind`` in the company carrying one of ``refs``."""
    found: list[dict[str, Any]] = []
    for chunk in chunks(list(dict.fromkeys(refs))):
        condition = " or ".join(f"{kind.ref_field} eq {odata_string(r)}" for r in chunk)
        found += company.query(kind.lines, condition)
    return found


def _journal_line(
    company: DynamicsFinanceConnector, posting: EntryPosting, **ids: str
) -> dict[str, Any]:
    """The journal line of one posting (``ids``: journal, project, area, ref)."""
    config = company.config
    dimensions = dimension_display_value(posting.dimensions, config)
    entry = posting.entry
    if isinstance(entry, TimeEntry):
        return hour_line(entry, dimensions=dimensions, config=config, **ids)
    return expense_line(entry, dimensions=dimensions, config=config, **ids)


def _validation(exc: Exception, posting: EntryPosting) -> PermanentError:
    message = f"cannot build the journal line: {exc}"
    return PermanentError(message, external_id=posting.key, detail=message, reason="validation")


class DynamicsFinancePoster(AsyncPoster):
    """Batches posted from the dispatcher's event loop, each in a worker thread.

    A batch is a sequence of dependent calls (reads, a ``$batch`` of lines, the post, reads),
    so it runs as :meth:`DynamicsFinanceErp.post_entries` does, one slot of the gate per batch.
    """

    def __init__(self, erp: DynamicsFinanceErp, gate: CallGate) -> None:
        self._erp = erp
        self._gate = gate

    @override
    async def post(self, batch: PostingBatch) -> list[PostingOutcome]:
        """The same contract as :meth:`DynamicsFinanceErp.post_entries`, awaited."""
        async with self._gate():
            # The batch's calls run inside the gate's slot: they must not ask the budget for
            # another (the dispatcher holds the connection's slots).
            with slot_held():
                return await asyncio.to_thread(self._erp.post_entries, batch)

    @override
    async def aclose(self) -> None:
        """Nothing to release: calls go through the connector's client."""
