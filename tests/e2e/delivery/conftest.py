"""Delivery sync end to end: the sandbox, one in-process Accord per module, polls by the tests.

The harness builds on the cash tests' (itself on lead-to-project's): a test provisions its own
project through lead-to-project, then acts in the PSA or the ERP as a project manager or an
AP clerk would, through the systems' APIs, and drives delivery capture with real polls
(:meth:`Delivery.poll`). Each delivery pair starts at "now", so earlier tests' changes and the
firm's seeded records are left alone.
"""

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from dbos import DBOS
from tests.e2e.cash.harness import CashAccord, start

from accord.flows.capture import CaptureSpec, canonical_event, poll_once
from accord.flows.delivery.capture import delivery_specs
from accord.flows.delivery.workflow import WORKFLOW
from accord.flows.shared.finance import start_cursor_at_now
from accord.store import exceptions
from accord.store.exceptions import BusinessException
from accord.store.journal import NewEvent
from accord_sandbox.server import Sandbox, SandboxHandle

ERPS = ["netsuite", "business-central"]


@dataclass
class Delivery:
    """The cash harness plus delivery's polls, runs and a timesheet to post."""

    cash: CashAccord
    psa: str
    erps: tuple[str, ...] = tuple(ERPS)

    def connector(self, name: str) -> Any:
        return self.cash.connector(name)

    @property
    def base(self) -> Any:
        return self.cash.base

    def provision(self, **kw: Any) -> dict[str, Any]:
        return self.cash.provision(**kw)

    def specs(self) -> list[CaptureSpec]:
        return delivery_specs(self.psa, list(self.erps), interval=timedelta(seconds=10))

    def poll(self, only: CaptureSpec | None = None) -> int:
        """Poll every delivery pair (or ``only``) until caught up; returns the events journaled."""
        total = 0
        for _ in range(10):
            journaled = 0
            for spec in [only] if only is not None else self.specs():
                journaled += poll_once(
                    self.connector(spec.connection),
                    connection=spec.connection,
                    resource=spec.resource,
                    engine=self.base.services.engine,
                    runtime=self.base.services.runtime,
                    to_events=spec.to_events,
                    overlap=timedelta(seconds=5),
                    read=spec.read,
                    describe=spec.describe,
                ).journaled
            total += journaled
            if not journaled:
                break
            self.settle()
        self.settle()
        return total

    def settle(self, timeout: float = 90.0, *, names: tuple[str, ...] = ()) -> None:
        """Wait until no delivery (or ``names``) run is queued or running."""
        wanted = names or (WORKFLOW,)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            busy = [
                w
                for name in wanted
                for w in DBOS.list_workflows(
                    status=["PENDING", "ENQUEUED"], name=name, load_input=False
                )
            ]
            if not busy:
                return
            time.sleep(0.1)
        pytest.fail(f"{wanted} runs did not finish in time")

    def runs(self, scenario: str, **match: Any) -> list[dict[str, Any]]:
        """Finished outputs of delivery runs of ``scenario`` (``status``, ``task``, ...) whose
        fields equal ``match``, oldest first."""
        self.settle()
        done = sorted(
            DBOS.list_workflows(name=WORKFLOW, load_input=False), key=lambda w: w.workflow_id
        )
        match = {"scenario": scenario, **match}
        return [
            w.output
            for w in done
            if isinstance(w.output, dict) and all(w.output.get(k) == v for k, v in match.items())
        ]

    def exceptions(self, business_key: str, code: str | None = None) -> list[BusinessException]:
        with self.base.services.engine.connect() as conn:
            found = exceptions.list_(conn, business_key=business_key, status=None, limit=100)
        return [e for e in found if code is None or e.code == code]

    def post_time(self, project: str, resource: str, currency: str, day: str) -> None:
        """Journal an approved timesheet of one entry on the project (as approvals would)."""
        sheet = {
            "id": f"DLV-TS-{time.time_ns()}",
            "resource_id": resource,
            "project_id": project,
            "week_start": day,
            "status": "approved",
            "approved_at": datetime.now(UTC).isoformat(),
            "entries": [
                {
                    "id": f"DLV-TE-{time.time_ns()}",
                    "project_id": project,
                    "resource_id": resource,
                    "date": day,
                    "hours": "2.00",
                    "billable": True,
                    "bill_rate": {"amount": "150.00", "currency": currency},
                    "notes": "after the close",
                }
            ],
        }
        event = canonical_event("timesheet.approved", sheet, subject=sheet["id"])
        (future,) = self.base.services.writer.submit(
            [
                NewEvent(
                    source="test/psa",
                    ce_id=sheet["id"],
                    type=event.type,
                    subject=event.subject,
                    business_key=event.business_key,
                    time=None,
                    data_json=event.data_json,
                )
            ]
        )
        future.result(timeout=10)


def start_delivery(
    folder: Path,
    sandbox: SandboxHandle,
    *,
    psa: str,
    erps: tuple[str, ...] = tuple(ERPS),
    edit_rules: Callable[[dict[str, Any]], None] | None = None,
) -> Iterator[Delivery]:
    """One in-process Accord whose delivery polls the tests drive, starting now."""
    accord = start(folder, sandbox, psa=psa, edit_rules=edit_rules)
    delivery = Delivery(cash=next(accord), psa=psa, erps=erps)
    try:
        for spec in delivery.specs():
            start_cursor_at_now(spec.connection, spec.resource)
        yield delivery
    finally:
        accord.close()  # stops the services


@pytest.fixture(scope="module")
def sandbox() -> Iterator[SandboxHandle]:
    """The four emulators on free ports, scenario firm."""
    handle = Sandbox(base_port=0, scenario="firm", seed=7).start_in_thread()
    yield handle
    handle.stop()


@pytest.fixture(scope="module")
def delivery(
    sandbox: SandboxHandle, tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest
) -> Iterator[Delivery]:
    """Accord with the PSA the module asks for (module attribute ``PSA``, default kantata)."""
    psa = getattr(request.module, "PSA", "kantata")
    yield from start_delivery(tmp_path_factory.mktemp(f"delivery-{psa}"), sandbox, psa=psa)


@pytest.fixture(autouse=True)
def _drained(request: pytest.FixtureRequest) -> None:
    """Each test starts with nothing left unpolled by the tests before it (any order)."""
    if "delivery" in request.fixturenames:
        request.getfixturevalue("delivery").poll()
