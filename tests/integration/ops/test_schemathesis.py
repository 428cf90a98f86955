"""Property-based run of the ops API against its own OpenAPI (in-process ASGI, admin key).

Every ops operation (and the KPI routes) is called with generated inputs; no answer may be a 5xx
or break the documented response schema. Examples are capped so the run stays under a minute.
"""

import re
import shutil
import tempfile
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from tests.integration.ops.conftest import FakeConnections

from accord.api.app import create_app
from accord.settings import Settings
from accord.store import create_db_engine, keys, migrate

# A dev dependency ("schemathesis>=4.32"); skip rather than break collection where it is missing.
schemathesis = pytest.importorskip("schemathesis")
hypothesis = pytest.importorskip("hypothesis")
HypothesisDeprecationWarning = hypothesis.errors.HypothesisDeprecationWarning

# Collection generates examples too, outside the test's own warning filter (see below).
warnings.filterwarnings("ignore", category=HypothesisDeprecationWarning)

OPS_PATHS = r"^/api/v1/(runs|exceptions|dead-letters|replay|connections|audit|keys|kpis)"
ADMIN_NAME = "schemathesis-admin-7f3a91c2"
"""Long and odd, so generated ``DELETE /keys/{name}`` calls never revoke the test's own key."""


# pytest 9 breaks ``schemathesis.pytest.from_fixture`` (it reads ``request.node._nodeid``), so
# the app and its schema are built at import; the module fixture runs the app's lifespan.
_DIR = Path(tempfile.mkdtemp(prefix="accord-schemathesis-"))
_URL = f"sqlite:///{_DIR / 'accord.db'}"
APP = create_app(Settings(database_url=_URL, worker_id="test-schemathesis"), configure_logs=False)
APP.state.connections = FakeConnections()
schema = schemathesis.openapi.from_asgi("/api/v1/openapi.json", APP).include(path_regex=OPS_PATHS)


@pytest.fixture(scope="module")
def admin_key() -> Iterator[str]:
    engine = create_db_engine(_URL)
    migrate(engine)
    with engine.begin() as conn:
        _, secret = keys.create(conn, name=ADMIN_NAME, role=keys.Role.ADMIN, actor="test")
    # The TestClient context runs the lifespan (runtime launched) for the whole module.
    with TestClient(APP):
        yield secret
    engine.dispose()
    shutil.rmtree(_DIR, ignore_errors=True)


@pytest.mark.slow
# DBOS's queue threads draw from the global ``random`` while Hypothesis generates a case, which
# Hypothesis mistakes for a strategy using ``random``.
@pytest.mark.filterwarnings("ignore::hypothesis.errors.HypothesisDeprecationWarning")
@schema.parametrize()
@hypothesis.settings(
    max_examples=8,
    deadline=None,
    suppress_health_check=list(hypothesis.HealthCheck),
    database=None,
)
def test_ops_api_conforms_to_its_openapi(case, admin_key):
    secret = admin_key
    assert re.match(OPS_PATHS, case.path)
    case.call_and_validate(
        headers={"Authorization": f"Bearer {secret}"},
        checks=[
            schemathesis.checks.not_a_server_error,
            schemathesis.checks.response_schema_conformance,
        ],
    )
