"""Console pages of ERP migrations: the entities under migration and each one's shadow diff.

``/migrations`` lists the legal entities the active rules put under migration (system of
record, shadow, cut-over done or scheduled). ``/migrations/{entity}`` shows the shadow diff:
per project and day what each ERP books, then the field differences, refusals and records on
one side only; a form narrows it to days and a project. The content is the API's
(``GET /api/v1/migrations/{entity}/diff``, :mod:`accord.api.migrations`); any signed-in key
reads it. A refusal (unknown entity, one not under migration, a bad day) is an error page.
"""

import datetime as dt

from fastapi import APIRouter, Request
from starlette.responses import Response

from accord.api.errors import Problem
from accord.api.migrations import compute, diff_out
from accord.api.ops.rules import Governed
from accord.console.web import ConsoleRefusal, render, session_of
from accord.errors import ConfigError
from accord.flows.connections import Connections

__all__ = ["router"]

router = APIRouter(include_in_schema=False)


def _governed(request: Request) -> Governed:
    try:
        return Governed(request)
    except Problem as exc:
        raise ConsoleRefusal(exc.status, exc.detail or exc.title) from exc


def _day(request: Request, name: str) -> dt.date | None:
    value = request.query_params.get(name, "").strip()
    if not value:
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise ConsoleRefusal(422, f"{name}: {value!r} is not a day (YYYY-MM-DD)") from None


@router.get("/migrations")
def migrations_page(request: Request) -> Response:
    """The legal entities under migration in the active rules."""
    session = session_of(request)
    try:
        rules = _governed(request).current()
    except ConfigError as exc:
        raise ConsoleRefusal(500, f"The rules in force cannot be read: {exc.message}") from exc
    entities = [
        (code, spec)
        for code, spec in sorted(rules.spec.legal_entities.items())
        if spec.migration is not None
    ]
    return render(request, "migrations.html", session, entities=entities)


@router.get("/migrations/{entity}")
def migration_page(request: Request, entity: str) -> Response:
    """One entity's shadow diff (module docstring)."""
    session = session_of(request)
    gov = _governed(request)
    since, until = _day(request, "from"), _day(request, "to")
    project = request.query_params.get("project", "").strip() or None
    connections: Connections = request.app.state.connections
    try:
        diff = compute(
            gov.current(),
            connections,
            gov.engine,
            entity,
            since=since,
            until=until,
            project_id=project,
        )
    except Problem as exc:
        raise ConsoleRefusal(exc.status, exc.detail or exc.title) from exc
    return render(
        request,
        "migration.html",
        session,
        diff=diff_out(diff, since=since, until=until, project_id=project),
    )
