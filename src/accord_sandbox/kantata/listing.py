"""Reading collections the Kantata way: filters, ``order``, paging, ``include`` and the envelope.

The envelope (reference section 3.2) indexes records by string id under the collection's plural
key, lists the answer's order in ``results`` and carries page information in ``meta``. Records
brought in by ``?include=`` share those top-level keys, so clients must read ``results`` first.
"""

import math
from collections.abc import Callable, Iterable, Mapping
from datetime import date
from typing import Any

from accord_sandbox.kantata.forms import KantataError, parse_timestamp
from accord_sandbox.kantata.models import Resource

__all__ = [
    "DEFAULT_PER_PAGE",
    "MAX_PER_PAGE",
    "Page",
    "apply_filters",
    "envelope",
    "order_records",
    "paginate",
    "parse_include",
]

Record = dict[str, Any]

DEFAULT_PER_PAGE = 20
"""[inferred] in the reference (section 3.2)."""
MAX_PER_PAGE = 200
"""The largest page clients use (mavenlink_gem, tap-mavenlink); larger requests are clamped."""

_EXTERNAL_FILTERS = {
    "external_reference_service_name": "service_name",
    "external_reference_service_model": "service_model",
    "external_reference_service_model_ref": "service_model_ref",
    "external_reference_status": "status",
}


class Page:
    """One page of a listing: the records on it plus the numbers for ``meta``."""

    def __init__(self, records: list[Record], *, total: int, number: int, size: int) -> None:
        self.records = records
        self.total = total
        self.number = number
        self.size = size

    @property
    def page_count(self) -> int:
        """Pages in the whole listing; at least 1 so that ``page >= page_count`` stops loops."""
        return max(1, math.ceil(self.total / self.size))

    def meta(self) -> dict[str, int]:
        """The ``meta`` object (``page_number``/``page_size`` names are [inferred])."""
        return {
            "count": self.total,
            "page_count": self.page_count,
            "page_number": self.number,
            "page_size": self.size,
        }


def _int_param(params: Mapping[str, str], name: str, default: int) -> int:
    raw = params.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError as exc:
        raise KantataError.invalid(f"{name} must be a positive integer", name) from exc
    if value < 1:
        raise KantataError.invalid(f"{name} must be a positive integer", name)
    return value


def paginate(records: list[Record], params: Mapping[str, str]) -> Page:
    """Slice ``records`` by ``page`` (1-based) and ``per_page``; or by ``limit``/``offset``.

    ``limit``/``offset`` come from mavenlink_gem (lib/mavenlink/request.rb); when given they win
    over ``page`` and ``meta`` reports the equivalent page [inferred].
    """
    size = min(_int_param(params, "per_page", DEFAULT_PER_PAGE), MAX_PER_PAGE)
    if "limit" in params or "offset" in params:
        size = min(_int_param(params, "limit", size), MAX_PER_PAGE)
        offset_raw = params.get("offset", "0") or "0"
        if not offset_raw.isdigit():
            raise KantataError.invalid("offset must be a non-negative integer", "offset")
        offset = int(offset_raw)
        return Page(
            records[offset : offset + size],
            total=len(records),
            number=offset // size + 1,
            size=size,
        )
    number = _int_param(params, "page", 1)
    start = (number - 1) * size
    return Page(records[start : start + size], total=len(records), number=number, size=size)


def _as_text(value: Any) -> str:  # noqa: ANN401 - any record value
    if isinstance(value, bool):
        return "true" if value else "false"
    return "" if value is None else str(value)


def _between(value: Any, spec: str, param: str) -> bool:  # noqa: ANN401 - a date string or None
    low, sep, high = spec.partition(":")
    try:
        lo = date.fromisoformat(low) if low else date.min
        hi = date.fromisoformat(high) if sep and high else date.max
    except ValueError as exc:
        raise KantataError.invalid(f"{param} must be YYYY-MM-DD:YYYY-MM-DD", param) from exc
    if not value:
        return False
    return lo <= date.fromisoformat(str(value)) <= hi


def apply_filters(
    resource: Resource,
    records: Iterable[Record],
    params: Mapping[str, str],
    external_refs: Iterable[Record],
) -> list[Record]:
    """The records matching every filter in ``params``; unknown parameters are ignored.

    Supported: ``only`` (ids), ``updated_after`` / ``created_after`` (strictly after; the
    former is [inferred] for time entries in the reference), ``<date field>_between=a:b``,
    ``external_reference_*``, ``search`` (title contains), and equality on any scalar field
    (``workspace_id``, ``approved``, ``story_type``, ``service_name`` ...).
    """
    rows = list(records)
    if only := params.get("only"):
        wanted = {i.strip() for i in only.split(",") if i.strip()}
        rows = [r for r in rows if r["id"] in wanted]
    for param in ("updated_after", "created_after"):
        if raw := params.get(param):
            cutoff = parse_timestamp(raw, param)
            column = param.removesuffix("_after") + "_at"
            rows = [r for r in rows if parse_timestamp(r[column], column) > cutoff]
    for name, spec in resource.fields.items():
        if spec.kind == "date" and (between := params.get(f"{name}_between")):
            rows = [r for r in rows if _between(r.get(name), between, f"{name}_between")]
        if spec.kind in {"ids", "json"} or name not in params:
            continue
        wanted_text = params[name]
        if spec.kind == "bool":
            wanted_text = "true" if wanted_text.lower() in {"true", "1", "t"} else "false"
        rows = [r for r in rows if _as_text(r.get(name)) == wanted_text]
    if search := params.get("search"):
        needle = search.lower()
        rows = [r for r in rows if needle in str(r.get("title") or r.get("notes") or "").lower()]
    ref_filters = {
        column: params[param] for param, column in _EXTERNAL_FILTERS.items() if param in params
    }
    refs_param = params.get("external_reference_service_model_refs")
    if ref_filters or refs_param:
        refs_wanted = {r.strip() for r in (refs_param or "").split(",") if r.strip()}
        linked = {
            ref["subject_id"]
            for ref in external_refs
            if ref["subject_type"] == resource.subject_type
            and all(_as_text(ref.get(k)) == v for k, v in ref_filters.items())
            and (not refs_wanted or ref["service_model_ref"] in refs_wanted)
        }
        rows = [r for r in rows if r["id"] in linked]
    return rows


def _sort_key(value: Any) -> tuple[int, Any]:  # noqa: ANN401 - any record value
    if value is None:
        return (0, "")
    if isinstance(value, bool | int):
        return (1, int(value))
    text = str(value)
    return (1, int(text)) if text.isdigit() else (2, text)


def _field_key(name: str) -> Callable[[Record], tuple[int, Any]]:
    def key(record: Record) -> tuple[int, Any]:
        return _sort_key(record.get(name))

    return key


def order_records(resource: Resource, rows: list[Record], order: str | None) -> list[Record]:
    """Sort by ``order=field:asc|desc[,field2:dir]``; default is creation order (id ascending).

    Raises:
        KantataError: 422 for an unknown field or direction.
    """
    ordered = sorted(rows, key=lambda r: _sort_key(r["id"]))
    if not order:
        return ordered
    for clause in reversed([c.strip() for c in order.split(",") if c.strip()]):
        name, _, direction = clause.partition(":")
        direction = direction or "asc"
        if (name != "id" and name not in resource.fields) or direction not in {"asc", "desc"}:
            raise KantataError.invalid(f"order {clause!r} is not valid", "order")
        ordered.sort(key=_field_key(name), reverse=direction == "desc")
    return ordered


def parse_include(resource: Resource, raw: str | None) -> list[str]:
    """The ``include`` names this resource supports (plus ``external_references``).

    Unknown names are ignored [inferred]: the reference documents ``include`` but not its errors.
    """
    names = [n.strip() for n in (raw or "").split(",") if n.strip()]
    return [n for n in names if n in resource.includes or n == "external_references"]


def envelope(
    plural: str,
    records: list[Record],
    *,
    page: Page | None = None,
    included: Mapping[str, Mapping[str, Record]] | None = None,
) -> dict[str, Any]:
    """``{count, results, <plural>: {id: record}, ...included, meta}``.

    ``count`` is the total number of matches across pages, as in ``meta.count``.
    """
    page = page or Page(records, total=len(records), number=1, size=max(len(records), 1))
    body: dict[str, Any] = {
        "count": page.total,
        "results": [{"key": plural, "id": r["id"]} for r in records],
        plural: {},
    }
    for key, rows in (included or {}).items():
        body.setdefault(key, {}).update(rows)
    body[plural].update({r["id"]: r for r in records})
    body["meta"] = page.meta()
    return body
