"""GET /api/v1/lineage: any system's id finds the same graph; auth and parameter errors."""

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from accord.api.app import create_app
from accord.settings import Settings
from accord.store import create_db_engine, keys, lineage, migrate, xref

# One won opportunity, its customer (and parent), its PSA project and its ERP project.
XREFS = [
    ("Opportunity", "opp-1", "salesforce", "salesforce", "006AAA"),
    ("Customer", "cust-1", "salesforce", "salesforce", "001AAA"),
    ("Customer", "cust-1", "netsuite", "netsuite", "C-1001"),
    ("Customer", "cust-1", "kantata", "kantata", "K-CUST-7"),
    ("Customer", "cust-0", "salesforce", "salesforce", "001PARENT"),
    ("Project", "prj-1", "kantata", "kantata", "WS-42"),
    ("Project", "prj-1", "netsuite", "netsuite", "JOB-77"),
    ("Opportunity", "opp-2", "salesforce", "salesforce", "006BBB"),
]
EDGES = [
    ("Opportunity", "opp-1", "Customer", "cust-1", "for_customer", "ok"),
    ("Customer", "cust-1", "Customer", "cust-0", "child_of", "ok"),
    ("Opportunity", "opp-1", "Project", "prj-1", "provisioned", "provisioned"),
    ("Opportunity", "opp-1", "Contract", "ctr-1", "contracted", "active"),
    ("event", "evt-1", "Opportunity", "opp-1", "opportunity.won", "recorded"),
]


@pytest.fixture(scope="module")
def env(module_db_url: str) -> Iterator[dict]:
    url = module_db_url
    engine = create_db_engine(url)
    migrate(engine)
    secrets: dict[str, str] = {}
    with engine.begin() as conn:
        for role in keys.Role:
            _, secrets[role.value] = keys.create(conn, name=role.value, role=role, actor="test")
        for entity_type, canonical, system, connection, external in XREFS:
            xref.link(
                conn,
                entity_type=entity_type,
                canonical_id=canonical,
                system=system,
                connection=connection,
                external_id=external,
            )
        for i, (ft, fid, tt, tid, rel, status) in enumerate(EDGES):
            lineage.link(
                conn,
                from_type=ft,
                from_id=fid,
                to_type=tt,
                to_id=tid,
                relation=rel,
                run_id=f"run-{i}",
                event_id="evt-1",
                status=status,
            )
    app = create_app(Settings(database_url=url, worker_id="test-lineage"), configure_logs=False)
    with TestClient(app) as client:
        yield {"client": client, "keys": secrets}
    engine.dispose()


def _get(env: dict, role: str | None = "viewer", **params):
    headers = {"Authorization": f"Bearer {env['keys'][role]}"} if role else {}
    return env["client"].get("/api/v1/lineage", params=params, headers=headers)


def _shape(body: dict) -> tuple:
    nodes = sorted((n["type"], n["id"]) for n in body["nodes"])
    edges = sorted(
        (e["from"]["type"], e["from"]["id"], e["to"]["type"], e["to"]["id"], e["relation"])
        for e in body["edges"]
    )
    return nodes, edges


def test_the_opportunity_graph_with_every_systems_ids(env):
    resp = _get(env, system="salesforce", type="Opportunity", id="006AAA")
    assert resp.status_code == 200
    body = resp.json()
    assert body["root"] == [{"type": "Opportunity", "id": "opp-1"}]
    assert body["truncated"] is False
    nodes = {(n["type"], n["id"]): n for n in body["nodes"]}
    assert set(nodes) == {
        ("Opportunity", "opp-1"),
        ("Customer", "cust-1"),
        ("Customer", "cust-0"),
        ("Project", "prj-1"),
        ("Contract", "ctr-1"),
        ("event", "evt-1"),
    }
    assert nodes[("Customer", "cust-1")]["systems"] == {
        "salesforce": "001AAA",
        "netsuite": "C-1001",
        "kantata": "K-CUST-7",
    }
    assert nodes[("Project", "prj-1")]["systems"] == {"kantata": "WS-42", "netsuite": "JOB-77"}
    assert nodes[("Project", "prj-1")]["status"] == "provisioned"
    assert len(body["edges"]) == len(EDGES)
    edge = next(e for e in body["edges"] if e["relation"] == "provisioned")
    assert edge["run_id"] == "run-2"
    assert edge["status"] == "provisioned"
    assert edge["created_at"]
    # Opportunity 2 is not connected, so it is not in the graph.
    assert ("Opportunity", "opp-2") not in nodes


@pytest.mark.parametrize(
    "params",
    [
        {"system": "netsuite", "id": "JOB-77"},
        {"system": "kantata", "type": "Project", "id": "WS-42"},
        {"system": "netsuite", "type": "customer", "id": "C-1001"},
        {"system": "salesforce", "id": "001PARENT"},
        {"system": "accord", "id": "opp-1"},
        {"id": "K-CUST-7"},
        {"id": "evt-1"},
    ],
)
def test_any_id_from_any_system_finds_the_same_graph(env, params):
    reference = _shape(_get(env, system="salesforce", type="Opportunity", id="006AAA").json())
    resp = _get(env, **params)
    assert resp.status_code == 200, resp.text
    assert _shape(resp.json()) == reference


def test_depth_and_node_bounds_truncate(env):
    body = _get(env, id="001PARENT", depth=1).json()
    assert body["truncated"] is True
    assert {n["id"] for n in body["nodes"]} == {"cust-0", "cust-1"}
    body = _get(env, id="006AAA", max_nodes=2).json()
    assert body["truncated"] is True
    assert len(body["nodes"]) <= 2


@pytest.mark.parametrize("role", ["viewer", "operator", "admin"])
def test_reading_roles_are_admitted(env, role):
    assert _get(env, role=role, id="006AAA").status_code == 200


def test_no_key_is_401_and_ingest_is_403(env):
    resp = _get(env, role=None, id="006AAA")
    assert resp.status_code == 401
    assert resp.headers["content-type"].startswith("application/problem+json")
    assert _get(env, role="ingest", id="006AAA").status_code == 403


@pytest.mark.parametrize(
    "params",
    [
        {"id": "nope"},
        {"system": "netsuite", "id": "006AAA"},
        {"system": "salesforce", "type": "Project", "id": "006AAA"},
    ],
)
def test_unknown_ids_are_404_problems(env, params):
    resp = _get(env, **params)
    assert resp.status_code == 404
    assert resp.headers["content-type"].startswith("application/problem+json")
    assert resp.json()["status"] == 404


@pytest.mark.parametrize(
    "params",
    [
        {},
        {"id": ""},
        {"system": "oracle", "id": "006AAA"},
        {"id": "006AAA", "depth": 0},
        {"id": "006AAA", "max_nodes": "many"},
        {"id": "006AAA", "type": "bad type!"},
    ],
)
def test_invalid_parameters_are_422_problems(env, params):
    resp = _get(env, **params)
    assert resp.status_code == 422
    assert resp.headers["content-type"].startswith("application/problem+json")
    assert resp.json()["errors"]


def test_openapi_lists_the_route(env):
    spec = env["client"].get("/api/v1/openapi.json").json()
    assert "/api/v1/lineage" in spec["paths"]
