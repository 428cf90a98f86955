"""Accord's custom API pages are addressed at the extension's route when one is configured."""

import httpx
import pytest
from tests.unit.connectors.test_business_central_connector import API, DE01, TOKEN, config, reply

from accord.connectors.budget import LocalBudget
from accord.connectors.business_central import BusinessCentralConnector
from accord.connectors.business_central.requirements import API_ROUTE
from accord.connectors.testing import FakeClock, MockRouter

EXT = f"/v2.0/tenant-1/production/api/{API_ROUTE}/companies({DE01})"
STD = f"{API}/companies({DE01})"
JOURNAL = "cd0f5c9c-0000-4000-8000-0000000000e1"


@pytest.fixture
def connector(mock_router: MockRouter, fake_clock: FakeClock) -> BusinessCentralConnector:
    mock_router.add("POST", TOKEN, reply(200, "token"))
    budget = LocalBudget(monotonic=fake_clock.monotonic, sleep=fake_clock.sleep)
    return BusinessCentralConnector(
        config(extension_api=API_ROUTE),
        transport=mock_router.transport,
        clock=fake_clock.now,
        budget=budget,
    )


def test_pages_go_to_the_extension_and_standard_sets_stay(connector, mock_router):
    empty = httpx.Response(200, json={"value": []})
    projects = mock_router.add("GET", f"{EXT}/projects", empty)
    planning = mock_router.add("GET", f"{EXT}/projectPlanningLines", empty)
    journals = mock_router.add("GET", f"{EXT}/journals", reply(200, "journals"))
    lines = mock_router.add("GET", f"{EXT}/journals({JOURNAL})/journalLines", empty)
    post = mock_router.add(
        "POST", f"{EXT}/journals({JOURNAL})/Microsoft.NAV.post", httpx.Response(204)
    )
    customers = mock_router.add("GET", f"{STD}/customers", empty)
    for resource in ("projects", "projectPlanningLines", "journalLines", "customers"):
        assert connector.read_page(resource, limit=1).records == []
    mock_router.add(
        "GET", f"{EXT}/journals({JOURNAL})/journalLines", httpx.Response(200, json={"value": [{}]})
    )
    assert connector.post_journal("time") is True
    assert journals.calls[0].url.params["$filter"] == "code eq 'PROJECTS'"
    for route in (projects, planning, lines, post, customers):
        assert route.called


def test_the_route_is_validated():
    with pytest.raises(ValueError, match="extension_api"):
        config(extension_api="../../other")
