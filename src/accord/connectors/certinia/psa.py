"""Certinia PSA in the PSA role (:class:`~accord.connectors.roles.Psa`).

- Projects are ``pse__Proj__c`` upserted by ``Accord_Id__c`` (the canonical project id);
  phases are project tasks (``pse__Project_Task__c``, keyed ``<project id>-P<n>``, reference
  section 2), milestones ``pse__Milestone__c`` keyed by their canonical ids.
- A hold sets the stage ``On Hold``, closes the project for time and expense entry and puts
  the reason in ``Integration_Message__c``; a release reopens it (``In Progress``). The
  project's ``Integration_Status__c`` and ``ERP_Project_Id__c`` tell delivery where it bills.
- Rates: Certinia keeps one ``pse__Rate_Card__c`` per role (and optionally account, region,
  dates); the org-wide cards in a currency make up the "rate card", whose id is a stable
  label (``rate-cards-<currency>``), with their bill rates by role
  (:meth:`~accord.connectors.certinia.connector.CertiniaConnector.rate_card_rates`).
- Certinia lives in the CRM's org: its customers *are* the org's accounts.
- Cash and billing: :mod:`accord.connectors.certinia._psa_billing`; delivery (status, tasks,
  team, vendor costs, custom fields): :mod:`accord.connectors.certinia._psa_delivery`.
- Reconciliation (approved work, terms, existence in SOQL batches):
  :mod:`accord.connectors.certinia._psa_recon`.
"""

from decimal import Decimal
from typing import Any, Final

from typing_extensions import override

from accord.connectors.certinia._psa_delivery import CertiniaDelivery
from accord.connectors.certinia._psa_recon import CertiniaReconciliation
from accord.connectors.certinia.connector import CertiniaConnector
from accord.connectors.certinia.mapping import (
    PROJECT_STAGES,
    milestone_from_canonical,
    project_from_canonical,
    project_to_canonical,
)
from accord.connectors.roles import ProjectTerms, Psa, PsaProjectPlan
from accord.connectors.roles.base import RoleBase
from accord.connectors.salesforce.mapping import account_to_customer
from accord.connectors.types import WriteResult
from accord.domain import Customer, Milestone, Project, ProjectStatus, System
from accord.errors import NotFoundError

__all__ = ["CertiniaPsa"]

_PROJECT: Final = "pse__Proj__c"
_MESSAGE_MAX: Final = 255
_TASK_NAME_MAX: Final = 80


def _currency(currency: str) -> str | None:
    return currency.upper() if len(currency) == 3 and currency.isalpha() else None


class CertiniaPsa(CertiniaDelivery, CertiniaReconciliation, RoleBase[CertiniaConnector], Psa):
    """A Certinia connection (the ``pse__`` objects of an org) as a PSA."""

    system_name = System.CERTINIA.value

    # ----------------------------------------------------------------- rates
    @override
    def rate_card_id(self, currency: str) -> str | None:
        code = _currency(currency)
        if code is None:
            return None
        return f"rate-cards-{code}" if self._connector.rate_card_rates(code) else None

    @override
    def rate_card_rates(self, card_id: str, currency: str) -> dict[str, Decimal]:
        del card_id  # the "card" is the org-wide pse__Rate_Card__c rates in the currency
        code = _currency(currency)
        if code is None:
            return {}
        return self._connector.rate_card_rates(code)

    # ----------------------------------------------------------------- projects
    def _milestones(self, milestones: tuple[Milestone, ...]) -> None:
        for milestone in milestones:
            self._connector.upsert(
                "pse__Milestone__c", milestone.id, milestone_from_canonical(milestone)
            )

    @override
    def upsert_project(self, plan: PsaProjectPlan) -> WriteResult:
        project = plan.project
        result = self._connector.upsert(_PROJECT, project.id, project_from_canonical(project))
        for i, phase in enumerate(plan.phases, start=1):
            self._connector.upsert(
                "pse__Project_Task__c",
                f"{project.id}-P{i}",
                {"Name": phase[:_TASK_NAME_MAX], "pse__Project__c": result.id, "pse__Order__c": i},
            )
        self._milestones(plan.milestones)
        return result

    @override
    def update_terms(self, psa_id: str, terms: ProjectTerms) -> None:
        self._connector.update(
            _PROJECT,
            psa_id,
            {
                "pse__Start_Date__c": terms.start_date.isoformat(),
                "pse__End_Date__c": terms.end_date.isoformat() if terms.end_date else None,
                "pse__Bookings__c": float(terms.contract_value.amount),
            },
        )
        self._milestones(terms.milestones)

    @override
    def hold_project(self, psa_id: str, *, reason: str, description: str) -> None:
        del description  # the reason has a field of its own here
        self._set_hold(psa_id, reason)

    @override
    def release_project(self, psa_id: str, *, description: str) -> None:
        del description
        self._set_hold(psa_id, None)

    def _set_hold(self, psa_id: str, reason: str | None) -> None:
        hold = reason is not None
        fields: dict[str, Any] = {
            "pse__Stage__c": "On Hold" if hold else "In Progress",
            "pse__Closed_for_Time_Entry__c": hold,
            "pse__Closed_for_Expense_Entry__c": hold,
            "Integration_Status__c": "On Hold" if hold else "Provisioned",
            "Integration_Message__c": reason[:_MESSAGE_MAX] if reason is not None else None,
        }
        self._connector.update(_PROJECT, psa_id, fields)

    @override
    def project_status(self, psa_id: str) -> ProjectStatus:
        stage = self._connector.get(_PROJECT, psa_id).get("pse__Stage__c")
        return PROJECT_STAGES.get(str(stage), ProjectStatus.ACTIVE)

    @override
    def link_erp_project(self, psa_id: str, erp_project_id: str) -> None:
        self._connector.update(
            _PROJECT,
            psa_id,
            {"ERP_Project_Id__c": erp_project_id, "Integration_Status__c": "Provisioned"},
        )

    @override
    def project(self, psa_id: str) -> Project:
        # A GET answers no relationship fields (account, region and practice codes): read the
        # project with the fields its change pages select.
        if not psa_id.isalnum():
            raise NotFoundError(connector=self.connection, resource=_PROJECT)
        fields = ", ".join(self._connector.select_fields(_PROJECT))
        rows = self._connector.query(
            f"SELECT {fields} FROM {_PROJECT} WHERE Id = '{psa_id}'",  # noqa: S608 - id checked
            resource=_PROJECT,
        )
        if not rows:
            raise NotFoundError(connector=self.connection, resource=_PROJECT, external_id=psa_id)
        return project_to_canonical(rows[0])

    # ----------------------------------------------------------------- customers
    @override
    def customer_of_account(self, crm_account_id: str) -> str | None:
        return crm_account_id  # one org: the account is the customer

    @override
    def customer(self, psa_id: str) -> Customer:
        return account_to_customer(self._connector.get("Account", psa_id))
