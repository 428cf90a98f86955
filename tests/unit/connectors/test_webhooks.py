import json
from datetime import UTC, datetime, timedelta

import pytest
from pydantic import SecretStr

from accord.connectors.webhooks import (
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    WebhookSignatureError,
    bc_validation_token,
    parse_bc_notifications,
    sign,
    verify_signature,
)
from accord.errors import AuthError

NOW = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
SECRET = SecretStr("whsec-test")
BODY = b'{"type":"customer.upserted","id":"1"}'


def headers(ts: datetime, body: bytes = BODY, secret: str = "whsec-test") -> dict[str, str]:
    stamp = str(int(ts.timestamp()))
    return {TIMESTAMP_HEADER: stamp, SIGNATURE_HEADER: sign(secret, stamp, body)}


def test_valid_signature_passes() -> None:
    verify_signature(secret=SECRET, headers=headers(NOW), body=BODY, now=NOW)


def test_header_lookup_is_case_insensitive_and_prefix_optional() -> None:
    h = {k.lower(): v.removeprefix("sha256=") for k, v in headers(NOW).items()}
    verify_signature(secret=SECRET, headers=h, body=BODY, now=NOW)


@pytest.mark.parametrize(
    ("hdrs", "body", "now", "reason"),
    [
        ({}, BODY, NOW, "missing"),
        ({TIMESTAMP_HEADER: "yesterday", SIGNATURE_HEADER: "sha256=00"}, BODY, NOW, "malformed"),
        (headers(NOW - timedelta(minutes=6)), BODY, NOW, "stale"),
        (headers(NOW + timedelta(minutes=6)), BODY, NOW, "stale"),
        (headers(NOW), BODY + b" ", NOW, "mismatch"),
        (headers(NOW, secret="other"), BODY, NOW, "mismatch"),
    ],
)
def test_refusals(hdrs: dict[str, str], body: bytes, now: datetime, reason: str) -> None:
    with pytest.raises(WebhookSignatureError) as caught:
        verify_signature(secret=SECRET, headers=hdrs, body=body, now=now, connector="ns")
    assert caught.value.reason == reason
    assert isinstance(caught.value, AuthError)
    assert caught.value.connector == "ns"


def test_inside_window_edge_passes() -> None:
    verify_signature(
        secret=SECRET, headers=headers(NOW - timedelta(seconds=299)), body=BODY, now=NOW
    )


def test_bc_validation_token() -> None:
    assert bc_validation_token({"validationToken": "abc"}) == "abc"
    assert bc_validation_token({}) is None


def bc_body(*states: str) -> bytes:
    items = [
        {
            "subscriptionId": "s1",
            "clientState": s,
            "expirationDateTime": "2025-03-04T12:00:00Z",
            "resource": "api/v2.0/companies(1)/customers(2)",
            "changeType": "updated",
            "lastModifiedDateTime": "2025-03-01T11:59:00Z",
        }
        for s in states
    ]
    return json.dumps({"value": items}).encode()


def test_bc_notifications_parse_with_right_client_state() -> None:
    out = parse_bc_notifications(bc_body("cs", "cs"), client_state=SecretStr("cs"))
    assert [n.change_type for n in out] == ["updated", "updated"]
    assert out[0].resource.endswith("customers(2)")


@pytest.mark.parametrize(
    ("body", "reason"),
    [(bc_body("cs", "bad"), "mismatch"), (bc_body(""), "missing"), (b"[]", "malformed")],
)
def test_bc_notifications_refused(body: bytes, reason: str) -> None:
    with pytest.raises(WebhookSignatureError) as caught:
        parse_bc_notifications(body, client_state="cs")
    assert caught.value.reason == reason
