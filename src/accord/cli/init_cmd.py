"""``accord init``: write an annotated ``accord.yaml`` for a firm's own tenants.

One block per connection, named the way ``rules/default.yaml`` routes (``salesforce``, the PSA
after itself, ``netsuite`` or ``business-central``). Each block configures the authentication
chosen on the command line and carries every other one the vendor documents for
server-to-server use, commented out, with where to set it up. Secrets are references
(``${env:...}``, ``${file:...}``; ``${vault:mount/path#key}`` works wherever they do), never
values. ``docs/production.md`` walks through the file.

What does *not* belong here: loading or checking the file (:mod:`accord.connectors.config`,
the flows' settings).
"""

from collections.abc import Mapping
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from accord.cli._output import err, fail

__all__ = ["init", "render"]


class Psa(StrEnum):
    """The PSA projects are provisioned in."""

    kantata = "kantata"
    certinia = "certinia"


class Erp(StrEnum):
    """The ERP of the firm's legal entities."""

    netsuite = "netsuite"
    business_central = "business_central"


class SalesforceAuth(StrEnum):
    """Salesforce's server-to-server flows."""

    jwt = "jwt"
    client_credentials = "client-credentials"


class NetSuiteAuth(StrEnum):
    """NetSuite's REST authentications."""

    m2m = "m2m"
    tba = "tba"


class BcAuth(StrEnum):
    """Entra ID client credentials, with a certificate or a secret."""

    certificate = "certificate"
    secret = "secret"  # noqa: S105 - a choice's name


class KantataAuth(StrEnum):
    """Kantata's OAuth 2.0 tokens."""

    authorization_code = "authorization-code"
    application_token = "application-token"  # noqa: S105 - a choice's name


_HEADER = """\
# Accord against the firm's own tenants; written by `accord init`, read by `accord run`.
# Walk-through: docs/production.md ("Authentication and configuration").
#
# Secrets are references, never values:
#   ${env:NAME}                  an environment variable
#   ${file:path}                 a file's content (relative to this file), e.g. a PEM key
#   ${vault:mount/path#key}      a key of a HashiCorp Vault KV v2 secret (VAULT_ADDR, and
#                                VAULT_TOKEN or VAULT_ROLE_ID + VAULT_SECRET_ID)
# Each connection below configures one authentication; the others its vendor documents for
# server-to-server use are shown commented out. `accord connections list` shows what is in use.

connections:
"""

_SALESFORCE_COMMON = """\
    # Connected app (or external client app) with OAuth enabled, scopes api + refresh_token,
    # the integration user pre-authorized (a permission set assigned to it).
    login_url: https://login.salesforce.com   # test.salesforce.com for a sandbox, or the
                                              # org's My Domain (https://NAME.my.salesforce.com)
    api_version: v60.0
    client_id: ${env:SALESFORCE_CLIENT_ID}     # the app's consumer key
"""

_SALESFORCE_AUTH: Mapping[StrEnum, str] = {
    SalesforceAuth.jwt: """\
    # OAuth 2.0 JWT bearer flow: upload the certificate of this RSA key to the connected app
    # ("Use digital signatures"); no secret is sent.
    username: integration@example.com         # the pre-authorized integration user
    private_key: ${file:secrets/salesforce-jwt.key}
    jwt_audience: https://login.salesforce.com    # https://test.salesforce.com for a sandbox
""",
    SalesforceAuth.client_credentials: """\
    # OAuth 2.0 client credentials flow: enable it on the connected app and pick its "run as"
    # integration user; login_url must then be the org's My Domain.
    client_secret: ${env:SALESFORCE_CLIENT_SECRET}
""",
}

_KANTATA_AUTH: Mapping[StrEnum, str] = {
    KantataAuth.authorization_code: """\
    # OAuth 2.0 authorization code grant (Kantata's documented flow): register an application
    # under Settings > API with this exact callback URI, then run once
    #   accord connections authorize kantata
    # and approve it signed in as the integration user. The token is stored encrypted in
    # Accord's database (ACCORD_CREDENTIALS_KEY).
    client_id: ${env:KANTATA_CLIENT_ID}
    client_secret: ${env:KANTATA_CLIENT_SECRET}
    redirect_uri: http://127.0.0.1:8765/accord/kantata/callback
""",
    KantataAuth.application_token: """\
    # The application's own OAuth token (Settings > API > the application > "Show your OAuth
    # Token"): it acts as the user who registered the application.
    access_token: ${env:KANTATA_ACCESS_TOKEN}
""",
}

_NETSUITE_AUTH: Mapping[StrEnum, str] = {
    NetSuiteAuth.m2m: """\
    # OAuth 2.0 client credentials (M2M), Oracle's preferred method: integration record with
    # "Client Credentials (Machine to Machine) Grant" and the REST Web Services scope; then
    # Setup > Integration > Manage Authentication > OAuth 2.0 Client Credentials (M2M) Setup:
    # map entity, role and application to the certificate of this key (RSA 3072/4096 bits for
    # PS256, or EC P-256 for ES256), and copy the certificate id it shows.
    certificate_id: ${env:NETSUITE_CERTIFICATE_ID}
    private_key: ${file:secrets/netsuite-m2m.key}
    signing_algorithm: PS256
""",
    NetSuiteAuth.tba: """\
    # Token-based authentication (OAuth 1.0a, HMAC-SHA256): integration record with
    # "Token-based Authentication", and an access token for the integration user and role
    # (Setup > Users/Roles > Access Tokens).
    client_secret: ${env:NETSUITE_CONSUMER_SECRET}   # the consumer secret
    token_id: ${env:NETSUITE_TOKEN_ID}
    token_secret: ${env:NETSUITE_TOKEN_SECRET}
""",
}

_BC_AUTH: Mapping[StrEnum, str] = {
    BcAuth.certificate: """\
    # Entra ID client credentials with a certificate (Microsoft's recommendation): upload the
    # certificate under the app registration's "Certificates & secrets".
    certificate: ${file:secrets/business-central.crt}
    private_key: ${file:secrets/business-central.key}
    assertion_algorithm: PS256
""",
    BcAuth.secret: """\
    # Entra ID client credentials with a client secret (the secret's value, not its id).
    client_secret: ${env:BC_CLIENT_SECRET}
""",
}


def _commented(text: str) -> str:
    # Comments stay as they are; settings become commented-out settings.
    return "".join(
        f"{line}\n" if line.lstrip().startswith("#") else f"    # {line[4:]}\n"
        for line in text.splitlines()
    )


def _auth(choices: Mapping[StrEnum, str], chosen: StrEnum) -> str:
    alternatives = "".join(
        "    # -- or --\n" + _commented(text) for key, text in choices.items() if key != chosen
    )
    return choices[chosen] + alternatives


def render(
    *,
    psa: Psa,
    erp: Erp,
    salesforce_auth: SalesforceAuth = SalesforceAuth.jwt,
    netsuite_auth: NetSuiteAuth = NetSuiteAuth.m2m,
    bc_auth: BcAuth = BcAuth.certificate,
    kantata_auth: KantataAuth = KantataAuth.authorization_code,
) -> str:
    """The annotated ``accord.yaml`` text for these choices."""
    sf_auth = _auth(_SALESFORCE_AUTH, salesforce_auth)
    parts = [_HEADER, "  salesforce:\n    kind: salesforce\n", _SALESFORCE_COMMON, sf_auth]
    if psa is Psa.kantata:
        parts += [
            "\n  kantata:\n    kind: kantata\n",
            "    base_url: https://api.mavenlink.com/api/v1\n",
            _auth(_KANTATA_AUTH, kantata_auth),
        ]
    else:
        parts += [
            "\n  certinia:\n    kind: certinia          # Certinia PSA on the same org's API\n",
            _SALESFORCE_COMMON,
            sf_auth,
        ]
    if erp is Erp.netsuite:
        parts += [
            "\n  netsuite:\n    kind: netsuite\n",
            '    account_id: "1234567"          # sandbox: "1234567-sb1"\n',
            "    client_id: ${env:NETSUITE_CLIENT_ID}  # the integration record's client id\n",
            "    account_timezone: America/New_York    # the integration role's time zone\n",
            _auth(_NETSUITE_AUTH, netsuite_auth),
        ]
    else:
        parts += [
            "\n  business-central:\n    kind: business_central\n",
            "    tenant: contoso.onmicrosoft.com      # Entra tenant id or domain\n",
            "    environment: production\n",
            "    company_id: 00000000-0000-0000-0000-000000000000   # GET .../api/v2.0/companies\n",
            "    companies: {}                        # legal-entity code -> company id\n",
            "    # The app registration needs the application permission API.ReadWrite.All of\n",
            '    # "Dynamics 365 Business Central" (admin consent), and an entry with permission\n',
            '    # sets on BC\'s "Microsoft Entra Applications" page.\n',
            "    client_id: ${env:BC_CLIENT_ID}\n",
            _auth(_BC_AUTH, bc_auth),
        ]
    psa_name = psa.value
    parts.append(f"""
# Which connections the flows use (see docs/flows/). Copy rules/default.yaml, adapt it to the
# firm (service packages, legal entities and their ERP connection, tax) and name it here.
lead_to_project:
  crm_connection: salesforce
  psa: {{system: {psa_name}, connection: {psa_name}}}
  # rules: rules/firm.yaml
approvals:
  psa: {{system: {psa_name}, connection: {psa_name}}}
""")
    return "".join(parts)


def init(
    *,
    psa: Annotated[Psa, typer.Option(help="The PSA.")],
    erp: Annotated[Erp, typer.Option(help="The ERP.")],
    crm: Annotated[str, typer.Option(help="The CRM (salesforce).")] = "salesforce",
    out: Annotated[Path, typer.Option(help="Where to write it.")] = Path("accord.yaml"),
    salesforce_auth: Annotated[SalesforceAuth, typer.Option()] = SalesforceAuth.jwt,
    netsuite_auth: Annotated[NetSuiteAuth, typer.Option()] = NetSuiteAuth.m2m,
    bc_auth: Annotated[BcAuth, typer.Option()] = BcAuth.certificate,
    kantata_auth: Annotated[KantataAuth, typer.Option()] = KantataAuth.authorization_code,
    force: Annotated[bool, typer.Option("--force", help="Overwrite an existing file.")] = False,
) -> None:
    """Write an annotated accord.yaml for the firm's own tenants."""
    if crm != "salesforce":
        raise fail(f"unknown CRM {crm!r}: use salesforce")
    if out.exists() and not force:
        raise fail(f"{out} exists (use --force)")
    text = render(
        psa=psa,
        erp=erp,
        salesforce_auth=salesforce_auth,
        netsuite_auth=netsuite_auth,
        bc_auth=bc_auth,
        kantata_auth=kantata_auth,
    )
    try:
        out.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise fail(f"cannot write {out}: {exc.strerror}") from None
    err.print(f"Wrote {out}. Fill in the ids, put the secrets where it points, then run")
    err.print("  accord connections list", highlight=False)
    if psa is Psa.kantata and kantata_auth is KantataAuth.authorization_code:
        err.print("  accord connections authorize kantata", highlight=False)
