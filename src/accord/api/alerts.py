"""``GET /api/v1/alerts``: alert instances, firing first, for the console and on-call tools."""

from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, Field

from accord.api.auth import Principal, require
from accord.flows.services import Services
from accord.store import alerts as alerts_repo
from accord.store.keys import Role

__all__ = ["AlertOut", "AlertPage", "router"]

router = APIRouter(prefix="/api/v1", tags=["alerts"])


class AlertOut(BaseModel):
    """One alert instance."""

    id: int
    rule: str
    instance: str = Field(description="what the rule fired for: an event, exception, connection")
    status: Literal["firing", "resolved"]
    severity: str
    summary: str
    labels: dict[str, str]
    value: float | None
    fired_at: datetime
    last_seen_at: datetime
    resolved_at: datetime | None
    notified_at: datetime | None = Field(description="when the webhook accepted the firing notice")
    notify_attempts: int
    notify_error: str | None


class AlertPage(BaseModel):
    """A page of alerts."""

    items: list[AlertOut]


def _out(a: alerts_repo.Alert) -> AlertOut:
    return AlertOut(
        id=a.id,
        rule=a.rule,
        instance=a.instance_key,
        status=a.status,
        severity=a.severity,
        summary=a.summary,
        labels=a.labels,
        value=a.value,
        fired_at=a.fired_at,
        last_seen_at=a.last_seen_at,
        resolved_at=a.resolved_at,
        notified_at=a.notified_at,
        notify_attempts=a.attempts,
        notify_error=a.last_error,
    )


@router.get("/alerts", summary="Alert instances (firing ones by default)")
def list_alerts(
    request: Request,
    _principal: Annotated[Principal, Depends(require(Role.VIEWER, Role.OPERATOR, Role.ADMIN))],
    status: Annotated[
        Literal["firing", "resolved", "all"], Query(description="which alerts")
    ] = "firing",
    rule: Annotated[str | None, Query(max_length=128)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    offset: Annotated[int, Query(ge=0, le=100_000)] = 0,
) -> AlertPage:
    """Firing alerts (critical first, oldest first), or every alert newest first."""
    services: Services = request.app.state.services
    with services.engine.connect() as conn:
        if status == "firing" and rule is None:
            found = alerts_repo.list_active_alerts(conn, limit=limit + offset)[offset:]
        else:
            found = alerts_repo.list_(
                conn,
                status=None if status == "all" else status,
                rule=rule,
                limit=limit,
                offset=offset,
            )
    return AlertPage(items=[_out(a) for a in found])
