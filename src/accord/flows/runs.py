"""Read model of runs: DBOS's workflow records seen as Accord runs, for the API and the console.

Everything is read through DBOS's public client API (``list_workflows``,
``list_workflow_steps``) rather than its tables, so that a DBOS upgrade that reshapes
``workflow_status`` does not break the ops API. A run of a journaled event has the id
``<seq:012d>.<event_id>`` (re-runs append ``.r<n>``), which is how a run is tied back to its
event and business key.

What does not belong here: starting or re-running runs (:mod:`accord.flows.replay`).
"""

import dataclasses
import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Final

import sqlalchemy as sa
from dbos import DBOSClient, WorkflowStatus

from accord.store import journal
from accord.store.util import utc_now

__all__ = [
    "DEAD_STATUSES",
    "RUN_STATUSES",
    "RunDetail",
    "RunStep",
    "RunSummary",
    "get_run",
    "jsonable",
    "list_reruns",
    "list_runs",
    "original_run_id",
    "seq_of_run",
]

RUN_STATUSES: Final = (
    "ENQUEUED",
    "PENDING",
    "SUCCESS",
    "ERROR",
    "CANCELLED",
    "MAX_RECOVERY_ATTEMPTS_EXCEEDED",
    "DELAYED",
)
"""DBOS's workflow statuses, which are the run statuses."""
DEAD_STATUSES: Final = ("ERROR", "MAX_RECOVERY_ATTEMPTS_EXCEEDED")
"""Statuses of dead-lettered runs: they ended in error or exhausted their recovery attempts."""
VERSION_KEYS: Final = ("rules_version", "mapping_version")
"""Keys of a run's (or a step's) output that name the rules or mapping version it used."""
_MAX_KEY_RUNS = 1000
"""Most journal entries one business-key filter expands to (each is a run id prefix)."""


@dataclass(frozen=True)
class RunSummary:
    """One run in a list."""

    run_id: str
    flow: str
    status: str
    business_key: str | None
    event_type: str | None
    queue: str | None
    created_at: datetime | None
    updated_at: datetime | None
    completed_at: datetime | None
    app_version: str | None
    rerun_of: str | None
    error: str | None


@dataclass(frozen=True)
class RunStep:
    """One step of a run, as DBOS recorded it."""

    step_id: int
    name: str
    output: Any
    error: str | None
    child_run_id: str | None
    started_at: datetime | None
    completed_at: datetime | None


@dataclass(frozen=True)
class RunDetail:
    """A run with its input, output, error, steps and the rules/mapping version used."""

    summary: RunSummary
    input: Any
    output: Any
    steps: list[RunStep]
    versions: dict[str, str]
    attributes: dict[str, Any]


def jsonable(value: Any) -> Any:  # noqa: ANN401, PLR0911 - one branch per payload kind
    """A JSON-friendly copy of a run's input or output (dataclasses, models, enums, times)."""
    if value is None or isinstance(value, str | int | float | bool):
        return value
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    dump = getattr(value, "model_dump", None)
    if callable(dump):
        return jsonable(dump(mode="json"))
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [jsonable(v) for v in value]
    if isinstance(value, enum.Enum):
        return jsonable(value.value)
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value)


def _error_text(error: BaseException | None) -> str | None:
    if error is None:
        return None
    text = str(error)
    return f"{type(error).__name__}: {text}" if text else type(error).__name__


def _ms(value: int | None) -> datetime | None:
    return datetime.fromtimestamp(value / 1000, tz=UTC) if value else None


def seq_of_run(run_id: str) -> int | None:
    """The journal sequence number a run id starts with, or None for a run of no event."""
    head, dot, _ = run_id.partition(".")
    if not dot or len(head) != 12 or not head.isdigit():
        return None
    return int(head)


def original_run_id(run_id: str) -> str:
    """The id of the first run of an event, given the id of any of its re-runs."""
    head, sep, tail = run_id.rpartition(".r")
    if sep and tail.isdigit() and seq_of_run(head) is not None:
        return original_run_id(head)
    return run_id


def _event_ref(status: WorkflowStatus) -> Mapping[str, Any]:
    inputs = status.input
    args: Sequence[Any] = inputs.get("args", ()) if isinstance(inputs, Mapping) else ()
    if args:
        first = jsonable(args[0])
        if isinstance(first, Mapping):
            return first
    return {}


def _summary(status: WorkflowStatus) -> RunSummary:
    ref = _event_ref(status)
    attributes = status.attributes or {}
    rerun_of = attributes.get("rerun_of")
    return RunSummary(
        run_id=status.workflow_id,
        flow=status.name,
        status=str(status.status),
        business_key=ref.get("business_key"),
        event_type=ref.get("type"),
        queue=status.queue_name,
        created_at=_ms(status.created_at),
        updated_at=_ms(status.updated_at),
        completed_at=_ms(status.completed_at),
        app_version=status.app_version,
        rerun_of=str(rerun_of) if rerun_of else None,
        error=_error_text(status.error),
    )


def list_runs(
    client: DBOSClient,
    engine: sa.Engine,
    *,
    flow: str | None = None,
    status: Sequence[str] | None = None,
    business_key: str | None = None,
    min_age: timedelta | None = None,
    max_age: timedelta | None = None,
    limit: int = 50,
    offset: int = 0,
    newest_first: bool = True,
    now: datetime | None = None,
) -> list[RunSummary]:
    """Runs matching the filters, one page.

    Args:
        client: The DBOS client of the process.
        engine: Accord's database (the journal resolves business keys to run ids).
        flow: Only runs of this workflow name.
        status: Only runs in one of these statuses.
        business_key: Only runs of events about this business object (and their re-runs).
        min_age: Only runs created at least this long ago (stuck or old runs).
        max_age: Only runs created at most this long ago.
        limit: Page size.
        offset: Rows to skip.
        newest_first: Order by creation time, newest first (else oldest first).
        now: The clock, injected by tests.
    """
    clock = now or utc_now()
    prefixes: list[str] | None = None
    if business_key is not None:
        with engine.connect() as conn:
            entries = journal.list_(conn, business_key=business_key, limit=_MAX_KEY_RUNS)
        if not entries:
            return []
        # A prefix matches the event's first run and every re-run (``<id>.r<n>``).
        prefixes = [e.run_id for e in entries]
    found = client.list_workflows(
        name=flow,
        status=list(status) if status else None,
        workflow_id_prefix=prefixes,
        start_time=(clock - max_age).isoformat() if max_age is not None else None,
        end_time=(clock - min_age).isoformat() if min_age is not None else None,
        limit=limit,
        offset=offset,
        sort_desc=newest_first,
        load_input=True,
        load_output=False,
    )
    return [_summary(s) for s in found]


def list_reruns(client: DBOSClient, run_ids: Sequence[str]) -> dict[str, list[str]]:
    """The re-runs already started for each of these runs (ids ``<run id>.r<n>``)."""
    if not run_ids:
        return {}
    found = client.list_workflows(
        workflow_id_prefix=[f"{r}.r" for r in run_ids], load_input=False, load_output=False
    )
    out: dict[str, list[str]] = {r: [] for r in run_ids}
    for s in found:
        base = s.workflow_id.rpartition(".r")[0]
        if base in out:
            out[base].append(s.workflow_id)
    return out


def _versions(output: Any) -> dict[str, str]:  # noqa: ANN401 - a flow's output
    if not isinstance(output, Mapping):
        return {}
    return {k: str(output[k]) for k in VERSION_KEYS if output.get(k) is not None}


def get_run(client: DBOSClient, run_id: str) -> RunDetail | None:
    """One run with its steps, or None when DBOS has no such run."""
    found = client.list_workflows(workflow_ids=[run_id], load_input=True, load_output=True)
    if not found:
        return None
    status = found[0]
    steps = [
        RunStep(
            step_id=s["function_id"],
            name=s["function_name"],
            output=jsonable(s["output"]),
            error=_error_text(s["error"]),
            child_run_id=s["child_workflow_id"],
            started_at=_ms(s["started_at_epoch_ms"]),
            completed_at=_ms(s["completed_at_epoch_ms"]),
        )
        for s in client.list_workflow_steps(run_id)
    ]
    output = jsonable(status.output)
    # A run that failed has no output: the step that loaded the rules may still name them.
    versions = _versions(output)
    for step in steps:
        for k, v in _versions(step.output).items():
            versions.setdefault(k, v)
    return RunDetail(
        summary=_summary(status),
        input=jsonable(status.input),
        output=output,
        steps=steps,
        versions=versions,
        attributes=jsonable(status.attributes or {}),
    )
