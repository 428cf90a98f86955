"""OData ``$batch`` framing as finance and operations speaks it: multipart/mixed in and out.

A batch body is ``multipart/mixed`` with a boundary; each part is either one
``application/http`` request or a *changeset* (a nested ``multipart/mixed``) whose requests
run as one transaction, each tagged with a ``Content-ID``. The answer mirrors it
(``batchresponse_...`` / ``changesetresponse_...``) with one ``HTTP/1.1 <status>`` message
per request, the batch itself answering 200 whatever the parts did (OData v4 part 1, section
11.7; F&O's shape as shown in public write-ups: a failed changeset answers with the failing
request only). Pure functions: no routes, no storage.
"""

import json
import re
import uuid
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any

__all__ = ["BatchError", "Group", "Part", "Reply", "format_batch", "parse_batch"]

_BOUNDARY = re.compile(r'boundary="?([^";]+)"?', re.IGNORECASE)
_REQUEST_LINE = re.compile(r"^(GET|POST|PATCH|PUT|DELETE|MERGE)\s+(\S+)(?:\s+HTTP/1\.[01])?$")


class BatchError(ValueError):
    """A batch body that cannot be read (answered 400)."""


@dataclass
class Part:
    """One request inside a batch."""

    method: str
    url: str
    headers: dict[str, str]
    body: bytes
    content_id: str | None = None


@dataclass
class Group:
    """A changeset (``atomic``) or a single request outside any changeset."""

    parts: list[Part]
    atomic: bool


@dataclass
class Reply:
    """The answer to one part."""

    status: int
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    content_id: str | None = None


def _boundary(content_type: str) -> str:
    match = _BOUNDARY.search(content_type)
    if match is None or not content_type.lower().startswith("multipart/mixed"):
        raise BatchError("The batch request must be multipart/mixed with a boundary.")
    return match.group(1)


def _split(body: bytes, boundary: str) -> list[bytes]:
    text = body.replace(b"\r\n", b"\n")
    marker = b"--" + boundary.encode()
    chunks = text.split(marker)
    if len(chunks) < 2 or not chunks[-1].lstrip().startswith(b"--"):
        raise BatchError("The batch request is not terminated by its closing boundary.")
    return [c.strip(b"\n") for c in chunks[1:-1]]


def _headers_and_body(chunk: bytes) -> tuple[dict[str, str], bytes]:
    head, _, rest = chunk.partition(b"\n\n")
    headers: dict[str, str] = {}
    for line in head.decode("utf-8", "replace").split("\n"):
        name, sep, value = line.partition(":")
        if sep:
            headers[name.strip().lower()] = value.strip()
    return headers, rest


def _request(chunk: bytes) -> Part:
    outer, message = _headers_and_body(chunk)
    if "application/http" not in outer.get("content-type", ""):
        raise BatchError("Each batch part must be application/http or a changeset.")
    start, _, rest = message.partition(b"\n")
    found = _REQUEST_LINE.match(start.decode("utf-8", "replace").strip())
    if found is None:
        raise BatchError("A batch part does not start with a request line.")
    headers, body = _headers_and_body(rest) if rest.strip() else ({}, b"")
    return Part(found.group(1), found.group(2), headers, body.strip(), outer.get("content-id"))


def parse_batch(content_type: str, body: bytes) -> list[Group]:
    """The groups of a ``$batch`` body, in order.

    Raises:
        BatchError: The body is not a readable batch.
    """
    groups: list[Group] = []
    for chunk in _split(body, _boundary(content_type)):
        headers, content = _headers_and_body(chunk)
        kind = headers.get("content-type", "")
        if kind.lower().startswith("multipart/mixed"):
            parts = [_request(c) for c in _split(content, _boundary(kind))]
            groups.append(Group(parts, atomic=True))
        else:
            groups.append(Group([_request(chunk)], atomic=False))
    return groups


def _message(reply: Reply) -> list[str]:
    lines = ["Content-Type: application/http", "Content-Transfer-Encoding: binary"]
    if reply.content_id:
        lines.append(f"Content-ID: {reply.content_id}")
    reason = HTTPStatus(reply.status).phrase
    lines += ["", f"HTTP/1.1 {reply.status} {reason}"]
    headers = dict(reply.headers)
    payload = ""
    if reply.body is not None:
        headers["Content-Type"] = "application/json; odata.metadata=minimal; charset=utf-8"
        payload = json.dumps(reply.body)
    headers["OData-Version"] = "4.0"
    lines += [f"{k}: {v}" for k, v in headers.items()]
    lines += ["", payload]
    return lines


def format_batch(groups: list[tuple[bool, list[Reply]]]) -> tuple[str, bytes]:
    """``(content type, body)`` of the batch answer for ``(atomic, replies)`` groups."""
    batch = f"batchresponse_{uuid.uuid4()}"
    lines: list[str] = []
    for atomic, replies in groups:
        lines.append(f"--{batch}")
        if not atomic:
            lines += _message(replies[0])
            continue
        changeset = f"changesetresponse_{uuid.uuid4()}"
        lines += [f"Content-Type: multipart/mixed; boundary={changeset}", ""]
        for reply in replies:
            lines.append(f"--{changeset}")
            lines += _message(reply)
        lines.append(f"--{changeset}--")
    lines.append(f"--{batch}--")
    return f"multipart/mixed; boundary={batch}", "\r\n".join(lines).encode()
