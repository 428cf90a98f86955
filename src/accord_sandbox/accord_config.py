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
customer fields; ``cash:`` and ``milestones:`` (:mod:`accord.flows.cash.settings`): how
often ERP invoices, payments and PSA milestones are polled. Secrets
are written inline: they are the sandbox's published demo credentials, never real ones.

What does *not* belong here: starting the sandbox (:mod:`accord_sandbox.server`) and
anything Accord itself does with the file.
"""

from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

import yaml

from accord_sandbox.common import DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET
from accord_sandbox.scenario import generate

__all__ = [
    "BC_TENANT",
    "NETSUITE_ACCOUNT_ID",
    "PsaChoice",
    "accord_config",
    "default_rules_path",
    "write_accord_config",
]

PsaChoice = Literal["kantata", "certinia"]
"""The PSA the sandbox configuration provisions projects in."""

BC_TENANT = "sandbox-tenant"
"""The Entra tenant the Business Central emulator serves (its default)."""
NETSUITE_ACCOUNT_ID = "TSTDRV0000001"
"""The NetSuite emulator's account id (its default)."""


def default_rules_path() -> Path | None:
    """``rules/default.yaml`` of a source checkout, if this module runs from one."""
    # src/accord_sandbox/accord_config.py -> the repository root is three levels up.
    candidate = Path(__file__).resolve().parents[2] / "rules" / "default.yaml"
    return candidate if candidate.is_file() else None


def accord_config(
    urls: Mapping[str, str],
    *,
    psa: PsaChoice = "kantata",
    client_id: str = DEFAULT_CLIENT_ID,
    client_secret: str = DEFAULT_CLIENT_SECRET,
    seed: int = 7,
    rules: Path | None = None,
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
        rules: The rules file the flows use; default ``rules/default.yaml`` of the checkout
            (omitted from the document when there is none, so the flow's default applies).

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
    # The emulators answer at once, so 20 requests/s (not the production default of 5) keeps a
    # demo's burst of provisioning from starving the flows queued behind it. Concurrency stays
    # at the default, under NetSuite's account limit of 5.
    credentials = {"client_id": client_id, "client_secret": client_secret, "rate_per_s": 20.0}
    salesforce_url = urls["salesforce"].rstrip("/")
    connections: dict[str, dict[str, Any]] = {
        "salesforce": {"kind": "salesforce", "login_url": salesforce_url, **credentials},
        "netsuite": {
            "kind": "netsuite",
            "account_id": NETSUITE_ACCOUNT_ID,
            "base_url": f"{urls['netsuite'].rstrip('/')}/services/rest",
            **credentials,
        },
        "business-central": {
            "kind": "business_central",
            "tenant": BC_TENANT,
            "environment": "production",
            "company_id": companies["DE01"],
            "companies": companies,
            "api_host": urls["business_central"].rstrip("/"),
            "login_host": urls["business_central"].rstrip("/"),
            **credentials,
        },
    }
    if urls.get("dynamics_finance"):
        finance = urls["dynamics_finance"].rstrip("/")
        connections["dynamics-finance"] = {
            "kind": "dynamics_finance",
            "environment_url": finance,
            "tenant": BC_TENANT,
            "login_host": finance,
            "company": "de01",
            "companies": {code: code.lower() for code in companies},
            "dimension_delimiter": "|",
            **credentials,
        }
    if psa == "kantata":
        connections["kantata"] = {
            "kind": "kantata",
            "base_url": f"{urls['kantata'].rstrip('/')}/api/v1",
            **credentials,
        }
    else:
        connections["certinia"] = {"kind": "certinia", "login_url": salesforce_url, **credentials}
    flow: dict[str, Any] = {
        "crm_connection": "salesforce",
        "psa": {"system": psa, "connection": psa},
    }
    rules_path = rules if rules is not None else default_rules_path()
    if rules_path is not None:
        flow["rules"] = str(rules_path)
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
        # Approved time posts per entry; time in a closed period moves to the first open one.
        "time_to_bill": {"posting": "per_entry", "closed_period_policy": "redate"},
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
) -> Path:
    """Write :func:`accord_config` to ``path`` as YAML and return ``path``."""
    document = accord_config(
        urls,
        psa=psa,
        client_id=client_id,
        client_secret=client_secret,
        seed=seed,
        rules=rules,
    )
    path.write_text(
        "# Accord against the local sandbox (demo credentials, never real ones).\n"
        + yaml.safe_dump(document, sort_keys=False, allow_unicode=True),
        encoding="utf-8",
    )
    return path
