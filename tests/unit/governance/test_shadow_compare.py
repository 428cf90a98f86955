"""The shadow diff's comparison, side by side: pure, no ERP, no database.

The shadow's side is a list of per-entry results, whether translated on demand or recorded as
the shadow posted; here recorded ones, including an entry only the shadow holds.
"""

import datetime as dt
from decimal import Decimal

from accord.connectors.roles import PostingTerms
from accord.domain import Money
from accord.governance.shadow import (
    BookedEntry,
    Refusal,
    ShadowDiff,
    ShadowEntry,
    compare,
    field_differences,
)

DAY = dt.date(2026, 9, 14)


def _terms(**over: object) -> PostingTerms:
    values: dict[str, object] = {
        "kind": "time",
        "erp_project": "PRJ-1",
        "date": DAY,
        "resource_id": "EMP-0024",
        "hours": Decimal("7.50"),
        "amount": Money.of("1350.00", "EUR"),
        "billable": True,
        "dimensions": {"department": "CONS", "class": "DACH"},
    }
    values.update(over)
    return PostingTerms(**values)  # type: ignore[arg-type]


def _booked(entry_id: str, **over: object) -> BookedEntry:
    return BookedEntry(entry_id, "PRJ-1", f"key-{entry_id}", _terms(**over))


def _diff() -> ShadowDiff:
    return ShadowDiff("DE01", "business_central", "dynamics_finance")


def test_the_same_booking_in_other_notation_does_not_differ() -> None:
    # F&O's hours come back as 7.5 and its resource ids in any case: the same values.
    shadow = _terms(hours=Decimal("7.5"), resource_id="emp-0024")
    assert field_differences("E1", _terms(), shadow) == []


def test_every_canonical_field_that_differs_is_listed() -> None:
    shadow = _terms(
        erp_project="F&O-42",
        date=DAY + dt.timedelta(days=1),
        resource_id="EMP-0025",
        hours=Decimal(8),
        amount=Money.of("1440.00", "USD"),
        billable=False,
        category="Meals",
        dimensions={"department": "CONS"},
    )
    found = {
        (f.field, f.system_of_record, f.shadow) for f in field_differences("E1", _terms(), shadow)
    }
    assert found == {
        ("project", "PRJ-1", "F&O-42"),
        ("date", "2026-09-14", "2026-09-15"),
        ("resource", "EMP-0024", "EMP-0025"),
        ("hours", "7.50", "8"),
        ("amount", "1350.00", "1440.00"),
        ("currency", "EUR", "USD"),
        ("billable", "True", "False"),
        ("category", None, "Meals"),
        ("dimensions.class", "DACH", None),
    }


def test_what_the_shadow_record_does_not_carry_is_not_compared() -> None:
    # A Business Central journal line names no dimensions, category or (for an expense)
    # resource: the project's defaults apply.
    booked = _terms(kind="expense", hours=None, category="travel")
    shadow = _terms(kind="expense", hours=None, resource_id=None, dimensions=None)
    assert field_differences("E1", booked, shadow) == []


def test_recorded_outcomes_sum_per_day_and_show_each_side_only() -> None:
    booked = [_booked("E1"), _booked("E2"), _booked("E3")]
    recorded = [
        ShadowEntry("E1", "PRJ-1", terms=_terms()),
        ShadowEntry("E2", "PRJ-1", refusal=Refusal("E2", "validation", "closed period")),
        ShadowEntry("E9", "PRJ-1", terms=_terms(hours=Decimal(1), amount=Money.of("180", "EUR"))),
    ]
    (day,) = compare(_diff(), booked, recorded).days
    assert (day.entries, day.hours, day.amounts) == (
        3,
        Decimal("22.50"),
        {"EUR": Decimal("4050.00")},
    )
    assert (day.shadow_entries, day.shadow_hours, day.shadow_amounts) == (
        2,
        Decimal("8.50"),
        {"EUR": Decimal("1530.00")},
    )
    assert [r.entry_id for r in day.refusals] == ["E2"]
    assert day.only_in_system_of_record == ["E3"]
    assert day.only_in_shadow == ["E9"]
    assert day.differences == []
    assert not day.equal


def test_nothing_differs_when_the_shadow_books_every_entry_alike() -> None:
    booked = [_booked("E1"), _booked("E2", kind="expense", hours=None, category="travel")]
    shadow = [ShadowEntry(b.entry_id, "PRJ-1", terms=b.terms) for b in booked]
    diff = compare(_diff(), booked, shadow)
    assert diff.empty
    # A role that does not read its bodies back: counted as booked alike, no field compared.
    assert compare(_diff(), booked, [ShadowEntry("E1", "PRJ-1"), ShadowEntry("E2", "PRJ-1")]).empty
