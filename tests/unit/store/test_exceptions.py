"""store.exceptions: dedupe, listing and paging, actions audited, auto-resolve."""

from datetime import timedelta
from decimal import Decimal

import pytest

from accord.domain import Money
from accord.store import audit
from accord.store import exceptions as exc_repo
from accord.store.exceptions import ExceptionStateError, ExceptionStatus
from accord.store.tables import exceptions as exceptions_table
from accord.store.util import utc_now


def _open(conn, key="lead_to_project:opp-1:validation", queue="sales-ops", **kw):
    values = {
        "queue": queue,
        "flow": "lead_to_project",
        "run_id": "run-1",
        "business_key": "opportunity:opp-1",
        "code": "validation.missing_field",
        "title": "Opportunity is missing fields",
        "detail": {"missing": ["close_date"]},
        "severity": "medium",
        "amount": Money(amount=Decimal("1200.50"), currency="USD"),
        "dedupe_key": key,
    }
    values.update(kw)
    return exc_repo.open_(conn, **values)


def test_open_then_reopen_with_same_key_updates_instead_of_duplicating(engine):
    with engine.begin() as conn:
        first = _open(conn)
    with engine.begin() as conn:
        second = _open(conn, detail={"missing": ["close_date", "amount"]}, run_id="run-2")
    assert second.id == first.id
    assert second.occurrences == 2
    assert second.detail == {"missing": ["close_date", "amount"]}
    assert second.run_id == "run-2"
    assert second.amount == Money(amount=Decimal("1200.50"), currency="USD")
    assert second.status is ExceptionStatus.OPEN
    with engine.connect() as conn:
        assert exc_repo.count(conn, status="open") == 1


def test_a_closed_exception_is_not_reused(engine):
    with engine.begin() as conn:
        first = _open(conn)
        exc_repo.resolve(conn, id=first.id, resolution="fixed in Salesforce", actor="key:ops")
        again = _open(conn)
    assert again.id != first.id
    assert again.occurrences == 1


def test_unknown_queue_or_severity_is_refused(engine):
    with engine.begin() as conn:
        with pytest.raises(ValueError, match="unknown queue"):
            _open(conn, queue="marketing")
        with pytest.raises(ValueError, match="unknown severity"):
            _open(conn, severity="meh")


def test_list_filters_order_and_paging(engine):
    with engine.begin() as conn:
        ids = [_open(conn, key=f"k{i}", queue="finance-ops", amount=None).id for i in range(5)]
        _open(conn, key="other", queue="sales-ops")
    with engine.connect() as conn:
        page = exc_repo.list_(conn, queue="finance-ops", limit=2)
        assert [e.id for e in page] == ids[:2]
        nxt = exc_repo.list_(conn, queue="finance-ops", limit=2, after_id=page[-1].id)
        assert [e.id for e in nxt] == ids[2:4]
        assert [e.id for e in exc_repo.list_(conn, queue="finance-ops", offset=4)] == ids[4:]
        newest = exc_repo.list_(conn, queue="finance-ops", order="newest", limit=2)
        assert [e.id for e in newest] == ids[::-1][:2]
        older = exc_repo.list_(conn, queue="finance-ops", order="newest", after_id=newest[-1].id)
        assert [e.id for e in older] == ids[::-1][2:]
        assert exc_repo.list_(conn, status="resolved") == []
        assert exc_repo.list_(conn, older_than=timedelta(days=2)) == []
        later = utc_now() + timedelta(days=3)
        assert len(exc_repo.list_(conn, older_than=timedelta(days=2), now=later)) == 6
        assert exc_repo.list_(conn, business_key="opportunity:opp-1", limit=100)[0].amount is None
        assert exc_repo.count(conn, queue="sales-ops") == 1
        assert exc_repo.get(conn, id=999) is None


def test_actions_are_audited_and_the_chain_holds(engine):
    with engine.begin() as conn:
        opened = _open(conn)
    with engine.begin() as conn:
        assigned = exc_repo.assign(conn, id=opened.id, assignee="maria", actor="key:ops")
        commented = exc_repo.comment(conn, id=opened.id, text="asked the AE", actor="key:ops")
    assert assigned is not None
    assert assigned.assignee == "maria"
    assert commented is not None
    assert commented.comments[0]["text"] == "asked the AE"
    assert commented.detail == {"missing": ["close_date"]}
    with engine.begin() as conn:
        _open(conn, detail={"missing": []})  # the flow updates; the comment survives
        done = exc_repo.resolve(conn, id=opened.id, resolution="fixed", actor="key:ops")
    assert done is not None
    assert done.status is ExceptionStatus.RESOLVED
    assert done.resolved_at is not None
    assert done.resolution == "fixed"
    assert len(done.comments) == 1
    with engine.connect() as conn:
        rows = audit.list_(conn, target=f"exception:{opened.id}")
        assert [r.action for r in rows] == [
            "exception.resolve",
            "exception.comment",
            "exception.assign",
        ]
        resolve_row = rows[0]
        assert resolve_row.actor == "key:ops"
        assert resolve_row.before["status"] == "open"
        assert resolve_row.after["status"] == "resolved"
        assert audit.verify(conn) is None


def test_ignore_needs_a_reason_and_closed_ones_refuse_actions(engine):
    with engine.begin() as conn:
        opened = _open(conn)
        with pytest.raises(ValueError, match="non-empty reason"):
            exc_repo.ignore(conn, id=opened.id, reason=" ", actor="key:ops")
        ignored = exc_repo.ignore(conn, id=opened.id, reason="test deal", actor="key:ops")
        assert ignored is not None
        assert ignored.status is ExceptionStatus.IGNORED
        assert ignored.resolution == "test deal"
        with pytest.raises(ExceptionStateError, match="it is ignored"):
            exc_repo.resolve(conn, id=opened.id, resolution="x", actor="key:ops")
        with pytest.raises(ExceptionStateError):
            exc_repo.assign(conn, id=opened.id, assignee="x", actor="key:ops")
        assert exc_repo.resolve(conn, id=404, resolution="x", actor="key:ops") is None
        assert exc_repo.comment(conn, id=404, text="x", actor="key:ops") is None
    with engine.connect() as conn:
        assert audit.list_(conn, action="exception.ignore")[0].after["status"] == "ignored"
        assert audit.verify(conn) is None


def test_auto_resolve_closes_the_open_one_and_is_safe_to_repeat(engine):
    with engine.begin() as conn:
        opened = _open(conn)
        _open(conn, key="unrelated")
    with engine.begin() as conn:
        assert (
            exc_repo.auto_resolve(
                conn, dedupe_key=opened.dedupe_key, resolution="a later run succeeded"
            )
            == 1
        )
    with engine.begin() as conn:
        assert exc_repo.auto_resolve(conn, dedupe_key=opened.dedupe_key, resolution="again") == 0
    with engine.connect() as conn:
        got = exc_repo.get(conn, id=opened.id)
        assert got is not None
        assert got.status is ExceptionStatus.RESOLVED
        assert got.resolution == "a later run succeeded"
        assert exc_repo.count(conn, status="open") == 1
        row = audit.list_(conn, action="exception.auto_resolve")[0]
        assert row.actor == "accord"
        assert audit.verify(conn) is None


def test_aging_buckets_counts_oldest_and_amount_at_risk_per_queue(engine):
    now = utc_now()
    with engine.begin() as conn:
        young = _open(conn, key="a", queue="finance-ops")
        old = _open(conn, key="b", queue="finance-ops", amount=Money.of(Decimal(10), "EUR"))
        _open(conn, key="c", queue="sales-ops", amount=None)
        closed = _open(conn, key="d", queue="sales-ops")
        exc_repo.ignore(conn, id=closed.id, reason="noise", actor="key:ops")
        conn.execute(
            exceptions_table.update()
            .where(exceptions_table.c.id == old.id)
            .values(created_at=now - timedelta(days=3))
        )
    buckets = (("day", timedelta(days=1)), ("older", None))
    with engine.connect() as conn:
        aging = exc_repo.aging(conn, buckets=buckets, now=now)
        ignored = exc_repo.aging(conn, buckets=buckets, status="ignored", now=now)
    finance = aging["finance-ops"]
    assert (finance.count, finance.buckets) == (2, {"day": 1, "older": 1})
    assert finance.at_risk == {"USD": Decimal("1200.50"), "EUR": Decimal(10)}
    assert finance.oldest_created_at is not None
    assert finance.oldest_created_at < young.created_at - timedelta(days=2)
    assert (aging["sales-ops"].count, aging["sales-ops"].at_risk) == (1, {})
    assert set(ignored) == {"sales-ops"}


def test_open_keys_and_open_counts_by_business_key(engine):
    with engine.begin() as conn:
        _open(conn, key="a", business_key="opportunity:1", code="unmapped")
        _open(conn, key="b", business_key="opportunity:1")
        gone = _open(conn, key="c", business_key="opportunity:2", code="unmapped")
        exc_repo.resolve(conn, id=gone.id, resolution="fixed", actor="key:ops")
    with engine.connect() as conn:
        assert exc_repo.open_keys(conn, flow="lead_to_project", code="unmapped") == [
            "opportunity:1"
        ]
        assert exc_repo.open_keys(conn, flow="cash", code="unmapped") == []
        assert exc_repo.count_open_by_key(conn, ["opportunity:1", "opportunity:2"]) == {
            "opportunity:1": 2
        }


def test_open_with_codes_lists_a_flows_open_exceptions_of_those_codes_oldest_first(engine):
    with engine.begin() as conn:
        first = _open(conn, key="a", code="project.unplaced", detail={"waits_for": {"id": "P"}})
        _open(conn, key="b", code="project.not_owner")
        second = _open(conn, key="c", code="billing.unplaced")
        gone = _open(conn, key="d", code="project.unplaced")
        exc_repo.resolve(conn, id=gone.id, resolution="fixed", actor="key:ops")
    codes = ("project.unplaced", "billing.unplaced")
    with engine.connect() as conn:
        found = exc_repo.open_with_codes(conn, flow="lead_to_project", codes=codes)
        assert exc_repo.open_with_codes(conn, flow="delivery", codes=codes) == []
    assert [e.id for e in found] == [first.id, second.id]
    assert found[0].detail == {"waits_for": {"id": "P"}}


def test_a_retry_is_recorded_and_its_success_resolves_unless_it_raised_it_again(engine):
    with engine.begin() as conn:
        opened = _open(conn)
        exc_repo.record_retry(
            conn,
            id=opened.id,
            overrides={"date": "2026-11-02"},
            run_id="run-9",
            actor="key:o",
            extra={"note": "re-dated"},
        )
    with engine.connect() as conn:
        overrides, retries = exc_repo.retry_state(conn, id=opened.id)
    assert overrides == {"date": "2026-11-02"}
    assert [(r["run_id"], r["note"]) for r in retries] == [("run-9", "re-dated")]
    with engine.begin() as conn:
        _open(conn, run_id="run-9")  # the retry ran into the same problem
        assert not exc_repo.resolve_after_retry(conn, id=opened.id, run_id="run-9")
        assert exc_repo.resolve_after_retry(conn, id=opened.id, run_id="run-10")
        assert not exc_repo.resolve_after_retry(conn, id=opened.id, run_id="run-10")
    with engine.connect() as conn:
        got = exc_repo.get(conn, id=opened.id)
        assert got is not None
        assert got.resolution == "retry run-10 succeeded"
        assert audit.list_(conn, action="exception.auto_resolve")[0].after["run_id"] == "run-10"
