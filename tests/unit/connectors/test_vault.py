"""``${vault:...}`` references read with hvac from a local server replaying Vault's answers.

The server answers as Vault's HTTP API documents (fixtures in ``tests/fixtures/vault``): KV v2
reads at ``/v1/{mount}/data/{path}`` behind ``X-Vault-Token``, AppRole login at
``/v1/auth/approle/login``, 403 for a token the policy refuses, 404 for a missing path.
"""

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from tests.support import serve

from accord.connectors.config import load_connections
from accord.connectors.netsuite import NetSuiteConfig
from accord.connectors.vault import VaultReader
from accord.errors import ConfigError

FIXTURES = Path(__file__).parents[2] / "fixtures" / "vault"
TOKEN = "s.recorded-token"
APPROLE_TOKEN = "5b1a0318-679c-9c45-e5c6-d1b9a9035d49"  # the login fixture's client_token


def fixture(name: str) -> Any:
    return json.loads((FIXTURES / f"{name}.json").read_text())


class FakeVault:
    def __init__(self) -> None:
        self.requests: list[tuple[str, str, str | None]] = []

    def app(self, _base_url: str) -> FastAPI:
        app = FastAPI()

        @app.post("/v1/auth/approle/login")
        async def login(request: Request) -> JSONResponse:
            body = await request.json()
            self.requests.append(("POST", request.url.path, None))
            if body != {"role_id": "role-1", "secret_id": "secret-1"}:
                return JSONResponse({"errors": ["invalid role or secret ID"]}, 400)
            return JSONResponse(fixture("approle_login"))

        @app.get("/v1/{mount}/data/{path:path}")
        async def read(mount: str, path: str, request: Request) -> JSONResponse:
            token = request.headers.get("x-vault-token")
            self.requests.append(
                ("GET", request.url.path, request.headers.get("x-vault-namespace"))
            )
            if token not in {TOKEN, APPROLE_TOKEN} or path == "accord/forbidden":
                return JSONResponse(fixture("permission_denied"), 403)
            if (mount, path) != ("secret", "accord/netsuite"):
                return JSONResponse(fixture("not_found"), 404)
            return JSONResponse(fixture("kv2_read_secret_version"))

        return app


@pytest.fixture(scope="module")
def vault() -> Iterator[tuple[FakeVault, str]]:
    fake = FakeVault()
    with serve(fake.app) as url:
        yield fake, url


YAML = """
connections:
  netsuite:
    kind: netsuite
    account_id: "1234567"
    client_id: ${vault:secret/accord/netsuite#client_id}
    client_secret: ${vault:secret/accord/netsuite#private_key}
    token_id: t
    token_secret: ${env:TOKEN_SECRET}
"""


def write(tmp_path: Path, text: str = YAML) -> Path:
    path = tmp_path / "accord.yaml"
    path.write_text(text)
    return path


def test_reads_kv2_keys_once_per_secret(vault: tuple[FakeVault, str], tmp_path: Path) -> None:
    fake, url = vault
    before = len(fake.requests)
    env = {"VAULT_ADDR": url, "VAULT_TOKEN": TOKEN, "VAULT_NAMESPACE": "firm", "TOKEN_SECRET": "x"}
    cfg = load_connections(write(tmp_path), env)["netsuite"]
    assert isinstance(cfg, NetSuiteConfig)
    assert cfg.client_id == "ns-client-id"
    assert cfg.client_secret is not None
    assert cfg.client_secret.get_secret_value().startswith("-----BEGIN PRIVATE KEY-----\n")
    # Two keys of one secret: one read, in the namespace given.
    assert fake.requests[before:] == [("GET", "/v1/secret/data/accord/netsuite", "firm")]


def test_approle_login(vault: tuple[FakeVault, str]) -> None:
    fake, url = vault
    env = {"VAULT_ADDR": url, "VAULT_ROLE_ID": "role-1", "VAULT_SECRET_ID": "secret-1"}
    reader = VaultReader(env)
    assert reader.read("secret/accord/netsuite#client_id", where="w") == "ns-client-id"
    assert fake.requests[-2][:2] == ("POST", "/v1/auth/approle/login")


@pytest.mark.parametrize(
    ("target", "env", "message"),
    [
        (
            "secret/accord/forbidden#k",
            {"VAULT_TOKEN": TOKEN},
            "denied reading secret/accord/forbidden",
        ),
        ("secret/accord/none#k", {"VAULT_TOKEN": TOKEN}, "has no secret secret/accord/none"),
        ("secret/accord/netsuite#nokey", {"VAULT_TOKEN": TOKEN}, "has no key 'nokey'"),
        ("secret/accord/netsuite#k", {"VAULT_TOKEN": "wrong"}, "denied"),
        ("secret/accord/netsuite#k", {}, "needs VAULT_TOKEN"),
        ("secret#k", {"VAULT_TOKEN": TOKEN}, "looks like"),
        (
            "secret/accord/netsuite#k",
            {"VAULT_ROLE_ID": "role-1", "VAULT_SECRET_ID": "bad"},
            "reading secret/accord/netsuite from Vault failed",
        ),
    ],
)
def test_refusals_name_the_reference_never_a_value(
    vault: tuple[FakeVault, str], target: str, env: dict[str, str], message: str
) -> None:
    _, url = vault
    with pytest.raises(ConfigError, match=message) as caught:
        VaultReader({"VAULT_ADDR": url, **env}).read(target, where="connection 'ns' key 'k'")
    assert str(caught.value).startswith("connection 'ns' key 'k': ")
    assert "recorded" not in str(caught.value)


def test_unconfigured_and_unreachable(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="needs VAULT_ADDR"):
        VaultReader({}).read("secret/a#b", where="w")
    with pytest.raises(ConfigError, match="cannot reach Vault"):
        VaultReader({"VAULT_ADDR": "http://127.0.0.1:9", "VAULT_TOKEN": TOKEN}).read(
            "secret/a#b", where="w"
        )
