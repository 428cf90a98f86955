"""The operations console: server-rendered pages at ``/`` for the people who run Accord.

Signed in with an API key (kept as a signed, http-only, ``SameSite=Strict`` session cookie
that refers to the key), role-aware (viewers read; operators and admins act), with CSRF tokens
in every form. Pages: overview, exceptions (queues, detail, actions), runs, lineage search,
connections, governance (environments, rules versions, proposals, what-if), audit, ERP
migrations (the shadow diff), and the
Business page (KPIs). See ``docs/console.md``, ``docs/governance.md`` and ``docs/kpis.md``.

:func:`install_console` is the only entry point; ``api/app.py`` calls it once.
"""

from pathlib import Path
from urllib.parse import quote

from fastapi import FastAPI, Request
from fastapi.staticfiles import StaticFiles
from starlette.responses import Response

from accord.console.business import router as business_router
from accord.console.exception_pages import router as exception_router
from accord.console.governance_pages import router as governance_router
from accord.console.migration_pages import router as migration_router
from accord.console.pages import router as pages_router
from accord.console.session import COOKIE, ConsoleSettings, SessionSigner
from accord.console.web import ConsoleRefusal, SignInRequired, redirect, render, signer_of

__all__ = ["ConsoleSettings", "install_console"]


def install_console(app: FastAPI, *, settings: ConsoleSettings | None = None) -> None:
    """Mount the console's pages, static files and error pages on ``app``.

    Args:
        app: The Accord app; ``app.state.services`` must hold the process's services.
        settings: Console settings; read from ``ACCORD_CONSOLE__*`` when None.
    """
    console_settings = settings or ConsoleSettings()
    services = app.state.services
    app.state.console_signer = SessionSigner(console_settings, services.engine)
    app.mount(
        "/static/console",
        StaticFiles(directory=Path(__file__).parent / "static"),
        name="console-static",
    )
    app.include_router(pages_router)
    app.include_router(exception_router)
    app.include_router(governance_router)
    app.include_router(business_router)
    app.include_router(migration_router)

    @app.exception_handler(SignInRequired)
    async def _sign_in(_request: Request, exc: SignInRequired) -> Response:
        return redirect(f"/signin?next={quote(exc.next_url, safe='')}")

    @app.exception_handler(ConsoleRefusal)
    async def _refused(request: Request, exc: ConsoleRefusal) -> Response:
        session = signer_of(request).read(request.cookies.get(COOKIE))
        return render(request, "error.html", session, status_code=exc.status, message=exc.message)
