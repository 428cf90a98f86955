"""NetSuite in the ERP role, reconciliation half: postings, plans and Accord's records in bulk.

Everything is read with SuiteQL, never one record per posting:

- **Time**: ``timebill`` rows of the projects' jobs (``customer IN (...)``) or carrying one of
  the given external ids; a billable bill is worth its hours x ``rate`` in the project's
  currency. An expense report is worth the sum of its lines.
- **Expenses**: ``transaction`` rows of type ``ExpRept`` (every report of the account, or those
  changed since, or carrying one of the given external ids), then their ``transactionline``
  rows, whose ``entity`` is the line's project (one line per report Accord posts) [inferred
  column names, after SuiteQL's standard tables].
- **Paging**: ``ORDER BY id`` in pages of 1,000 by offset, in windows of 100,000 rows (SuiteQL's
  cap on one result) restarted after the window's last id.
- **Billing plans**: the project's sales order, read whole: the sum of its item lines.
- **Existence**: ``SELECT id FROM <table> WHERE id IN (...)`` per entity type; a billing-plan
  line (``<order id>:<line>``) exists while its order has that line.
- **Accord's records**: customers and jobs carrying an ``externalId`` (Accord gives every
  customer and job it writes its canonical id; NetSuite's own records carry none unless an
  integration set one).
"""

import datetime as dt
from collections import defaultdict
from collections.abc import Collection, Iterator, Sequence
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Final

from accord.connectors.budget import lane as budget_lane
from accord.connectors.netsuite._erp_billing import _date
from accord.connectors.netsuite._reference import currency_ids
from accord.connectors.netsuite.connector import NetSuiteConnector
from accord.connectors.roles import BACKGROUND, ErpProject, HeldWork, Lane
from accord.connectors.roles.recon import held_decimal
from accord.connectors.types import RawRecord
from accord.domain import Money
from accord.errors import NotFoundError

__all__ = ["NetSuiteReconciliation"]

_WINDOW: Final = 100_000
"""SuiteQL's cap on one result: a longer read restarts after the last id."""
_CHUNK: Final = 500
"""Values per ``IN (...)`` list."""
_TABLES: Final[dict[str, tuple[str, str | None]]] = {
    "customer": ("customer", None),
    "erp_project": ("job", None),
    "invoice": ("transaction", "CustInvc"),
    "milestone_invoice": ("transaction", "CustInvc"),
    "payment": ("transaction", "CustPymt"),
    "erp_billing_schedule": ("transaction", "SalesOrd"),
}
"""xref entity type -> the SuiteQL table (and transaction type) its records live in."""
_KEYED: Final = {"customer": "customer", "erp_project": "job"}


def _ids(values: Collection[str]) -> list[int]:
    # Internal ids are digits; anything else names no record (and must never reach a query).
    return sorted({int(v) for v in values if v.isdigit()})


def _quoted(values: Collection[str]) -> list[str]:
    # External ids Accord writes are letters, digits, '_' and '-'; others name no posting.
    return sorted({f"'{v}'" for v in values if v and all(c.isalnum() or c in "_-" for c in v)})


def _chunks(values: Sequence[str], size: int = _CHUNK) -> list[str]:
    return [", ".join(values[start : start + size]) for start in range(0, len(values), size)]


def _hours(value: object) -> Decimal:
    text = str(value or "0")
    if ":" in text:  # NetSuite also writes durations as H:MM
        hours, _, minutes = text.partition(":")
        return Decimal(hours) + Decimal(minutes or 0) / 60
    try:
        return Decimal(text)
    except InvalidOperation:
        return Decimal(0)


def _amount(value: Decimal, currency: str | None) -> Decimal:
    """An amount to its currency's minor unit (to the cent when the currency is unknown)."""
    if currency:
        return Money.of(value, currency).amount
    return value.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


class NetSuiteReconciliation:
    """The reconciliation methods of :class:`~accord.connectors.netsuite.erp.NetSuiteErp`."""

    _connector: NetSuiteConnector

    # --- reconciliation ------------------------------------------------------------------
    def held_key(self, key: str) -> str:
        """Postings carry their key as ``externalId``."""
        return key

    def _rows(
        self, columns: str, table: str, conditions: Sequence[str], *, lane: Lane
    ) -> Iterator[RawRecord]:
        """Every row matching ``conditions``, in id order (module docstring: paging)."""
        last = 0
        while True:
            where = " AND ".join([*conditions, f"id > {last}"])
            # Interpolated: constants, validated ids, quoted validated keys, timestamps.
            query = f"SELECT {columns} FROM {table} WHERE {where} ORDER BY id"  # noqa: S608
            offset, more = 0, True
            rows: list[RawRecord] = []
            while more and offset < _WINDOW:
                rows, more = self._connector.suiteql_page(
                    query, resource=table, offset=offset, lane=lane
                )
                yield from rows
                offset += len(rows)
                if not rows:
                    return
            if not more:
                return
            last = int(rows[-1]["id"])

    def posted_work(
        self,
        projects: Sequence[ErpProject],
        *,
        changed_since: dt.datetime | None = None,
        keys: Collection[str] = (),
        lane: Lane = BACKGROUND,
    ) -> list[HeldWork]:
        """Time bills and expense reports of the projects, and those carrying ``keys``."""
        currency = {p.erp_id: p.currency for p in projects}
        jobs = [str(j) for j in _ids([p.erp_id for p in projects])]
        since = (
            [f"lastmodifieddate >= {self._connector.suiteql_time(changed_since)}"]
            if changed_since is not None
            else []
        )
        wanted = _quoted(keys)
        # Time: by project (changed since, when asked), then by key wherever it is.
        filters = [[f"customer IN ({part})", *since] for part in _chunks(jobs)]
        filters += [[f"externalid IN ({part})"] for part in _chunks(wanted)]
        found: dict[str, HeldWork] = {}
        columns = "id, externalid, customer, trandate, hours, rate, isbillable, lastmodifieddate"
        for where in filters:
            for row in self._rows(columns, "timebill", where, lane=lane):
                work = self._time_bill(row, currency)
                found[work.record_id] = work
        # Expenses: report headers (their lines name the project), then the lines.
        filters = [["type = 'ExpRept'", *since]] if jobs else []
        filters += [["type = 'ExpRept'", f"externalid IN ({part})"] for part in _chunks(wanted)]
        headers: dict[str, RawRecord] = {}
        columns = "id, externalid, trandate, currency, lastmodifieddate"
        for where in filters:
            for row in self._rows(columns, "transaction", where, lane=lane):
                headers[str(row["id"])] = row
        for work in self._expenses(headers, set(jobs), set(keys), currency, lane=lane):
            found[work.record_id] = work
        return list(found.values())

    def _time_bill(self, row: RawRecord, currency: dict[str, str]) -> HeldWork:
        job = str(row.get("customer") or "")
        hours = _hours(row.get("hours"))
        billable = str(row.get("isbillable")) == "T"
        code = currency.get(job)
        amount = None
        if billable and row.get("rate") not in (None, ""):
            amount = _amount(hours * held_decimal(row.get("rate")), code)
        return HeldWork(
            kind="time",
            key=str(row.get("externalid") or ""),
            record_id=str(row["id"]),
            project=job,
            date=_date(row.get("trandate")) or dt.date.min,
            hours=hours,
            amount=amount,
            currency=code if amount is not None else None,
            billable=billable,
            changed_at=self._connector.suiteql_stamp(row.get("lastmodifieddate")),
        )

    def _expenses(
        self,
        headers: dict[str, RawRecord],
        jobs: set[str],
        keys: set[str],
        currency: dict[str, str],
        *,
        lane: Lane,
    ) -> Iterator[HeldWork]:
        """Reports whose lines book to ``jobs`` (or that carry ``keys``), one each."""
        lines: dict[str, list[RawRecord]] = defaultdict(list)
        ids = sorted(headers, key=int)
        columns = "id, transaction, linesequencenumber, entity, foreignamount, isbillable"
        for part in _chunks(ids):
            query = (
                f"SELECT {columns} FROM transactionline "  # noqa: S608 - validated ids
                f"WHERE transaction IN ({part}) ORDER BY transaction, linesequencenumber"
            )
            offset, more = 0, True
            while more:
                rows, more = self._connector.suiteql_page(
                    query, resource="transactionline", offset=offset, lane=lane
                )
                for row in rows:
                    lines[str(row.get("transaction"))].append(row)
                offset += len(rows)
                more = more and bool(rows)
        codes = {v: k for k, v in currency_ids(self._connector).items()}
        for report, header in headers.items():
            booked = lines.get(report, [])
            project = next((str(ln.get("entity")) for ln in booked if ln.get("entity")), "")
            key = str(header.get("externalid") or "")
            if project not in jobs and key not in keys:
                continue
            billable = any(str(ln.get("isbillable")) == "T" for ln in booked)
            code = codes.get(str(header.get("currency") or "")) or currency.get(project)
            total = sum((held_decimal(ln.get("foreignamount")) for ln in booked), Decimal(0))
            amount = _amount(total, code)
            yield HeldWork(
                kind="expense",
                key=key,
                record_id=report,
                project=project,
                date=_date(header.get("trandate")) or dt.date.min,
                hours=None,
                amount=amount,
                currency=code,
                billable=billable,
                changed_at=self._connector.suiteql_stamp(header.get("lastmodifieddate")),
            )

    def billing_plan_total(self, schedule_id: str, *, lane: Lane = BACKGROUND) -> Decimal | None:
        """The sales order's item lines, summed."""
        if not schedule_id.isdigit():
            return None
        try:
            with budget_lane(lane):
                order = self._connector.get("salesOrder", schedule_id)
        except NotFoundError:
            return None
        block = order.get("item")
        items = block.get("items") if isinstance(block, dict) else None
        return sum(
            (held_decimal(line.get("amount")) for line in items or () if isinstance(line, dict)),
            Decimal(0),
        )

    def existing(
        self, entity_type: str, ids: Collection[str], *, lane: Lane = BACKGROUND
    ) -> set[str] | None:
        """Ids found by SuiteQL in the entity type's table (module docstring)."""
        if entity_type == "erp_milestone":
            return self._plan_lines(ids, lane=lane)
        place = _TABLES.get(entity_type)
        if place is None:
            return None
        table, tran_type = place
        numbers = [str(i) for i in _ids(ids)]
        found: set[str] = set()
        for part in _chunks(numbers):
            where = [f"id IN ({part})", *([f"type = '{tran_type}'"] if tran_type else [])]
            found.update(str(r["id"]) for r in self._rows("id", table, where, lane=lane))
        return found

    def _plan_lines(self, ids: Collection[str], *, lane: Lane) -> set[str]:
        """Plan lines ``<order id>:<n>`` whose order still has an n-th item line."""
        orders = sorted({i.partition(":")[0] for i in ids if i.partition(":")[0].isdigit()})
        held: set[str] = set()
        for part in _chunks(orders):
            query = (
                "SELECT transaction, linesequencenumber FROM transactionline "  # noqa: S608
                f"WHERE transaction IN ({part}) ORDER BY transaction, linesequencenumber"
            )
            offset, more = 0, True
            while more:
                rows, more = self._connector.suiteql_page(
                    query, resource="transactionline", offset=offset, lane=lane
                )
                held.update(f"{r.get('transaction')}:{r.get('linesequencenumber')}" for r in rows)
                offset += len(rows)
                more = more and bool(rows)
        return {i for i in ids if i in held}

    def keyed_records(self, entity_type: str, *, lane: Lane = BACKGROUND) -> dict[str, str] | None:
        """Customers or jobs that carry an ``externalId`` (module docstring)."""
        table = _KEYED.get(entity_type)
        if table is None:
            return None
        rows = self._rows("id, externalid", table, ["externalid IS NOT NULL"], lane=lane)
        return {str(r["id"]): str(r["externalid"]) for r in rows if r.get("externalid")}
