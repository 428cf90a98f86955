"""Time-to-bill's pure parts: validation, the billable rule, periods, refusal codes, settings."""

import datetime as dt
from decimal import Decimal
from pathlib import Path

import httpx
import pytest

from accord.connectors.business_central.errors import translate as bc_translate
from accord.connectors.netsuite.errors import translate as netsuite_translate
from accord.domain import BillingModel, Expense, Money, TimeEntry
from accord.errors import BusinessRuleError, ConfigError
from accord.flows.time_to_bill.post import POSTING_REJECTED, UNCLASSIFIED, classify, external_id_for
from accord.flows.time_to_bill.settings import load_billing_settings
from accord.flows.time_to_bill.validation import PeriodTable, ProjectFacts, check_entry
from accord.rules import load_rules

RULES = load_rules(Path(__file__).parents[3] / "rules" / "default.yaml")


def facts(model: BillingModel = BillingModel.TIME_AND_MATERIALS, **over: object) -> ProjectFacts:
    values: dict[str, object] = {
        "project_id": "PRJ-1",
        "erp": "netsuite",
        "connection": "netsuite",
        "erp_id": "77",
        "legal_entity": "US01",
        "active": True,
        "status": "In Progress",
        "start_date": dt.date(2026, 6, 1),
        "end_date": dt.date(2026, 12, 31),
        "billing_model": model,
        "practice": "TECH",
        "region": "NA-EAST",
        "currency": "USD",
    }
    values.update(over)
    return ProjectFacts(**values)  # type: ignore[arg-type]


def entry(day: str = "2026-09-14", *, billable: bool = True, rate: str | None = "100") -> TimeEntry:
    return TimeEntry(
        id="E1",
        project_id="PRJ-1",
        resource_id="EMP-0001",
        date=dt.date.fromisoformat(day),
        hours=Decimal("2.5"),
        billable=billable,
        bill_rate=Money.of(Decimal(rate), "USD") if rate else None,
    )


CLOSED = PeriodTable(closed=frozenset({"2026-07", "2026-08"}))


def test_valid_entry_gets_rules_dimensions_and_treatment() -> None:
    plan, problems = check_entry(entry(), project=facts(), periods=CLOSED, rules=RULES)
    assert problems == []
    assert plan is not None
    assert (plan.dimensions["department"], plan.dimensions["class"]) == ("102", "201")
    assert plan.dimensions["cost_center"] == "CC-TECH"
    assert plan.treatment["tax_code"] == "-Not Taxable-"
    assert plan.treatment["revenue_recognition"] == "as_delivered"
    assert plan.billable is True


@pytest.mark.parametrize(
    "model", [BillingModel.FIXED_FEE, BillingModel.MILESTONE, BillingModel.RETAINER]
)
def test_billable_time_on_fee_projects_posts_non_billable(model: BillingModel) -> None:
    plan, problems = check_entry(entry(), project=facts(model), periods=CLOSED, rules=RULES)
    assert problems == []
    assert plan is not None
    assert plan.billable is False
    assert any("non-billable" in n for n in plan.notes)


def test_every_problem_is_collected() -> None:
    project = facts(active=False, status="Closed")
    plan, problems = check_entry(
        entry("2026-05-29", rate=None), project=project, periods=CLOSED, rules=RULES
    )
    assert plan is None
    assert [p.code for p in problems] == [
        "project.inactive",
        "project.date_outside",
        "billing.billable_mismatch",
    ]


def test_unknown_project_and_unmapped_dimension() -> None:
    _, problems = check_entry(entry(), project=None, periods=CLOSED, rules=RULES)
    assert [p.code for p in problems] == ["project.unknown"]
    _, problems = check_entry(entry(), project=facts(practice="NOPE"), periods=CLOSED, rules=RULES)
    assert [p.code for p in problems] == ["billing.dimension_unmapped"]


def test_closed_period_is_reported_with_a_plan_and_an_operator_redate_applies() -> None:
    plan, problems = check_entry(entry("2026-07-15"), project=facts(), periods=CLOSED, rules=RULES)
    assert [p.code for p in problems] == ["period.closed"]
    assert plan is not None
    assert plan.period_closed
    plan, problems = check_entry(
        entry("2026-07-15"),
        project=facts(),
        periods=CLOSED,
        rules=RULES,
        posting_date=dt.date(2026, 9, 3),
    )
    assert problems == []
    assert plan is not None
    assert plan.posting_date == dt.date(2026, 9, 3)


def test_first_open_period() -> None:
    assert CLOSED.first_open_on_or_after(dt.date(2026, 7, 9)) == dt.date(2026, 9, 1)
    assert CLOSED.first_open_on_or_after(dt.date(2026, 9, 9)) == dt.date(2026, 9, 9)
    december = PeriodTable(closed=frozenset({"2026-12"}))
    assert december.first_open_on_or_after(dt.date(2026, 12, 5)) == dt.date(2027, 1, 1)


def test_billable_expense_must_be_in_the_project_currency() -> None:
    expense = Expense(
        id="X1",
        project_id="PRJ-1",
        resource_id="EMP-0001",
        date=dt.date(2026, 9, 14),
        category="travel",  # type: ignore[arg-type]
        amount=Money.of(Decimal("10.00"), "EUR"),
        billable=True,
        status="approved",  # type: ignore[arg-type]
    )
    _, problems = check_entry(expense, project=facts(), periods=CLOSED, rules=RULES)
    assert [p.code for p in problems] == ["billing.billable_mismatch"]


def _netsuite(detail: str) -> httpx.Response:
    body = {
        "type": "https://www.rfc-editor.org/rfc/rfc9110.html#section-15.5.1",
        "title": "Bad Request",
        "status": 400,
        "o:errorDetails": [{"detail": detail, "o:errorCode": "USER_ERROR"}],
    }
    return httpx.Response(400, json=body)


def _bc(message: str, code: str = "Application_FieldValidationException") -> httpx.Response:
    body = {"error": {"code": code, "message": f"{message}  CorrelationId:  0f0e0d0c."}}
    return httpx.Response(400, json=body)


@pytest.mark.parametrize(
    ("response", "translate", "code"),
    [
        (
            _netsuite(
                "You have entered an Invalid Field Value 999 for the following field: department"
            ),
            netsuite_translate,
            "erp.dimension.invalid",
        ),
        (
            _netsuite("Invalid Field Value 12 for the following field: customer"),
            netsuite_translate,
            "project.inactive",
        ),
        (
            _netsuite("Invalid Field Value 9 for the following field: employee"),
            netsuite_translate,
            "erp.resource.unknown",
        ),
        (
            _netsuite(
                "The transaction date is not within the date range of your accounting period."
            ),
            netsuite_translate,
            "period.closed",
        ),
        (_netsuite("You must enter a value for Duration."), netsuite_translate, POSTING_REJECTED),
        (
            _bc("Posting Date is not within your range of allowed posting dates."),
            bc_translate,
            "period.closed",
        ),
        (_bc("Project P1 is blocked with type Posting."), bc_translate, "project.inactive"),
        (
            _bc(
                "The field No. contains a value (R9) that cannot be found in the related table "
                "(resource)."
            ),
            bc_translate,
            "erp.resource.unknown",
        ),
        (
            _bc("The dimension value X has not been set up for dimension DEPARTMENT."),
            bc_translate,
            "erp.dimension.invalid",
        ),
    ],
)
def test_vendor_refusals_classify_through_their_reason(response, translate, code) -> None:
    """Each vendor's documented error body -> its translation's reason -> the flow's code."""
    error = translate(response, connector="erp", resource="timeBill")
    assert error.reason is not None
    assert classify(error) == code


def test_a_refusal_without_a_reason_goes_to_integration() -> None:
    """A connector that cannot tell what a refusal is about must not be guessed at."""
    error = BusinessRuleError(detail="Posting Date is not within your range", status_code=400)
    code = classify(error)
    assert code == UNCLASSIFIED
    assert RULES.route(code).queue.value == "integration"


def test_external_ids() -> None:
    assert external_id_for("TE-0000001") == "TE-0000001"
    odd = external_id_for("a0x|1 2")
    assert odd.startswith("ACC-")
    assert odd == external_id_for("a0x|1 2")


def test_settings(tmp_path: Path) -> None:
    path = tmp_path / "accord.yaml"
    assert load_billing_settings(path).closed_period_policy == "redate"
    path.write_text(
        "time_to_bill:\n  closed_period_policy: hold\n  posting: summary_per_project_day\n"
    )
    loaded = load_billing_settings(path)
    assert (loaded.closed_period_policy, loaded.posting) == ("hold", "summary_per_project_day")
    path.write_text("time_to_bill:\n  closed_period_policy: later\n")
    with pytest.raises(ConfigError):
        load_billing_settings(path)
