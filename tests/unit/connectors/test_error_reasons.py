"""Each connector's classifier fed the vendors' documented error forms, and the docs' list.

The bodies are the ones the reference quotes (or, marked inferred there and in
docs/connectors.md, the emulators' own). A classified wording missing from the docs' table, or
marked there as documented when the code says inferred (or the other way round), fails here.
"""

import re
from pathlib import Path
from typing import Any

import httpx
import pytest

from accord.connectors.business_central import errors as bc
from accord.connectors.kantata import errors as kantata
from accord.connectors.netsuite import errors as ns
from accord.connectors.reasons import TextRule
from accord.connectors.salesforce import errors as sf
from accord.errors import (
    AuthError,
    BusinessRuleError,
    ConflictError,
    NotFoundError,
    RateLimitExceeded,
    Reason,
    RetryableError,
)

DOCS = Path(__file__).resolve().parents[3] / "docs" / "connectors.md"


def _response(status: int, body: Any) -> httpx.Response:
    return httpx.Response(status, json=body, request=httpx.Request("POST", "https://x.test/"))


def _ns(status: int, code: str, detail: str, path: str | None = None) -> httpx.Response:
    entry = {"detail": detail, "o:errorCode": code}
    if path:
        entry["o:errorPath"] = path
    return _response(status, {"type": "t", "title": "Bad Request", "status": status,
                              "o:errorDetails": [entry]})  # fmt: skip


ACCESS = "Error while accessing a resource. "


@pytest.mark.parametrize(
    ("response", "resource", "cls", "reason"),
    [
        (_ns(429, "CONCURRENCY_LIMIT_EXCEEDED",
             "Concurrent request limit exceeded. Request blocked."),
         "timeBill", RetryableError, Reason.RATE_LIMITED),
        (_ns(400, "USER_ERROR", ACCESS + "This entity already exists."),
         "customer", ConflictError, Reason.DUPLICATE),
        (_ns(400, "USER_ERROR", ACCESS + "You have entered an Invalid Field Value 53384 for the "
             "following field: customer", "expense.items[2]"),
         "expenseReport", BusinessRuleError, Reason.PROJECT_INACTIVE),
        (_ns(400, "USER_ERROR", ACCESS + "You have entered an Invalid Field Value 7 for the "
             "following field: department"),
         "timeBill", BusinessRuleError, Reason.DIMENSION_INVALID),
        (_ns(400, "USER_ERROR", ACCESS + "You have entered an Invalid Field Value 9 for the "
             "following field: employee"),
         "timeBill", BusinessRuleError, Reason.RESOURCE_UNKNOWN),
        (_ns(400, "USER_ERROR", ACCESS + "You have entered an Invalid Field Value 9 for the "
             "following field: entity"),
         "expenseReport", BusinessRuleError, Reason.RESOURCE_UNKNOWN),
        (_ns(400, "USER_ERROR", ACCESS + "You have entered an Invalid Field Value 9 for the "
             "following field: entity"),
         "invoice", BusinessRuleError, Reason.CUSTOMER_INACTIVE),
        (_ns(400, "USER_ERROR", ACCESS + "You have entered an Invalid Field Value 4 for the "
             "following field: item"),
         "invoice", BusinessRuleError, Reason.REFERENCE_INVALID),
        (_ns(400, "USER_ERROR", "Invalid entity reference key 'ACME' for subsidiary 3"),
         "invoice", BusinessRuleError, Reason.ENTITY_NOT_SHARED),
        (_ns(400, "USER_ERROR", "Invalid entity reference key ACME for subsidiary 3"),
         "invoice", BusinessRuleError, Reason.REFERENCE_INVALID),
        (_ns(400, "USER_ERROR", "The transaction date is not within an open accounting period."),
         "timeBill", BusinessRuleError, Reason.PERIOD_CLOSED),
        (_ns(400, "USER_ERROR", ACCESS + "The transaction date you specified is not within the "
             "date range of your accounting period."),
         "timeBill", BusinessRuleError, Reason.PERIOD_CLOSED),
        (_ns(400, "USER_ERROR", ACCESS + "You cannot post to a closed period."),
         "invoice", BusinessRuleError, Reason.PERIOD_CLOSED),
        (_ns(400, "USER_ERROR", ACCESS + "Your current role does not have permission to "
             "perform this action."),
         "invoice", AuthError, Reason.PERMISSION),
        (_ns(403, "INSUFFICIENT_PERMISSION", "You do not have permission to access this record."),
         "invoice", AuthError, Reason.PERMISSION),
        (_ns(400, "USER_ERROR", ACCESS + "This record has been locked by a user defined workflow."),
         "invoice", BusinessRuleError, Reason.LOCKED),
        (_ns(400, "USER_ERROR", ACCESS + "You must enter a value for Company Name."),
         "customer", BusinessRuleError, Reason.REQUIRED_MISSING),
        (_ns(400, "INVALID_FLD_VALUE", "Invalid date value."),
         "timeBill", BusinessRuleError, Reason.VALIDATION),
        (_ns(400, "USER_ERROR", ACCESS + "This customer is on credit hold."),
         "invoice", BusinessRuleError, Reason.CUSTOMER_INACTIVE),
        (_ns(400, "USER_ERROR", ACCESS + 'The field "foo" does not exist on this record or '
             "sublist."),
         "job", BusinessRuleError, Reason.UNKNOWN_FIELD),
        (_ns(404, "NONEXISTENT_ID", "The record instance does not exist."),
         "job", NotFoundError, Reason.NOT_FOUND),
    ],
)  # fmt: skip
def test_netsuite(response, resource, cls, reason):
    error = ns.translate(response, connector="ns", resource=resource)
    assert type(error) is cls
    assert error.reason == reason
    assert error.context()["reason"] == reason


def _bc(status: int, code: str, message: str) -> httpx.Response:
    correlated = f"{message}  CorrelationId:  3f1c2d1e-0000-4000-8000-1."
    return _response(status, {"error": {"code": code, "message": correlated}})


@pytest.mark.parametrize(
    ("response", "cls", "reason"),
    [
        (_bc(400, "Application_FieldValidationException",
             "Posting Date is not within your range of allowed posting dates."),
         BusinessRuleError, Reason.PERIOD_CLOSED),
        (_bc(400, "Application_FieldValidationException", "The field Global Dimension 1 Code "
             "contains a value (X9) that cannot be found in the related table (Dimension Value)."),
         BusinessRuleError, Reason.DIMENSION_INVALID),
        (_bc(400, "Application_FieldValidationException", "The field No. contains a value (R9) "
             "that cannot be found in the related table (resource)."),
         BusinessRuleError, Reason.RESOURCE_UNKNOWN),
        (_bc(400, "Application_FieldValidationException", "The field Job No. contains a value "
             "(J9) that cannot be found in the related table (project)."),
         BusinessRuleError, Reason.PROJECT_INACTIVE),
        (_bc(400, "Application_FieldValidationException", "The field No. contains a value (I9) "
             "that cannot be found in the related table (item)."),
         BusinessRuleError, Reason.REFERENCE_INVALID),
        (_bc(400, "Application_FieldValidationException",
             "The dimension value X has not been set up for dimension DEPARTMENT."),
         BusinessRuleError, Reason.DIMENSION_INVALID),
        (_bc(400, "Application_FieldValidationException", "Project J1 is blocked with type All."),
         BusinessRuleError, Reason.PROJECT_INACTIVE),
        (_bc(400, "Application_FieldValidationException", "You cannot post this type of "
             "document when Customer C1 is blocked with type All."),
         BusinessRuleError, Reason.CUSTOMER_INACTIVE),
        (_bc(400, "Application_FieldValidationException",
             "The sales invoice 103 is posted and cannot be changed."),
         BusinessRuleError, Reason.LOCKED),
        (_bc(400, "Application_TestFieldException", "No. must have a value in Sales Line: "
             "Document Type=Invoice, Document No.=103, Line No.=10000."),
         BusinessRuleError, Reason.REQUIRED_MISSING),
        (_bc(400, "Application_FieldValidationException", "Ending Date must not be before"),
         BusinessRuleError, Reason.VALIDATION),
        (_bc(409, "Request_EntityChanged", "Another user has already changed the record."),
         ConflictError, Reason.STALE),
        (_bc(400, "Internal_EntityWithSameKeyExists", "The record already exists."),
         ConflictError, Reason.DUPLICATE),
        (_bc(404, "Internal_CompanyNotFound", "Cannot process the request because the default "
             "company cannot be found."),
         NotFoundError, Reason.NOT_FOUND),
        (_bc(429, "TooManyRequests", "The request was throttled."),
         RetryableError, Reason.RATE_LIMITED),
    ],
)  # fmt: skip
def test_business_central(response, cls, reason):
    error = bc.translate(response, connector="bc", resource="journalLines")
    assert type(error) is cls
    assert error.reason == reason


@pytest.mark.parametrize(
    ("response", "cls", "reason"),
    [
        (_response(400, [{"message": "Required fields are missing: [StageName]",
                          "errorCode": "REQUIRED_FIELD_MISSING", "fields": ["StageName"]}]),
         BusinessRuleError, Reason.REQUIRED_MISSING),
        (_response(403, [{"message": "TotalRequests Limit exceeded.",
                          "errorCode": "REQUEST_LIMIT_EXCEEDED"}]),
         RateLimitExceeded, Reason.RATE_LIMITED),
        (_response(300, ["/services/data/v68.0/sobjects/Account/001A", "/x/001B"]),
         ConflictError, Reason.SEVERAL_MATCHES),
        (_response(400, [{"statusCode": "DUPLICATE_VALUE", "message": "duplicate value found",
                          "fields": []}]),
         ConflictError, Reason.DUPLICATE),
        (_response(400, [{"message": "unable to obtain exclusive access to this record",
                          "errorCode": "UNABLE_TO_LOCK_ROW"}]),
         RetryableError, Reason.LOCKED),
        (_response(404, [{"message": "The requested resource does not exist",
                          "errorCode": "NOT_FOUND"}]),
         NotFoundError, Reason.NOT_FOUND),
        (_response(401, [{"message": "Session expired or invalid",
                          "errorCode": "INVALID_SESSION_ID"}]),
         AuthError, None),
    ],
)  # fmt: skip
def test_salesforce(response, cls, reason):
    error = sf.translate(response, connector="sf", resource="Opportunity")
    assert type(error) is cls
    assert error.reason == reason


@pytest.mark.parametrize(
    ("response", "cls", "reason"),
    [
        (_response(422, {"errors": [{"type": "validation", "message": "Date performed can't be "
                                     "blank", "field": "date_performed"}]}),
         BusinessRuleError, Reason.REQUIRED_MISSING),
        (_response(422, {"errors": [{"type": "validation", "message": "is closed",
                                     "field": "workspace_id"}]}),
         BusinessRuleError, Reason.PROJECT_INACTIVE),
        (_response(404, {"errors": [{"type": "system", "message": "Not Found"}]}),
         NotFoundError, Reason.NOT_FOUND),
        (httpx.Response(429, headers={"Retry-After": "3"},
                        request=httpx.Request("GET", "https://x.test/")),
         RetryableError, Reason.RATE_LIMITED),
    ],
)  # fmt: skip
def test_kantata(response, cls, reason):
    error = kantata.translate(response, connector="kantata", resource="time_entries")
    assert type(error) is cls
    assert error.reason == reason


def _documented_rows(vendor: str) -> list[tuple[str, bool]]:
    """(row text, marked inferred) of the docs' vendor-errors table for one vendor."""
    text = DOCS.read_text(encoding="utf-8")
    section = text.split("#### Vendor errors and their sources", 1)[1].split("\n### ", 1)[0]
    rows = []
    for line in section.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 6 and cells[0] == vendor:
            rows.append((cells[1].replace("`", ""), cells[5] == "inferred"))
    return rows


@pytest.mark.parametrize(
    ("vendor", "rules"),
    [("NetSuite", ns.TEXT_RULES), ("Business Central", bc.TEXT_RULES)],
)
def test_every_classified_wording_is_listed_with_its_source(vendor, rules):
    rows = _documented_rows(vendor)
    assert rows, f"no rows for {vendor} in docs/connectors.md"
    for rule in rules:
        assert isinstance(rule, TextRule)
        matching = [inferred for text, inferred in rows if rule.pattern.search(text)]
        assert matching, f"{vendor}: {rule.pattern.pattern!r} is not listed in the docs"
        assert rule.inferred in matching, (
            f"{vendor}: {rule.pattern.pattern!r} is inferred={rule.inferred} in the code, "
            "not in the docs"
        )


@pytest.mark.parametrize(
    ("vendor", "codes"),
    [
        ("NetSuite", ns.CODE_REASONS),
        ("Business Central", bc.CODE_REASONS),
        ("Salesforce", sf.CODE_REASONS),
    ],
)
def test_every_classified_code_is_listed(vendor, codes):
    listed = " ".join(text for text, _ in _documented_rows(vendor))
    for code in codes:
        assert re.search(rf"\b{re.escape(code)}\b", listed), f"{vendor}: {code} not in the docs"
