"""Compensation as a declaration: for every step of a flow, what undoes or holds its effect.

A flow that writes to several systems cannot commit them together. When a later system
refuses, each earlier write is one of:

- **revert**: written back to what it was before the run (a contract's previous terms, a
  customer's previous values read before the write);
- **hold**: left in place but stopped from being used until the refusal is fixed (a PSA project
  put on hold: no time or expense can be booked against a project the ERP does not have);
- **keep**: true whatever happens later, or a financial document only people reverse (a
  customer created for a real CRM account, a posted invoice or time entry: reversing those is a
  credit note or a journal, finance's decision, never Accord's);
- **nothing**: the step reads, or writes only Accord's own records (exceptions, lineage), or
  overwrites the target with absolute values derived from the system of record, so that a
  retry after the fix makes it right.

Each flow declares this per step in a :class:`Saga` beside its workflow (``COMPENSATION``),
named by its :class:`~accord.flows.registry.FlowSpec` (``compensation``), and the workflow
keeps the compensations of what it did on a :class:`Ledger`: when a step is refused it unwinds
them, latest first, each through the step the declaration names. A test holds every
declaration to its flow's code: every DBOS step the flow's package runs (its own and those it
imports from ``accord.flows.shared``) is declared, and every compensating step the
declaration names exists.

What does *not* belong here: the compensating steps themselves (each flow's own, through its
roles), and deciding *whether* something was refused (the steps return refusals by reason).
"""

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Literal

__all__ = ["Compensator", "Ledger", "Saga", "SagaStep", "Undo", "Writes"]

Writes = Literal["crm", "psa", "erp"] | None
"""The role a step changes; ``None``: only Accord's own records (or nothing)."""


class Undo(StrEnum):
    """How a step's effect is compensated when a later step is refused (module docstring)."""

    REVERT = "revert"
    HOLD = "hold"
    KEEP = "keep"
    NOTHING = "nothing"


_COMPENSATED = frozenset({Undo.REVERT, Undo.HOLD})


@dataclass(frozen=True)
class SagaStep:
    """One step of a flow and what compensates it.

    Attributes:
        name: The DBOS step's name (``contracts.update_erp``).
        writes: The role the step changes, ``None`` when it changes no system.
        undo: How its effect is compensated.
        by: The DBOS step that compensates it (required for ``revert`` and ``hold``).
        note: Why, for people: shown in the docs and in the run's output.
    """

    name: str
    writes: Writes
    undo: Undo
    by: str | None = None
    note: str = ""

    def __post_init__(self) -> None:
        if (self.undo in _COMPENSATED) != (self.by is not None):
            msg = f"{self.name}: a step names its compensating step exactly when it is undone"
            raise ValueError(msg)
        if self.undo is Undo.NOTHING and self.writes is not None and not self.note:
            msg = f"{self.name}: say why a write to the {self.writes} needs no compensation"
            raise ValueError(msg)


@dataclass(frozen=True)
class Saga:
    """A flow's compensation declaration: its steps, in the order they run."""

    flow: str
    steps: tuple[SagaStep, ...]
    _by_name: Mapping[str, SagaStep] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        names = [s.name for s in self.steps]
        if len(set(names)) != len(names):
            msg = f"{self.flow}: a step is declared twice"
            raise ValueError(msg)
        object.__setattr__(self, "_by_name", {s.name: s for s in self.steps})

    def step(self, name: str) -> SagaStep:
        """The declaration of one step.

        Raises:
            KeyError: The flow declares no such step.
        """
        return self._by_name[name]

    @property
    def compensating_steps(self) -> frozenset[str]:
        """The DBOS steps the declaration names as compensations."""
        return frozenset(s.by for s in self.steps if s.by is not None)

    def ledger(self) -> "Ledger":
        """A new, empty ledger for one run of the flow."""
        return Ledger(self)

    def describe(self) -> list[dict[str, Any]]:
        """The declaration as JSON-ready rows (docs, the run's output)."""
        return [
            {
                "step": s.name,
                "writes": s.writes,
                "undo": s.undo.value,
                "by": s.by,
                "note": s.note,
            }
            for s in self.steps
        ]


Compensator = Callable[[Mapping[str, Any]], Mapping[str, Any]]
"""Runs one compensating step, given the refusal; returns what it did (JSON-ready)."""


@dataclass
class Ledger:
    """What one run did that a refusal would have to compensate, latest last.

    Used inside a workflow: the compensators it holds call DBOS steps, and a ledger is rebuilt
    the same way when the workflow is recovered (its steps replay from their checkpoints).
    """

    saga: Saga
    _done: list[tuple[SagaStep, Compensator | None]] = field(default_factory=list)

    def done(self, name: str, undo: Compensator | None = None) -> None:
        """Note that step ``name`` took effect; ``undo`` compensates it when it is undone.

        Raises:
            KeyError: The flow does not declare the step.
            ValueError: ``undo`` is given for a step declared not undone, or missing for one
                declared undone (the code and its declaration disagree).
        """
        step = self.saga.step(name)
        if (step.undo in _COMPENSATED) != (undo is not None):
            given = "no" if undo is None else "a"
            msg = f"{name} is declared '{step.undo}' but the run gave {given} compensation"
            raise ValueError(msg)
        self._done.append((step, undo))

    @property
    def pending(self) -> tuple[SagaStep, ...]:
        """The steps a refusal now would compensate, latest first."""
        return tuple(step for step, undo in reversed(self._done) if undo is not None)

    def unwind(self, refusal: Mapping[str, Any]) -> list[dict[str, Any]]:
        """Run the compensations, latest first, and clear them; returns what each did.

        A compensation that is itself refused says so in its result (it never raises for a
        refusal): the others still run, and the exception the flow files shows both.
        """
        out: list[dict[str, Any]] = []
        for step, undo in reversed(self._done):
            if undo is None:
                continue
            out.append({"step": step.name, "undo": step.undo.value, "by": step.by, **undo(refusal)})
        self._done.clear()
        return out
