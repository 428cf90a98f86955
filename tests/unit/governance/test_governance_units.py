"""Pure parts of governed change: diffs, the rollback stack, the dry-run transport, settings,
reference checks and bundle redaction."""

from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from accord.errors import ConfigError
from accord.governance.bundle import REDACTED, _connections
from accord.governance.changes import active_stack
from accord.governance.diff import MISSING, diff, flatten
from accord.governance.settings import load_governance
from accord.governance.validate import check_references
from accord.governance.whatif import DryRunTransport, Outcome, WriteRecorder, compare, is_read
from accord.rules import load_rules
from accord.store.rulesets import Activation, ActivationKind

DEFAULT = Path(__file__).resolve().parents[3] / "rules" / "default.yaml"


def test_diff_names_each_field_that_changed_was_added_or_removed() -> None:
    before = {"a": {"b": "1", "c": [1, 2]}, "gone": True}
    after = {"a": {"b": "2", "c": [1, 3, 4]}, "new": {}}
    assert flatten(after) == {"a.b": "2", "a.c[0]": 1, "a.c[1]": 3, "a.c[2]": 4, "new": {}}
    found = {c.path: (c.kind, c.before, c.after) for c in diff(before, after)}
    assert found == {
        "a.b": ("changed", "1", "2"),
        "a.c[1]": ("changed", 2, 3),
        "a.c[2]": ("added", MISSING, 4),
        "gone": ("removed", True, MISSING),
        "new": ("added", MISSING, {}),
    }
    assert diff(before, before) == []


def _log(*steps: tuple[str, ActivationKind]) -> list[Activation]:
    at = datetime.now(UTC)
    rows = [
        Activation(
            seq=n,
            version=v,
            previous_version=None,
            proposal_id=None,
            kind=k,
            source=None,
            actor="t",
            reason=None,
            at=at,
        )
        for n, (v, k) in enumerate(steps, start=1)
    ]
    return list(reversed(rows))


def test_rollbacks_walk_back_through_activations_like_a_stack() -> None:
    act, back = ActivationKind.ACTIVATE, ActivationKind.ROLLBACK
    log = [("A", ActivationKind.BOOTSTRAP), ("B", act), ("C", act)]
    assert active_stack(_log(*log)) == ["A", "B", "C"]
    assert active_stack(_log(*log, ("B", back))) == ["A", "B"]
    assert active_stack(_log(*log, ("B", back), ("A", back))) == ["A"]
    assert active_stack(_log(*log, ("B", back), ("D", act))) == ["A", "B", "D"]


@pytest.mark.parametrize(
    ("method", "path", "read"),
    [
        ("GET", "/services/data/v60.0/sobjects/Account/001", True),
        ("POST", "/services/oauth2/token", True),
        ("POST", "/services/rest/query/v1/suiteql", True),
        ("POST", "/services/data/v60.0/sobjects/Account", False),
        ("PUT", "/services/rest/record/v1/timeBill/eid:TS-1", False),
        ("PATCH", "/api/v2.0/companies(1)/projects(2)", False),
        ("DELETE", "/api/v1/workspaces/3", False),
    ],
)
def test_only_reads_pass_the_dry_run_transport(method: str, path: str, read: bool) -> None:
    sent: list[str] = []

    def network(request: httpx.Request) -> httpx.Response:
        sent.append(request.method)
        return httpx.Response(200, json={"items": []})

    recorder = WriteRecorder()
    client = httpx.Client(
        base_url="http://erp.test",
        transport=DryRunTransport(recorder, httpx.MockTransport(network)),
    )
    with recorder.capture() as mine:
        response = client.request(method, path, json={"department": {"id": "105"}})
    assert is_read(response.request) is read
    assert sent == ([method] if read else [])
    assert [w.body for w in mine] == ([] if read else [{"department": {"id": "105"}}])
    if not read:
        assert response.is_success
        assert response.headers["X-Accord-What-If"] == "held"
        assert response.headers["Location"].endswith("/0")


def test_a_records_status_follows_its_validation_then_its_fields() -> None:
    ok = Outcome(valid=True, target="netsuite/netsuite", body={"department.id": "102"})
    moved = Outcome(valid=True, target="netsuite/netsuite", body={"department.id": "105"})
    failed = Outcome(valid=False, codes=("billing.dimension_unmapped",), queue="finance-ops")
    assert compare(ok, ok) == ("unchanged", ())
    status, changes = compare(ok, moved)
    assert status == "changed"
    assert [(c.path, c.before, c.after) for c in changes] == [("body.department.id", "102", "105")]
    assert compare(ok, failed)[0] == "newly_failing"
    assert compare(failed, ok)[0] == "newly_passing"


def test_governance_settings_default_to_approval_and_check_their_values(tmp_path: Path) -> None:
    config = tmp_path / "accord.yaml"
    assert load_governance(config).approval_required is True
    config.write_text(
        "governance:\n  environment: staging\n  approval_required: false\n"
        "  environments: [sandbox, {name: staging}, {name: production, url: https://p}]\n",
        encoding="utf-8",
    )
    settings = load_governance(config)
    assert (settings.environment, settings.approval_required) == ("staging", False)
    assert [e.name for e in settings.promotion()] == ["sandbox", "staging", "production"]
    assert settings.direction("sandbox") == "forward"
    assert settings.direction("production") == "backward"
    assert settings.direction("elsewhere") == "unknown"
    config.write_text("governance:\n  approval_required: maybe\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="approval_required must be true or false"):
        load_governance(config)
    config.write_text("governance:\n  environments: [a, a]\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="twice"):
        load_governance(config)


def test_reference_checks_name_missing_and_mistyped_connections() -> None:
    rules = load_rules(DEFAULT)
    kinds = {"kantata": "kantata", "netsuite": "netsuite", "business-central": "business_central"}
    assert [f for f in check_references(rules, kinds) if f.severity == "error"] == []
    wrong = {"kantata": "kantata", "netsuite": "business_central"}
    found = {f.path: f.message for f in check_references(rules, wrong)}
    assert found["legal_entities.US01.connection"] == (
        "connection 'netsuite' is business_central, not netsuite"
    )
    assert found["legal_entities.DE01.connection"] == (
        "no connection 'business-central' in accord.yaml"
    )


def test_bundles_redact_secrets_but_keep_references(tmp_path: Path) -> None:
    config = tmp_path / "accord.yaml"
    config.write_text(
        "connections:\n"
        "  netsuite:\n    kind: netsuite\n    account_id: TST\n    base_url: https://ns\n"
        "    client_id: abc\n    client_secret: s3cret\n"
        "  kantata:\n    kind: kantata\n    base_url: https://k\n    client_id: x\n"
        "    client_secret: ${env:KANTATA_SECRET}\n",
        encoding="utf-8",
    )
    found = _connections(config)
    assert found["netsuite"]["client_secret"] == REDACTED
    assert found["netsuite"]["client_id"] == "abc"
    assert found["kantata"]["client_secret"] == "${env:KANTATA_SECRET}"
    assert "s3cret" not in repr(found)
