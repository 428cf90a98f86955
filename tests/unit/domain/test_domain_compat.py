"""The compatibility checker, on deliberately broken variants of real and small schemas."""

import copy
import json

import pytest

from accord.domain import Contract, Money, Opportunity, incompatibilities, schema_document


@pytest.fixture
def opportunity_schema():
    return schema_document(Opportunity)


def _edited(schema, edit):
    new = copy.deepcopy(schema)
    edit(new)
    return new


def _only(problems, fragment):
    assert problems, "expected an incompatibility"
    assert any(fragment in problem for problem in problems), problems


@pytest.mark.parametrize("model", [Money, Opportunity, Contract])
def test_a_schema_is_compatible_with_itself(model):
    schema = schema_document(model)
    assert incompatibilities(schema, copy.deepcopy(schema)) == []


def test_field_removed(opportunity_schema):
    def edit(s):
        del s["properties"]["practice"]
        s["required"].remove("practice")

    problems = incompatibilities(opportunity_schema, _edited(opportunity_schema, edit))
    assert problems == ["$.practice: field removed"]


def test_optional_field_removed(opportunity_schema):
    new = _edited(opportunity_schema, lambda s: s["properties"].pop("owner_email"))
    assert incompatibilities(opportunity_schema, new) == ["$.owner_email: field removed"]


def test_field_renamed_is_reported_with_a_hint(opportunity_schema):
    def edit(s):
        s["properties"]["sales_region"] = s["properties"].pop("region")
        s["required"] = ["sales_region" if r == "region" else r for r in s["required"]]

    problems = incompatibilities(opportunity_schema, _edited(opportunity_schema, edit))
    _only(problems, "$.region: field removed (renamed to 'sales_region'")
    _only(problems, "$.sales_region: new required field")


def test_type_narrowed_string_to_integer(opportunity_schema):
    def edit(s):
        s["properties"]["name"] = {"type": "integer"}

    problems = incompatibilities(opportunity_schema, _edited(opportunity_schema, edit))
    assert problems == ["$.name: type narrowed from string to integer"]


def test_type_narrowed_inside_a_shared_definition(opportunity_schema):
    def edit(s):
        s["$defs"]["Money"]["properties"]["currency"]["type"] = "integer"

    problems = incompatibilities(opportunity_schema, _edited(opportunity_schema, edit))
    _only(problems, "$.amount.currency: type narrowed from string to integer")
    _only(problems, "$.lines[].unit_price.currency")


def test_enum_value_removed(opportunity_schema):
    def edit(s):
        s["$defs"]["OpportunityStage"]["enum"].remove("negotiation")

    problems = incompatibilities(opportunity_schema, _edited(opportunity_schema, edit))
    assert problems == ['$.stage: enum values removed: "negotiation"']


def test_enum_value_added_is_compatible(opportunity_schema):
    def edit(s):
        s["$defs"]["OpportunityStage"]["enum"].append("on_hold")

    assert incompatibilities(opportunity_schema, _edited(opportunity_schema, edit)) == []


def test_optional_field_made_required(opportunity_schema):
    new = _edited(opportunity_schema, lambda s: s["required"].append("start_date"))
    assert incompatibilities(opportunity_schema, new) == [
        "$.start_date: optional field made required"
    ]


def test_nullable_field_made_non_nullable_is_a_lost_union_member(opportunity_schema):
    def edit(s):
        s["properties"]["start_date"] = {"type": "string", "format": "date"}

    problems = incompatibilities(opportunity_schema, _edited(opportunity_schema, edit))
    assert problems == ["$.start_date: type narrowed from null to string"]


def test_union_losing_a_member_among_several():
    old = {
        "properties": {"v": {"anyOf": [{"type": "string"}, {"type": "integer"}, {"type": "null"}]}}
    }
    new = {"properties": {"v": {"anyOf": [{"type": "string"}, {"type": "null"}]}}}
    assert incompatibilities(old, new) == ["$.v: union no longer accepts integer"]


def test_new_required_field(opportunity_schema):
    def edit(s):
        s["properties"]["priority"] = {"type": "integer"}
        s["required"].append("priority")

    problems = incompatibilities(opportunity_schema, _edited(opportunity_schema, edit))
    assert problems == ["$.priority: new required field"]


def test_new_optional_field_is_compatible(opportunity_schema):
    def edit(s):
        s["properties"]["priority"] = {"anyOf": [{"type": "integer"}, {"type": "null"}]}

    assert incompatibilities(opportunity_schema, _edited(opportunity_schema, edit)) == []


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ({"type": "integer"}, {"type": "number"}),
        ({"type": "string"}, {"anyOf": [{"type": "string"}, {"type": "null"}]}),
        ({"type": "string"}, {"type": ["string", "integer"]}),
        ({"type": "string", "maxLength": 10}, {"type": "string", "maxLength": 20}),
        ({"type": "integer", "minimum": 1}, {"type": "integer", "minimum": 0}),
        ({"type": "number", "exclusiveMinimum": 0}, {"type": "number", "minimum": 0}),
        ({"const": "a"}, {"enum": ["a", "b"]}),
        ({"type": "string", "pattern": "^a$"}, {"type": "string"}),
        ({"type": "integer"}, {}),
        ({"type": "object", "additionalProperties": False}, {"type": "object"}),
    ],
)
def test_widening_is_compatible(old, new):
    assert incompatibilities({"properties": {"v": old}}, {"properties": {"v": new}}) == []


@pytest.mark.parametrize(
    ("old", "new", "fragment"),
    [
        ({"type": "number"}, {"type": "integer"}, "type narrowed from number to integer"),
        ({}, {"type": "string"}, "was unconstrained"),
        ({"type": "string"}, {"type": "string", "maxLength": 5}, "maxLength lowered to 5"),
        ({"type": "string", "maxLength": 9}, {"type": "string", "maxLength": 5}, "maxLength"),
        ({"type": "string"}, {"type": "string", "minLength": 1}, "minLength raised to 1"),
        ({"type": "integer", "maximum": 24}, {"type": "integer", "maximum": 12}, "upper bound"),
        ({"type": "integer", "minimum": 0}, {"type": "integer", "exclusiveMinimum": 0}, "lower"),
        ({"type": "string"}, {"type": "string", "pattern": "^x$"}, "pattern changed"),
        ({"type": "string", "format": "date"}, {"type": "string", "format": "date-time"}, "format"),
        ({"type": "string"}, {"enum": ["a"]}, "now restricted to"),
        ({"enum": ["a", "b"]}, {"const": "a"}, 'enum values removed: "b"'),
        ({"type": "array", "items": {"type": "number"}}, {"type": "array", "items": {"type": "integer"}}, "$.v[]: type narrowed"),  # noqa: E501
        ({"type": "array"}, {"type": "array", "maxItems": 3}, "maxItems lowered"),
        ({"type": "object"}, {"type": "object", "additionalProperties": False}, "additional properties"),  # noqa: E501
        ({"type": "string"}, False, "now accepts nothing"),
    ],
)  # fmt: skip
def test_narrowing_is_incompatible(old, new, fragment):
    problems = incompatibilities({"properties": {"v": old}}, {"properties": {"v": new}})
    _only(problems, fragment)


def test_recursive_schemas_terminate():
    tree = {
        "$defs": {
            "Node": {
                "type": "object",
                "properties": {
                    "name": {"type": "string"},
                    "children": {"type": "array", "items": {"$ref": "#/$defs/Node"}},
                },
            }
        },
        "$ref": "#/$defs/Node",
    }
    assert incompatibilities(tree, copy.deepcopy(tree)) == []
    narrowed = copy.deepcopy(tree)
    narrowed["$defs"]["Node"]["properties"]["name"] = {"type": "integer"}
    assert incompatibilities(tree, narrowed) == ["$.name: type narrowed from string to integer"]


def test_checked_schemas_from_disk_are_plain_json(opportunity_schema):
    # What export compares: a schema that went through JSON text, against a fresh one.
    from_disk = json.loads(json.dumps(opportunity_schema))
    assert incompatibilities(from_disk, opportunity_schema) == []


def test_problems_name_every_break(opportunity_schema):
    def edit(s):
        del s["properties"]["practice"]
        s["required"].append("end_date")
        s["properties"]["name"] = {"type": "integer"}

    problems = incompatibilities(opportunity_schema, _edited(opportunity_schema, edit))
    assert len(problems) == 3
