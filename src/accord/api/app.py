"""The FastAPI application: routers, error mapping, logging, and the process's services."""

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import Depends, FastAPI
from starlette.datastructures import Headers, MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

import accord
from accord.api import alerts, health, hooks, intake
from accord.api.auth import KeyVerifier
from accord.api.errors import install_error_handlers
from accord.api.experience import router as experience_router
from accord.api.kpis import router as kpis_router
from accord.api.lineage import router as lineage_router
from accord.api.migrations import router as migrations_router
from accord.api.openapi_docs import install_openapi
from accord.api.ops import router as ops_router
from accord.api.process import router as process_router
from accord.api.reconciliation import router as reconciliation_router
from accord.api.security_headers import SecurityHeadersMiddleware
from accord.api.strict_json import strict_json_body
from accord.api.systems import router as systems_router
from accord.connectors.budget import Lane, lane
from accord.console import install_console
from accord.flows.reporting import KpiGauges
from accord.flows.services import Services
from accord.observability.logging import bind, configure_logging
from accord.settings import Settings
from accord.store.ids import next_id

__all__ = ["create_app"]


def create_app(
    settings: Settings, *, services: Services | None = None, configure_logs: bool = True
) -> FastAPI:
    """Build the app; its lifespan starts and stops ``services`` (built from settings if None)."""
    if configure_logs:
        configure_logging(
            settings.observability.log_level, json_lines=settings.observability.log_json
        )
    svc = services or Services.build(settings)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        # DBOS refuses its synchronous calls on a thread that runs an event loop.
        if not svc.started:
            await asyncio.to_thread(svc.start)
        try:
            yield
        finally:
            await asyncio.to_thread(svc.stop)

    app = FastAPI(
        title="Accord",
        version=accord.__version__,
        summary="Keeps a professional-services firm's CRM, PSA and ERP in accord.",
        openapi_url="/api/v1/openapi.json",
        docs_url="/api/v1/docs",
        redoc_url=None,
        lifespan=lifespan,
        # JSON bodies are held to their schema, no coercion (see api/strict_json.py).
        dependencies=[Depends(strict_json_body)],
    )
    app.state.settings = settings
    app.state.services = svc
    app.state.connections = svc.connections
    app.state.key_verifier = KeyVerifier(svc.engine, ttl=settings.api.key_cache_seconds)
    app.state.kpi_gauges = KpiGauges(svc.engine, settings.config_file)
    install_error_handlers(app)
    app.include_router(health.router)
    app.include_router(intake.router)
    app.include_router(hooks.router)
    app.include_router(lineage_router)
    app.include_router(alerts.router)
    app.include_router(ops_router)
    app.include_router(systems_router)
    app.include_router(process_router)
    app.include_router(experience_router)
    app.include_router(kpis_router)
    app.include_router(reconciliation_router)
    app.include_router(migrations_router)
    install_console(app)
    install_openapi(app)

    app.add_middleware(CorrelationIdMiddleware)
    app.add_middleware(SecurityHeadersMiddleware)
    return app


class CorrelationIdMiddleware:
    """Binds a correlation id and the ``interactive`` budget lane to each request.

    The id (``X-Correlation-Id`` or a new one) goes to the logs and the response; the lane to
    the calls the request makes to other systems.

    A plain ASGI middleware: Starlette's ``BaseHTTPMiddleware`` costs a task group and a
    memory stream per request, which shows at thousands of requests per second.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        cid = Headers(scope=scope).get("x-correlation-id") or next_id()

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                MutableHeaders(scope=message).append("X-Correlation-Id", cid)
            await send(message)

        # Someone waits on every answer: the calls it makes to other systems are interactive,
        # served before flows' and postings' calls on each connection's budget.
        with bind(correlation_id=cid), lane(Lane.INTERACTIVE):
            await self.app(scope, receive, send_with_id)
