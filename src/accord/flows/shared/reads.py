"""Bounded reads lead-to-project and contract change need from Salesforce and the PSA.

Each function makes a few single-page calls through a connector; the flows' steps call them,
so retries stay the steps' business.
"""

from decimal import Decimal
from typing import Any

from accord.connectors.base import Connector
from accord.connectors.types import RawRecord
from accord.errors import NotFoundError

__all__ = ["account_chain", "opportunity_lines", "rate_card_id", "rate_card_rates", "soql"]

MAX_DEPTH = 10
"""Deepest account hierarchy followed (the firm's go three levels deep)."""


def soql(connector: Connector[Any], query: str, *, resource: str) -> list[RawRecord]:
    """One page of a SOQL query (enough here: an opportunity's lines, one resource)."""
    version = getattr(connector.config, "api_version", "v60.0")
    response = connector.send(
        "GET", f"/services/data/{version}/query", resource=resource, params={"q": query}
    )
    connector.raise_for_status(response, resource=resource)
    body = response.json()
    return [r for r in body.get("records", []) if isinstance(r, dict)]


def _quote(value: str) -> str:
    # Salesforce ids are alphanumeric; refuse anything else rather than escape it.
    if not value.isalnum():
        msg = f"not a Salesforce id: {value!r}"
        raise ValueError(msg)
    return f"'{value}'"


def account_chain(connector: Connector[Any], account_id: str) -> list[RawRecord]:
    """The account and its ancestors, ultimate parent first (so parents are created first).

    A missing account ends the chain (the validation reports it).
    """
    chain: list[RawRecord] = []
    seen: set[str] = set()
    current: str | None = account_id
    while current and current not in seen and len(chain) < MAX_DEPTH:
        seen.add(current)
        try:
            record = connector.get("Account", current)
        except NotFoundError:
            break
        chain.append(record)
        parent = record.get("ParentId")
        current = str(parent) if parent else None
    return list(reversed(chain))


def opportunity_lines(connector: Connector[Any], opportunity_sf_id: str) -> list[RawRecord]:
    """The opportunity's line items in their sort order (its milestone schedule)."""
    query = (
        "SELECT Id, Name, Description, TotalPrice, ServiceDate, SortOrder "  # noqa: S608 - id checked
        f"FROM OpportunityLineItem WHERE OpportunityId = {_quote(opportunity_sf_id)} "
        "ORDER BY SortOrder ASC, Id ASC"
    )
    return soql(connector, query, resource="OpportunityLineItem")


def rate_card_id(connector: Connector[Any], system: str, currency: str) -> str | None:
    """The PSA rate card pricing time in ``currency``, or ``None`` when there is none.

    Kantata keeps one rate card per currency. Certinia prices time from its resources' bill
    rates (the sandbox emulates no ``pse__Rate_Card__c``), so there a "rate card" exists when
    an active resource has a default bill rate in the currency; its id is a stable label.
    """
    if not (len(currency) == 3 and currency.isalpha()):
        return None
    if system == "kantata":
        response = connector.send(
            "GET", "/rate_cards", resource="rate_cards", params={"currency": currency}
        )
        connector.raise_for_status(response, resource="rate_cards")
        body = response.json()
        cards = body.get("rate_cards") or {}
        for ref in body.get("results") or ():
            card = cards.get(str(ref.get("id"))) or {}
            if str(card.get("currency", currency)) == currency:
                return str(ref.get("id"))
        return None
    query = (
        "SELECT Id FROM Contact WHERE pse__Is_Resource__c = true "  # noqa: S608 - code checked
        f"AND CurrencyIsoCode = '{currency.upper()}' AND Default_Bill_Rate__c != null LIMIT 1"
    )
    rows = soql(connector, query, resource="Contact")
    return f"resource-rates-{currency.upper()}" if rows else None


def rate_card_rates(
    connector: Connector[Any], system: str, card_id: str, currency: str
) -> dict[str, Decimal]:
    """The hourly bill rates of the PSA rate card ``card_id``: role name -> rate.

    Kantata: the card's ``rates`` (role id, cents) with the role names from ``/roles``.
    Certinia: the default bill rates of the active resources in ``currency``, by resource
    role (the first resource of a role sets its rate), as :func:`rate_card_id` defines it.
    """
    rates: dict[str, Decimal] = {}
    if system == "kantata":
        response = connector.send("GET", f"/rate_cards/{card_id}", resource="rate_cards")
        connector.raise_for_status(response, resource="rate_cards")
        card = (response.json().get("rate_cards") or {}).get(str(card_id)) or {}
        response = connector.send("GET", "/roles", resource="roles", params={"per_page": 200})
        connector.raise_for_status(response, resource="roles")
        roles = response.json().get("roles") or {}
        for rate in card.get("rates") or ():
            role = roles.get(str(rate.get("role_id"))) or {}
            name = str(role.get("name") or rate.get("role_id"))
            rates.setdefault(name, Decimal(int(rate.get("rate_in_cents") or 0)) / 100)
        return rates
    if not (len(currency) == 3 and currency.isalpha()):
        return rates
    query = (
        "SELECT pse__Resource_Role__c, Default_Bill_Rate__c FROM Contact "  # noqa: S608 - checked
        f"WHERE pse__Is_Resource__c = true AND CurrencyIsoCode = '{currency.upper()}' "
        "AND Default_Bill_Rate__c != null ORDER BY Id ASC"
    )
    for row in soql(connector, query, resource="Contact"):
        role = row.get("pse__Resource_Role__c")
        if role:
            rates.setdefault(str(role), Decimal(str(row["Default_Bill_Rate__c"])))
    return rates
