"""Liveness, readiness and Prometheus metrics."""

import sqlalchemy as sa
from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse

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


@router.get("/readyz", summary="Database reachable, migrations applied, runtime launched")
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
def metrics() -> Response:
    """All instruments in the Prometheus text format."""
    return Response(get_metrics().render(), media_type="text/plain; version=0.0.4; charset=utf-8")
