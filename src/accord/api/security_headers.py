"""Security headers on every answer: no framing, no referrer, no sniffing, a strict CSP.

The console is server-rendered HTML with no script at all and its styles in one file, so its
Content-Security-Policy can forbid everything else: no script, no inline style, no plugin, no
framing, forms posting only back to Accord. JSON answers get the same headers (harmless, and
a browser opening one directly gets no chance to run anything). Only the interactive API docs
(``/api/v1/docs``, Swagger UI from a CDN) are left without the CSP.

A plain ASGI middleware, like the correlation id's: Starlette's ``BaseHTTPMiddleware`` costs a
task group per request.
"""

from typing import Final

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["CONTENT_SECURITY_POLICY", "SecurityHeadersMiddleware"]

CONTENT_SECURITY_POLICY: Final = (
    "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; "
    "frame-ancestors 'none'; base-uri 'none'"
)
"""The console's policy: its own stylesheet and images, forms to itself, nothing else."""

_ALWAYS: Final = (
    ("X-Frame-Options", "DENY"),
    ("Referrer-Policy", "no-referrer"),
    ("X-Content-Type-Options", "nosniff"),
)
_NO_CSP: Final = ("/api/v1/docs",)


class SecurityHeadersMiddleware:
    """Adds the security headers to every HTTP answer that does not set them itself."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Pass the request on; add the headers to the answer's start."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        csp = not str(scope.get("path", "")).startswith(_NO_CSP)

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in _ALWAYS:
                    headers.setdefault(name, value)
                if csp:
                    headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
            await send(message)

        await self.app(scope, receive, send_with_headers)
