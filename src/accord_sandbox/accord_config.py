"""The ``accord.yaml`` that points Accord at a running sandbox.

:func:`accord_config` builds the document (a plain ``dict``) from the sandbox's URLs;
:func:`write_accord_config` writes it as YAML. ``accord demo`` and the end-to-end tests use
them, so the connection names here are the ones ``rules/default.yaml`` routes to:

- ``salesforce``: the CRM (kind ``salesforce``);
- ``kantata`` (kind ``kantata``) or ``certinia`` (kind ``certinia``, on the Salesforce
  emulator): the PSA projects are provisioned in, chosen by ``psa``;
- ``netsuite``: the ERP of ``US01`` and ``UK01`` (subsidiaries 2 and 3);
- ``business-central``: the ERP of ``DE01`` (its company GUID derives from the seed);
- ``dynamics-finance`` (kind ``dynamics_finance``): Dynamics 365 Finance, with a company per
  legal entity (``dataAreaId`` = the code in lower case); no legal entity routes to it by
  default (a migration rehearsal does).

Besides ``connections:``, the document has a ``lead_to_project:`` section that the
lead-to-project flow reads (:mod:`accord.flows.shared.settings`): which PSA system and
connection to provision in, which connection is the CRM, and the rules file to use; and an
``approvals:`` section (:mod:`accord.flows.approvals.settings`): the PSA whose approved time
and expenses are captured, and how often it is polled; and a ``customer_master:`` section
(:mod:`accord.flows.customer_master.settings`): what to do with ERP drift of CRM-owned
customer fields; ``cash:`` (:mod:`accord.flows.cash.settings`) and ``milestones:``
(:mod:`accord.flows.bill_milestone.settings`): how often ERP invoices, payments and PSA
milestones are polled; ``governance:``
(:mod:`accord.governance.settings`): the environment's name and whether rules changes need a
second admin's approval (off here, as the demo wants); and ``kpis:``
(:mod:`accord.flows.reporting`): the base currency of the business KPIs and fixed
exchange rates for the demo. Secrets
are written inline: they are the sandbox's published demo credentials, never real ones
(:mod:`accord_sandbox.credentials`), except NetSuite's M2M private key, which
:func:`write_accord_config` writes to a file beside ``accord.yaml`` and references, as a firm
would.

Each connection authenticates as against the real system: Salesforce and Business Central with
client credentials, NetSuite with an ES256 M2M client assertion, Kantata with the authorization
code grant (run ``accord connections authorize kantata``; ``accord demo`` does it for you).
:func:`connection_settings` gives one connection's settings, for tests that build their own.

What does *not* belong here: starting the sandbox (:mod:`accord_sandbox.server`) and
anything Accord itself does with the file.
"""

from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

import yaml

from accord import resources
from accord_sandbox.common import DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET
from accord_sandbox.credentials import (
    KANTATA_REDIRECT_URI,
    M2M_ALGORITHM,
    M2M_CERTIFICATE_ID,
    m2m_private_key_pem,
)
from accord_sandbox.scenario import generate

__all__ = [
    "BC_TENANT",
    "NETSUITE_ACCOUNT_ID",
    "NETSUITE_KEY_FILE",
    "PsaChoice",
    "accord_config",
    "connection_settings",
    "default_rules_path",
    "write_accord_config",
]

PsaChoice = Literal["kantata", "certinia"]
"""The PSA the sandbox configuration provisions projects in."""

BC_TENANT = "sandbox-tenant"
"""The Entra tenant the Business Central emulator serves (its default)."""
NETSUITE_ACCOUNT_ID = "TSTDRV0000001"
"""The NetSuite emulator's account id (its default)."""
NETSUITE_KEY_FILE = "netsuite-m2m.pem"
"""Where :func:`write_accord_config` puts the M2M private key (beside ``accord.yaml``)."""


def connection_settings(
    system: str,
    url: str,
    *,
    client_id: str = DEFAULT_CLIENT_ID,
    client_secret: str = DEFAULT_CLIENT_SECRET,
) -> dict[str, Any]:
    """The settings of a connection to one emulator at ``url``: where it is and how to sign in.

    ``system`` is ``salesforce``, ``certinia``, ``kantata``, ``netsuite``,
    ``business_central`` (which also needs ``company_id``, added by the caller) or
    ``dynamics_finance`` (which also needs ``company``). Add ``name``
    (and anything else) to validate it as the connector's config.

    Raises:
        ValueError: An unknown system.
    """
    root = url.rstrip("/")
    app = {"client_id": client_id, "client_secret": client_secret}
    if system in ("salesforce", "certinia"):
        return {"kind": system, "login_url": root, **app}
    if system == "kantata":
        # Authorization code grant: `accord connections authorize` stores the token.
        return {
            "kind": "kantata",
            "base_url": f"{root}/api/v1",
            "redirect_uri": KANTATA_REDIRECT_URI,
            **app,
        }
    if system == "netsuite":
        return {
            "kind": "netsuite",
            "account_id": NETSUITE_ACCOUNT_ID,
            "base_url": f"{root}/services/rest",
            "client_id": client_id,
            "certificate_id": M2M_CERTIFICATE_ID,
            "private_key": m2m_private_key_pem(),
            "signing_algorithm": M2M_ALGORITHM,
        }
    if system == "business_central":
        return {
            "kind": "business_central",
            "tenant": BC_TENANT,
            "environment": "production",
            "api_host": root,
            "login_host": root,
            **app,
        }
    if system == "dynamics_finance":
        return {
            "kind": "dynamics_finance",
            "environment_url": root,
            "tenant": BC_TENANT,
            "login_host": root,
            **app,
        }
    raise ValueError(f"unknown system {system!r}")


def default_rules_path() -> Path:
    """The rules file Accord ships (what the flows use when ``accord.yaml`` names none)."""
    return resources.default_rules_path()


def accord_config(
    urls: Mapping[str, str],
    *,
    psa: PsaChoice = "kantata",
    client_id: str = DEFAULT_CLIENT_ID,
    client_secret: str = DEFAULT_CLIENT_SECRET,
    seed: int = 7,
    rules: Path | None = None,
    approval_required: bool = False,
    reconcile_every_minutes: int = 0,
) -> dict[str, Any]:
    """The ``accord.yaml`` document for a sandbox serving at ``urls``.

    Args:
        urls: Base URL of each emulator by system name (``SandboxHandle.urls``): keys
            ``salesforce``, ``kantata``, ``netsuite`` and ``business_central``, and
            ``dynamics_finance`` (its connection is written when the URL is given).
        psa: Provision projects in Kantata (``kantata``) or in Certinia on the Salesforce
            emulator (``certinia``).
        client_id: The OAuth client id the emulators accept.
        client_secret: Its secret.
        seed: The sandbox's seed; Business Central company GUIDs derive from it.
        rules: The rules file the flows use; ``None`` leaves it out of the document, so the
            flows use the rules Accord ships.
        approval_required: Whether a rules change needs a second admin's approval. Off in
            the sandbox (the demo): an edit of the rules file takes effect at once, stored
            and audited; Accord's own default, without this section, is on.
        reconcile_every_minutes: Minutes between scheduled reconciliations; ``0`` (the
            default here, so that tests decide when to reconcile) schedules none. Accord's
            own default, without the section, is hourly.

    Returns:
        A JSON-compatible mapping, ready for ``yaml.safe_dump``.

    Raises:
        KeyError: A system's URL is missing from ``urls``.
        ValueError: ``psa`` is neither ``kantata`` nor ``certinia``.
    """
    if psa not in ("kantata", "certinia"):
        raise ValueError(f"unknown PSA {psa!r}; choose kantata or certinia")
    # Only the legal entities are needed, and they depend on the seed alone, so the small
    # scenario gives the same GUIDs as the one the sandbox serves, at a fraction of the cost.
    companies = {e.code: e.bc_company_id for e in generate("small", seed).legal_entities}
    app = {"client_id": client_id, "client_secret": client_secret}
    # The emulators answer at once, so 20 requests/s (not the production default of 5) keeps a
    # demo's burst of provisioning from starving the flows queued behind it. Concurrency stays
    # at the default, under NetSuite's account limit of 5.
    pace = {"rate_per_s": 20.0}
    connections: dict[str, dict[str, Any]] = {
        "salesforce": {
            **connection_settings("salesforce", urls["salesforce"], **app),
            **pace,
            # The emulated org's daily API allowance, kept as a budget: flows and polling stop
            # 5,000 calls short of it, which stay for people using the synchronous API.
            "daily_limit": 100_000,
            "daily_reserve": 5_000,
        },
        "netsuite": {**connection_settings("netsuite", urls["netsuite"], **app), **pace},
        "business-central": {
            **connection_settings("business_central", urls["business_central"], **app),
            "company_id": companies["DE01"],
            "companies": companies,
            # The sandbox firm's service item (BC posts no item line without one).
            "milestone_line_object": "SERVICES",
            **pace,
        },
    }
    if urls.get("dynamics_finance"):
        connections["dynamics-finance"] = {
            **connection_settings("dynamics_finance", urls["dynamics_finance"], **app),
            "company": "de01",
            "companies": {code: code.lower() for code in companies},
            "dimension_delimiter": "|",
            **pace,
        }
    if psa == "kantata":
        connections["kantata"] = {**connection_settings("kantata", urls["kantata"], **app), **pace}
    else:
        connections["certinia"] = {
            **connection_settings("certinia", urls["salesforce"], **app),
            **pace,
        }
    flow: dict[str, Any] = {
        "crm_connection": "salesforce",
        "psa": {"system": psa, "connection": psa},
    }
    if rules is not None:
        flow["rules"] = str(rules)
    # Time and expenses are approved where the projects are provisioned.
    approvals = {"psa": {"system": psa, "connection": psa}, "capture_interval_s": 5}
    return {
        "connections": connections,
        "lead_to_project": flow,
        "approvals": approvals,
        # An ERP change to a CRM-owned customer field is raised (not reverted) by default.
        "customer_master": {"erp_drift": "raise"},
        # Invoices and payments flow back, completed milestones are billed (polls start now).
        "cash": {"capture_interval_s": 30},
        "milestones": {"capture_interval_s": 15},
        # Project status, tasks, people, vendor costs and firm fields between PSA and ERP.
        "delivery": {"capture_interval_s": 10},
        # Approved time posts per entry; time in a closed period moves to the first open one.
        "time_to_bill": {"posting": "per_entry", "closed_period_policy": "redate"},
        # The sandbox is the first environment of the promotion path (docs/governance.md).
        "governance": {
            "environment": "sandbox",
            "environments": ["sandbox", "production"],
            "approval_required": approval_required,
        },
        # The Business page's amounts in USD; the firm's other currencies at fixed demo rates.
        "kpis": {"base_currency": "USD", "fx_rates": {"GBP": "1.27", "EUR": "1.08"}},
        # The emulators answer at once: work settles in seconds, not in the default 15 minutes.
        "reconciliation": {"interval_minutes": reconcile_every_minutes, "settle_minutes": 2},
    }


def write_accord_config(
    path: Path,
    urls: Mapping[str, str],
    *,
    psa: PsaChoice = "kantata",
    client_id: str = DEFAULT_CLIENT_ID,
    client_secret: str = DEFAULT_CLIENT_SECRET,
    seed: int = 7,
    rules: Path | None = None,
    approval_required: bool = False,
    reconcile_every_minutes: int = 0,
) -> Path:
    """Write :func:`accord_config` to ``path`` as YAML and return ``path``.

    NetSuite's M2M private key goes to :data:`NETSUITE_KEY_FILE` beside it (owner-only), and
    the document references it with ``${file:...}``.
    """
    document = accord_config(
        urls,
        psa=psa,
        client_id=client_id,
        client_secret=client_secret,
        seed=seed,
        # accord.yaml reads a relative path from its own folder; the caller's is from the
        # working directory (``accord demo --data-dir var/demo`` named var/demo/var/demo/...).
        rules=rules.resolve() if rules is not None else None,
        approval_required=approval_required,
        reconcile_every_minutes=reconcile_every_minutes,
    )
    netsuite = document["connections"]["netsuite"]
    key_file = path.parent / NETSUITE_KEY_FILE
    key_file.touch(mode=0o600, exist_ok=True)
    key_file.write_text(netsuite["private_key"], encoding="ascii")
    netsuite["private_key"] = f"${{file:{NETSUITE_KEY_FILE}}}"
    path.write_text(
        "# Accord against the local sandbox (demo credentials, never real ones).\n"
        + yaml.safe_dump(document, sort_keys=False, allow_unicode=True),
        encoding="utf-8",
    )
    return path
