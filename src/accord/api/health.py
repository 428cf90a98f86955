"""Liveness, readiness and Prometheus metrics."""

import sqlalchemy as sa
from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from accord.flows.reporting import KpiGauges
from accord.flows.services import Services
from accord.observability.metrics import get_metrics
from accord.store import current_revision, head_revision
from accord.store.engine import ping

__all__ = ["router"]

router = APIRouter(tags=["health"])


@router.get("/healthz", summary="The process is up")
def healthz() -> dict[str, str]:
    """Always ok while the process serves requests."""
    return {"status": "ok"}


class ReadinessOut(BaseModel):
    """Whether the process may take work, and each check's outcome."""

    status: str = Field(description="ready or not ready")
    checks: dict[str, str] = Field(description="database, migrations, runtime: ok or why not")


@router.get(
    "/readyz",
    summary="Database reachable, migrations applied, runtime launched",
    response_model=ReadinessOut,
    responses={503: {"model": ReadinessOut, "description": "Not ready: the checks say why"}},
)
def readyz(request: Request) -> JSONResponse:
    """200 when ready to take work, 503 naming what is not."""
    services: Services = request.app.state.services
    checks: dict[str, str] = {}
    try:
        ping(services.engine)
        checks["database"] = "ok"
        rev = current_revision(services.engine)
        checks["migrations"] = (
            "ok" if rev == head_revision() else f"at {rev}, want {head_revision()}"
        )
    except sa.exc.SQLAlchemyError as exc:
        checks["database"] = f"unreachable: {type(exc).__name__}"
        checks["migrations"] = "unknown"
    checks["runtime"] = "ok" if services.runtime.launched else "not launched"
    ready = all(v == "ok" for v in checks.values())
    return JSONResponse(
        {"status": "ready" if ready else "not ready", "checks": checks},
        status_code=200 if ready else 503,
    )


@router.get("/metrics", summary="Prometheus metrics")
def metrics(request: Request) -> Response:
    """All instruments in the Prometheus text format (the KPI gauges refreshed first)."""
    gauges: KpiGauges | None = getattr(request.app.state, "kpi_gauges", None)
    if gauges is not None:
        gauges.maybe_refresh()
    return Response(get_metrics().render(), media_type="text/plain; version=0.0.4; charset=utf-8")
