"""The FastAPI application: routers, error mapping, logging, and the process's services."""

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request, Response

import accord
from accord.api import health, intake
from accord.api.auth import KeyVerifier
from accord.api.errors import install_error_handlers
from accord.flows.services import Services
from accord.observability.logging import bind, configure_logging
from accord.settings import Settings

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
    )
    app.state.settings = settings
    app.state.services = svc
    app.state.key_verifier = KeyVerifier(svc.engine, ttl=settings.api.key_cache_seconds)
    install_error_handlers(app)
    app.include_router(health.router)
    app.include_router(intake.router)

    @app.middleware("http")
    async def correlation(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        cid = request.headers.get("x-correlation-id") or uuid.uuid4().hex
        with bind(correlation_id=cid):
            response = await call_next(request)
        response.headers["X-Correlation-Id"] = cid
        return response

    return app
