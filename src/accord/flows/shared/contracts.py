"""Contract versions: the canonical Contract of a provisioned deal, its versions and their diffs.

Where versions live (no table of their own): **version 1** is the provisioning plan that
lead-to-project applied (the ``plan`` in the output of the run that created the ERP project,
found through the lineage edge ``psa_project -financed_by-> erp_project``); **version n > 1**
is the data of the n-th ``contract.amended`` event in the journal (business key
``contract:<contract id>``). The journal is append-only, so it is the version history.

Pure helpers (:func:`contract_from_plan`, :func:`terms`, :func:`diff`, :func:`plan_for`) plus
two reads (:func:`baseline_plan`, :func:`versions`). What does not belong here: capture
(:mod:`.amendments`) and the workflow (:mod:`accord.flows.contract_change.workflow`).
"""

import dataclasses
import datetime as dt
import json
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from dbos import DBOS

from accord.domain import BillingModel, Contract, Milestone, Money, Rate, RateCard
from accord.flows.shared.plan import MilestonePlan, Plan, project_id_for
from accord.store import journal, lineage

__all__ = [
    "EVENT_TYPE",
    "ContractVersion",
    "baseline_plan",
    "contract_from_plan",
    "contract_id_for",
    "diff",
    "history",
    "milestones_of",
    "plan_for",
    "rate_card_for",
    "terms",
    "versions",
]

EVENT_TYPE = "contract.amended"
"""The canonical event of a new contract version."""


def contract_id_for(opportunity_id: str) -> str:
    """The canonical id of the contract agreed on an opportunity."""
    return f"CTR-{opportunity_id}"


def rate_card_for(plan: Plan, rates: Mapping[str, Decimal]) -> RateCard | None:
    """The plan's PSA rate card with its rates (role -> hourly rate); ``None`` without rates."""
    if not rates:
        return None
    return RateCard(
        id=plan.rate_card_id,
        currency=plan.currency,
        rates=tuple(
            Rate(role=role, rate=Money.of(rate, plan.currency))
            for role, rate in sorted(rates.items())
        ),
    )


def milestones_of(plan: Plan) -> tuple[Milestone, ...]:
    """The plan's milestones as canonical milestones of its contract and project."""
    cid = contract_id_for(plan.opportunity_id)
    return tuple(
        Milestone(
            id=m.key,
            name=m.name,
            amount=Money.of(Decimal(m.amount), plan.currency),
            contract_id=cid,
            project_id=plan.project_id,
            due_date=dt.date.fromisoformat(m.due_date) if m.due_date else None,
        )
        for m in plan.milestones
    )


def contract_from_plan(
    plan: Plan,
    *,
    rate_card: RateCard | None = None,
    version: int = 1,
    amendments: tuple[Any, ...] = (),
    updated_at: dt.datetime | None = None,
) -> Contract:
    """The canonical contract a plan describes (milestones keyed like the plan's).

    A time-and-materials contract needs ``rate_card`` (the PSA card's rates); its amount is
    the contract's cap (``total_value``).
    """
    model = BillingModel(plan.billing_model)
    amount = plan.contract_value
    cid = contract_id_for(plan.opportunity_id)
    return Contract(
        id=cid,
        name=plan.opportunity_name,
        customer_id=plan.customer_id,
        opportunity_id=plan.opportunity_id,
        legal_entity=plan.legal_entity,
        billing_model=model,
        currency=plan.currency,
        total_value=amount if model is not BillingModel.RETAINER else None,
        retainer_fee=amount if model is BillingModel.RETAINER else None,
        rate_card=rate_card,
        milestones=milestones_of(plan),
        start_date=dt.date.fromisoformat(plan.start_date),
        end_date=dt.date.fromisoformat(plan.end_date) if plan.end_date else None,
        version=version,
        amendments=amendments,
        updated_at=updated_at,
    )


def _money(value: Money | None) -> str | None:
    return f"{value.amount} {value.currency}" if value is not None else None


def terms(contract: Contract) -> dict[str, str | None]:
    """The commercial terms an amendment can change, flat: field -> value as text."""
    out: dict[str, str | None] = {
        "total_value": _money(contract.total_value),
        "retainer_fee": _money(contract.retainer_fee),
        "start_date": contract.start_date.isoformat(),
        "end_date": contract.end_date.isoformat() if contract.end_date else None,
        "rate_card": contract.rate_card.id if contract.rate_card else None,
    }
    for rate in contract.rate_card.rates if contract.rate_card else ():
        out[f"rate {rate.role}"] = _money(rate.rate)
    for m in contract.milestones:
        due = m.due_date.isoformat() if m.due_date else "-"
        out[f"milestone {m.id}"] = f"{m.name} | {_money(m.amount)} | due {due}"
    return out


def diff(before: Contract, after: Contract) -> dict[str, dict[str, str | None]]:
    """Field-level diff of two versions: field -> ``{"from": old, "to": new}``."""
    old, new = terms(before), terms(after)
    return {
        name: {"from": old.get(name), "to": new.get(name)}
        for name in sorted(old.keys() | new.keys())
        if old.get(name) != new.get(name)
    }


def plan_for(base: Plan, contract: Contract, *, budget: Decimal) -> Plan:
    """The provisioning plan of a contract version: the base plan with the new terms."""
    amount = contract.total_value or contract.retainer_fee
    assert amount is not None  # supported models always carry one
    return dataclasses.replace(
        base,
        rate_card_id=contract.rate_card.id if contract.rate_card else base.rate_card_id,
        amount=str(amount.amount),
        budget=str(budget),
        start_date=contract.start_date.isoformat(),
        end_date=contract.end_date.isoformat() if contract.end_date else base.end_date,
        milestones=tuple(
            MilestonePlan(
                key=m.id,
                name=m.name,
                amount=str(m.amount.amount),
                due_date=m.due_date.isoformat() if m.due_date else None,
            )
            for m in contract.milestones
        ),
    )


def baseline_plan(conn: sa.Connection, project_id: str) -> Plan | None:
    """The plan lead-to-project applied (contract version 1), or ``None`` if not provisioned.

    The run that first reached the ERP step recorded the ``financed_by`` lineage edge; its
    output carries the plan (a refused run's output too: a retry forks it with the same plan).
    """
    for edge in lineage.list_for(conn, node_type="erp_project", node_id=project_id):
        if edge.relation != "financed_by" or edge.run_id is None:
            continue
        found = DBOS.list_workflows(workflow_ids=[edge.run_id], load_input=False)
        for run in found:
            output = run.output
            if isinstance(output, Mapping) and isinstance(output.get("plan"), Mapping):
                return Plan.from_json(output["plan"])
    return None


@dataclass(frozen=True)
class ContractVersion:
    """One journaled version (n > 1) of a contract."""

    version: int
    event_id: str
    run_id: str
    at: dt.datetime
    contract: Contract


def versions(conn: sa.Connection, contract_id: str) -> list[ContractVersion]:
    """Every journaled ``contract.amended`` version of a contract, in journal order."""
    out: list[ContractVersion] = []
    for entry in journal.list_(
        conn, type_=EVENT_TYPE, business_key=f"contract:{contract_id}", limit=10_000
    ):
        found = journal.get(conn, seq=entry.seq)
        if found is None:
            continue
        contract = Contract.model_validate_json(json.dumps(found[1]))
        out.append(
            ContractVersion(
                version=contract.version,
                event_id=entry.event_id,
                run_id=entry.run_id,
                at=entry.time or entry.received_at,
                contract=contract,
            )
        )
    return out


def history(conn: sa.Connection, contract_id: str) -> list[dict[str, Any]]:
    """A contract's amendment history: each version with its event, run, time and field diff.

    Version 1 (the provisioned plan) is the base of the first diff; it is listed too when the
    plan is found, with an empty diff.
    """
    known = versions(conn, contract_id)
    if not known:
        return []
    opportunity_id = known[0].contract.opportunity_id
    base = (
        baseline_plan(conn, project_id_for(opportunity_id)) if opportunity_id is not None else None
    )
    # Version 1's rate card (time and materials) is taken to be the first version's: rates
    # are read from the PSA card at capture, the plan keeps only the card's id.
    card = known[0].contract.rate_card
    previous = contract_from_plan(base, rate_card=card) if base is not None else None
    out: list[dict[str, Any]] = []
    if previous is not None:
        out.append({"version": 1, "event_id": None, "run_id": None, "at": None, "diff": {}})
    for entry in known:
        out.append(
            {
                "version": entry.version,
                "event_id": entry.event_id,
                "run_id": entry.run_id,
                "at": entry.at,
                "diff": diff(previous, entry.contract) if previous is not None else {},
            }
        )
        previous = entry.contract
    return out
