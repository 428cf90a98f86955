"""Kantata OX in the PSA role (:class:`~accord.connectors.roles.Psa`).

- Projects are workspaces, upserted by their external reference (the canonical project id);
  phases are ``deliverable`` stories keyed ``<project id>-P<n>``, milestones ``milestone``
  stories keyed by the milestone's canonical id.
- A hold is the workspace status ``On Hold`` with the reason in front of its description
  (Kantata has no field for it); a release writes ``In Progress`` and the plain description.
- Rate cards: Kantata keeps one per currency (``GET /rate_cards?currency=``); its rates are per
  role, in cents, with the role names from ``/roles``. Only a numeric id is a Kantata rate card
  (an id from elsewhere is not written to a workspace).
- Kantata has no customer object (a workspace carries the customer by name), and a workspace
  maps to a canonical project only with what the CRM knows: those reads are not offered.
- Cash and billing: :mod:`accord.connectors.kantata._psa_billing`; delivery (status, tasks,
  team, vendor costs, custom fields): :mod:`accord.connectors.kantata._psa_delivery`.
- Reconciliation (approved work, terms, existence in bulk):
  :mod:`accord.connectors.kantata._psa_recon`.
"""

from decimal import Decimal
from typing import Any, Final

from typing_extensions import override

from accord.connectors.kantata._psa_delivery import KantataDelivery
from accord.connectors.kantata._psa_recon import KantataReconciliation
from accord.connectors.kantata.connector import KantataConnector
from accord.connectors.kantata.mapping import (
    STATUS_MESSAGES,
    KantataLookups,
    milestone_from_canonical,
    workspace_from_canonical,
)
from accord.connectors.roles import ProjectTerms, Psa, PsaProjectPlan
from accord.connectors.roles.base import RoleBase
from accord.connectors.types import WriteResult
from accord.domain import Customer, Milestone, Project, ProjectStatus, System
from accord.errors import UnsupportedOperationError

__all__ = ["KantataPsa"]

_STATUS_IN: Final = {
    **{message: status for status, message in STATUS_MESSAGES.items()},
    "In Planning": ProjectStatus.PLANNED,
}
_DESCRIPTION_MAX: Final = 2000


def _card(card_id: str | None) -> str | None:
    return card_id if card_id and card_id.isdigit() else None


class KantataPsa(KantataDelivery, KantataReconciliation, RoleBase[KantataConnector], Psa):
    """A Kantata OX connection as a PSA."""

    system_name = System.KANTATA.value

    def _json(self, path: str, resource: str, params: dict[str, str | int] | None = None) -> Any:  # noqa: ANN401 - a JSON body: the raw boundary
        response = self._connector.send("GET", path, resource=resource, params=params)
        self._connector.raise_for_status(response, resource=resource)
        return self._connector.json_object(response, resource=resource)

    # ----------------------------------------------------------------- rates
    @override
    def rate_card_id(self, currency: str) -> str | None:
        if not (len(currency) == 3 and currency.isalpha()):
            return None
        body = self._json("/rate_cards", "rate_cards", {"currency": currency})
        cards = body.get("rate_cards") or {}
        for ref in body.get("results") or ():
            card = cards.get(str(ref.get("id"))) or {}
            if str(card.get("currency", currency)) == currency:
                return str(ref.get("id"))
        return None

    @override
    def rate_card_rates(self, card_id: str, currency: str) -> dict[str, Decimal]:
        del currency  # a Kantata rate card has one currency
        card = (self._json(f"/rate_cards/{card_id}", "rate_cards").get("rate_cards") or {}).get(
            str(card_id)
        ) or {}
        roles = self._json("/roles", "roles", {"per_page": 200}).get("roles") or {}
        rates: dict[str, Decimal] = {}
        for rate in card.get("rates") or ():
            role = roles.get(str(rate.get("role_id"))) or {}
            name = str(role.get("name") or rate.get("role_id"))
            rates.setdefault(name, Decimal(int(rate.get("rate_in_cents") or 0)) / 100)
        return rates

    # ----------------------------------------------------------------- projects
    def _milestones(self, project_id: str, psa_id: str, milestones: tuple[Milestone, ...]) -> None:
        lookups = KantataLookups(records={"workspaces": {project_id: psa_id}})
        for milestone in milestones:
            self._connector.upsert(
                "stories", milestone.id, milestone_from_canonical(milestone, lookups=lookups)
            )

    @override
    def upsert_project(self, plan: PsaProjectPlan) -> WriteResult:
        project = plan.project
        body = workspace_from_canonical(
            project, rate_card_id=_card(plan.rate_card_id), description=plan.description
        )
        result = self._connector.upsert("workspaces", project.id, body)
        for i, phase in enumerate(plan.phases, start=1):
            self._connector.upsert(
                "stories",
                f"{project.id}-P{i}",
                {"workspace_id": result.id, "title": phase, "story_type": "deliverable"},
            )
        self._milestones(project.id, result.id, plan.milestones)
        return result

    @override
    def update_terms(self, psa_id: str, terms: ProjectTerms) -> None:
        fields: dict[str, Any] = {
            "price_in_cents": int(terms.budget.amount * 100),
            "start_date": terms.start_date.isoformat(),
        }
        if terms.end_date is not None:
            fields["due_date"] = terms.end_date.isoformat()
        if _card(terms.rate_card_id):
            fields["rate_card_id"] = terms.rate_card_id
        self._connector.update("workspaces", psa_id, fields)
        self._milestones(terms.project_id, psa_id, terms.milestones)

    def _set_status(self, psa_id: str, status: ProjectStatus, description: str) -> None:
        self._connector.update(
            "workspaces",
            psa_id,
            {"status": STATUS_MESSAGES[status], "description": description[:_DESCRIPTION_MAX]},
        )

    @override
    def hold_project(self, psa_id: str, *, reason: str, description: str) -> None:
        self._set_status(psa_id, ProjectStatus.ON_HOLD, f"{reason} | {description}")

    @override
    def release_project(self, psa_id: str, *, description: str) -> None:
        self._set_status(psa_id, ProjectStatus.ACTIVE, description)

    @override
    def project_status(self, psa_id: str) -> ProjectStatus:
        status = self._connector.get("workspaces", psa_id).get("status")
        message = status.get("message") if isinstance(status, dict) else status
        return _STATUS_IN.get(str(message), ProjectStatus.ACTIVE)

    @override
    def link_erp_project(self, psa_id: str, erp_project_id: str) -> None:
        del psa_id, erp_project_id  # a workspace has no field for it; the xref holds the link

    @override
    def project(self, psa_id: str) -> Project:
        raise UnsupportedOperationError(
            "a workspace maps to a project only with the CRM's terms",
            connector=self.connection,
            resource="workspaces",
        )

    # ----------------------------------------------------------------- customers
    @override
    def customer_of_account(self, crm_account_id: str) -> str | None:
        del crm_account_id  # Kantata keeps no customers
        return None

    @override
    def customer(self, psa_id: str) -> Customer:
        raise UnsupportedOperationError(
            "Kantata keeps no customers", connector=self.connection, resource="customers"
        )
