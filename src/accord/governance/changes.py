"""The rules of change: propose, approve (a second person), activate, roll back; all audited.

::

    propose ──► approve (an admin who is not the proposer) ──► activate ──► (superseded)
       │                                                         ▲
       └──────── activate directly when approval is not required ┘

Each step writes its audit entry (``rules.propose``, ``rules.approve``, ``rules.activate``,
``rules.rollback``) in the transaction that makes the change; a refused approval is audited
too (``rules.approve_refused``), in a transaction of its own, before the refusal is raised.
Roles are the caller's business (the API, console and CLI check that approvers and activators
are admins); this module checks who did what before.

Rollback goes back one activation: activations form a stack (bootstrap, adoption and
activation push a version, rollback pops one), so two rollbacks from C after A, B, C give B
and then A.
"""

import logging
from dataclasses import dataclass
from typing import Final

import sqlalchemy as sa

from accord.errors import GovernanceError
from accord.governance.resolve import store_rules
from accord.governance.settings import GovernanceSettings
from accord.rules import Rules
from accord.store import audit, rulesets
from accord.store.rulesets import Activation, ActivationKind, Proposal, ProposalStatus
from accord.store.util import utc_now

__all__ = [
    "NothingToChangeError",
    "ProposalNotFoundError",
    "ProposalStateError",
    "RulesChanges",
    "SelfApprovalError",
    "active_stack",
]

logger = logging.getLogger(__name__)

_OPEN: Final = (ProposalStatus.PROPOSED, ProposalStatus.APPROVED)


class ProposalNotFoundError(GovernanceError):
    """No proposal has this id."""

    def __init__(self, proposal_id: int) -> None:
        self.proposal_id = proposal_id
        super().__init__(f"no rules proposal #{proposal_id}")


class SelfApprovalError(GovernanceError):
    """The approver proposed the change: a second person must approve it."""

    def __init__(self, proposal_id: int, actor: str) -> None:
        self.proposal_id = proposal_id
        self.actor = actor
        super().__init__(
            f"proposal #{proposal_id} was proposed by {actor}; "
            "a second admin (not the proposer) must approve it"
        )


class ProposalStateError(GovernanceError):
    """The proposal is not in a state that allows this step."""

    def __init__(self, proposal_id: int, status: str, action: str, why: str = "") -> None:
        self.proposal_id = proposal_id
        self.status = status
        self.action = action
        extra = f": {why}" if why else ""
        super().__init__(f"proposal #{proposal_id} is {status}; it cannot be {action}{extra}")


class NothingToChangeError(GovernanceError):
    """The change would leave the active version as it is."""


@dataclass(frozen=True)
class RulesChanges:
    """Propose, approve, activate and roll back rules versions on one database.

    Args:
        engine: Accord's database.
        settings: This environment's governance settings (is approval required?).
    """

    engine: sa.Engine
    settings: GovernanceSettings

    def propose(self, rules: Rules, *, source: str | None, reason: str, actor: str) -> Proposal:
        """Store ``rules`` (when new) and propose it as the next active version.

        Raises:
            NothingToChangeError: It is the active version, or an open proposal has it already.
        """
        with self.engine.begin() as conn:
            rulesets.lock(conn)
            current = rulesets.active(conn)
            if current is not None and current.version == rules.version:
                raise NothingToChangeError(f"version {rules.version[:12]} is already active")
            for open_ in rulesets.list_proposals(conn, limit=500):
                if open_.version == rules.version and open_.status in _OPEN:
                    raise NothingToChangeError(
                        f"version {rules.version[:12]} is already proposed as #{open_.id}"
                    )
            store_rules(conn, rules, source=source, actor=actor, reason=reason)
            proposal = rulesets.create_proposal(
                conn,
                version=rules.version,
                base_version=current.version if current else None,
                source=source,
                reason=reason,
                actor=actor,
            )
            audit.append(
                conn,
                actor=actor,
                action="rules.propose",
                target=f"rules:proposal:{proposal.id}",
                after={**proposal.snapshot(), "source": source, "reason": reason},
            )
        logger.info("rules proposal #%d: version %s", proposal.id, rules.version[:12])
        return proposal

    def approve(self, proposal_id: int, *, actor: str) -> Proposal:
        """Approve a proposal as ``actor``, who must not be its proposer.

        Raises:
            ProposalNotFoundError: No such proposal.
            SelfApprovalError: ``actor`` proposed it (the refusal is audited).
            ProposalStateError: It is not waiting for approval.
        """
        with self.engine.begin() as conn:
            rulesets.lock(conn)
            proposal = self._get(conn, proposal_id)
            if proposal.status is not ProposalStatus.PROPOSED:
                raise ProposalStateError(proposal_id, proposal.status.value, "approved")
            refused = proposal.proposed_by == actor
            if not refused:
                after = rulesets.update_proposal(
                    conn,
                    id=proposal_id,
                    status=ProposalStatus.APPROVED.value,
                    approved_by=actor,
                    approved_at=utc_now(),
                )
                audit.append(
                    conn,
                    actor=actor,
                    action="rules.approve",
                    target=f"rules:proposal:{proposal_id}",
                    before=proposal.snapshot(),
                    after=after.snapshot(),
                )
                return after
        # Outside the transaction above: the refusal must be on record even though nothing
        # changes.
        with self.engine.begin() as conn:
            audit.append(
                conn,
                actor=actor,
                action="rules.approve_refused",
                target=f"rules:proposal:{proposal_id}",
                before=proposal.snapshot(),
                after={"refused": "the proposer may not approve their own change"},
            )
        raise SelfApprovalError(proposal_id, actor)

    def activate(self, proposal_id: int, *, actor: str) -> Proposal:
        """Make a proposal's version the active one (new runs use it; running runs do not).

        Raises:
            ProposalNotFoundError: No such proposal.
            ProposalStateError: It is not approved (when approval is required) or not open.
        """
        with self.engine.begin() as conn:
            rulesets.lock(conn)
            proposal = self._get(conn, proposal_id)
            allowed = (
                (ProposalStatus.APPROVED,)
                if self.settings.approval_required
                else (ProposalStatus.PROPOSED, ProposalStatus.APPROVED)
            )
            if proposal.status not in allowed:
                why = (
                    "approval is required in this environment"
                    if proposal.status is ProposalStatus.PROPOSED
                    else ""
                )
                raise ProposalStateError(proposal_id, proposal.status.value, "activated", why)
            activation = rulesets.record_activation(
                conn,
                version=proposal.version,
                kind=ActivationKind.ACTIVATE,
                actor=actor,
                reason=proposal.reason,
                source=proposal.source,
                proposal_id=proposal_id,
            )
            _supersede(conn, keep=proposal_id)
            after = rulesets.update_proposal(
                conn,
                id=proposal_id,
                status=ProposalStatus.ACTIVE.value,
                activated_by=actor,
                activated_at=utc_now(),
            )
            audit.append(
                conn,
                actor=actor,
                action="rules.activate",
                target=f"rules:proposal:{proposal_id}",
                before={"version": activation.previous_version, **proposal.snapshot()},
                after={"version": proposal.version, **after.snapshot()},
            )
        logger.info("rules version %s activated by %s", proposal.version[:12], actor)
        return after

    def rollback(self, *, actor: str, reason: str) -> Activation:
        """Activate again the version that was active before the current one.

        Raises:
            NothingToChangeError: Nothing was active before the current version.
        """
        with self.engine.begin() as conn:
            rulesets.lock(conn)
            stack = active_stack(rulesets.activations(conn, limit=10_000))
            if len(stack) < 2:
                raise NothingToChangeError("no earlier rules version to roll back to")
            current, target = stack[-1], stack[-2]
            activation = rulesets.record_activation(
                conn,
                version=target,
                kind=ActivationKind.ROLLBACK,
                actor=actor,
                reason=reason,
            )
            _supersede(conn, keep=None)
            restored = [
                p
                for p in rulesets.list_proposals(conn, limit=500)
                if p.version == target and p.status is ProposalStatus.SUPERSEDED
            ]
            if restored:
                rulesets.update_proposal(
                    conn, id=restored[0].id, status=ProposalStatus.ACTIVE.value
                )
            audit.append(
                conn,
                actor=actor,
                action="rules.rollback",
                target=f"rules:version:{target}",
                before={"version": current},
                after={"version": target, "reason": reason},
            )
        logger.info("rules rolled back from %s to %s by %s", current[:12], target[:12], actor)
        return activation

    @staticmethod
    def _get(conn: sa.Connection, proposal_id: int) -> Proposal:
        found = rulesets.get_proposal(conn, id=proposal_id)
        if found is None:
            raise ProposalNotFoundError(proposal_id)
        return found


def _supersede(conn: sa.Connection, *, keep: int | None) -> None:
    """The proposal active until now is superseded (the new active one is ``keep``)."""
    for p in rulesets.list_proposals(conn, status=ProposalStatus.ACTIVE, limit=50):
        if p.id != keep:
            rulesets.update_proposal(conn, id=p.id, status=ProposalStatus.SUPERSEDED.value)


def active_stack(log: list[Activation]) -> list[str]:
    """The versions a rollback walks back through, oldest first (``log`` newest first)."""
    stack: list[str] = []
    for activation in reversed(log):
        if activation.kind is ActivationKind.ROLLBACK:
            if stack:
                stack.pop()
            if not stack or stack[-1] != activation.version:
                stack.append(activation.version)
        else:
            stack.append(activation.version)
    return stack
