"""The reconciliation results tables: runs, drift items found once, closed when they agree."""

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from accord.store import reconciliation as rec


def _at(hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 3, 2, hour, minute, tzinfo=UTC)


def _missing(entry: str, project: str = "PRJ-A") -> rec.Drift:
    return rec.Drift(
        kind="time_expense",
        code="missing_in_erp",
        fingerprint=f"time:{entry}",
        project_id=project,
        expected=Decimal("150.00"),
        currency="USD",
        detail={"entry": entry},
    )


def test_a_drift_seen_again_is_one_item_and_closes_when_it_agrees(engine):
    with engine.begin() as conn:
        r1 = rec.start(conn, trigger="schedule", now=_at(1))
        (a,) = rec.record(conn, recon_id=r1.id, drifts=[_missing("t1")], now=_at(1, 1))
        done = rec.finish(conn, id=r1.id, checked=5, now=_at(1, 2))
    assert done is not None
    assert (done.status, done.drift_found, done.checked) == (rec.DRIFTED, 1, 5)
    assert (a.status, a.difference, a.detail) == (rec.OPEN, Decimal("-150.00"), {"entry": "t1"})

    with engine.begin() as conn:
        r2 = rec.start(conn, trigger="manual", actor="key:dana", scope={"project": "PRJ-A"})
        again, b = rec.record(
            conn, recon_id=r2.id, drifts=[_missing("t1"), _missing("t2")], now=_at(2, 1)
        )
        assert again.id == a.id
        assert (again.found_at, again.last_seen_at, again.last_recon_id) == (
            _at(1, 1), _at(2, 1), r2.id,
        )  # fmt: skip
        rec.finish(conn, id=r2.id, checked=5)
        r3 = rec.start(conn, trigger="schedule")
        rec.record(conn, recon_id=r3.id, drifts=[_missing("t2")])
        # t1 agrees again; an item of another project is outside a project-scoped run.
        assert rec.close_unseen(conn, recon_id=r3.id, project_id="PRJ-B") == 0
        assert rec.close_unseen(conn, recon_id=r3.id, project_id="PRJ-A") == 1
        assert rec.finish(conn, id=r3.id, checked=5).drift_found == 1
        repaired = rec.close(conn, id=b.id, status=rec.REPAIRED)
        assert rec.close(conn, id=b.id, status=rec.IGNORED) is None  # no longer open
        r4 = rec.start(conn, trigger="schedule")
        assert rec.finish(conn, id=r4.id, checked=5).status == rec.AGREED
        failed = rec.start(conn, trigger="schedule")
        assert rec.finish(conn, id=failed.id, checked=0, error="netsuite unreachable").status == (
            rec.FAILED
        )
    assert repaired is not None
    assert repaired.status == rec.REPAIRED
    with engine.connect() as conn:
        assert [i.status for i in rec.list_drift(conn)] == [rec.RESOLVED, rec.REPAIRED]
        assert [i.fingerprint for i in rec.list_drift(conn, recon_id=r2.id)] == [
            "time:t1",
            "time:t2",
        ]
        assert rec.get_run(conn, id=r2.id).scope == {"project": "PRJ-A"}
        assert next(r.id for r in rec.list_runs(conn, limit=2)) == failed.id


def test_unknown_kinds_and_statuses_are_refused(engine):
    with engine.begin() as conn:
        run = rec.start(conn, trigger="schedule")
        with pytest.raises(ValueError, match="unknown drift kind"):
            rec.record(conn, recon_id=run.id, drifts=[rec.Drift("invoices", "x", "f")])
        with pytest.raises(ValueError, match="cannot close"):
            rec.close(conn, id=1, status=rec.OPEN)
