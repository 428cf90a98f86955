"""OData ``$batch`` for finance and operations: requests framed as multipart/mixed, and back.

``POST /data/$batch`` with ``Content-Type: multipart/mixed; boundary=batch_...``. Requests
inside one *changeset* run as one transaction: all succeed or none does, and a failed
changeset answers with the failing request only (Microsoft, "Open Data Protocol (OData)":
*Run multiple requests in a single transaction*; OData v4 part 1, section 11.7). Each request
of a changeset carries a ``Content-ID`` (its position, from 1) so that an answer names the
request it belongs to. The batch itself answers 200 whatever its requests did.

Pure functions: the connector sends the encoded body and decodes the answer.
"""

import json
import re
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

__all__ = ["BatchRequest", "BatchResponse", "decode_batch", "encode_batch"]

_BOUNDARY = re.compile(r'boundary="?([^";]+)"?', re.IGNORECASE)
_STATUS_LINE = re.compile(r"^HTTP/1\.[01]\s+(\d{3})")


@dataclass(frozen=True)
class BatchRequest:
    """One request of a batch; ``path`` is relative to ``/data/`` (``CustomersV3``)."""

    method: str
    path: str
    body: Mapping[str, Any] | None = None
    headers: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class BatchResponse:
    """The answer to one request: status, JSON body (or None) and its ``Content-ID``."""

    status: int
    body: Any
    content_id: str | None = None

    @property
    def ok(self) -> bool:
        """A 2xx answer."""
        return 200 <= self.status < 300


def encode_batch(
    base_url: str, requests: Sequence[BatchRequest], *, atomic: bool
) -> tuple[str, bytes]:
    """``(content type, body)`` of a batch: one changeset (``atomic``) or separate requests."""
    batch = f"batch_{uuid.uuid4()}"
    changeset = f"changeset_{uuid.uuid4()}"
    lines: list[str] = []
    if atomic:
        lines += [f"--{batch}", f"Content-Type: multipart/mixed; boundary={changeset}", ""]
    for number, request in enumerate(requests, start=1):
        lines.append(f"--{changeset if atomic else batch}")
        lines += ["Content-Type: application/http", "Content-Transfer-Encoding: binary"]
        lines += [f"Content-ID: {number}", ""]
        lines.append(f"{request.method} {base_url}/{request.path} HTTP/1.1")
        headers = {"OData-Version": "4.0", "Accept": "application/json", **request.headers}
        payload = ""
        if request.body is not None:
            headers["Content-Type"] = "application/json; odata.metadata=minimal"
            payload = json.dumps(dict(request.body), default=str)
        lines += [f"{k}: {v}" for k, v in headers.items()]
        lines += ["", payload]
    if atomic:
        lines.append(f"--{changeset}--")
    lines.append(f"--{batch}--")
    return f"multipart/mixed; boundary={batch}", "\r\n".join(lines).encode()


def _parts(body: bytes, boundary: str) -> list[bytes]:
    chunks = body.replace(b"\r\n", b"\n").split(b"--" + boundary.encode())
    return [c.strip(b"\n") for c in chunks[1:-1]]


def _head(chunk: bytes) -> tuple[dict[str, str], bytes]:
    head, _, rest = chunk.partition(b"\n\n")
    found = {}
    for line in head.decode("utf-8", "replace").split("\n"):
        name, sep, value = line.partition(":")
        if sep:
            found[name.strip().lower()] = value.strip()
    return found, rest


def decode_batch(content_type: str, body: bytes) -> list[BatchResponse]:
    """Every answer of a batch response, in order (changesets flattened).

    Raises:
        ValueError: The body is not a multipart batch response.
    """
    outer = _BOUNDARY.search(content_type)
    if outer is None:
        raise ValueError("a $batch answer is multipart/mixed with a boundary")
    out: list[BatchResponse] = []
    for chunk in _parts(body, outer.group(1)):
        headers, content = _head(chunk)
        nested = _BOUNDARY.search(headers.get("content-type", ""))
        inner = _parts(content, nested.group(1)) if nested else [chunk]
        for part in inner:
            part_headers, message = _head(part)
            status_line, _, rest = message.partition(b"\n")
            status = _STATUS_LINE.match(status_line.decode("utf-8", "replace").strip())
            if status is None:
                raise ValueError("a $batch answer part has no status line")
            _, payload = _head(rest)
            text = payload.strip()
            value = json.loads(text) if text else None
            out.append(BatchResponse(int(status.group(1)), value, part_headers.get("content-id")))
    return out
