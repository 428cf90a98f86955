"""Shared plumbing of the console pages: templates, the signed-in session, forms and paging.

Pages are plain FastAPI routes answering HTML. A request without a valid session is sent to
the sign-in page (:class:`SignInRequired`, turned into a redirect by the handler that
:func:`accord.console.install_console` registers); a POST without the session's CSRF token,
or from a viewer, is refused with an HTML error page (:class:`ConsoleRefusal`).
"""

import json
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import sqlalchemy as sa
from fastapi import Request
from fastapi.templating import Jinja2Templates
from starlette.responses import RedirectResponse, Response

from accord.console.session import COOKIE, ConsoleSession, ConsoleSettings, SessionSigner
from accord.errors import AccordError
from accord.flows.services import Services
from accord.governance.settings import governance_settings
from accord.store.util import utc_now

__all__ = [
    "PAGE_SIZE",
    "ConsoleRefusal",
    "Paging",
    "SignInRequired",
    "acting_session",
    "check_form",
    "console_settings",
    "engine_of",
    "page_of",
    "redirect",
    "render",
    "services_of",
    "session_of",
    "signer_of",
    "templates",
]

PAGE_SIZE = 50
"""Rows per page on every list."""
MAX_PAGE = 10_000
"""Deepest page number accepted (deep paging is what filters are for)."""

templates = Jinja2Templates(directory=Path(__file__).parent / "templates")


class SignInRequired(Exception):  # noqa: N818 - a control-flow signal, not an error
    """No valid session: the handler redirects to the sign-in page."""

    def __init__(self, next_url: str) -> None:
        super().__init__("sign-in required")
        self.next_url = next_url


class ConsoleRefusal(Exception):  # noqa: N818 - rendered as a page, named for what it is
    """A request the console refuses (bad CSRF token, role may not act): an HTML error page."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def _age(at: datetime | None) -> str:
    if at is None:
        return ""
    seconds = max(0, int((utc_now() - at).total_seconds()))
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes = rest // 60
    if days:
        return f"{days}d {hours}h"
    if hours:
        return f"{hours}h {minutes}m"
    return f"{minutes}m"


def _when(at: datetime | None) -> str:
    return at.strftime("%Y-%m-%d %H:%M:%S UTC") if at else ""


def _amount(value: Decimal | float | int | None) -> str:
    return "" if value is None else f"{Decimal(value):,.2f}"


def _pretty(value: Any) -> str:  # noqa: ANN401 - any JSON value
    return json.dumps(value, indent=2, sort_keys=True, default=str)


templates.env.filters.update(age=_age, when=_when, amount=_amount, pretty=_pretty)


def services_of(request: Request) -> Services:
    """The process's services."""
    services: Services = request.app.state.services
    return services


def engine_of(request: Request) -> sa.Engine:
    """Accord's database engine."""
    return services_of(request).engine


def signer_of(request: Request) -> SessionSigner:
    """The console's session signer."""
    signer: SessionSigner = request.app.state.console_signer
    return signer


def console_settings(request: Request) -> ConsoleSettings:
    """The console's settings."""
    return signer_of(request).settings


def session_of(request: Request) -> ConsoleSession:
    """The signed-in session; raises :class:`SignInRequired` without one."""
    session = signer_of(request).read(request.cookies.get(COOKIE))
    if session is None:
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        # After signing in again, come back to a page, never to a form's POST-only address.
        raise SignInRequired(target if request.method == "GET" else "/")
    return session


def check_form(request: Request, session: ConsoleSession, token: str | None) -> None:
    """Refuse a POST whose CSRF token is not the session's."""
    if not signer_of(request).check_csrf(session, token):
        raise ConsoleRefusal(403, "This form has expired or did not come from the console.")


def acting_session(request: Request, token: str | None) -> ConsoleSession:
    """The session of a POST that acts: a valid CSRF token and a role that may act."""
    session = session_of(request)
    check_form(request, session, token)
    if not session.can_act:
        raise ConsoleRefusal(403, f"Your key's role ({session.role.value}) may only read.")
    return session


@dataclass(frozen=True)
class Paging:
    """Where a list page is, and the links to its neighbours."""

    page: int
    size: int
    total: int | None
    shown: int
    base: str
    params: dict[str, str]

    @property
    def offset(self) -> int:
        """Rows before this page."""
        return (self.page - 1) * self.size

    @property
    def pages(self) -> int | None:
        """How many pages there are, when the total is known."""
        return None if self.total is None else max(1, -(-self.total // self.size))

    def link(self, page: int) -> str:
        """The URL of another page with the same filters."""
        return f"{self.base}?{urlencode({**self.params, 'page': str(page)})}"

    @property
    def prev(self) -> str | None:
        """The previous page's URL, if any."""
        return self.link(self.page - 1) if self.page > 1 else None

    @property
    def next(self) -> str | None:
        """The next page's URL, if any."""
        more = (
            self.shown == self.size if self.total is None else self.offset + self.shown < self.total
        )
        return self.link(self.page + 1) if more else None


def page_of(request: Request) -> int:
    """The ``page`` query parameter, clamped to 1..MAX_PAGE (bad values mean page 1)."""
    raw = request.query_params.get("page", "1")
    try:
        return min(MAX_PAGE, max(1, int(raw)))
    except ValueError:
        return 1


def redirect(url: str) -> RedirectResponse:
    """A 303 See Other (after a POST, the browser GETs the target)."""
    return RedirectResponse(url, status_code=303)


def _environment(request: Request) -> str | None:
    """This environment's name (``governance.environment`` of ``accord.yaml``), if readable."""
    settings = getattr(request.app.state, "settings", None)
    try:
        return governance_settings(settings.config_file if settings else None).environment
    except AccordError:
        return None


def render(
    request: Request,
    name: str,
    session: ConsoleSession | None,
    *,
    status_code: int = 200,
    **context: Any,  # noqa: ANN401 - template variables
) -> Response:
    """Render a page with the session, the navigation and the environment's name in its context."""
    return templates.TemplateResponse(
        request,
        name,
        {
            "session": session,
            "path": request.url.path,
            "environment": _environment(request),
            **context,
        },
        status_code=status_code,
        headers={"Cache-Control": "no-store"},
    )
