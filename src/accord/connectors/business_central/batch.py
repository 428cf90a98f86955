"""Business Central ``$batch``: many operations in one request (OData JSON batch).

``POST {api root}/$batch`` with ``{"requests": [{"id", "method", "url", "headers", "body"}]}``
answers ``{"responses": [{"id", "status", "headers", "body"}]}``, one per operation, a refused
operation carrying its own status and BC error body inside a 200 (learn.microsoft.com, "Using
OData transactional $batch requests"). A request carries at most :data:`MAX_OPERATIONS`
operations (learn.microsoft.com/training/modules/work-with-api/4-limits; reference 5.2/5.3),
and each operation counts against the 6,000-per-5-minutes limit [inferred, issue 15]: a batch
saves round trips and connections, not rate.

Accord sends ``Prefer: odata.continue-on-error`` (OData 4.0, Part 1, 8.2.8.3), so that one
refused operation does not stop the others [inferred that BC honours the preference, as the
OData stack it is built on does]. The answer of the whole request failing (a 429 or 5xx on the
batch, a lost answer, a timeout) raises as any request would: every operation's outcome is
then unknown, and a caller retries only what it can verify.

Operation URLs are relative to their API root: the standard ``api/v2.0`` or, for the pages of
Accord's extension, its own route (``extension_api``); operations under different roots go in
separate ``$batch`` requests, each root's in order. A single operation is sent as the request
itself (the same cost, without the envelope).
"""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final, Literal

import httpx

from accord.connectors.types import RawRecord
from accord.errors import ConnectorError, RetryableError

if TYPE_CHECKING:
    from accord.connectors.business_central.connector import BusinessCentralConnector

__all__ = ["MAX_OPERATIONS", "BatchAnswer", "BatchOperation", "send_batch"]

MAX_OPERATIONS: Final = 100
"""Operations per ``$batch`` request (reference 5.3)."""
_PREFER: Final = {"Prefer": "odata.continue-on-error"}
_RESOURCE: Final = "$batch"


@dataclass(frozen=True, slots=True)
class BatchOperation:
    """One operation: what would otherwise be a request of its own.

    Attributes:
        method: The HTTP method.
        path: The path as :meth:`Connector.send` takes it: under ``base_url``
            (``/companies(...)/journals(...)/journalLines``) or an absolute URL (the extension
            API's route).
        resource: The entity set, for errors.
        params: Query options (``$filter``, ``$top`` ...).
        body: The JSON body of a write.
        headers: Headers of the operation (``If-Match``).
        external_id: The key the operation writes or reads by, for errors.
    """

    method: Literal["GET", "POST", "PATCH", "DELETE"]
    path: str
    resource: str
    params: Mapping[str, str | int] | None = None
    body: Mapping[str, Any] | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    external_id: str | None = None


@dataclass(frozen=True, slots=True)
class BatchAnswer:
    """What BC answered to one operation: its status and body, or the error it means."""

    status: int
    body: RawRecord
    error: ConnectorError | None = None

    @property
    def ok(self) -> bool:
        """BC carried the operation out (2xx)."""
        return self.error is None

    def result(self) -> RawRecord:
        """The body of a carried-out operation; raises the error of a refused one."""
        if self.error is not None:
            raise self.error
        return self.body


def send_batch(
    connector: "BusinessCentralConnector", operations: Sequence[BatchOperation]
) -> list[BatchAnswer]:
    """Carry out ``operations`` in as few requests as BC allows; one answer each, in order.

    Raises:
        ConnectorError: A ``$batch`` request as a whole failed (see the module docstring).
    """
    answers: list[BatchAnswer | None] = [None] * len(operations)
    groups: dict[str, list[int]] = {}
    for index, operation in enumerate(operations):
        groups.setdefault(_root(operation.path), []).append(index)
    for root, indexes in groups.items():
        for start in range(0, len(indexes), MAX_OPERATIONS):
            chunk = indexes[start : start + MAX_OPERATIONS]
            if len(chunk) == 1:
                answers[chunk[0]] = _alone(connector, operations[chunk[0]])
                continue
            for index, answer in zip(
                chunk, _request(connector, root, [operations[i] for i in chunk]), strict=True
            ):
                answers[index] = answer
    return [a for a in answers if a is not None]


def _root(path: str) -> str:
    """The API root an operation's path lies under: ``""`` for ``base_url``, else its URL."""
    if not path.startswith(("http://", "https://")):
        return ""
    head, found, _ = path.partition("/companies(")
    return head if found else path.rsplit("/", 1)[0]


def _alone(connector: "BusinessCentralConnector", operation: BatchOperation) -> BatchAnswer:
    response = connector.send(
        operation.method,
        operation.path,
        resource=operation.resource,
        params=operation.params,
        json=dict(operation.body) if operation.body is not None else None,
        headers=operation.headers or None,
    )
    return _answer(connector, operation, response)


def _request(
    connector: "BusinessCentralConnector", root: str, operations: Sequence[BatchOperation]
) -> list[BatchAnswer]:
    requests: list[dict[str, Any]] = []
    for number, operation in enumerate(operations, start=1):
        url = operation.path.removeprefix(root).lstrip("/")
        if operation.params:
            url += "?" + str(httpx.QueryParams(dict(operation.params)))
        item: dict[str, Any] = {"id": str(number), "method": operation.method, "url": url}
        if operation.headers:
            item["headers"] = dict(operation.headers)
        if operation.body is not None:
            item["body"] = dict(operation.body)
        requests.append(item)
    response = connector.send(
        "POST",
        f"{root}/$batch",
        resource=_RESOURCE,
        json={"requests": requests},
        headers=_PREFER,
    )
    connector.raise_for_status(response, resource=_RESOURCE)
    body = connector.json_object(response, resource=_RESOURCE)
    by_id = {str(r.get("id")): r for r in body.get("responses") or () if isinstance(r, dict)}
    out = []
    for number, operation in enumerate(operations, start=1):
        found = by_id.get(str(number))
        if found is None:
            # Not carried out, or its answer missing: unknown, and safe only to retry.
            error = RetryableError(
                "no answer to the operation in the $batch response",
                connector=connector.name,
                resource=operation.resource,
                external_id=operation.external_id,
            )
            out.append(BatchAnswer(0, {}, error))
            continue
        headers = found.get("headers")
        inner = httpx.Response(
            int(found.get("status") or 0),
            headers=headers if isinstance(headers, dict) else None,
            json=found.get("body"),
        )
        out.append(_answer(connector, operation, inner))
    throttled = [a.error for a in out if a.status == httpx.codes.TOO_MANY_REQUESTS]
    if throttled:
        # Throttled operations inside a batch that succeeded: send() saw a 200, so the budget
        # hears of it here, once per answer (one throttle signal, the longest wait).
        waits = [w for e in throttled if (w := getattr(e, "retry_after", None)) is not None]
        connector.budget.penalize(connector.config, max(waits, default=None))
    return out


def _answer(
    connector: "BusinessCentralConnector", operation: BatchOperation, response: httpx.Response
) -> BatchAnswer:
    if response.is_success:
        try:
            body = response.json() if response.content else {}
        except ValueError:
            body = {}
        return BatchAnswer(response.status_code, body if isinstance(body, dict) else {})
    error = connector.translate_error(
        response, resource=operation.resource, external_id=operation.external_id
    )
    return BatchAnswer(response.status_code, {}, error)
