"""The checked-in ``schemas/`` must be exactly what the models generate, and compatible."""

import json
import re
from pathlib import Path

import pytest

import accord.domain
from accord.domain import (
    SCHEMA_MODELS,
    CanonicalModel,
    CloudEvent,
    Money,
    SchemaCompatibilityError,
    export_schemas,
    incompatibilities,
    schema_document,
    schema_filename,
)

REPO_SCHEMAS = Path(__file__).resolve().parents[3] / "schemas"
_VERSIONED = re.compile(r"^(?P<name>.+)\.v(?P<major>\d+)\.json$")

REGENERATE = "run `accord schemas export` (export_schemas(Path('schemas'))) and commit the result"


def _superseded(filename: str, generated: set[str]) -> bool:
    """An old major's file stays checked in once a newer major of the same name exists."""
    match = _VERSIONED.match(filename)
    if match is None:
        return False
    for other in generated:
        other_match = _VERSIONED.match(other)
        if (
            other_match is not None
            and other_match["name"] == match["name"]
            and int(other_match["major"]) > int(match["major"])
        ):
            return True
    return False


def test_checked_in_schemas_match_the_models(tmp_path):
    written = export_schemas(tmp_path)
    generated = {path.name for path in written}
    checked_in = {path.name for path in REPO_SCHEMAS.glob("*.json")}
    missing = sorted(generated - checked_in)
    extra = sorted(name for name in checked_in - generated if not _superseded(name, generated))
    changed = sorted(
        name
        for name in generated & checked_in
        if (tmp_path / name).read_bytes() != (REPO_SCHEMAS / name).read_bytes()
    )
    assert not missing, f"schemas not checked in: {missing}; {REGENERATE}"
    assert not extra, f"schemas with no model: {extra}; delete them or restore the model"
    assert not changed, f"schemas out of date: {changed}; {REGENERATE}"


def test_current_models_are_compatible_with_checked_in_schemas_of_the_same_major():
    checked = 0
    for model in SCHEMA_MODELS:
        path = REPO_SCHEMAS / schema_filename(model)
        if not path.exists():
            continue
        old = json.loads(path.read_text(encoding="utf-8"))
        assert incompatibilities(old, schema_document(model)) == [], path.name
        checked += 1
    assert checked == len(SCHEMA_MODELS)


def _canonical_subclasses() -> set[type[CanonicalModel]]:
    found: set[type[CanonicalModel]] = set()
    pending = list(CanonicalModel.__subclasses__())
    while pending:
        cls = pending.pop()
        pending.extend(cls.__subclasses__())
        # Skip test-local classes and the parametrised CloudEvent[X] intermediates.
        if cls.__module__.startswith("accord.domain") and "[" not in cls.__name__:
            found.add(cls)
    return found - {CloudEvent}


def test_every_canonical_model_gets_a_schema():
    assert _canonical_subclasses() == set(SCHEMA_MODELS)
    assert len({schema_filename(model) for model in SCHEMA_MODELS}) == len(SCHEMA_MODELS)


def test_every_model_is_versioned_and_exported():
    for model in SCHEMA_MODELS:
        assert re.fullmatch(r"\d+\.\d+", model.__schema_version__), model
        assert model.__name__ in accord.domain.__all__, model


def test_schema_identity_includes_the_major_version():
    document = schema_document(Money)
    assert document["$id"] == "urn:accord:schema:money:v1"
    assert document["title"] == "Money v1"
    assert document["x-accord-schema-version"] == "1.0"
    assert document["$schema"].endswith("2020-12/schema")
    event = json.loads((REPO_SCHEMAS / "event.opportunity.won.v1.json").read_text())
    assert event["$id"] == "urn:accord:schema:event.opportunity.won:v1"
    assert event["properties"]["type"]["const"] == "opportunity.won"


def test_schema_files_are_stable_pretty_json(tmp_path):
    first = {p.name: p.read_bytes() for p in export_schemas(tmp_path)}
    second = {p.name: p.read_bytes() for p in export_schemas(tmp_path)}
    assert first == second
    text = first["money.v1.json"].decode()
    assert text.endswith("}\n")
    assert not text.endswith("\n\n")
    assert '\n  "$id": ' in text
    assert list(json.loads(text)) == sorted(json.loads(text))


def test_export_returns_sorted_paths_and_creates_the_directory(tmp_path):
    out = tmp_path / "nested" / "schemas"
    written = export_schemas(out)
    assert written == sorted(written)
    assert all(path.parent == out for path in written)
    assert len(written) == len(SCHEMA_MODELS)


def _seed(tmp_path: Path) -> Path:
    out = tmp_path / "schemas"
    export_schemas(out)
    return out


def _tamper(path: Path, edit) -> str:
    schema = json.loads(path.read_text())
    edit(schema)
    text = json.dumps(schema, indent=2)
    path.write_text(text)
    return text


def test_export_refuses_an_incompatible_overwrite_and_writes_nothing(tmp_path):
    out = _seed(tmp_path)
    # Pretend the checked-in v1 had a field the current model no longer has.
    tampered = _tamper(
        out / "money.v1.json",
        lambda s: s["properties"].update({"cents": {"type": "integer"}}),
    )
    (out / "customer.v1.json").unlink()
    with pytest.raises(SchemaCompatibilityError) as info:
        export_schemas(out)
    assert out / "money.v1.json" in info.value.problems
    assert "$.cents: field removed" in str(info.value)
    assert (out / "money.v1.json").read_text() == tampered
    assert not (out / "customer.v1.json").exists(), "nothing is written on refusal"


def test_export_refuses_an_unreadable_existing_schema(tmp_path):
    out = _seed(tmp_path)
    (out / "rate.v1.json").write_text("{not json")
    with pytest.raises(SchemaCompatibilityError, match="not valid JSON"):
        export_schemas(out)


def test_a_major_bump_writes_a_new_file_beside_the_old_one(tmp_path, monkeypatch):
    out = _seed(tmp_path)
    tampered = _tamper(
        out / "money.v1.json",
        lambda s: s["properties"].update({"cents": {"type": "integer"}}),
    )
    monkeypatch.setattr(Money, "__schema_version__", "2.0")
    written = export_schemas(out)
    assert out / "money.v2.json" in written
    assert out / "money.v1.json" not in written
    assert (out / "money.v1.json").read_text() == tampered
    assert json.loads((out / "money.v2.json").read_text())["$id"].endswith(":v2")


def test_a_minor_bump_overwrites_the_same_major_file(tmp_path, monkeypatch):
    out = _seed(tmp_path)
    monkeypatch.setattr(Money, "__schema_version__", "1.1")
    export_schemas(out)
    assert json.loads((out / "money.v1.json").read_text())["x-accord-schema-version"] == "1.1"


def test_a_malformed_schema_version_fails_at_class_definition():
    with pytest.raises(ValueError, match=r"major\.minor"):

        class Broken(CanonicalModel):
            __schema_version__ = "1"

            value: int
