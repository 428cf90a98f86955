"""The OpenAPI backward-compatibility checker on small hand-written documents."""

import copy

from accord.api.openapi_export import additions, breaking_changes, dumps, major_version


def _doc(version: str = "1.0.0") -> dict:
    return {
        "openapi": "3.1.0",
        "info": {"title": "t", "version": version},
        "paths": {
            "/api/v1/invoices/{invoice_id}": {
                "get": {
                    "parameters": [
                        {"in": "path", "name": "invoice_id", "required": True, "schema": {}}
                    ],
                    "responses": {
                        "200": {
                            "content": {
                                "application/json": {
                                    "schema": {"$ref": "#/components/schemas/Invoice"}
                                }
                            }
                        }
                    },
                }
            },
            "/api/v1/projects": {
                "post": {
                    "requestBody": {
                        "required": True,
                        "content": {
                            "application/json": {
                                "schema": {"$ref": "#/components/schemas/ProvisionRequest"}
                            }
                        },
                    },
                    "responses": {"201": {"description": "ok"}},
                }
            },
        },
        "components": {
            "schemas": {
                "Invoice": {
                    "type": "object",
                    "required": ["id", "total"],
                    "properties": {
                        "id": {"type": "string"},
                        "total": {"$ref": "#/components/schemas/Money"},
                        "due": {"anyOf": [{"type": "string"}, {"type": "null"}]},
                        "lines": {"type": "array", "items": {"$ref": "#/components/schemas/Line"}},
                    },
                },
                "Money": {
                    "type": "object",
                    "properties": {"amount": {"type": "string"}, "currency": {"type": "string"}},
                },
                "Line": {"type": "object", "properties": {"amount": {"type": "string"}}},
                "ProvisionRequest": {
                    "type": "object",
                    "required": ["opportunity"],
                    "properties": {
                        "opportunity": {"type": "object"},
                        "wait_seconds": {"type": "number"},
                    },
                },
            }
        },
    }


def test_identical_documents_are_compatible():
    assert breaking_changes(_doc(), _doc()) == []


def test_a_deliberately_removed_response_field_is_caught():
    new = copy.deepcopy(_doc())
    del new["components"]["schemas"]["Invoice"]["properties"]["due"]
    problems = breaking_changes(_doc(), new)
    assert problems == ["GET /api/v1/invoices/{invoice_id} 200.due: response field removed"]


def test_a_removed_nested_field_is_caught():
    new = copy.deepcopy(_doc())
    del new["components"]["schemas"]["Money"]["properties"]["currency"]
    del new["components"]["schemas"]["Line"]["properties"]["amount"]
    problems = breaking_changes(_doc(), new)
    assert "GET /api/v1/invoices/{invoice_id} 200.total.currency: response field removed" in (
        problems
    )
    assert "GET /api/v1/invoices/{invoice_id} 200.lines[].amount: response field removed" in (
        problems
    )


def test_a_retyped_response_field_is_caught():
    new = copy.deepcopy(_doc())
    new["components"]["schemas"]["Invoice"]["properties"]["id"] = {"type": "integer"}
    [problem] = breaking_changes(_doc(), new)
    assert "200.id: type changed" in problem


def test_a_removed_path_or_method_is_caught():
    new = copy.deepcopy(_doc())
    del new["paths"]["/api/v1/projects"]
    assert breaking_changes(_doc(), new) == ["POST /api/v1/projects: removed"]


def test_new_required_inputs_are_caught():
    new = copy.deepcopy(_doc())
    new["components"]["schemas"]["ProvisionRequest"]["required"].append("wait_seconds")
    new["paths"]["/api/v1/invoices/{invoice_id}"]["get"]["parameters"].append(
        {"in": "query", "name": "tenant", "required": True, "schema": {"type": "string"}}
    )
    problems = breaking_changes(_doc(), new)
    assert "POST /api/v1/projects request.wait_seconds: new required request field" in problems
    assert "GET /api/v1/invoices/{invoice_id}: new required query parameter 'tenant'" in problems


def test_additions_are_not_breaking_but_are_reported():
    new = copy.deepcopy(_doc())
    new["paths"]["/api/v1/engagements"] = {"get": {"responses": {}}}
    new["components"]["schemas"]["Invoice"]["properties"]["number"] = {"type": "string"}
    new["components"]["schemas"]["ProvisionRequest"]["properties"]["note"] = {"type": "string"}
    assert breaking_changes(_doc(), new) == []
    assert additions(_doc(), new) == ["GET /api/v1/engagements"]


def test_a_new_major_version_allows_breaking_changes():
    new = copy.deepcopy(_doc("2.0.0"))
    del new["paths"]["/api/v1/projects"]
    assert major_version(new) == "2"
    assert breaking_changes(_doc(), new) == []


def test_export_text_is_sorted_and_stable():
    text = dumps({"b": 1, "a": {"d": 2, "c": 3}})
    assert text == '{\n  "a": {\n    "c": 3,\n    "d": 2\n  },\n  "b": 1\n}\n'
