"""Configuration of a Dynamics 365 Finance connection (OData ``/data/``, Entra ID).

One connection is one finance and operations environment (``https://<env>.operations.
dynamics.com``). Its legal entities (companies, ``dataAreaId``) are named in ``companies``
and picked per call with
:meth:`~accord.connectors.dynamics_finance.DynamicsFinanceConnector.for_company`. The
environment's own setup that the ERP role needs (journal names, categories, line properties,
project stages, the financial dimension format) are settings here, with the sandbox's values
as defaults; a live environment names its own.
"""

import re
from typing import Any, Literal, Self

from pydantic import Field, SecretStr, model_validator
from typing_extensions import override

from accord.connectors.config import ConnectorConfig
from accord.domain import BillingModel, ExpenseCategory

__all__ = ["DynamicsFinanceConfig", "scope_for"]

_AREA = re.compile(r"^[A-Za-z0-9]{1,4}$")


def scope_for(environment_url: str) -> str:
    """The client-credentials scope of an environment: its URL plus ``/.default``."""
    return f"{environment_url.rstrip('/')}/.default"


class DynamicsFinanceConfig(ConnectorConfig):
    """A Dynamics 365 Finance environment reached through its OData endpoint.

    ``base_url`` (``{environment_url}/data``), ``token_url``
    (``{login_host}/{tenant}/oauth2/v2.0/token``) and ``scope``
    (``{environment_url}/.default``) are derived unless given.
    """

    kind: Literal["dynamics_finance"] = "dynamics_finance"
    environment_url: str = Field(pattern=r"^https?://[^/]+$")
    """The environment's URL (``https://contoso.operations.dynamics.com``): host only."""
    tenant: str = Field(min_length=1, pattern=r"^[A-Za-z0-9.-]+$")
    """Entra tenant id or domain."""
    login_host: str = "https://login.microsoftonline.com"
    """Host of the Entra token endpoint."""
    base_url: str = ""
    """``{environment_url}/data`` unless given."""
    token_url: str = ""
    """``{login_host}/{tenant}/oauth2/v2.0/token`` unless given."""
    scope: str = ""
    """``{environment_url}/.default`` unless given."""
    client_id: str = Field(min_length=1)
    """Application (client) id, registered in Entra and on the environment's Microsoft Entra
    applications page (mapped to a user whose roles apply)."""
    client_secret: SecretStr
    """Its client secret."""
    company: str = Field(pattern=_AREA.pattern)
    """dataAreaId addressed when no other is chosen (``de01``)."""
    companies: dict[str, str] = Field(default_factory=dict)
    """Legal-entity code -> dataAreaId (``{"DE01": "de01"}``)."""
    hour_journal_name: str = "Hour"
    """Journal name hour journals are created with."""
    expense_journal_name: str = "Expense"
    """Journal name project expense journals are created with."""
    payment_journal_name: str = "CustPay"
    """Journal name customer payment journals are created with."""
    hour_category: str = "Consulting"
    """Project category of hour lines."""
    expense_categories: dict[ExpenseCategory, str] = Field(
        default_factory=lambda: {c: c.value.capitalize() for c in ExpenseCategory}
    )
    """Canonical expense category -> project category of expense lines."""
    billable_line_property: str = "Billable"
    """Line property of billable hours and expenses."""
    non_billable_line_property: str = "NonBill"
    """Line property of non-billable hours and expenses."""
    customer_group: str = "10"
    """Customer group new customers are created in (F&O requires one)."""
    country_regions: dict[str, str] = Field(
        default_factory=lambda: {
            "US": "USA",
            "GB": "GBR",
            "DE": "DEU",
            "FR": "FRA",
            "NL": "NLD",
            "IE": "IRL",
            "CH": "CHE",
            "AT": "AUT",
            "CA": "CAN",
            "AU": "AUS",
        }
    )
    """ISO 3166 alpha-2 country -> F&O country/region id (the standard data's alpha-3)."""
    project_types: dict[BillingModel, str] = Field(
        default_factory=lambda: {
            BillingModel.TIME_AND_MATERIALS: "TimeMaterial",
            BillingModel.FIXED_FEE: "FixedPrice",
            BillingModel.MILESTONE: "FixedPrice",
            BillingModel.RETAINER: "FixedPrice",
        }
    )
    """Canonical billing model -> project type (F&O has no milestone or retainer type)."""
    project_groups: dict[BillingModel, str] = Field(
        default_factory=lambda: {
            BillingModel.TIME_AND_MATERIALS: "TM",
            BillingModel.FIXED_FEE: "FIXED",
            BillingModel.MILESTONE: "MILESTONE",
            BillingModel.RETAINER: "RETAINER",
        }
    )
    """Canonical billing model -> project group: the environment's groups tell the models
    apart where the project type cannot (milestone and retainer are fixed price)."""
    active_stage: str = "InProcess"
    """Project stage of an active project (it takes postings)."""
    inactive_stage: str = "Completed"
    """Project stage of a completed or cancelled project."""
    planned_stage: str = "Created"
    """Project stage of a planned project (no postings)."""
    on_hold_stage: str = "Scheduled"
    """Project stage of a project on hold: F&O has no on-hold stage, so one whose stage rules
    take no postings stands for it, and reads back as on hold [inferred: a firm's choice]."""
    invoice_main_account: str = "401100"
    """Main account of milestone free text invoice lines (revenue)."""
    posting_stages: tuple[str, ...] = ("InProcess",)
    """Project stages whose stage rules take hour and expense postings."""
    dimension_format: tuple[str, ...] = ("Department", "Region")
    """Financial dimensions of ``DimensionDisplayValue``, in the integration format's order."""
    dimension_delimiter: str = Field(default="-", min_length=1, max_length=1)
    """The integration format's segment delimiter (F&O's default ``-``)."""
    dimensions: dict[str, str] = Field(
        default_factory=lambda: {"department": "Department", "class": "Region"}
    )
    """Canonical dimension (``department``, ``class``) -> financial dimension name."""
    batch_size: int = Field(default=200, ge=1, le=5000)
    """Requests per ``$batch`` changeset (Microsoft: a batch holds up to 5,000 operations)."""
    rate_per_s: float = Field(default=10.0, gt=0)
    """F&O allows 6,000 requests per user per 5 minutes per web server: 20/s; leave headroom."""
    concurrency: int = Field(default=8, ge=1, le=52)
    """F&O allows 52 concurrent requests per user per web server."""

    @classmethod
    @override
    def derive(cls, data: dict[str, Any]) -> dict[str, Any]:
        """``base_url`` and ``scope`` from the environment URL, ``token_url`` from the tenant."""
        env = str(data.get("environment_url") or "").rstrip("/")
        tenant = str(data.get("tenant") or "")
        login = str(data.get("login_host") or "https://login.microsoftonline.com").rstrip("/")
        if env:
            data["environment_url"] = env
            data["base_url"] = data.get("base_url") or f"{env}/data"
            data["scope"] = data.get("scope") or scope_for(env)
        if tenant and not data.get("token_url"):
            data["token_url"] = f"{login}/{tenant}/oauth2/v2.0/token"
        return data

    @model_validator(mode="after")
    def _areas(self) -> Self:
        if any(_AREA.match(area) is None for area in self.companies.values()):
            raise ValueError("every dataAreaId holds 1 to 4 letters or digits")
        return self

    def area_for(self, company: str) -> str:
        """The dataAreaId (lower case) of a legal-entity code or of a dataAreaId.

        Raises:
            ValueError: ``company`` is neither a configured code nor a dataAreaId.
        """
        if company in self.companies:
            return self.companies[company].lower()
        if company.lower() in {a.lower() for a in self.companies.values()} or (
            company.lower() == self.company.lower()
        ):
            return company.lower()
        raise ValueError(f"unknown company {company!r} (configure it under 'companies')")

    def entity_of(self, area: str) -> str | None:
        """The legal-entity code configured for a dataAreaId, if any."""
        return next((c for c, a in self.companies.items() if a.lower() == area.lower()), None)
