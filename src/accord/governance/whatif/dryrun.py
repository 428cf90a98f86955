"""An HTTP transport that lets reads through and keeps every write to itself.

What-if runs the flows' own posting code against connectors built on
:class:`DryRunTransport`: reads reach the target systems (a what-if needs the project as the
ERP holds it), while every request that could change a record is recorded instead of sent and
answered with a synthetic success, so the code after the write goes on as if it had been
accepted. The recorded request bodies are exactly what the flow would have sent.

A request counts as a read when its method is ``GET``, ``HEAD`` or ``OPTIONS``, or when it
is one of the two kinds of ``POST`` that change nothing: an OAuth token request (the path ends
in ``/token``: Salesforce, NetSuite, Entra ID and Kantata all name it so) and a NetSuite
SuiteQL query (``/query/v1/suiteql``, a read-only query language). Everything else (``POST``,
``PUT``, ``PATCH``, ``DELETE`` to a record) is refused to the network.
"""

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Final

import httpx
from typing_extensions import override

__all__ = ["DryRunTransport", "HeldWrite", "WriteRecorder", "is_read"]

_READ_METHODS: Final = frozenset({"GET", "HEAD", "OPTIONS"})
_READ_POST_SUFFIXES: Final = ("/token", "/query/v1/suiteql")
_SYNTHETIC_ID: Final = "0"
"""Record id of every synthetic answer (NetSuite wants digits; others take any string)."""


def is_read(request: httpx.Request) -> bool:
    """Whether a request only reads (see the module docstring)."""
    method = request.method.upper()
    if method in _READ_METHODS:
        return True
    return method == "POST" and request.url.path.rstrip("/").endswith(_READ_POST_SUFFIXES)


@dataclass(frozen=True)
class HeldWrite:
    """A write that was not sent: where it would have gone and its JSON body."""

    method: str
    url: str
    body: Any


class WriteRecorder:
    """Collects held writes: all of them, and per thread while :meth:`capture` is open."""

    def __init__(self) -> None:
        self.held: list[HeldWrite] = []
        self._lock = threading.Lock()
        self._local = threading.local()

    def record(self, write: HeldWrite) -> None:
        """Keep one held write."""
        with self._lock:
            self.held.append(write)
        captured: list[HeldWrite] | None = getattr(self._local, "captured", None)
        if captured is not None:
            captured.append(write)

    @contextmanager
    def capture(self) -> Iterator[list[HeldWrite]]:
        """The writes this thread makes inside the block, in order."""
        outer = getattr(self._local, "captured", None)
        captured: list[HeldWrite] = []
        self._local.captured = captured
        try:
            yield captured
        finally:
            self._local.captured = outer


def _body(request: httpx.Request) -> Any:  # noqa: ANN401 - whatever JSON the flow sent
    raw = request.read()
    if not raw:
        return None
    try:
        return json.loads(raw)
    except ValueError:
        return raw.decode("utf-8", "replace")


def _synthetic(request: httpx.Request, body: Any) -> httpx.Response:  # noqa: ANN401
    """A success as the system would answer it, with a placeholder id."""
    location = str(request.url.copy_with(query=None)).rstrip("/").rsplit("/", 1)[0]
    headers = {"Location": f"{location}/{_SYNTHETIC_ID}", "X-Accord-What-If": "held"}
    method = request.method.upper()
    if method in {"PUT", "DELETE"}:
        return httpx.Response(204, headers=headers, request=request)
    echo = {**body, "id": _SYNTHETIC_ID} if isinstance(body, dict) else {"id": _SYNTHETIC_ID}
    return httpx.Response(
        201 if method == "POST" else 200, headers=headers, json=echo, request=request
    )


class DryRunTransport(httpx.BaseTransport):
    """Sends reads through ``inner``; records every other request and answers it itself.

    Args:
        inner: The transport reads go through (the real network by default).
        recorder: Where held writes go.
    """

    def __init__(self, recorder: WriteRecorder, inner: httpx.BaseTransport | None = None) -> None:
        self.inner = inner or httpx.HTTPTransport()
        self.recorder = recorder

    @override
    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if is_read(request):
            return self.inner.handle_request(request)
        body = _body(request)
        self.recorder.record(HeldWrite(method=request.method, url=str(request.url), body=body))
        return _synthetic(request, body)

    @override
    def close(self) -> None:
        self.inner.close()
