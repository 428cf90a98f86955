"""The role contract sections of reconciliation's reads (part of the shipped role suites).

:mod:`accord.connectors.testing_roles` composes these into :class:`CrmContract`,
:class:`PsaContract` and :class:`ErpContract`: every implementation reads back in bulk, on the
background lane, what it holds. The sections ask for the suites' fixtures (``erp``, ``psa``,
``crm``, ``project_plan`` ...) and for two of their own, which a system's test overrides:

- ``resource_id`` (ERP): the canonical id of a person the ERP can book time for;
- ``approve_time`` (PSA): approve a week of time on a project the PSA holds, in the PSA's own
  way (a Kantata timesheet submission, a Certinia timecard), returning the canonical entry ids
  and hours it approved.

Only tests import this module.
"""

import datetime as dt
import uuid
from collections.abc import Callable
from decimal import Decimal

import pytest

from accord.connectors.roles import (
    BACKGROUND,
    Crm,
    EntryPosting,
    Erp,
    ErpProjectPlan,
    PostingBatch,
    Psa,
    PsaProjectPlan,
)
from accord.domain import BillingModel, Money, Project, ProjectStatus, TimeEntry

__all__ = [
    "ApproveTime",
    "CrmReconciliationContract",
    "ErpReconciliationContract",
    "PsaReconciliationContract",
]

ApproveTime = Callable[[str, str], dict[str, Decimal]]
"""``approve_time(psa project id, canonical project id) -> {canonical entry id: hours}``."""

_NOT_AN_ID = "99999999"


def _key(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8].upper()}"


class ErpReconciliationContract:
    """Postings, plans and Accord's records read back in bulk. Override ``resource_id``."""

    @pytest.fixture
    def resource_id(self) -> str:
        """The canonical id of a person the ERP books time for; override."""
        raise NotImplementedError("override the 'resource_id' fixture")

    def test_postings_read_back_in_bulk(
        self, erp: Erp, project_plan: ErpProjectPlan, resource_id: str
    ) -> None:
        """Posted time reads back by project and by key, worth its hours x rate."""
        project = erp.project(erp.upsert_project(project_plan))
        assert project is not None
        rate = Money.of(Decimal(150), project.currency)
        postings = tuple(
            EntryPosting(
                key=key,
                entry=TimeEntry(
                    id=key,
                    project_id=project_plan.project.id,
                    resource_id=resource_id,
                    date=dt.date(2026, 10, 5 + i),
                    hours=Decimal(hours),
                    billable=True,
                    bill_rate=rate,
                ),
                entry_ids=(key,),
            )
            for i, (key, hours) in enumerate(((_key("RT"), "7.50"), (_key("RT"), "2.25")))
        )
        outcomes = erp.post_entries(PostingBatch(_key("RB"), project, postings))
        assert all(o.posted for o in outcomes), [o.error for o in outcomes]

        held = {w.key: w for w in erp.posted_work([project], lane=BACKGROUND)}
        wanted = {erp.held_key(p.key): p for p in postings}
        assert set(held) == set(wanted)
        for key, posting in wanted.items():
            work = held[key]
            assert isinstance(posting.entry, TimeEntry)
            assert (work.kind, work.project, work.hours) == (
                "time",
                project.erp_id,
                posting.entry.hours,
            )
            assert work.amount == rate.mul(posting.entry.hours).amount
        one = postings[0].key
        by_key = erp.posted_work([], keys=[one], lane=BACKGROUND)
        assert [w.key for w in by_key] == [erp.held_key(one)]
        later = dt.datetime.now(dt.UTC) + dt.timedelta(hours=1)
        assert erp.posted_work([project], changed_since=later, lane=BACKGROUND) == []

    def test_records_and_plans_are_known(self, erp: Erp, project_plan: ErpProjectPlan) -> None:
        """Existing records are told apart from gone ones; Accord's keyed records are listed."""
        erp_id = erp.upsert_project(project_plan)
        customer = project_plan.customer_erp_id
        assert customer is not None
        assert erp.existing("erp_project", [erp_id, _NOT_AN_ID], lane=BACKGROUND) == {erp_id}
        assert erp.existing("customer", [customer], lane=BACKGROUND) == {customer}
        assert erp.existing("no_such_type", [erp_id], lane=BACKGROUND) is None
        keyed = erp.keyed_records("erp_project", lane=BACKGROUND)
        assert keyed is not None
        assert erp_id in keyed
        assert customer in (erp.keyed_records("customer", lane=BACKGROUND) or {})


class PsaReconciliationContract:
    """Approved work and project terms read back in bulk. Override ``approve_time``."""

    @pytest.fixture
    def approve_time(self) -> ApproveTime:
        """Approve a week of time on a project; override (see the module docstring)."""
        raise NotImplementedError("override the 'approve_time' fixture")

    def test_approved_work_and_terms_read_back(
        self, psa: Psa, customer_id: str, approve_time: ApproveTime
    ) -> None:
        """Approved entries read back by project and by id; the project's terms too."""
        key = _key("PRJ")
        project = Project(
            id=key,
            name=f"Contract project {key}",
            customer_id=customer_id,
            legal_entity="US01",
            practice="TECH",
            region="NA-EAST",
            billing_model=BillingModel.TIME_AND_MATERIALS,
            status=ProjectStatus.ACTIVE,
            currency="USD",
            budget=Money.of(Decimal(50000), "USD"),
            start_date=dt.date(2026, 10, 5),
            end_date=dt.date(2027, 3, 31),
        )
        psa_id = psa.upsert_project(PsaProjectPlan(project=project)).id
        approved = approve_time(psa_id, project.id)

        held = {w.key: w for w in psa.approved_work([psa_id], lane=BACKGROUND)}
        assert {k: w.hours for k, w in held.items()} == approved
        assert {w.project for w in held.values()} == {psa_id}
        one = next(iter(approved))
        named = psa.approved_work([], entry_ids=[one], lane=BACKGROUND)
        assert [w.key for w in named] == [one]
        later = dt.datetime.now(dt.UTC) + dt.timedelta(hours=1)
        assert psa.approved_work([psa_id], changed_since=later, lane=BACKGROUND) == []

        terms = psa.project_terms([psa_id, _NOT_AN_ID], lane=BACKGROUND)
        assert list(terms) == [psa_id]
        assert (terms[psa_id].budget, terms[psa_id].start_date) == (
            Decimal(50000),
            project.start_date,
        )
        assert terms[psa_id].end_date == project.end_date
        assert psa.existing("psa_project", [psa_id, _NOT_AN_ID], lane=BACKGROUND) == {psa_id}


class CrmReconciliationContract:
    """Deals and accounts read in bulk."""

    def test_deals_and_accounts_read_in_bulk(
        self, crm: Crm, make_opportunity: Callable[..., str], account_id: str
    ) -> None:
        """Deals and accounts read by the CRM's ids; a gone id is simply not there."""
        deal = make_opportunity(account_id, won=True, start_date="2026-10-05", lines=[])
        missing = "006000000000000AAA"
        deals = crm.deals([deal, missing], lane=BACKGROUND)
        assert list(deals) == [deal]
        assert deals[deal].opportunity is not None, deals[deal].problems
        accounts = crm.accounts([account_id], lane=BACKGROUND)
        assert list(accounts) == [account_id]
        assert accounts[account_id].customer is not None
        assert crm.existing("opportunity", [deal, missing], lane=BACKGROUND) == {deal}
        assert crm.existing("customer", [account_id], lane=BACKGROUND) == {account_id}
        assert crm.existing("no_such_type", [deal], lane=BACKGROUND) is None
