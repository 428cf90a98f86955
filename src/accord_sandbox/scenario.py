"""The deterministic synthetic-firm generator behind ``accord sandbox --scenario``.

:func:`generate` builds a :class:`~accord_sandbox.firm.Firm` from a scenario name and a seed:
legal entities, practices, regions, service packages, consultants, customer hierarchies,
opportunities, accounting periods and (for ``quarter-end`` and ``quarter-end-large``) a burst
of approved timesheets.
The same scenario and seed always give the same firm, byte for byte once serialised with
:func:`firm_to_json`: every random draw comes from a :class:`random.Random` seeded from the
seed and a section name, and every date is anchored to :data:`REFERENCE_DATE`, never to the
wall clock. Sections draw from their own streams so that ``quarter-end`` is exactly ``firm``
plus timesheets.

What does *not* belong here: turning the firm into any system's records (each emulator's
``seed_firm`` does that) and any I/O beyond returning JSON text.
"""

import random
import unicodedata
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Final, Literal, get_args

from accord_sandbox.firm import (
    AccountingPeriodSpec,
    ConsultantSpec,
    CustomerSpec,
    Firm,
    FxRateSpec,
    LegalEntitySpec,
    MilestoneTemplate,
    OpportunitySpec,
    PracticeSpec,
    RegionSpec,
    ServicePackageSpec,
    TimeEntrySpec,
    TimesheetSpec,
)
from accord_sandbox.vendors import firm_vendors

__all__ = [
    "REFERENCE_DATE",
    "SCENARIOS",
    "ScenarioName",
    "firm_to_json",
    "generate",
]

ScenarioName = Literal["small", "firm", "quarter-end", "quarter-end-large"]
SCENARIOS: Final[tuple[ScenarioName, ...]] = get_args(ScenarioName)
"""Every scenario name, smallest first."""

REFERENCE_DATE: Final = date(2026, 10, 1)
"""The sandbox's "today": the first day after the quarter that ``quarter-end`` closes."""

FIRM_DOMAIN: Final = "brightline.example"
"""E-mail domain of the synthetic firm's people (``.example`` is reserved, RFC 2606)."""

_CENT = Decimal("0.01")


@dataclass(frozen=True)
class _Size:
    customers: int
    consultants: dict[str, int]
    opportunities: int
    running_won: int
    recent_won: int
    closed_lost: int
    three_level_families: int
    team: tuple[int, int] | None = None
    """People per engagement in the timesheets (``None``: ``_MIN_TEAM`` to ``_MAX_TEAM``)."""
    weeks: int | None = None
    """Timesheets of the last this many weeks only (``None``: from each engagement's start)."""
    home_only: bool = False
    """Teams only from the engagement's own entity (whose ERP holds them as resources)."""
    entity_cycle: tuple[str, ...] | None = None
    """Legal entities the Closed Won deals rotate through (``None``: each in turn)."""


_FIRM_SIZE = _Size(
    customers=40,
    consultants={"US01": 14, "UK01": 9, "DE01": 7},
    opportunities=80,
    running_won=12,
    recent_won=2,
    closed_lost=10,
    three_level_families=3,
)
_SIZES: Final[dict[ScenarioName, _Size]] = {
    "small": _Size(
        customers=5,
        consultants={"US01": 4, "UK01": 2, "DE01": 2},
        opportunities=10,
        running_won=3,
        recent_won=1,
        closed_lost=1,
        three_level_families=1,
    ),
    "firm": _FIRM_SIZE,
    "quarter-end": _FIRM_SIZE,
    # A firm of 500 consultants closing the quarter: 250 running engagements (half in the US,
    # a third in the UK, a sixth in Germany on Business Central), each staffed by 3 to 6
    # people of its own entity, approving their last five weeks at once (60,000+ entries).
    "quarter-end-large": _Size(
        customers=200,
        consultants={"US01": 250, "UK01": 160, "DE01": 90},
        opportunities=400,
        running_won=250,
        recent_won=6,
        closed_lost=40,
        three_level_families=10,
        team=(3, 6),
        weeks=5,
        home_only=True,
        entity_cycle=("US01", "UK01", "US01", "DE01", "US01", "UK01"),
    ),
}
_BURSTS: Final = frozenset({"quarter-end", "quarter-end-large"})
"""Scenarios with a burst of approved timesheets."""

# --------------------------------------------------------------------------- reference data
_Erp = Literal["netsuite", "business_central"]
# code, name, currency, country, erp, NetSuite subsidiary id (1 is the parent company). DE01
# runs on Business Central but also exists in NetSuite, where the group consolidates.
_ENTITIES: tuple[tuple[str, str, str, str, _Erp, str], ...] = (
    ("US01", "Brightline Partners Inc.", "USD", "US", "netsuite", "2"),
    ("UK01", "Brightline Partners Ltd", "GBP", "GB", "netsuite", "3"),
    ("DE01", "Brightline Partners GmbH", "EUR", "DE", "business_central", "4"),
)
# Rates and amounts are drawn in USD and converted, so that every entity prices alike.
_FX = {"USD": Decimal(1), "GBP": Decimal("0.79"), "EUR": Decimal("0.92")}

_PRACTICES = (
    PracticeSpec(
        code="STRAT", name="Strategy", netsuite_department_id="101", bc_department_code="STRATEGY"
    ),
    PracticeSpec(
        code="TECH", name="Technology", netsuite_department_id="102", bc_department_code="TECH"
    ),
    PracticeSpec(
        code="DATA", name="Data & AI", netsuite_department_id="103", bc_department_code="DATA-AI"
    ),
    PracticeSpec(
        code="FIN",
        name="Finance Transformation",
        netsuite_department_id="104",
        bc_department_code="FIN-TRANSF",
    ),
)
_REGIONS = (
    RegionSpec(
        code="NA-EAST",
        name="NA-East",
        tax_region="US-EAST",
        netsuite_class_id="201",
        bc_area_code="NAEAST",
    ),
    RegionSpec(
        code="NA-WEST",
        name="NA-West",
        tax_region="US-WEST",
        netsuite_class_id="202",
        bc_area_code="NAWEST",
    ),
    RegionSpec(
        code="UKI", name="UK&I", tax_region="UK-VAT", netsuite_class_id="203", bc_area_code="UKI"
    ),
    RegionSpec(
        code="DACH", name="DACH", tax_region="EU-VAT", netsuite_class_id="204", bc_area_code="DACH"
    ),
)
_REGION_ENTITY = {"NA-EAST": "US01", "NA-WEST": "US01", "UKI": "UK01", "DACH": "DE01"}
_FOREIGN_CURRENCY = {"IE": "EUR"}
"""Countries whose customers are billed in a currency other than their entity's."""
_FX_DRIFT = Decimal("0.02")
"""Largest monthly move of a rate away from its reference value (2 %)."""

_PACKAGES = (
    ServicePackageSpec(
        code="ADVISORY-TM",
        name="Advisory (Time & Materials)",
        billing_model="time_and_materials",
        template="TPL-ADVISORY-TM",
        phases=("Discovery", "Analysis", "Recommendations", "Handover"),
        duration_days=270,
    ),
    ServicePackageSpec(
        code="IMPL-FIXED",
        name="Implementation (Fixed Fee)",
        billing_model="fixed_fee",
        template="TPL-IMPL-FIXED",
        phases=("Plan", "Design", "Build", "Test", "Deploy", "Hypercare"),
        duration_days=300,
    ),
    ServicePackageSpec(
        code="ROLLOUT-MILESTONE",
        name="Rollout (Milestone Billing)",
        billing_model="milestone",
        template="TPL-ROLLOUT-MILESTONE",
        phases=("Mobilise", "Pilot", "Wave 1", "Wave 2", "Wave 3", "Close-out"),
        # Uneven shares on purpose: 17.50 % of an amount exercises rounding downstream.
        milestones=(
            MilestoneTemplate(
                name="Mobilisation complete", percent=Decimal("10.00"), offset_days=30
            ),
            MilestoneTemplate(name="Pilot go-live", percent=Decimal("17.50"), offset_days=90),
            MilestoneTemplate(name="Wave 1 go-live", percent=Decimal("25.00"), offset_days=150),
            MilestoneTemplate(name="Wave 2 go-live", percent=Decimal("25.00"), offset_days=225),
            MilestoneTemplate(name="Wave 3 go-live", percent=Decimal("12.50"), offset_days=300),
            MilestoneTemplate(name="Final acceptance", percent=Decimal("10.00"), offset_days=365),
        ),
        duration_days=365,
    ),
    ServicePackageSpec(
        code="MANAGED-RETAINER",
        name="Managed Service (Retainer)",
        billing_model="retainer",
        template="TPL-MANAGED-RETAINER",
        phases=("Onboarding", "Run"),
        duration_days=365,
    ),
)
# Contract value ranges in USD per package.
_AMOUNT_RANGE = {
    "ADVISORY-TM": (60_000, 450_000),
    "IMPL-FIXED": (150_000, 1_200_000),
    "ROLLOUT-MILESTONE": (300_000, 2_400_000),
    "MANAGED-RETAINER": (120_000, 720_000),
}

# (role, cost rate, bill rate) in USD. The order below, read as a cycle, is the staffing
# pyramid: a small entity still gets a partner and a principal to own its opportunities.
_ROLE_RATES = {
    "Partner": (225, 475),
    "Principal": (175, 375),
    "Senior Consultant": (130, 275),
    "Consultant": (95, 210),
    "Analyst": (65, 150),
}
_ROLE_CYCLE = (
    "Partner",
    "Principal",
    "Senior Consultant",
    "Consultant",
    "Analyst",
    "Senior Consultant",
    "Consultant",
    "Analyst",
    "Consultant",
    "Principal",
    "Analyst",
    "Senior Consultant",
    "Consultant",
    "Analyst",
    "Partner",
)
_SELLING_ROLES = ("Partner", "Principal")

_FIRST_NAMES = {
    "US01": (
        "James", "Mary", "Robert", "Patricia", "Michael", "Jennifer", "David", "Linda", "Daniel",
        "Priya", "Wei", "Carlos", "Aisha", "Kevin", "Emily", "Marcus", "Sofia", "Ethan",
        "Olivia", "Jamal", "Grace", "Nathan", "Hannah", "Raj",
    ),
    "UK01": (
        "Oliver", "Amelia", "George", "Isla", "Harry", "Ava", "Jack", "Freya", "Charlotte",
        "Thomas", "Siobhán", "Rhys", "Niamh", "Callum", "Eleanor", "Imran",
    ),
    "DE01": (
        "Lukas", "Anna", "Jürgen", "Sophie", "Maximilian", "Lea", "Felix", "Marie", "Jonas",
        "Hannah", "Stefan", "Katrin", "Matthias", "Björn", "Sören", "Lena",
    ),
}  # fmt: skip
_LAST_NAMES = {
    "US01": (
        "Smith", "Johnson", "Williams", "Brown", "Garcia", "Miller", "Davis", "Rodriguez",
        "Martinez", "Chen", "Patel", "Nguyen", "Kim", "Thompson", "Walker", "Brooks", "Rivera",
        "Okafor", "Shah", "Bennett",
    ),
    "UK01": (
        "Taylor", "Jones", "Evans", "Wilson", "Hughes", "Clarke", "O'Brien", "Murphy",
        "Campbell", "Khan", "Wright", "Robinson", "Fletcher", "MacDonald", "Ashworth-Hale",
    ),
    "DE01": (
        "Müller", "Schmidt", "Schneider", "Fischer", "Weber", "Meyer", "Wagner", "Becker",
        "Schulz", "Hoffmann", "Koch", "Richter", "Groß", "Köhler", "Bauer", "Wolf",
    ),
}  # fmt: skip


@dataclass(frozen=True)
class _Place:
    city: str
    state: str | None
    country: str
    postal_codes: tuple[str, ...]


_PLACES = {
    "NA-EAST": (
        _Place("New York", "NY", "US", ("10004", "10017", "10036")),
        _Place("Boston", "MA", "US", ("02110", "02116")),
        _Place("Philadelphia", "PA", "US", ("19103", "19106")),
        _Place("Atlanta", "GA", "US", ("30303", "30308")),
        _Place("Chicago", "IL", "US", ("60601", "60606")),
        _Place("Charlotte", "NC", "US", ("28202",)),
    ),
    "NA-WEST": (
        _Place("San Francisco", "CA", "US", ("94105", "94111")),
        _Place("Seattle", "WA", "US", ("98101", "98104")),
        _Place("Denver", "CO", "US", ("80202",)),
        _Place("Austin", "TX", "US", ("78701",)),
        _Place("Portland", "OR", "US", ("97204",)),
        _Place("Los Angeles", "CA", "US", ("90017", "90071")),
    ),
    "UKI": (
        _Place("London", None, "GB", ("EC2V 7HH", "SE1 9SG", "W1T 3JH", "E14 5AB")),
        _Place("Manchester", None, "GB", ("M2 3WQ", "M1 4BT")),
        _Place("Edinburgh", None, "GB", ("EH2 4AD",)),
        _Place("Birmingham", None, "GB", ("B3 2HJ",)),
        _Place("Leeds", None, "GB", ("LS1 4DY",)),
        _Place("Dublin", None, "IE", ("D02 X285", "D04 T6X0")),
    ),
    "DACH": (
        _Place("München", None, "DE", ("80331", "80335")),
        _Place("Berlin", None, "DE", ("10117", "10785")),
        _Place("Frankfurt am Main", None, "DE", ("60311", "60486")),
        _Place("Hamburg", None, "DE", ("20095",)),
        _Place("Düsseldorf", None, "DE", ("40213",)),
        _Place("Wien", None, "AT", ("1010",)),
        _Place("Zürich", None, "CH", ("8001",)),
    ),
}
_STREETS = {
    "US": (
        "Market Street", "Main Street", "Park Avenue", "Broadway", "Lexington Avenue",
        "Commonwealth Avenue", "Peachtree Street NE", "Wacker Drive", "Mission Street",
        "Pine Street", "Congress Avenue", "Pearl Street",
    ),
    "GB": (
        "King Street", "Bishopsgate", "Deansgate", "George Street", "Colmore Row", "Park Row",
        "Victoria Street", "St Mary Axe",
    ),
    "IE": ("Grafton Street", "Harcourt Street", "Sir John Rogerson's Quay"),
    "DE": (
        "Leopoldstraße", "Friedrichstraße", "Königsallee", "Mönckebergstraße", "Kaiserstraße",
        "Theodor-Heuss-Allee",
    ),
    "AT": ("Kärntner Straße", "Mariahilfer Straße"),
    "CH": ("Bahnhofstrasse", "Löwenstrasse"),
}  # fmt: skip
_PARENT_SUFFIX = {"US": "Inc.", "GB": "plc", "IE": "plc", "DE": "AG", "AT": "AG", "CH": "AG"}
_CHILD_SUFFIX = {
    "US": ("Inc.", "LLC", "Corp."),
    "GB": ("Ltd",),
    "IE": ("Ltd", "DAC"),
    "DE": ("GmbH", "GmbH & Co. KG"),
    "AT": ("GmbH",),
    "CH": ("AG",),
}
_BRANDS = (
    "Northwind", "Bluefin", "Harbor Point", "Summit Ridge", "Cedarline", "Ironbridge", "Lumen",
    "Meridian", "Pinnacle", "Redwood", "Silverline", "Aster", "Brightwater", "Crestview",
    "Evergreen", "Falconer", "Granite Peak", "Helix", "Juniper", "Keystone", "Lakeshore",
    "Nimbus", "Orion", "Polaris", "Quarry Hill", "Riverbend", "Sterling", "Tidewater",
    "Vantage", "Westbrook", "Alder & Finch", "Bauer & Schmitt", "Hartmann", "Köhler",
    "O'Connell", "Whitmore", "Fairhaven", "Oakridge", "Larkspur", "Marlowe", "Stonegate",
    "Ashdown",
)  # fmt: skip
_BRAND_AREAS = ("North", "Atlantic", "Pacific", "Alpine", "Continental", "Coastal")
_GROUP_WORDS = ("Group", "Holdings", "Industries", "International")
_DIVISIONS = {
    "Manufacturing": ("Components", "Automotive", "Industrial Systems", "Precision Parts"),
    "Financial Services": ("Capital", "Asset Management", "Payments", "Bank"),
    "Healthcare": ("Health", "Diagnostics", "Care Services", "Medical"),
    "Retail": ("Stores", "Retail", "Home & Living", "Fashion"),
    "Energy": ("Energy", "Renewables", "Power", "Grid Services"),
    "Technology": ("Software", "Systems", "Digital", "Cloud Services"),
    "Logistics": ("Logistics", "Freight", "Distribution", "Shipping"),
    "Media": ("Media", "Publishing", "Studios", "Broadcasting"),
    "Pharmaceuticals": ("Pharma", "Therapeutics", "Biosciences", "Labs"),
    "Insurance": ("Insurance", "Re", "Life", "Specialty Risk"),
}
_TOPICS = {
    "STRAT": (
        "Operating Model Redesign", "Growth Strategy", "Market Entry Assessment",
        "Cost Transformation",
    ),
    "TECH": ("ERP Implementation", "Cloud Migration", "CRM Rollout", "Platform Modernisation"),
    "DATA": (
        "Data Platform Build", "AI Readiness Assessment", "Analytics Managed Service",
        "Data Governance Programme",
    ),
    "FIN": (
        "Close Acceleration", "FP&A Redesign", "Finance Shared Services",
        "Revenue Recognition Readiness",
    ),
}  # fmt: skip
_OPEN_STAGES = (
    "Prospecting",
    "Qualification",
    "Needs Analysis",
    "Value Proposition",
    "Id. Decision Makers",
    "Perception Analysis",
    "Proposal/Price Quote",
    "Negotiation/Review",
)
_ACTIVITIES = (
    "workshop", "stakeholder interviews", "analysis", "status report", "design review",
    "configuration", "testing", "documentation", "data validation", "client meeting",
)  # fmt: skip
_NON_BILLABLE = ("Internal: knowledge transfer", "Internal: quality review", "Non-billable rework")

# Quarter-end burst: every running engagement is staffed by at least this many people for at
# least this many weeks, so 12 engagements always give 12 * 14 * 30 = 5,040+ timesheets.
_MIN_TEAM = 14
_MAX_TEAM = 18
_MIN_WEEKS = 30
_MAX_WEEKS = 44

_FIRST_PERIOD = (2025, 1)
_LAST_PERIOD = (2027, 6)


# --------------------------------------------------------------------------- public API
def generate(scenario: ScenarioName, seed: int) -> Firm:
    """Build the synthetic firm of one scenario, the same for the same seed.

    Args:
        scenario: ``small`` (a handful of everything), ``firm`` (a mid-size firm with a
            dozen Closed Won engagements), ``quarter-end`` (``firm`` plus 50,000+ approved
            time entries to post) or ``quarter-end-large`` (250 running engagements over
            the three entities and their last six weeks: 50,000+ entries).
        seed: any integer; different seeds give different firms.

    Raises:
        ValueError: for an unknown scenario name.
    """
    if scenario not in _SIZES:
        raise ValueError(f"unknown scenario {scenario!r}; choose one of {', '.join(SCENARIOS)}")
    size = _SIZES[scenario]
    entities = _legal_entities(_rng(seed, "entities"))
    consultants = _consultants(_rng(seed, "consultants"), size)
    customers = _customers(_rng(seed, "customers"), size)
    opportunities = _opportunities(_rng(seed, "opportunities"), size, customers, consultants)
    timesheets: tuple[TimesheetSpec, ...] = ()
    if scenario in _BURSTS:
        timesheets = _timesheets(_rng(seed, "timesheets"), opportunities, consultants, size)
    return Firm(
        scenario=scenario,
        seed=seed,
        legal_entities=entities,
        practices=_PRACTICES,
        regions=_REGIONS,
        service_packages=_PACKAGES,
        consultants=consultants,
        customers=customers,
        opportunities=opportunities,
        accounting_periods=_accounting_periods(entities),
        timesheets=timesheets,
        fx_rates=_fx_rates(_rng(seed, "fx"), entities),
        vendors=firm_vendors(entities),
    )


def firm_to_json(firm: Firm) -> str:
    """Serialise a firm as indented JSON (decimals as strings, dates as ISO), newline-ended."""
    return firm.model_dump_json(indent=2) + "\n"


# --------------------------------------------------------------------------- sections
def _rng(seed: int, section: str) -> random.Random:
    # A string seed is hashed with SHA-512 by random.seed, so it is stable across runs and
    # platforms (unlike hash()), and each section gets an independent stream.
    return random.Random(f"accord-sandbox/{seed}/{section}")


def _legal_entities(rng: random.Random) -> tuple[LegalEntitySpec, ...]:
    return tuple(
        LegalEntitySpec(
            code=code,
            name=name,
            currency=currency,
            country=country,
            erp=erp,
            netsuite_subsidiary_id=subsidiary,
            bc_company_id=str(uuid.UUID(int=rng.getrandbits(128), version=4)),
        )
        for code, name, currency, country, erp, subsidiary in _ENTITIES
    )


def _currency(entity: str) -> str:
    return next(e[2] for e in _ENTITIES if e[0] == entity)


def _consultants(rng: random.Random, size: _Size) -> tuple[ConsultantSpec, ...]:
    out: list[ConsultantSpec] = []
    emails: set[str] = set()
    for entity, count in size.consultants.items():
        currency = _currency(entity)
        regions = [r for r, e in _REGION_ENTITY.items() if e == entity]
        for i in range(count):
            role = _ROLE_CYCLE[i % len(_ROLE_CYCLE)]
            first = rng.choice(_FIRST_NAMES[entity])
            last = rng.choice(_LAST_NAMES[entity])
            email = _unique_email(first, last, emails)
            base_cost, base_bill = _ROLE_RATES[role]
            # Bill rates are list prices (multiples of 5); cost rates come from salaries and
            # are not round, which keeps margin arithmetic honest.
            bill = base_bill * _FX[currency] * Decimal(str(round(rng.uniform(0.95, 1.08), 3)))
            cost = base_cost * _FX[currency] * Decimal(str(round(rng.uniform(0.92, 1.08), 4)))
            out.append(
                ConsultantSpec(
                    id=f"EMP-{len(out) + 1:04d}",
                    first_name=first,
                    last_name=last,
                    email=email,
                    role=role,
                    practice=rng.choice(_PRACTICES).code,
                    region=rng.choice(regions),
                    legal_entity=entity,
                    cost_rate=cost.quantize(_CENT, ROUND_HALF_UP),
                    bill_rate=((bill / 5).quantize(Decimal(1), ROUND_HALF_UP) * 5).quantize(_CENT),
                    currency=currency,
                )
            )
    return tuple(out)


def _unique_email(first: str, last: str, taken: set[str]) -> str:
    local = f"{_ascii_slug(first)}.{_ascii_slug(last)}"
    candidate, n = local, 1
    while candidate in taken:
        n += 1
        candidate = f"{local}{n}"
    taken.add(candidate)
    return f"{candidate}@{FIRM_DOMAIN}"


def _ascii_slug(text: str) -> str:
    # German transliteration first (Müller -> mueller), then strip other accents (Siobhán).
    for src, dst in (("ä", "ae"), ("ö", "oe"), ("ü", "ue"), ("ß", "ss")):
        text = text.replace(src, dst).replace(src.upper(), dst.capitalize())
    text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return "".join(c for c in text.lower() if c.isalnum() or c == "-")


@dataclass
class _Member:
    depth: int
    parent: int | None
    region: str


def _family_shapes(rng: random.Random, size: _Size) -> list[list[_Member]]:
    """Corporate families (parent first) whose sizes add up to exactly ``size.customers``."""
    remaining = size.customers
    families: list[list[_Member]] = []
    regions = [r.code for r in _REGIONS]
    weights = (30, 25, 25, 20)
    while remaining > 0:
        three_level = len(families) < size.three_level_families
        home = rng.choices(regions, weights)[0]
        members = [_Member(0, None, home)]
        if three_level:
            # parent -> child -> grandchild, plus maybe a second child or grandchild
            members += [_Member(1, 0, _other_region(rng, home)), _Member(2, 1, home)]
            members += [_Member(1, 0, _other_region(rng, home)) for _ in range(rng.randint(0, 1))]
            members += [_Member(2, 1, home) for _ in range(rng.randint(0, 1))]
        else:
            shape = rng.choices(("single", "two"), (40, 60))[0]
            if shape == "two":
                members += [
                    _Member(1, 0, rng.choice((home, _other_region(rng, home))))
                    for _ in range(rng.randint(1, 3))
                ]
        if three_level and not families:
            # The first family spans all three legal entities, so even ``small`` gives every
            # ERP (and both NetSuite subsidiaries) customers of its own.
            members[0].region, members[1].region, members[2].region = "NA-EAST", "UKI", "DACH"
        members = members[:remaining]
        families.append(members)
        remaining -= len(members)
    return families


def _other_region(rng: random.Random, region: str) -> str:
    return rng.choice([r.code for r in _REGIONS if r.code != region])


def _customers(rng: random.Random, size: _Size) -> tuple[CustomerSpec, ...]:
    families = _family_shapes(rng, size)
    pool: tuple[str, ...] = _BRANDS
    if len(families) > len(pool):
        # More families than brands (quarter-end-large): regional brands of the same names.
        pool += tuple(f"{brand} {area}" for area in _BRAND_AREAS for brand in _BRANDS)
    brands = rng.sample(pool, len(families))
    out: list[CustomerSpec] = []
    names: set[str] = set()
    for brand, members in zip(brands, families, strict=True):
        industry = rng.choice(tuple(_DIVISIONS))
        ids: list[str] = []
        for member in members:
            place = rng.choice(_PLACES[member.region])
            country = place.country
            division = rng.choice(_DIVISIONS[industry])
            if member.depth == 0 and len(members) > 1:
                base = f"{brand} {rng.choice(_GROUP_WORDS)} {_PARENT_SUFFIX[country]}"
            elif member.depth == 2:
                base = f"{brand} {division} {place.city} {rng.choice(_CHILD_SUFFIX[country])}"
            else:
                base = f"{brand} {division} {rng.choice(_CHILD_SUFFIX[country])}"
            name = _unique_name(base, place.city, names)
            entity = _REGION_ENTITY[member.region]
            # Irish customers of the UK entity are billed in euros: the firm's
            # foreign-currency customers (customer, project and entity currencies differ).
            currency = _FOREIGN_CURRENCY.get(country, _currency(entity))
            number = rng.randint(1, 480)
            street = rng.choice(_STREETS[country])
            customer_id = f"CUST-{len(out) + 1:04d}"
            ids.append(customer_id)
            out.append(
                CustomerSpec(
                    id=customer_id,
                    name=name,
                    parent_id=None if member.parent is None else ids[member.parent],
                    legal_entity=entity,
                    currency=currency,
                    tax_region=next(r.tax_region for r in _REGIONS if r.code == member.region),
                    street=f"{number} {street}"
                    if country in {"US", "GB", "IE"}
                    else f"{street} {number}",
                    city=place.city,
                    postal_code=rng.choice(place.postal_codes),
                    state=place.state,
                    country=country,
                    industry=industry,
                )
            )
    return tuple(out)


def _unique_name(base: str, city: str, taken: set[str]) -> str:
    name = base
    if name in taken:
        name = f"{base} ({city})"
    n = 1
    while name in taken:
        n += 1
        name = f"{base} ({city} {n})"
    taken.add(name)
    return name


def _region_of(customer: CustomerSpec) -> str:
    tax_region = customer.tax_region
    return next(r.code for r in _REGIONS if r.tax_region == tax_region)


def _monday(day: date) -> date:
    return day - timedelta(days=day.weekday())


def _opportunities(
    rng: random.Random,
    size: _Size,
    customers: Sequence[CustomerSpec],
    consultants: Sequence[ConsultantSpec],
) -> tuple[OpportunitySpec, ...]:
    won = size.running_won + size.recent_won
    open_count = size.opportunities - won - size.closed_lost
    open_stages = [
        _OPEN_STAGES[round(i * (len(_OPEN_STAGES) - 1) / max(open_count - 1, 1))]
        for i in range(open_count)
    ]
    kinds = (
        ["running"] * size.running_won
        + ["recent"] * size.recent_won
        + ["lost"] * size.closed_lost
        + open_stages
    )
    entity_codes = [e[0] for e in _ENTITIES]
    sellers = {
        code: [c.email for c in consultants if c.legal_entity == code and c.role in _SELLING_ROLES]
        for code in entity_codes
    }
    drafts: list[tuple[str, CustomerSpec, ServicePackageSpec]] = []
    for i, kind in enumerate(kinds):
        if i < won:
            # Closed Won deals rotate through packages and entities so that every billing
            # model and every ERP has an engagement to provision, even in ``small``.
            package = _PACKAGES[i % len(_PACKAGES)]
            cycle = size.entity_cycle or entity_codes
            entity = cycle[i % len(cycle)]
            customer = rng.choice([c for c in customers if c.legal_entity == entity])
        else:
            package = rng.choice(_PACKAGES)
            customer = rng.choice(customers)
        drafts.append((kind, customer, package))
    rng.shuffle(drafts)

    out: list[OpportunitySpec] = []
    names: set[str] = set()
    for kind, customer, package in drafts:
        practice = rng.choice(_PRACTICES).code
        close, start = _deal_dates(rng, kind, package)
        low, high = _AMOUNT_RANGE[package.code]
        amount_usd = Decimal(rng.randrange(low, high, 1_000))
        amount = (amount_usd * _FX[customer.currency] / 1000).quantize(Decimal(1)) * 1000
        topic = rng.choice(_TOPICS[practice])
        name = f"{customer.name} - {topic}"
        phase = 1
        while name in names:
            phase += 1
            name = f"{customer.name} - {topic} (Phase {phase})"
        names.add(name)
        owners = sellers[customer.legal_entity] or [
            c.email for c in consultants if c.role in _SELLING_ROLES
        ]
        stage = {"running": "Closed Won", "recent": "Closed Won", "lost": "Closed Lost"}.get(
            kind, kind
        )
        out.append(
            OpportunitySpec(
                id=f"OPP-{len(out) + 1:04d}",
                name=name,
                customer_id=customer.id,
                stage=stage,
                amount=amount.quantize(_CENT),
                currency=customer.currency,
                close_date=close,
                service_package=package.code,
                billing_model=package.billing_model,
                legal_entity=customer.legal_entity,
                practice=practice,
                region=_region_of(customer),
                start_date=start,
                end_date=start + timedelta(days=package.duration_days - 1),
                owner_email=rng.choice(owners),
            )
        )
    return tuple(out)


def _deal_dates(rng: random.Random, kind: str, package: ServicePackageSpec) -> tuple[date, date]:
    """Close and start dates for a deal of one kind, relative to :data:`REFERENCE_DATE`."""
    if kind == "running":
        # Started at least _MIN_WEEKS full weeks ago and still running at quarter-end.
        latest = min(package.duration_days - 14, _MAX_WEEKS * 7)
        start = _monday(REFERENCE_DATE - timedelta(days=rng.randint((_MIN_WEEKS + 1) * 7, latest)))
        return start - timedelta(days=rng.randint(7, 28)), start
    if kind == "recent":
        # Just won: kick-off in the coming weeks, so no time is booked yet.
        close = REFERENCE_DATE - timedelta(days=rng.randint(1, 21))
        return close, _monday(REFERENCE_DATE) + timedelta(days=7 * rng.randint(1, 3))
    if kind == "lost":
        close = REFERENCE_DATE - timedelta(days=rng.randint(14, 270))
    else:
        close = REFERENCE_DATE + timedelta(days=rng.randint(7, 180))
    return close, _monday(close) + timedelta(days=7 * rng.randint(2, 5))


def _accounting_periods(entities: Sequence[LegalEntitySpec]) -> tuple[AccountingPeriodSpec, ...]:
    """Monthly periods; everything before the month preceding :data:`REFERENCE_DATE` is closed.

    The month just ended (September for a 1 October reference date) is still open: that is
    the quarter-end close in progress.
    """
    first_open = _add_months((REFERENCE_DATE.year, REFERENCE_DATE.month), -1)
    out: list[AccountingPeriodSpec] = []
    for entity in entities:
        for year, month in _months(_FIRST_PERIOD, _LAST_PERIOD):
            out.append(
                AccountingPeriodSpec(
                    legal_entity=entity.code,
                    period=f"{year:04d}-{month:02d}",
                    status="closed" if (year, month) < first_open else "open",
                )
            )
    return tuple(out)


def _fx_rates(rng: random.Random, entities: Sequence[LegalEntitySpec]) -> tuple[FxRateSpec, ...]:
    """A rate per month and ordered pair of the entities' currencies, drifting around _FX.

    Each base currency has its own table (as each ERP book does), so a pair and its inverse
    are separate rows that need not be exact reciprocals; rates have six decimals.
    """
    currencies = sorted({e.currency for e in entities})
    out: list[FxRateSpec] = []
    for year, month in _months(_FIRST_PERIOD, _LAST_PERIOD):
        for base in currencies:
            for currency in currencies:
                if base == currency:
                    continue
                drift = Decimal(1) + _FX_DRIFT * Decimal(str(round(rng.uniform(-1, 1), 4)))
                rate = _FX[base] / _FX[currency] * drift
                out.append(
                    FxRateSpec(
                        base=base,
                        currency=currency,
                        effective=date(year, month, 1),
                        rate=rate.quantize(Decimal("0.000001"), ROUND_HALF_UP),
                    )
                )
    return tuple(out)


def _add_months(ym: tuple[int, int], delta: int) -> tuple[int, int]:
    index = ym[0] * 12 + ym[1] - 1 + delta
    return index // 12, index % 12 + 1


def _months(first: tuple[int, int], last: tuple[int, int]) -> Iterator[tuple[int, int]]:
    current = first
    while current <= last:
        yield current
        current = _add_months(current, 1)


# --------------------------------------------------------------------------- quarter-end burst
# Precomputed so that 60,000+ draws do not each build a Decimal.
_QUARTER_HOURS = tuple((Decimal(q) / 4).quantize(_CENT) for q in range(41))
_MINUTE_HOURS = tuple((Decimal(m) / 60).quantize(_CENT, ROUND_HALF_UP) for m in range(601))


def _hours(rng: random.Random) -> Decimal:
    """0.25 to 10.00 hours, mostly short; one in five logged to the minute (e.g. 0.67)."""
    if rng.random() < 0.2:
        return _MINUTE_HOURS[rng.randint(15, 180)]
    return _QUARTER_HOURS[min(40, 1 + int(rng.expovariate(1 / 3)))]


def _timesheets(
    rng: random.Random,
    opportunities: Sequence[OpportunitySpec],
    consultants: Sequence[ConsultantSpec],
    size: _Size,
) -> tuple[TimesheetSpec, ...]:
    """Approved weekly timesheets for every running Closed Won engagement, up to today.

    One timesheet per consultant, engagement and week; one to three entries per worked day.
    Staff come from the engagement's own entity first, then from the others (cross-border
    staffing is normal in a firm this size), unless ``size.home_only``; ``size.weeks`` keeps
    the last weeks only.
    """
    packages = {p.code: p for p in _PACKAGES}
    last_day = REFERENCE_DATE - timedelta(days=1)
    smallest, largest = size.team or (_MIN_TEAM, _MAX_TEAM)
    since = None if size.weeks is None else _monday(REFERENCE_DATE) - timedelta(weeks=size.weeks)
    sheets: list[TimesheetSpec] = []
    entry_no = 0
    engagements = [
        o for o in opportunities if o.stage == "Closed Won" and o.start_date < REFERENCE_DATE
    ]
    for opp in engagements:
        home = [c for c in consultants if c.legal_entity == opp.legal_entity]
        away = [c for c in consultants if c.legal_entity != opp.legal_entity]
        rng.shuffle(home)
        rng.shuffle(away)
        team = (home if size.home_only else home + away)[: rng.randint(smallest, largest)]
        phases = packages[opp.service_package].phases
        first = opp.start_date if since is None else max(opp.start_date, since)
        final = min(opp.end_date, last_day)
        span = max((opp.end_date - opp.start_date).days, 1)
        for person in team:
            week = _monday(first)
            while week <= final:
                days = [
                    d for d in (week + timedelta(days=i) for i in range(5)) if first <= d <= final
                ]
                if len(days) > 1 and rng.random() < 0.2:
                    days.remove(rng.choice(days))
                phase = phases[
                    min(len(phases) - 1, (week - opp.start_date).days * len(phases) // span)
                ]
                entries: list[TimeEntrySpec] = []
                for day in days:
                    # Each entry is its own business fact: the ERP emulators count a second
                    # (person, project, day, hours, notes) as a duplicate posting.
                    facts: set[tuple[Decimal, str]] = set()
                    for _ in range(rng.choice((1, 2, 2, 3, 3))):
                        entry_no += 1
                        billable = rng.random() >= 0.08
                        notes = (
                            f"{phase}: {rng.choice(_ACTIVITIES)}"
                            if billable
                            else rng.choice(_NON_BILLABLE)
                        )
                        hours = _hours(rng)
                        while (hours, notes) in facts:
                            # Not another draw: the rest of the firm stays as it was.
                            hours += Decimal("0.01")
                        facts.add((hours, notes))
                        entries.append(
                            TimeEntrySpec(
                                id=f"TE-{entry_no:07d}",
                                date=day,
                                hours=hours,
                                billable=billable,
                                notes=notes,
                            )
                        )
                if entries:
                    sheets.append(
                        TimesheetSpec(
                            id=f"TS-{len(sheets) + 1:06d}",
                            consultant_id=person.id,
                            opportunity_id=opp.id,
                            week_start=week,
                            entries=tuple(entries),
                        )
                    )
                week += timedelta(days=7)
    return tuple(sheets)
