"""store.shadow: one outcome per entry and mode (a redelivery overwrites it), by entity and day."""

import datetime as dt
from decimal import Decimal

import pytest

from accord.store import shadow


def _outcome(
    entry: str, day: str, status: str = "validated", **more: object
) -> shadow.ShadowOutcome:
    values: dict[str, object] = {
        "entity": "DE01",
        "kind": "time",
        "entry_id": entry,
        "project_id": "PRJ-1",
        "day": dt.date.fromisoformat(day),
        "hours": Decimal("8.00"),
        "amount": Decimal("1440.00"),
        "currency": "EUR",
        "mode": "validate",
        "status": status,
        "shadow_connection": "dynamics-finance",
        "sor_connection": "business-central",
    }
    return shadow.ShadowOutcome(**{**values, **more})  # type: ignore[arg-type]


def test_a_redelivery_keeps_one_outcome_per_entry_and_mode(engine):
    with engine.begin() as conn:
        shadow.record(conn, [_outcome("E1", "2026-09-21", "refused", reason="validation")])
        shadow.record(conn, [_outcome("E2", "2026-09-22"), _outcome("E3", "2026-09-23")])
    with engine.begin() as conn:
        shadow.record(conn, [_outcome("E1", "2026-09-21")])
        shadow.record(
            conn, [_outcome("E1", "2026-09-21", "booked", mode="post", shadow_record_id="R1")]
        )
        shadow.record(conn, [_outcome("E9", "2026-09-21", entity="UK01")])
    with engine.connect() as conn:
        found = shadow.outcomes(conn, "DE01")
        assert [(o.entry_id, o.mode, o.status, o.reason) for o in found] == [
            ("E1", "post", "booked", None),
            ("E1", "validate", "validated", None),
            ("E2", "validate", "validated", None),
            ("E3", "validate", "validated", None),
        ]
        assert found[0].amount == Decimal("1440.00")
        assert found[0].recorded_at is not None
        assert found[0].recorded_at.tzinfo is not None
        window = shadow.outcomes(conn, "DE01", dt.date(2026, 9, 22), dt.date(2026, 9, 22))
        assert [o.entry_id for o in window] == ["E2"]
        assert [o.entry_id for o in shadow.outcomes(conn, "DE01", mode="post")] == ["E1"]


def test_an_unknown_status_is_refused(engine):
    with engine.begin() as conn, pytest.raises(ValueError, match="bad mode/status"):
        shadow.record(conn, [_outcome("E1", "2026-09-21", "maybe")])
