"""The published OpenAPI document (``openapi/v1.json``) and its backward-compatibility check.

Export (deterministic: keys sorted, two-space indent, a final newline)::

    python -m accord.api.openapi_export            # writes openapi/v1.json
    python -m accord.api.openapi_export --check    # exit 1 if the file is out of date

:func:`breaking_changes` compares two documents and lists every change that breaks an existing
client: a removed path or method, a removed or retyped response field, a new required request
input (parameter, body or body field). Additions are not breaking. A change of ``info.version``'s
major number allows breaking changes (that is what a new major version is for).

What does not belong here: the routes (the tier modules) and route-level governance
(:mod:`accord.api.governance`).
"""

import argparse
import json
import sys
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

__all__ = [
    "DEFAULT_PATH",
    "additions",
    "breaking_changes",
    "dumps",
    "generate",
    "main",
    "major_version",
]

DEFAULT_PATH = Path(__file__).resolve().parents[3] / "openapi" / "v1.json"
"""``openapi/v1.json`` of the source checkout."""

_METHODS = ("get", "put", "post", "delete", "patch", "head", "options")
_MAX_DEPTH = 12

Json = dict[str, Any]


def generate() -> Json:
    """The OpenAPI document of the app as :func:`accord.api.app.create_app` builds it."""
    from accord.api.app import create_app  # noqa: PLC0415 - the app imports everything
    from accord.settings import Settings  # noqa: PLC0415

    with tempfile.TemporaryDirectory() as tmp:
        # Nothing is started: the document only depends on the routes, not on a database.
        settings = Settings(
            database_url=f"sqlite:///{tmp}/openapi.db",
            worker_id="openapi-export",
            config_file=Path(tmp) / "accord.yaml",
        )
        app = create_app(settings, configure_logs=False)
        document: Json = app.openapi()
        app.state.services.engine.dispose()
    return document


def dumps(document: Mapping[str, Any]) -> str:
    """The canonical text of a document: sorted keys, so that exports diff cleanly."""
    return json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def major_version(document: Mapping[str, Any]) -> str:
    """The major part of ``info.version`` (``"1"`` of ``"1.4.2"``)."""
    return str(document.get("info", {}).get("version", "0")).split(".", 1)[0]


# --------------------------------------------------------------------------- comparison
def _resolve(doc: Mapping[str, Any], schema: object) -> Mapping[str, Any]:
    seen = 0
    while isinstance(schema, Mapping) and "$ref" in schema and seen < _MAX_DEPTH:
        ref = str(schema["$ref"])
        node: Any = doc
        for part in ref.removeprefix("#/").split("/"):
            node = node.get(part, {}) if isinstance(node, Mapping) else {}
        schema, seen = node, seen + 1
    return schema if isinstance(schema, Mapping) else {}


def _types(doc: Mapping[str, Any], schema: Mapping[str, Any]) -> frozenset[str]:
    """The JSON types a schema admits (``anyOf``/``oneOf`` flattened)."""
    schema = _resolve(doc, schema)
    variants = schema.get("anyOf") or schema.get("oneOf")
    if variants:
        return frozenset().union(*(_types(doc, v) for v in variants))
    if "type" in schema:
        kind = schema["type"]
        return frozenset(kind if isinstance(kind, list) else [kind])
    if "properties" in schema:
        return frozenset({"object"})
    if "enum" in schema or "const" in schema:
        return frozenset({"string"})
    return frozenset({"any"})


def _object_variant(doc: Mapping[str, Any], schema: Mapping[str, Any]) -> Mapping[str, Any]:
    """The object (or array) schema inside an optional ``anyOf [X, null]``."""
    schema = _resolve(doc, schema)
    for variant in schema.get("anyOf") or schema.get("oneOf") or ():
        resolved = _resolve(doc, variant)
        if "properties" in resolved or "items" in resolved:
            return resolved
    return schema


def _compare_output(
    old_doc: Json,
    new_doc: Json,
    old: Mapping[str, Any],
    new: Mapping[str, Any],
    *,
    where: str,
    depth: int = 0,
) -> list[str]:
    """Fields a client reads: removing or retyping one breaks it."""
    if depth > _MAX_DEPTH:
        return []
    old_s, new_s = _object_variant(old_doc, old), _object_variant(new_doc, new)
    problems: list[str] = []
    old_t, new_t = _types(old_doc, old), _types(new_doc, new)
    if old_t != new_t and "any" not in old_t:
        problems.append(f"{where}: type changed from {sorted(old_t)} to {sorted(new_t)}")
        return problems
    new_props = new_s.get("properties", {})
    for name, schema in old_s.get("properties", {}).items():
        if name not in new_props:
            problems.append(f"{where}.{name}: response field removed")
            continue
        problems += _compare_output(
            old_doc, new_doc, schema, new_props[name], where=f"{where}.{name}", depth=depth + 1
        )
    if "items" in old_s and "items" in new_s:
        problems += _compare_output(
            old_doc, new_doc, old_s["items"], new_s["items"], where=f"{where}[]", depth=depth + 1
        )
    return problems


def _compare_input(
    old_doc: Json,
    new_doc: Json,
    old: Mapping[str, Any],
    new: Mapping[str, Any],
    *,
    where: str,
    depth: int = 0,
) -> list[str]:
    """Fields a client sends: a new required one, or a retyped one, breaks it."""
    if depth > _MAX_DEPTH:
        return []
    old_s, new_s = _object_variant(old_doc, old), _object_variant(new_doc, new)
    problems: list[str] = []
    old_t, new_t = _types(old_doc, old), _types(new_doc, new)
    if not old_t <= new_t and "any" not in new_t:
        problems.append(f"{where}: accepted types narrowed from {sorted(old_t)} to {sorted(new_t)}")
        return problems
    old_props = old_s.get("properties", {})
    old_required = set(old_s.get("required", ()))
    problems.extend(
        f"{where}.{name}: new required request field"
        for name in new_s.get("required", ())
        if name not in old_required
    )
    for name, schema in new_s.get("properties", {}).items():
        if name in old_props:
            problems += _compare_input(
                old_doc, new_doc, old_props[name], schema, where=f"{where}.{name}", depth=depth + 1
            )
    return problems


def _json_schema(node: Mapping[str, Any]) -> Mapping[str, Any] | None:
    for media, body in (node.get("content") or {}).items():
        if "json" in media and isinstance(body, Mapping):
            schema = body.get("schema")
            return schema if isinstance(schema, Mapping) else None
    return None


def _compare_operation(old_doc: Json, new_doc: Json, old: Json, new: Json, op: str) -> list[str]:
    problems: list[str] = []
    old_params = {(p.get("in"), p.get("name")): p for p in old.get("parameters", ())}
    for p in new.get("parameters", ()):
        key = (p.get("in"), p.get("name"))
        before = old_params.get(key)
        if p.get("required") and (before is None or not before.get("required")):
            problems.append(f"{op}: new required {p.get('in')} parameter {p.get('name')!r}")
    old_body, new_body = old.get("requestBody") or {}, new.get("requestBody") or {}
    if new_body.get("required") and not old_body.get("required"):
        problems.append(f"{op}: request body became required")
    old_in, new_in = _json_schema(old_body), _json_schema(new_body)
    if old_in is not None and new_in is not None:
        problems += _compare_input(old_doc, new_doc, old_in, new_in, where=f"{op} request")
    new_responses = new.get("responses", {})
    for status, response in old.get("responses", {}).items():
        old_out = _json_schema(response)
        new_response = new_responses.get(status)
        if old_out is None or new_response is None:
            continue
        new_out = _json_schema(new_response)
        if new_out is None:
            problems.append(f"{op} {status}: JSON response body removed")
            continue
        problems += _compare_output(old_doc, new_doc, old_out, new_out, where=f"{op} {status}")
    return problems


def breaking_changes(old: Json, new: Json) -> list[str]:
    """Every backward-incompatible change from ``old`` to ``new`` (empty when compatible).

    A different major ``info.version`` makes every change allowed, so nothing is reported.
    """
    if major_version(old) != major_version(new):
        return []
    problems: list[str] = []
    new_paths = new.get("paths", {})
    for path, item in sorted(old.get("paths", {}).items()):
        for method in _METHODS:
            if method not in item:
                continue
            op = f"{method.upper()} {path}"
            if method not in new_paths.get(path, {}):
                problems.append(f"{op}: removed")
                continue
            problems += _compare_operation(old, new, item[method], new_paths[path][method], op)
    return problems


def additions(old: Json, new: Json) -> list[str]:
    """Operations in ``new`` that ``old`` lacks (additive: re-export to publish them)."""
    old_paths = old.get("paths", {})
    return [
        f"{method.upper()} {path}"
        for path, item in sorted(new.get("paths", {}).items())
        for method in _METHODS
        if method in item and method not in old_paths.get(path, {})
    ]


def main(argv: list[str] | None = None) -> int:
    """Write (or ``--check``) the OpenAPI document; 0 on success."""
    parser = argparse.ArgumentParser(prog="python -m accord.api.openapi_export")
    parser.add_argument("--output", type=Path, default=DEFAULT_PATH)
    parser.add_argument("--check", action="store_true", help="fail if the file is out of date")
    args = parser.parse_args(argv)
    text = dumps(generate())
    output: Path = args.output
    if args.check:
        current = output.read_text(encoding="utf-8") if output.exists() else ""
        if current != text:
            sys.stderr.write(f"{output} is out of date: run python -m accord.api.openapi_export\n")
            return 1
        return 0
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(text, encoding="utf-8")
    sys.stdout.write(f"wrote {output}\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
