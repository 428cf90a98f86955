"""Every role on every ops endpoint: 401 without a key, 403 where the role may not act, 2xx
where it may."""

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest

from accord.store.keys import Role

ROLES = (None, *(r.value for r in Role))
READ = {"viewer", "operator", "admin"}
ACT = {"operator", "admin"}
ADMIN = {"admin"}


@dataclass(frozen=True)
class Case:
    method: str
    path: str
    allowed: set[str]
    body: Callable[[Any], Any] | None = None

    def __str__(self) -> str:
        return f"{self.method} {self.path}"


def _exc(env) -> str:
    return str(env.open_exception())


CASES = [
    Case("GET", "/api/v1/runs", READ),
    Case("GET", "/api/v1/runs/{run}", READ),
    Case("POST", "/api/v1/runs/{run}/replay", ACT, lambda env: {"reason": "rbac"}),
    Case("GET", "/api/v1/exceptions", READ),
    Case("GET", "/api/v1/exceptions/summary", READ),
    Case("GET", "/api/v1/exceptions/{exc}", READ),
    Case("POST", "/api/v1/exceptions/{exc}/assign", ACT, lambda env: {"assignee": "ann"}),
    Case("POST", "/api/v1/exceptions/{exc}/comment", ACT, lambda env: {"text": "looking"}),
    Case("POST", "/api/v1/exceptions/{exc}/retry", ACT),
    Case("POST", "/api/v1/exceptions/{exc}/redate", ACT, lambda env: {"date": "2026-12-01"}),
    Case("POST", "/api/v1/exceptions/{exc}/ignore", ACT, lambda env: {"reason": "duplicate"}),
    Case("POST", "/api/v1/exceptions/{exc}/resolve", ACT, lambda env: {"reason": "fixed"}),
    Case(
        "POST",
        "/api/v1/exceptions/bulk",
        ACT,
        lambda env: {"ids": [env.open_exception()], "action": "comment", "text": "bulk"},
    ),
    Case("GET", "/api/v1/dead-letters", READ),
    Case("POST", "/api/v1/dead-letters/replay", ACT, lambda env: {"run_ids": [env.runs[0]]}),
    Case(
        "POST", "/api/v1/replay", ACT, lambda env: {"dry_run": True, "type": "opportunity.updated"}
    ),
    Case("GET", "/api/v1/connections", READ),
    Case("GET", "/api/v1/connections/crm", READ),
    Case("POST", "/api/v1/connections/crm/check", ADMIN),
    Case("GET", "/api/v1/audit", READ),
    Case("GET", "/api/v1/audit/verify", READ),
    Case("GET", "/api/v1/keys", ADMIN),
    Case(
        "POST",
        "/api/v1/keys",
        ADMIN,
        lambda env: {"name": f"k-{uuid.uuid4().hex[:8]}", "role": "viewer"},
    ),
    Case("DELETE", "/api/v1/keys/{key}", ADMIN),
    Case("POST", "/api/v1/keys/{key}/rotate", ADMIN, lambda env: {"overlap_seconds": 60}),
]


def _key(env) -> str:
    from accord.store import keys

    name = f"rev-{uuid.uuid4().hex[:8]}"
    with env.engine.begin() as conn:
        keys.create(conn, name=name, role=keys.Role.VIEWER, actor="test")
    return name


@pytest.mark.parametrize("role", ROLES, ids=lambda r: r or "anonymous")
@pytest.mark.parametrize("case", CASES, ids=str)
def test_role_on_endpoint(ops, case: Case, role: str | None):
    path = case.path.replace("{run}", ops.runs[0])
    if "{exc}" in path:
        path = path.replace("{exc}", _exc(ops))
    if "{key}" in path:
        path = path.replace("{key}", _key(ops))
    body = case.body(ops) if case.body else None
    resp = ops.client.request(case.method, path, json=body, headers=ops.auth(role))
    if role is None:
        assert resp.status_code == 401, resp.text
        assert resp.headers["content-type"].startswith("application/problem+json")
    elif role in case.allowed:
        assert 200 <= resp.status_code < 300, resp.text
    else:
        assert resp.status_code == 403, resp.text
        assert resp.json()["status"] == 403


def test_every_ops_route_is_in_the_table(ops):
    spec = ops.client.get("/api/v1/openapi.json").json()
    listed = {(c.method, c.path) for c in CASES}
    for path, methods in spec["paths"].items():
        if not path.startswith("/api/v1/") or path.split("/")[3] not in {
            "runs",
            "exceptions",
            "dead-letters",
            "replay",
            "connections",
            "audit",
            "keys",
        }:
            continue
        for method in methods:
            shown = path.replace("{run_id}", "{run}").replace("{exception_id}", "{exc}")
            if "{name}" in shown:
                shown = shown.replace("{name}", "{key}" if "/keys/" in shown else "crm")
            assert (method.upper(), shown) in listed, f"{method.upper()} {path} not covered"
