"""Contract change end to end: the lead-to-project harness, plus amendment helpers.

Each module gets one sandbox and one in-process Accord (DBOS is a per-process singleton). A
test provisions its own opportunities through lead-to-project, then amends them in
Salesforce and drives capture with :meth:`Accord.poll`.
"""

from collections.abc import Iterator
from typing import Any

import pytest
from tests.e2e.lead_to_project.conftest import Accord, start_accord

from accord.store import exceptions
from accord.store.exceptions import BusinessException
from accord_sandbox.server import Sandbox, SandboxHandle

WORKFLOW = "contract_change"


@pytest.fixture(scope="module")
def sandbox() -> Iterator[SandboxHandle]:
    """The four emulators on free ports, scenario firm."""
    handle = Sandbox(base_port=0, scenario="firm", seed=7).start_in_thread()
    yield handle
    handle.stop()


@pytest.fixture(scope="module")
def accord(
    sandbox: SandboxHandle, tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest
) -> Iterator[Accord]:
    """Accord with the PSA the module asks for (module attribute ``PSA``, default kantata)."""
    psa = getattr(request.module, "PSA", "kantata")
    yield from start_accord(tmp_path_factory.mktemp(f"contracts-{psa}"), sandbox, psa=psa)


def provisioned(accord: Accord, **opportunity: Any) -> tuple[str, dict[str, Any]]:
    """A new account and won opportunity, provisioned; returns (opportunity id, run)."""
    entity = opportunity.get("entity", "US01")
    account = accord.account(entity=entity)
    opp = accord.opportunity(account, **opportunity)
    run = accord.provision(opp)
    assert run["status"] == "provisioned", run
    return opp, run


def amend(accord: Accord, opp: str, **fields: Any) -> list[dict[str, Any]]:
    """Change the opportunity in Salesforce, poll, and return this contract's finished runs."""
    accord.sf().update("Opportunity", opp, fields)
    accord.poll()
    return contract_runs(accord, opp)


def contract_runs(accord: Accord, opp: str) -> list[dict[str, Any]]:
    """Outputs of the contract-change runs of an opportunity, in version order."""
    runs = [
        r["output"]
        for r in accord.settle(name=WORKFLOW)
        if isinstance(r["output"], dict) and r["output"].get("contract_id") == f"CTR-SF-{opp}"
    ]
    return sorted(runs, key=lambda r: r["version"])


def contract_exceptions(accord: Accord, opp: str) -> list[BusinessException]:
    """Every exception filed about the opportunity's contract."""
    with accord.services.engine.connect() as conn:
        return list(
            exceptions.list_(conn, business_key=f"contract:CTR-SF-{opp}", status=None, limit=50)
        )
