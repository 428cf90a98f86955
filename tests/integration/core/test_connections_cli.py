"""``accord init`` and ``accord connections`` as an operator runs them, against the sandbox."""

import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import yaml
from cryptography.hazmat.primitives.asymmetric import rsa
from pydantic import SecretStr
from tests.support import accord_cmd, accord_env, free_port, serve
from typer.testing import CliRunner

from accord.cli.app import app
from accord.cli.connections_cmd import loopback_user_agent
from accord.cli.init_cmd import BcAuth, Erp, KantataAuth, NetSuiteAuth, Psa, SalesforceAuth, render
from accord.connectors.authorization import AuthorizationCodeFlow
from accord.connectors.config import load_connections
from accord.store.credentials import CredentialCipher
from accord_sandbox.accord_config import connection_settings
from accord_sandbox.credentials import private_key_pem, self_signed_certificate
from accord_sandbox.kantata import KantataEmulator
from accord_sandbox.kantata.auth import sandbox_consent

RSA_3072 = rsa.generate_private_key(public_exponent=65537, key_size=3072)
"""NetSuite takes RSA keys of 3072 or 4096 bits; one key serves every vendor here."""
ELSEWHERE = "https://accord.example/kantata/callback"
"""A callback that is not a loopback address: the CLI asks for the redirect instead."""


@pytest.fixture(scope="module")
def kantata() -> Iterator[tuple[str, KantataEmulator]]:
    emulator = KantataEmulator()
    emulator.auth.redirect_uris.add(ELSEWHERE)
    with serve(lambda _url: emulator.app) as url:
        yield url, emulator


def _config(tmp_path: Path, url: str) -> Path:
    kantata = connection_settings("kantata", url) | {"redirect_uri": ELSEWHERE}
    path = tmp_path / "accord.yaml"
    netsuite = connection_settings("netsuite", "http://127.0.0.1:9")
    path.write_text(yaml.safe_dump({"connections": {"kantata": kantata, "netsuite": netsuite}}))
    return path


def _run(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    # Wide enough that rich does not wrap the table's cells.
    return subprocess.run(
        accord_cmd(*args), env=env | {"COLUMNS": "200"}, capture_output=True, text=True, timeout=120
    )


def test_authorize_list_and_forget(kantata: tuple[str, KantataEmulator], tmp_path: Path) -> None:
    url, _ = kantata
    env = accord_env(
        f"sqlite:///{tmp_path / 'accord.db'}",
        ACCORD_CONFIG_FILE=str(_config(tmp_path, url)),
        ACCORD_CREDENTIALS_KEY=CredentialCipher.generate_key(),
    )
    proc = subprocess.Popen(
        accord_cmd("connections", "authorize", "kantata", "--no-browser"),
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    authorize_url = proc.stdout.readline().strip()
    assert authorize_url.startswith(f"{url}/oauth/authorize?")
    # The person signs in and approves; the browser lands on the callback with the code.
    landed = sandbox_consent(authorize_url)
    assert landed.startswith(f"{ELSEWHERE}?code=")
    out, errors = proc.communicate(landed + "\n", timeout=120)
    assert proc.returncode == 0, errors
    assert "Authorized kantata: token valid until revoked." in out
    listed = _run(env, "connections", "list")
    assert listed.returncode == 0, listed.stderr
    assert "OAuth 2.0 M2M" in listed.stdout
    kantata_row = next(line for line in listed.stdout.splitlines() if "kantata" in line)
    assert "since " in kantata_row
    assert _run(env, "connections", "forget", "kantata").returncode == 0


def test_authorize_refusals_are_one_line(
    kantata: tuple[str, KantataEmulator], tmp_path: Path
) -> None:
    url, emulator = kantata
    env = accord_env(
        f"sqlite:///{tmp_path / 'accord.db'}",
        ACCORD_CONFIG_FILE=str(_config(tmp_path, url)),
        ACCORD_CREDENTIALS_KEY=CredentialCipher.generate_key(),
    )
    for args, message in (
        (("netsuite",), "authenticates on its own"),
        (("kantata", "--code", "not-a-code"), "token request refused"),
    ):
        result = _run(env, "connections", "authorize", *args)
        assert result.returncode == 1, args
        assert message in result.stderr
        assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert emulator.auth.codes == {}


def test_loopback_redirect_is_received_by_the_cli(kantata: tuple[str, KantataEmulator]) -> None:
    url, emulator = kantata
    redirect = f"http://127.0.0.1:{free_port()}/accord/callback"
    emulator.auth.redirect_uris.add(redirect)
    flow = AuthorizationCodeFlow(
        authorize_url=f"{url}/oauth/authorize",
        token_url=f"{url}/oauth/token",
        client_id="sandbox",
        client_secret=SecretStr("sandbox-secret"),
        redirect_uri=redirect,
        connector="kantata",
    )

    def browser(authorize_url: str) -> None:
        # What the person's browser does: the consent page, then the redirect to Accord.
        httpx.get(sandbox_consent(authorize_url), timeout=10).raise_for_status()

    def announce(authorize_url: str) -> None:
        threading.Thread(target=browser, args=(authorize_url,), daemon=True).start()

    agent = loopback_user_agent(redirect, open_browser=False, timeout_s=30, announce=announce)
    landed = agent(flow.authorization_url("st4te"))
    code = flow.code_from_redirect(landed, state="st4te")
    with httpx.Client() as client:
        assert flow.exchange(code, client).access_token


SHOWN = {
    SalesforceAuth.jwt: "JWT bearer",
    SalesforceAuth.client_credentials: "OAuth 2.0 client credentials",
    NetSuiteAuth.m2m: "OAuth 2.0 M2M (PS256",
    NetSuiteAuth.tba: "token-based",
    BcAuth.certificate: "(PS256 certificate)",
    BcAuth.secret: "(client secret)",
    KantataAuth.authorization_code: "authorization code",
    KantataAuth.application_token: "application token",
}
"""What ``accord connections list`` shows for each choice of ``accord init``."""


@pytest.mark.parametrize(
    ("psa", "erp", "auths"),
    [
        (
            Psa.kantata,
            Erp.netsuite,
            (SalesforceAuth.jwt, NetSuiteAuth.m2m, KantataAuth.authorization_code),
        ),
        (
            Psa.certinia,
            Erp.business_central,
            (SalesforceAuth.client_credentials, BcAuth.certificate),
        ),
        (Psa.kantata, Erp.business_central, (KantataAuth.application_token, BcAuth.secret)),
        (Psa.certinia, Erp.netsuite, (NetSuiteAuth.tba,)),
    ],
)
def test_init_writes_a_config_that_loads(
    tmp_path: Path, psa: Psa, erp: Erp, auths: tuple[object, ...]
) -> None:
    choices = {type(a).__name__: a for a in auths}
    text = render(
        psa=psa,
        erp=erp,
        salesforce_auth=choices.get("SalesforceAuth", SalesforceAuth.jwt),
        netsuite_auth=choices.get("NetSuiteAuth", NetSuiteAuth.m2m),
        bc_auth=choices.get("BcAuth", BcAuth.certificate),
        kantata_auth=choices.get("KantataAuth", KantataAuth.authorization_code),
    )
    path = tmp_path / "accord.yaml"
    path.write_text(text)
    secrets = tmp_path / "secrets"
    secrets.mkdir()
    rsa_key = RSA_3072
    (secrets / "salesforce-jwt.key").write_text(private_key_pem(rsa_key))
    (secrets / "netsuite-m2m.key").write_text(private_key_pem(rsa_key))
    (secrets / "business-central.key").write_text(private_key_pem(rsa_key))
    (secrets / "business-central.crt").write_text(self_signed_certificate(rsa_key, common_name="a"))
    names = (
        "SALESFORCE_CLIENT_ID SALESFORCE_CLIENT_SECRET KANTATA_CLIENT_ID KANTATA_CLIENT_SECRET "
        "KANTATA_ACCESS_TOKEN NETSUITE_CLIENT_ID NETSUITE_CERTIFICATE_ID NETSUITE_CONSUMER_SECRET "
        "NETSUITE_TOKEN_ID NETSUITE_TOKEN_SECRET BC_CLIENT_ID BC_CLIENT_SECRET"
    )
    configs = load_connections(path, {name: f"{name.lower()}-value" for name in names.split()})
    erp_name = "netsuite" if erp is Erp.netsuite else "business-central"
    assert set(configs) == {"salesforce", psa.value, erp_name}
    shown = " | ".join(c.authentication for c in configs.values())
    for auth in auths:
        assert SHOWN[auth] in shown, (auth, shown)
    document = yaml.safe_load(text)
    assert document["lead_to_project"]["psa"] == {"system": psa.value, "connection": psa.value}


def test_init_and_new_key_commands(tmp_path: Path) -> None:
    out = tmp_path / "accord.yaml"
    runner = CliRunner()
    args = ["init", "--psa", "kantata", "--erp", "netsuite", "--out", str(out)]
    made = runner.invoke(app, args)
    assert made.exit_code == 0, made.output
    assert "accord connections authorize kantata" in made.output
    assert "${file:secrets/netsuite-m2m.key}" in out.read_text()
    again = runner.invoke(app, args)
    assert again.exit_code == 1
    assert "exists" in again.output
    key = runner.invoke(app, ["connections", "new-key"]).output.strip()
    assert CredentialCipher([key]).key_id
