"""Helpers of the synchronous API tests: the seeded records and a running app."""

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient
from tests.support import authorize_sandbox_kantata_in

from accord.api.app import create_app
from accord.settings import Settings
from accord.store import create_db_engine, keys, migrate, xref


@dataclass
class Seeded:
    """What the sandbox fixture wrote, by name."""

    accord_yaml: Path
    ns_customer: str
    ns_held_customer: str
    ns_invoice: str
    sf_accounts: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class Env:
    """A running app on its own database, with one key per role."""

    client: TestClient
    keys: dict[str, str]
    seeded: Seeded
    engine: Any

    def headers(self, role: str | None = "operator") -> dict[str, str]:
        return {"Authorization": f"Bearer {self.keys[role]}"} if role else {}

    def get(self, path: str, role: str | None = "operator", **kw: Any) -> Any:
        return self.client.get(path, headers=self.headers(role), **kw)

    def post(self, path: str, role: str | None = "process", **kw: Any) -> Any:
        headers = {**self.headers(role), **kw.pop("headers", {})}
        return self.client.post(path, headers=headers, **kw)


@contextmanager
def running_app(url: str, seeded: Seeded, worker_id: str) -> Iterator[Env]:
    """The app against the sandbox, with xref links to the seeded records."""
    engine = create_db_engine(url)
    migrate(engine)
    secrets: dict[str, str] = {}
    sterling = seeded.sf_accounts[0]["Id"]
    with engine.begin() as conn:
        for role in keys.Role:
            _, secrets[role.value] = keys.create(conn, name=role.value, role=role, actor="test")
        _, secrets["process-2"] = keys.create(
            conn, name="process-2", role=keys.Role.PROCESS, actor="test"
        )
        for entity_type, canonical, system, connection, external in [
            ("Customer", "cust-acme", "netsuite", "netsuite", seeded.ns_customer),
            ("Customer", "cust-acme", "salesforce", "salesforce", "001ACMEXXXXXXXXAAA"),
            ("Customer", "cust-held", "netsuite", "netsuite", seeded.ns_held_customer),
            ("Customer", f"SF-{sterling}", "salesforce", "salesforce", sterling),
            ("Invoice", "inv-acme-1", "netsuite", "netsuite", seeded.ns_invoice),
            ("Invoice", "inv-acme-1", "kantata", "kantata", "K-INV-1"),
        ]:
            xref.link(
                conn,
                entity_type=entity_type,
                canonical_id=canonical,
                system=system,
                connection=connection,
                external_id=external,
            )
    authorize_sandbox_kantata_in(engine, seeded.accord_yaml)
    settings = Settings(database_url=url, worker_id=worker_id, config_file=seeded.accord_yaml)
    app = create_app(settings, configure_logs=False)
    with TestClient(app) as client:
        yield Env(client=client, keys=secrets, seeded=seeded, engine=engine)
    engine.dispose()
