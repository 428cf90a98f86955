from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

import pytest
from pydantic import BaseModel, ValidationError

from accord.domain import (
    ContractAmendment,
    CountryCode,
    ExternalRef,
    Hours,
    Identifier,
    PeriodCode,
    TimeEntry,
    UtcDatetime,
)


class _Probe(BaseModel):
    ident: Identifier | None = None
    at: UtcDatetime | None = None
    hours: Hours | None = None
    country: CountryCode | None = None
    period: PeriodCode | None = None


def test_naive_datetime_is_refused():
    with pytest.raises(ValidationError, match="timezone"):
        _Probe(at=datetime(2024, 1, 1, 12, 0))  # noqa: DTZ001 - the point of the test
    with pytest.raises(ValidationError, match="timezone"):
        _Probe.model_validate({"at": "2024-01-01T12:00:00"})


def test_naive_datetime_is_refused_on_a_real_model():
    with pytest.raises(ValidationError):
        ContractAmendment.model_validate(
            {
                "version": 2,
                "effective_date": "2024-01-01",
                "amended_at": "2024-01-01T10:00:00",
                "reason": "x",
            }
        )


def test_aware_datetime_is_normalised_to_utc():
    plus_two = timezone(timedelta(hours=2))
    probe = _Probe(at=datetime(2024, 1, 1, 12, 0, tzinfo=plus_two))
    assert probe.at == datetime(2024, 1, 1, 10, 0, tzinfo=UTC)
    assert probe.at is not None
    assert probe.at.tzinfo is UTC
    parsed = _Probe.model_validate({"at": "2024-01-01T10:00:00-05:00"}).at
    assert parsed == datetime(2024, 1, 1, 15, 0, tzinfo=UTC)
    assert parsed is not None
    assert parsed.tzinfo is UTC
    zulu = _Probe.model_validate({"at": "2024-01-01T10:00:00Z"}).at
    assert zulu is not None
    assert zulu.tzinfo is UTC
    assert _Probe(at=zulu).model_dump(mode="json")["at"] == "2024-01-01T10:00:00Z"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("7.5", "7.50"), (8, "8.00"), ("0.01", "0.01"), ("24", "24.00"), (Decimal("23.99"), "23.99")],
)
def test_hours_are_kept_with_two_places(raw, expected):
    hours = _Probe(hours=raw).hours
    assert str(hours) == expected


@pytest.mark.parametrize("bad", [0, "0", "0.00", -1, "-0.5", "24.01", 25, "7.125", "0.001"])
def test_hours_out_of_bounds_or_too_precise_are_refused(bad):
    with pytest.raises(ValidationError):
        _Probe(hours=bad)


def test_hours_as_float_are_refused():
    with pytest.raises(ValidationError, match="float refused"):
        _Probe(hours=7.5)


def test_time_entry_hours_bounds(time_entry_data):
    assert TimeEntry.model_validate(time_entry_data).hours == Decimal("7.50")
    with pytest.raises(ValidationError):
        TimeEntry.model_validate({**time_entry_data, "hours": "24.5"})
    with pytest.raises(ValidationError):
        TimeEntry.model_validate({**time_entry_data, "hours": "0"})


@pytest.mark.parametrize("bad", ["", " ", "  OPP-1", "OPP-1 ", "OPP\n1", "\t", "x" * 256])
def test_empty_or_padded_identifiers_are_refused(bad):
    with pytest.raises(ValidationError):
        _Probe(ident=bad)


@pytest.mark.parametrize("good", ["OPP-1", "0065g00000AbCdE", "a b", "x" * 255, "é"])
def test_identifiers(good):
    assert _Probe(ident=good).ident == good


def test_empty_ids_are_refused_on_models(time_entry_data):
    for field in ("id", "project_id", "resource_id"):
        with pytest.raises(ValidationError):
            TimeEntry.model_validate({**time_entry_data, field: ""})
    with pytest.raises(ValidationError):
        ExternalRef.model_validate({"system": "netsuite", "id": ""})


def test_external_ref_system_is_an_enumeration():
    ref = ExternalRef.model_validate({"system": "business_central", "id": "10000"})
    assert ref.system == "business_central"
    with pytest.raises(ValidationError):
        ExternalRef.model_validate({"system": "sap", "id": "1"})


@pytest.mark.parametrize(
    ("field", "bad"),
    [("country", "gb"), ("country", "GBR"), ("period", "2024-13"), ("period", "2024-1")],
)
def test_codes(field, bad):
    with pytest.raises(ValidationError):
        _Probe.model_validate({field: bad})
