"""Capture of approvals against the sandbox's Kantata and Salesforce (Certinia) emulators.

One sandbox (scenario ``small``) and one in-process Accord per module (DBOS is a per-process
singleton), configured with both PSAs and no polling schedule: tests drive each poll
themselves (:meth:`Approvals.poll`), through the same specs ``Services`` would schedule. No
posting workflow is needed: journaled events run whatever workflow is registered for them.

Tests do not reset the sandbox: each creates its own projects, so they stay independent.
"""

import itertools
from collections.abc import Iterator
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from tests.support import authorize_sandbox_kantata

from accord.connectors.kantata import KantataConnector
from accord.flows.approvals.capture import approval_specs
from accord.flows.capture import CaptureResult, CaptureSpec, poll_once
from accord.flows.services import Services
from accord.settings import Settings
from accord.store import exceptions, journal, xref
from accord.store.exceptions import BusinessException
from accord_sandbox.accord_config import accord_config
from accord_sandbox.server import Sandbox, SandboxHandle

_numbers = itertools.count(1)


def unique(prefix: str) -> str:
    """A key no other test of the module uses."""
    return f"{prefix}-{next(_numbers)}"


@pytest.fixture(scope="module")
def sandbox() -> Iterator[SandboxHandle]:
    handle = Sandbox(base_port=0, scenario="small", seed=7).start_in_thread()
    # A feed without random re-deliveries: the duplicate test adds its own.
    handle.emulators["kantata"].events.duplicate_rate = 0  # type: ignore[attr-defined]
    yield handle
    handle.stop()


class Approvals:
    """Accord against the module's sandbox, with helpers to approve time in each PSA."""

    def __init__(self, services: Services, sandbox: SandboxHandle) -> None:
        self.services = services
        self.sandbox = sandbox

    # ------------------------------------------------------------------ connectors
    def kantata(self) -> KantataConnector:
        found = self.services.connections.connector("kantata")
        assert isinstance(found, KantataConnector)
        return found

    def certinia(self) -> Any:
        return self.services.connections.connector("certinia")

    # ------------------------------------------------------------------ Kantata setup
    def consultant(self, index: int = 0) -> tuple[str, str]:
        """A seeded consultant's Kantata user id and consultant id."""
        users = self.kantata().read_page("users").records
        keyed = [
            (str(u["id"]), self.kantata().describe("users", u).external_id)
            for u in users
            if self.kantata().describe("users", u).external_id
        ]
        user_id, consultant = keyed[index]
        assert consultant is not None
        return user_id, consultant

    def admin_user(self) -> str:
        """The integration user: a Kantata user without a consultant id."""
        users = self.kantata().read_page("users").records
        return next(
            str(u["id"]) for u in users if u["email_address"] == "integration@sandbox.invalid"
        )

    def workspace(self, project_id: str | None, *, linked: bool = False) -> str:
        """A workspace: keyed by Accord's reference, linked in xref only, or unknown (None)."""
        fields = {"title": unique("Project"), "currency": "USD"}
        if project_id is not None and not linked:
            return self.kantata().upsert("workspaces", project_id, fields).id
        workspace_id = self.kantata().create("workspaces", fields).id
        if project_id is not None:
            self.link("psa_project", project_id, "kantata", workspace_id)
        return workspace_id

    def link(self, entity_type: str, canonical: str, connection: str, external: str) -> None:
        with self.services.engine.begin() as conn:
            xref.link(
                conn,
                entity_type=entity_type,
                canonical_id=canonical,
                system=connection,
                connection=connection,
                external_id=external,
            )

    def log_time(
        self, workspace_id: str, user_id: str, day: str, minutes: int, **extra: Any
    ) -> str:
        fields = {
            "workspace_id": workspace_id,
            "user_id": user_id,
            "date_performed": day,
            "time_in_minutes": minutes,
            "billable": True,
            **extra,
        }
        return self.kantata().create("time_entries", fields).id

    def submit(self, workspace_id: str, user_id: str, week_start: str) -> str:
        fields = {"workspace_id": workspace_id, "user_id": user_id, "start_date": week_start}
        return self.kantata().create("timesheet_submissions", fields).id

    # ------------------------------------------------------------------ capture
    def spec(self, system: str, resource: str | None = None) -> CaptureSpec:
        specs = approval_specs(system)
        return next(s for s in specs if resource is None or s.resource == resource)

    def poll(
        self, system: str = "kantata", resource: str | None = None, *, read: Any = None
    ) -> CaptureResult:
        """One real poll of a PSA's approvals pair (mapper, journal, run starts)."""
        spec = self.spec(system, resource)
        if read is not None:
            spec = replace(spec, read=read)
        return poll_once(
            self.services.connections.connector(spec.connection),
            connection=spec.connection,
            resource=spec.resource,
            engine=self.services.engine,
            runtime=self.services.runtime,
            to_events=spec.to_events,
            overlap=timedelta(seconds=30),
            read=spec.read,
            describe=spec.describe,
        )

    def events(self, event_type: str, subject: str | None = None) -> list[dict[str, Any]]:
        """Journaled events of a type (optionally about one subject), with their data."""
        with self.services.engine.connect() as conn:
            entries = journal.list_(conn, type_=event_type, limit=10_000)
            out = []
            for entry in entries:
                if subject is not None and entry.subject != subject:
                    continue
                found = journal.get(conn, seq=entry.seq)
                assert found is not None
                out.append({"ce_id": entry.ce_id, "subject": entry.subject, "data": found[1]})
        return out

    def exceptions_about(self, kind: str, connection: str, psa_id: str) -> list[BusinessException]:
        with self.services.engine.connect() as conn:
            return list(
                exceptions.list_(
                    conn, business_key=f"{kind}:{connection}:{psa_id}", status=None, limit=20
                )
            )


@pytest.fixture(scope="module")
def approvals(
    sandbox: SandboxHandle, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Approvals]:
    folder = tmp_path_factory.mktemp("approvals")
    document = accord_config(sandbox.urls, psa="kantata")
    document["connections"]["certinia"] = {
        **document["connections"]["salesforce"],
        "kind": "certinia",
    }
    document["lead_to_project"]["capture_interval_s"] = 0
    document["approvals"]["capture_interval_s"] = 0
    for settings in document["connections"].values():
        settings["rate_per_s"] = 500
        settings["concurrency"] = 8
        settings["timeout_s"] = 10
    config = folder / "accord.yaml"
    config.write_text(yaml.safe_dump(document, sort_keys=False), encoding="utf-8")
    settings = Settings(
        database_url=f"sqlite:///{folder / 'accord.db'}",
        worker_id="it-approvals",
        config_file=Path(config),
    )
    services = Services.build(settings)
    authorize_sandbox_kantata(services.connections)
    services.start()
    try:
        yield Approvals(services, sandbox)
    finally:
        services.stop()
