"""The pure OData layer of the Business Central emulator: $filter, $orderby, $skiptoken."""

import pytest

from accord_sandbox.business_central.odata import (
    Compare,
    ODataError,
    decode_skiptoken,
    encode_skiptoken,
    equality_lookup,
    evaluate,
    parse_filter,
    parse_orderby,
    sort_records,
)

FIELDS = ("number", "amount", "postingDate", "lastModifiedDateTime", "blocked", "id", "name")
ROWS = [
    {
        "number": "A-1",
        "amount": 10,
        "postingDate": "2025-01-31",
        "lastModifiedDateTime": "2025-03-01T09:00:00.000Z",
        "blocked": False,
        "id": "9e0f5c9c-0000-4000-8000-000000000001",
        "name": "O'Brien",
    },
    {
        "number": "B-2",
        "amount": 250.5,
        "postingDate": "2025-02-01",
        "lastModifiedDateTime": "2025-03-01T10:00:00.000Z",
        "blocked": True,
        "id": "9e0f5c9c-0000-4000-8000-000000000002",
        "name": "Smith",
    },
]


def matching(text: str) -> list[str]:
    expr = parse_filter(text, FIELDS, "thing")
    return [r["number"] for r in ROWS if evaluate(expr, r)]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("number eq 'A-1'", ["A-1"]),
        ("number ne 'A-1'", ["B-2"]),
        ("amount gt 10", ["B-2"]),
        ("amount ge 10", ["A-1", "B-2"]),
        ("amount lt 250.5", ["A-1"]),
        ("amount le 250.5", ["A-1", "B-2"]),
        ("postingDate lt 2025-02-01", ["A-1"]),
        ("postingDate ge 2025-02-01", ["B-2"]),
        ("lastModifiedDateTime gt 2025-03-01T09:30:00Z", ["B-2"]),
        ("lastModifiedDateTime le 2025-03-01T10:00:00+01:00", ["A-1"]),
        ("blocked eq true", ["B-2"]),
        ("number eq 'A-1' or amount gt 100", ["A-1", "B-2"]),
        ("number eq 'A-1' and amount gt 100", []),
        ("not (blocked eq true)", ["A-1"]),
        ("name eq 'O''Brien'", ["A-1"]),
        ("id eq 9E0F5C9C-0000-4000-8000-000000000002", ["B-2"]),
        ("10 lt amount", ["B-2"]),
        ("contains(name,'mit')", ["B-2"]),
        ("endswith(number,'-1')", ["A-1"]),
        ("postingDate eq null", []),
    ],
)
def test_filter(text: str, expected: list[str]) -> None:
    assert matching(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "colour eq 'red'",
        "number eq",
        "number eq 'A-1' and",
        "number like 'A'",
        "(number eq 'A-1'",
        "number eq 'A-1')",
        "amount eq 'ten'",
        "postingDate gt 2025-13-01",
    ],
)
def test_filter_errors(text: str) -> None:
    with pytest.raises(ODataError):
        matching(text)


def test_equality_lookup_finds_the_verify_before_create_probe() -> None:
    expr = parse_filter("amount gt 1 and number eq 'A-1'", FIELDS)
    assert equality_lookup(expr, ["number"]) == ("number", "A-1")
    assert equality_lookup(parse_filter("number eq 'A' or amount gt 1", FIELDS), ["number"]) is None
    assert equality_lookup(Compare("amount", "eq", None), ["amount"]) is None


def test_orderby_mixed_directions() -> None:
    rows = [{"a": 1, "b": "x"}, {"a": 2, "b": "y"}, {"a": 1, "b": "z"}, {"a": None, "b": "w"}]
    keys = parse_orderby("a desc, b", ["a", "b"])
    assert [r["b"] for r in sort_records(rows, keys)] == ["y", "x", "z", "w"]
    with pytest.raises(ODataError):
        parse_orderby("a sideways", ["a"])


def test_skiptoken_round_trip() -> None:
    assert decode_skiptoken(encode_skiptoken(40000)) == 40000
    with pytest.raises(ODataError):
        decode_skiptoken("bm90LWFuLW9mZnNldA")
