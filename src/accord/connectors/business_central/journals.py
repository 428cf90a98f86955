"""Project journal batches and the project ledger: the calls behind BC's exactly-once posting.

:class:`ProjectJournal` is one company's side of :mod:`accord.connectors.business_central.erp`'s
algorithm. Each method is one step of it, and several steps' reads share a request where BC
allows (``$batch``, :mod:`accord.connectors.business_central.batch`): the ledger read and the
batch lookup before staging, the ledger read and the batch's lines after posting; the lines of
a batch are staged, and removed, a hundred to a request.

- **Ledger** (``projectLedgerEntries``, the read-only page of Accord's AL extension over BC's
  Job Ledger Entry table; the standard v2.0 API has none): read by document number, a
  ``$filter`` of :data:`FILTER_CHUNK` ``or`` terms per operation (URL length). Intercompany
  recharges are read the same way from the standard v2.0 ``generalLedgerEntries`` (G/L Entry).
- **Journal batches** (``journals``, ``Code[10]``): found by code, created when missing; a
  create racing another finds the batch the other created (BC refuses the same code twice).
- **Lines** (``journals({id})/journalLines``): staged by ``POST`` (not idempotent: read the
  batch first), removed by ``DELETE`` (one already gone is not an error).
- **Post**: ``journals({id})/Microsoft.NAV.post``, all or nothing.
"""

from collections.abc import Mapping, Sequence
from typing import Any, Final, Literal

import httpx

from accord.connectors.business_central.batch import BatchAnswer, BatchOperation
from accord.connectors.business_central.connector import (
    MAX_PAGE_SIZE,
    BusinessCentralConnector,
    guid,
    odata_string,
)
from accord.connectors.types import RawRecord
from accord.errors import ConflictError

__all__ = ["FILTER_CHUNK", "Ledger", "ProjectJournal"]

FILTER_CHUNK: Final = 15
"""Document numbers per ``$filter`` of ``or`` terms: keeps the URL well under BC's limits."""
Ledger = Literal["projectLedgerEntries", "generalLedgerEntries"]
"""The ledgers a journal's postings land in: project ledger entries, or G/L entries."""
_JOURNALS: Final = "journals"
_LINES: Final = "journalLines"


class ProjectJournal:
    """One company's project journal batches and project ledger (see the module docstring)."""

    def __init__(
        self, company: BusinessCentralConnector, *, ledger: Ledger = "projectLedgerEntries"
    ) -> None:
        self.company = company
        """The connector, narrowed to the company (``for_company``)."""
        self.ledger: Ledger = ledger
        """The ledger read by document number (G/L entries for intercompany recharges)."""

    # ----------------------------------------------------------------- reads
    def ledger_reads(self, document_numbers: Sequence[str]) -> list[BatchOperation]:
        """The operations that read the ledger entries of these document numbers."""
        numbers = list(dict.fromkeys(document_numbers))
        path = f"{self.company.company_path(self.ledger)}/{self.ledger}"
        return [
            BatchOperation(
                "GET",
                path,
                self.ledger,
                params={
                    "$filter": " or ".join(
                        f"documentNumber eq {odata_string(n)}"
                        for n in numbers[start : start + FILTER_CHUNK]
                    ),
                    "$top": MAX_PAGE_SIZE,
                },
            )
            for start in range(0, len(numbers), FILTER_CHUNK)
        ]

    @staticmethod
    def ledger_of(answers: Sequence[BatchAnswer]) -> dict[str, RawRecord]:
        """Posted ledger entries by document number, from the answers to :meth:`ledger_reads`."""
        found: dict[str, RawRecord] = {}
        for answer in answers:
            for record in answer.result().get("value") or ():
                if isinstance(record, dict) and record.get("documentNumber"):
                    found.setdefault(str(record["documentNumber"]), record)
        return found

    def ledger_entries(self, document_numbers: Sequence[str]) -> dict[str, RawRecord]:
        """What BC holds as posted, by document number."""
        return self.ledger_of(self.company.batch(self.ledger_reads(document_numbers)))

    def find_batch(self, code: str) -> BatchOperation:
        """The operation that looks the journal batch ``code`` up."""
        if not code or len(code) > 10 or code != code.strip():
            raise ValueError("a journal batch code holds 1 to 10 characters")
        return BatchOperation(
            "GET",
            f"{self.company.company_path(_JOURNALS)}/{_JOURNALS}",
            _JOURNALS,
            params={"$filter": f"code eq {odata_string(code)}"},
            external_id=code,
        )

    def batch_id(
        self, code: str, *, display_name: str, found: BatchAnswer | None = None
    ) -> tuple[str, bool]:
        """The id of the journal batch ``code``, created when missing; and whether it was.

        Args:
            code: The batch's code (``Code[10]``).
            display_name: Its name when created.
            found: The answer to :meth:`find_batch`, when it was read already.
        """
        for attempt in (1, 2):
            lookup = found if attempt == 1 and found is not None else None
            if lookup is None:
                lookup = self.company.batch([self.find_batch(code)])[0]
            values = lookup.result().get("value") or ()
            if values and isinstance(values[0], dict):
                return str(values[0]["id"]), False
            response = self.company.send(
                "POST",
                f"{self.company.company_path(_JOURNALS)}/{_JOURNALS}",
                resource=_JOURNALS,
                json={"code": code, "displayName": display_name or code},
            )
            if response.status_code == httpx.codes.CREATED:
                return str(self.company.json_object(response, resource=_JOURNALS)["id"]), True
            error = self.company.translate_error(response, resource=_JOURNALS, external_id=code)
            if not isinstance(error, ConflictError) or attempt == 2:
                raise error
        raise AssertionError("unreachable")  # pragma: no cover

    def lines_read(self, journal_id: str) -> BatchOperation:
        """The operation that reads every line staged in a batch (one page: batches are small)."""
        return BatchOperation(
            "GET", f"{self._journal(journal_id)}/{_LINES}", _LINES, params={"$top": MAX_PAGE_SIZE}
        )

    @staticmethod
    def lines_of(answer: BatchAnswer) -> list[RawRecord]:
        """The lines in the answer to :meth:`lines_read`."""
        return [v for v in answer.result().get("value") or () if isinstance(v, dict)]

    def lines(self, journal_id: str) -> list[RawRecord]:
        """Every line staged in the batch."""
        return self.lines_of(self.company.batch([self.lines_read(journal_id)])[0])

    # ----------------------------------------------------------------- writes
    def stage(self, journal_id: str, lines: Sequence[Mapping[str, Any]]) -> list[BatchAnswer]:
        """``POST`` the lines into the batch, in order; BC's answer to each.

        Raises:
            ConnectorError: A request as a whole failed: which lines BC took is unknown.
        """
        path = f"{self._journal(journal_id)}/{_LINES}"
        return self.company.batch(
            [
                BatchOperation(
                    "POST",
                    path,
                    _LINES,
                    body=line,
                    external_id=str(line.get("documentNumber") or "") or None,
                )
                for line in lines
            ]
        )

    def remove(self, journal_id: str, line_ids: Sequence[str]) -> None:
        """Remove staged lines; a line already gone (posted or removed) is not an error.

        Raises:
            ConnectorError: BC refused a removal, or a request as a whole failed.
        """
        path = f"{self._journal(journal_id)}/{_LINES}"
        answers = self.company.batch(
            [
                BatchOperation("DELETE", f"{path}({guid(line)})", _LINES, headers={"If-Match": "*"})
                for line in line_ids
            ]
        )
        for answer in answers:
            if answer.status != httpx.codes.NOT_FOUND:
                answer.result()

    def post(self, journal_id: str) -> None:
        """``Microsoft.NAV.post`` the batch: all or nothing (BC refuses the whole batch)."""
        response = self.company.send(
            "POST", f"{self._journal(journal_id)}/Microsoft.NAV.post", resource=_JOURNALS
        )
        self.company.raise_for_status(response, resource=_JOURNALS)

    def drop(self, journal_id: str) -> None:
        """Remove an (emptied) journal batch; one already gone is not an error.

        Raises:
            ConnectorError: BC refused the removal.
        """
        response = self.company.send(
            "DELETE", self._journal(journal_id), resource=_JOURNALS, headers={"If-Match": "*"}
        )
        if response.status_code != httpx.codes.NOT_FOUND:
            self.company.raise_for_status(response, resource=_JOURNALS)

    def _journal(self, journal_id: str) -> str:
        return f"{self.company.company_path(_JOURNALS)}/{_JOURNALS}({guid(journal_id)})"
