"""``GET /api/v1/migrations/{entity}/diff`` refuses what it must, as problem+json.

The diff's content is tested end to end with both ERPs (tests/e2e/time_to_bill/
test_migration.py); here the door: keys, an unknown entity, one not under migration, a bad
query. The app runs the repository's default rules, where no entity is under migration.
"""

import pytest

PROBLEM = "application/problem+json"


@pytest.mark.parametrize(
    ("role", "status"), [(None, 401), ("ingest", 403), ("viewer", 409), ("admin", 409)]
)
def test_keys(ops, role: str | None, status: int) -> None:
    resp = ops.get("/api/v1/migrations/DE01/diff", role=role)
    assert resp.status_code == status, resp.text
    assert resp.headers["content-type"].startswith(PROBLEM)


def test_an_entity_not_under_migration_is_a_conflict(ops) -> None:
    resp = ops.get("/api/v1/migrations/DE01/diff", role="viewer")
    assert resp.json()["detail"] == "legal entity DE01 has no migration in the rules"


def test_an_unknown_entity_is_not_found(ops) -> None:
    resp = ops.get("/api/v1/migrations/XX99/diff", role="viewer")
    assert resp.status_code == 404, resp.text
    assert resp.json()["detail"] == "unknown legal entity 'XX99'"


@pytest.mark.parametrize(
    "params",
    [{"from": "2026-09-30", "to": "2026-09-01"}, {"from": "0"}, {"to": "2026-13-01"}],
    ids=["from-after-to", "epoch", "no-such-month"],
)
def test_a_bad_query_is_refused(ops, params: dict[str, str]) -> None:
    resp = ops.get("/api/v1/migrations/DE01/diff", role="viewer", **params)
    assert resp.status_code == 422, resp.text
    assert resp.headers["content-type"].startswith(PROBLEM)
