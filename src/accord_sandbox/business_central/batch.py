"""``POST .../api/v2.0/$batch``: many operations in one request (OData JSON batch).

What Business Central documents, and the emulator enforces:

- A ``$batch`` request carries at most **100 operations**
  (learn.microsoft.com/training/modules/work-with-api/4-limits). More are refused as BC refuses
  them: *"The current batch message contains too many parts. A maximum number of '100' query
  operations and change sets are allowed in a batch message."* (code ``Unknown``, quoted from a
  BC answer at demiliani.com, 2021-01-12; the status 400 is [inferred]).
- The JSON format: ``{"requests": [{"id", "method", "url", "headers", "body"}]}`` answered
  ``{"responses": [{"id", "status", "headers", "body"}]}``, a failed operation answering its
  own status and BC error body inside a 200 (learn.microsoft.com, "Using OData transactional
  $batch requests").
- Each operation counts as one request against the 6,000-per-5-minutes limit (the brief of
  issue 15; not found verbatim in the stored Microsoft pages, so [inferred]); the ``$batch``
  request itself is not counted again. An operation over the limit answers 429 in its place.

[inferred] from OData 4.0 (Part 1, 8.2.8.3 ``odata.continue-on-error``), on which BC's OData
stack is built: operations run in order, and processing stops at the first failed operation
unless the request says ``Prefer: odata.continue-on-error``; the operations after a stop get
no response. ``Isolation: snapshot`` (transactional batches) is not emulated and is refused.

Every operation is served by the emulator's own routes (:class:`accord_sandbox.common.BatchRun`):
a URL is relative to the API root (``companies(...)/journals(...)/journalLines``) or an
absolute path or URL under it; the batch's bearer token applies to each.
"""

from typing import TYPE_CHECKING, Any, Final
from urllib.parse import urlsplit

from fastapi import Request, Response
from fastapi.responses import JSONResponse

from accord_sandbox.business_central.errors import BCError
from accord_sandbox.common import BatchRun

if TYPE_CHECKING:
    from accord_sandbox.business_central.emulator import BusinessCentralEmulator

__all__ = ["MAX_OPERATIONS", "handle_batch"]

MAX_OPERATIONS: Final = 100
"""Operations per ``$batch`` request (learn.microsoft.com work-with-api/4-limits)."""
_METHODS: Final = frozenset({"GET", "POST", "PATCH", "PUT", "DELETE"})
_KEPT_HEADERS: Final = ("content-type", "location", "etag", "retry-after")


def _continue_on_error(prefer: str) -> bool:
    """Whether ``Prefer`` asks to go on after a failed operation (OData 4.0 and 4.01 names)."""
    for part in prefer.split(","):
        name, _, value = part.strip().partition("=")
        if name.strip().lower() in ("odata.continue-on-error", "continue-on-error"):
            return value.strip().lower() != "false"
    return False


def _path(root: str, url: str) -> str:
    """The absolute path (and query) of an operation's URL, which must lie under ``root``."""
    if url.startswith(("http://", "https://")):
        parts = urlsplit(url)
        url = parts.path + (f"?{parts.query}" if parts.query else "")
    elif not url.startswith("/"):
        url = f"{root}/{url}"
    if not url.startswith(f"{root}/") or url.split("?", 1)[0].endswith("/$batch"):
        raise BCError(400, "BadRequest", f"The operation URL '{url}' is not valid in this batch.")
    return url


async def handle_batch(
    emu: "BusinessCentralEmulator", request: Request, body: dict[str, Any]
) -> Response:
    """Run the operations of a ``$batch`` request in order (see the module docstring)."""
    if request.headers.get("isolation", "").strip().lower() == "snapshot":
        raise BCError(400, "BadRequest", "Isolation: snapshot is not emulated by the sandbox.")
    operations = body.get("requests")
    if not isinstance(operations, list) or not all(isinstance(o, dict) for o in operations):
        raise BCError(400, "BadRequest", "The batch request must have a 'requests' array.")
    if len(operations) > MAX_OPERATIONS:
        raise BCError(
            400,
            "Unknown",
            "The current batch message contains too many parts. A maximum number of "
            f"'{MAX_OPERATIONS}' query operations and change sets are allowed in a batch message.",
        )
    root = request.url.path.removesuffix("/$batch")
    checked: list[tuple[dict[str, Any], str, str]] = []
    for op in operations:
        method = str(op.get("method") or "").upper()
        if method not in _METHODS or not isinstance(op.get("url"), str):
            raise BCError(400, "BadRequest", "Each batch operation needs a method and a url.")
        checked.append((op, method, _path(root, op["url"])))
    keep_going = _continue_on_error(request.headers.get("prefer", ""))
    auth = {"authorization": request.headers.get("authorization", "")}
    responses: list[dict[str, Any]] = []
    async with BatchRun(emu, request) as run:
        for op, method, path in checked:
            given = op.get("headers")
            headers = {**auth, **({str(k): str(v) for k, v in given.items()} if given else {})}
            answer = await run.send(method, path, headers=headers, json=op.get("body"))
            item: dict[str, Any] = {
                "id": op.get("id"),
                "status": answer.status_code,
                "headers": {k: answer.headers[k] for k in _KEPT_HEADERS if k in answer.headers},
            }
            if answer.content:
                try:
                    item["body"] = answer.json()
                except ValueError:
                    item["body"] = answer.text
            responses.append(item)
            if answer.status_code >= 400 and not keep_going:
                break
    return JSONResponse({"responses": responses})
