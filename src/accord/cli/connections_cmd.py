"""``accord connections``: list connections and authorize those that need a person's consent.

Most connections authenticate on their own (client credentials, JWT assertions, TBA). Kantata's
application gets its tokens through the OAuth 2.0 authorization code grant: someone signs in to
Kantata once and approves it. ``accord connections authorize NAME`` does that step:

1. it prints (and opens in a browser) the authorization URL, with a fresh ``state``;
2. it receives the redirect: itself, when the registered ``redirect_uri`` is a loopback address
   (``http://127.0.0.1:PORT/...``: it listens there for that one request), or by asking for the
   URL the browser ended on; ``--code`` takes a code obtained some other way;
3. it exchanges the code and stores the tokens encrypted (:mod:`accord.store.credentials`),
   auditing the step (never the tokens).

:func:`authorize_connection` is the same step with the browser's part injected, so that the
demo and the tests can approve against the sandbox without one.
"""

import contextlib
import secrets
import threading
import time
import webbrowser
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import TYPE_CHECKING, Annotated
from urllib.parse import urlsplit

import typer
from rich.table import Table
from typing_extensions import override

from accord.cli._output import err, fail, load_settings, out

if TYPE_CHECKING:
    from accord.connectors.authorization import TokenSet
    from accord.flows.connections import Connections
    from accord.store.credentials import DatabaseTokenStore

__all__ = ["UserAgent", "authorize_connection", "connections_app", "loopback_user_agent"]

connections_app = typer.Typer(
    help="List connections; authorize the ones that need a person's consent (Kantata).",
    no_args_is_help=True,
)


UserAgent = Callable[[str], str]
"""The browser's part: takes the authorization URL, returns the URL it was redirected to."""

_LOOPBACK = frozenset({"127.0.0.1", "localhost", "::1"})


def authorize_connection(
    connections: "Connections",
    name: str,
    *,
    store: "DatabaseTokenStore",
    user_agent: UserAgent | None = None,
    code: str | None = None,
    actor: str,
) -> "TokenSet":
    """Run the consent step of one connection and store its tokens.

    Args:
        connections: The process's connections (``accord.yaml``).
        name: The connection to authorize.
        store: Where the tokens go (encrypted).
        user_agent: Opens the authorization URL and returns the redirect (with the code).
        code: An authorization code obtained beforehand, instead of ``user_agent``.
        actor: Who did it, for the audit log.

    Raises:
        ConfigError: The connection has no consent step, or the redirect carries an error, no
            code or another ``state``.
        AuthError: The system refused the code or the application's credentials.
    """
    from accord.errors import ConfigError

    connector = connections.connector(name)
    flow = connector.authorization_flow()
    if flow is None:
        msg = f"connection {name!r} authenticates on its own; there is nothing to authorize"
        raise ConfigError(msg)
    if code is None:
        if user_agent is None:
            raise ConfigError("give a user agent or a code")
        state = secrets.token_urlsafe(24)
        code = flow.code_from_redirect(user_agent(flow.authorization_url(state)), state=state)
    tokens = flow.exchange(code, connector.client)
    store.authorize(name, tokens, actor=actor)
    return tokens


class _Callback(BaseHTTPRequestHandler):
    server: "_CallbackServer"

    def do_GET(self) -> None:
        if urlsplit(self.path).path != self.server.expected_path:
            self.send_error(404)
            return
        self.server.received = self.server.origin + self.path
        body = b"<!doctype html><p>Accord received the authorization. You can close this tab.</p>"
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    @override
    def log_message(self, format: str, *args: object) -> None:
        """Quiet: the query string carries the code."""


class _CallbackServer(HTTPServer):
    def __init__(self, host: str, port: int, path: str, origin: str) -> None:
        super().__init__((host, port), _Callback)
        self.expected_path = path
        self.origin = origin
        self.received: str | None = None


def loopback_user_agent(
    redirect_uri: str,
    *,
    open_browser: bool = True,
    timeout_s: float = 300.0,
    announce: Callable[[str], None] = lambda _url: None,
) -> UserAgent:
    """A user agent that receives the redirect on a loopback ``redirect_uri`` itself.

    Raises:
        ValueError: ``redirect_uri`` is not ``http://`` on a loopback host with a port.
    """
    parts = urlsplit(redirect_uri)
    if parts.scheme != "http" or parts.hostname not in _LOOPBACK or parts.port is None:
        raise ValueError("not a loopback redirect_uri")
    host, port = parts.hostname, parts.port
    origin = f"{parts.scheme}://{parts.netloc}"

    def agent(url: str) -> str:
        from accord.errors import ConfigError

        try:
            server = _CallbackServer(host, port, parts.path or "/", origin)
        except OSError as exc:
            msg = f"cannot listen on {host}:{port} for the redirect: {exc.strerror}"
            raise ConfigError(msg) from None
        with server:
            server.timeout = 0.5
            announce(url)
            if open_browser:
                threading.Thread(target=webbrowser.open, args=(url,), daemon=True).start()
            deadline = time.monotonic() + timeout_s
            while server.received is None and time.monotonic() < deadline:
                server.handle_request()
        if server.received is None:
            msg = f"no redirect arrived within {timeout_s:g} s"
            raise ConfigError(msg)
        return server.received

    return agent


def _paste_user_agent(url: str) -> str:
    _show(url)
    return str(typer.prompt("Paste the URL your browser was redirected to"))


def _show(url: str) -> None:
    err.print("Open this URL, sign in and approve Accord:", highlight=False)
    # Plain print: a terminal must not wrap or style the URL.
    print(url, flush=True)  # noqa: T201


@connections_app.command("authorize")
def authorize(
    name: Annotated[str, typer.Argument(help="The connection, as named in accord.yaml.")],
    code: Annotated[
        str | None, typer.Option(help="An authorization code obtained beforehand.")
    ] = None,
    no_browser: Annotated[
        bool, typer.Option("--no-browser", help="Print the URL; do not open a browser.")
    ] = False,
    timeout: Annotated[
        float, typer.Option(min=1, help="Seconds to wait for the redirect.")
    ] = 300.0,
) -> None:
    """Approve a connection's application once and store its tokens (encrypted)."""
    from accord.cli.app import _actor
    from accord.errors import AccordError

    with _context() as (connections, store):
        try:
            flow = connections.connector(name).authorization_flow()
            agent: UserAgent | None = None
            if code is None and flow is not None:
                try:
                    agent = loopback_user_agent(
                        flow.redirect_uri,
                        open_browser=not no_browser,
                        timeout_s=timeout,
                        announce=_show,
                    )
                except ValueError:
                    agent = _paste_user_agent
            tokens = authorize_connection(
                connections, name, store=store, user_agent=agent, code=code, actor=_actor()
            )
        except AccordError as exc:
            raise fail(str(exc)) from None
    until = (
        f"until {tokens.expires_at:%Y-%m-%d %H:%M} UTC" if tokens.expires_at else "until revoked"
    )
    refresh = ", refreshed automatically" if tokens.refresh_token else ""
    out.print(f"Authorized {name}: token valid {until}{refresh}.")


@connections_app.command("list")
def list_() -> None:
    """List the configured connections, how each authenticates and whether it is authorized."""
    from accord.errors import AccordError

    with _context() as (connections, store):
        try:
            names = connections.names()
            stored = {row.connection: row for row in store.list_()}
            table = Table("name", "kind", "authentication", "authorized")
            for name in names:
                config = connections.config(name)
                consent = connections.connector(name).authorization_flow() is not None
                row = stored.get(name)
                state = "-"
                if consent:
                    state = (
                        f"since {row.authorized_at:%Y-%m-%d %H:%M}"
                        if row
                        else f"no: accord connections authorize {name}"
                    )
                table.add_row(name, config.kind, config.authentication, state)
        except AccordError as exc:
            raise fail(str(exc)) from None
    out.print(table)


@connections_app.command("forget")
def forget(name: Annotated[str, typer.Argument(help="The connection.")]) -> None:
    """Delete a connection's stored tokens (revoke the application in the system too)."""
    from accord.cli.app import _actor

    with _context() as (_connections, store):
        if not store.forget(name, actor=_actor()):
            raise fail(f"no tokens are stored for {name!r}")
    out.print(f"Forgot the tokens of {name}.")


@connections_app.command("new-key")
def new_key() -> None:
    """Print a new credentials key (for ACCORD_CREDENTIALS_KEY)."""
    from accord.store.credentials import CredentialCipher

    print(CredentialCipher.generate_key())  # noqa: T201 - the key alone, for scripts


@contextlib.contextmanager
def _context() -> "Iterator[tuple[Connections, DatabaseTokenStore]]":
    """The configured connections and token store, closed on exit."""
    import os

    from accord.errors import AccordError
    from accord.flows.connections import Connections
    from accord.store import create_db_engine, migrate
    from accord.store.credentials import DatabaseTokenStore

    settings = load_settings()
    engine = create_db_engine(settings.database_url)
    try:
        try:
            migrate(engine)
        except AccordError as exc:
            raise fail(str(exc)) from None
        store = DatabaseTokenStore.for_settings(engine, settings, os.environ)
        connections = Connections(
            engine,
            holder=settings.worker_id,
            config_file=settings.config_file,
            env=os.environ,
            token_store=store,
            instrument=False,
        )
        try:
            yield connections, store
        finally:
            connections.close()
    finally:
        engine.dispose()
