"""The CRM's receivable status derives from the ERP's state only (no sandbox needed)."""

import datetime as dt
from decimal import Decimal

from accord.connectors.roles import OpenItem, Receivables, ReceivableStatus
from accord.flows.cash.receivables import ar_status

TODAY = dt.date(2026, 11, 27)


def row(remaining: str, due: str | None, order: str, number: str) -> OpenItem:
    return OpenItem(
        remaining=Decimal(remaining),
        due=dt.date.fromisoformat(due) if due else None,
        order=(order, number),
        number=number,
    )


def test_sum_is_exact_and_splits_overdue() -> None:
    items = Receivables.of(
        [
            row("100.10", "2026-11-26", "2026-10-01", "INV1"),
            row("0.20", "2026-12-31", "2026-11-01", "INV3"),
            row("0", "2026-01-01", "2026-11-02", "INV2"),
        ],
        TODAY,
    )
    assert items.balance == Decimal("100.30")
    assert items.overdue == Decimal("100.10")
    assert (items.count, items.posted, items.last_number) == (2, 3, "INV2")
    assert ar_status(items) is ReceivableStatus.OVERDUE


def test_status_paid_current_and_nothing_posted() -> None:
    assert ar_status(Receivables(Decimal(0), Decimal(0), 0, posted=2)) is ReceivableStatus.PAID
    assert ar_status(Receivables(Decimal(5), Decimal(0), 1, posted=2)) is ReceivableStatus.CURRENT
    assert ar_status(Receivables(Decimal(0), Decimal(0), 0, posted=0)) is ReceivableStatus.CURRENT
