"""Seeding Business Central from the synthetic firm.

One BC company per legal entity (even those whose ERP is NetSuite, so a migration can be
rehearsed); per company: DEPARTMENT and AREA dimensions with the firm's practices and
regions, employees for its consultants, resources for every consultant of the firm (a person
of another company is set up as a resource wherever the firm may staff them, numbered by the
same consultant id [inferred]; their cost stays with their home company), its vendors, monthly
accounting periods, currencies and their exchange rates against the company's local currency,
and the journal batches Accord posts to. Each company is the intercompany partner of the others
under its legal-entity code. Customers and projects are not seeded: Accord's customer-master and
lead-to-project flows create them.
"""

from typing import TYPE_CHECKING

from accord_sandbox.business_central.entities import BLANK_GUID, ENTITY_SETS
from accord_sandbox.firm import Firm

if TYPE_CHECKING:
    from accord_sandbox.business_central.emulator import BusinessCentralEmulator

__all__ = ["SERVICE_ITEMS", "load_firm"]

SERVICE_ITEMS = {"SERVICES": "Professional services"}
"""[inferred] Each company's service items (number -> name); the sandbox's accord.yaml bills
milestones through ``SERVICES`` (``milestones.bc_line_object``)."""

_MONTHS = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)
_SYMBOLS = {"USD": "$", "EUR": "€", "GBP": "£", "CAD": "$", "AUD": "$", "CHF": "CHF"}
_SYSTEM_VERSION = "24.0.16410.18056"  # [inferred] a plausible BC 24 build number


def _put(
    emu: "BusinessCentralEmulator",
    set_name: str,
    company_id: str,
    key: tuple[str, ...],
    **fields: str | int | float | bool,
) -> str:
    """Store a seeded record; its id derives from the company and ``key``: stable across resets."""
    spec = ENTITY_SETS[set_name]
    record: dict[str, object] = {p.name: p.blank() for p in spec.props}
    record["id"] = emu.stable_id(company_id, *key)
    record.update(fields)
    record["_companyId"] = company_id
    emu.put_version(spec, record)
    return str(record["id"])


def _load_rates(emu: "BusinessCentralEmulator", firm: Firm, cid: str, local: str) -> None:
    """The firm's rates into the company's local currency, as 100 units of the currency."""
    for rate in (r for r in firm.fx_rates if r.base == local):
        day = rate.effective.isoformat()
        _put(
            emu,
            "currencyExchangeRates",
            cid,
            ("exchangeRate", rate.currency, day),
            currencyCode=rate.currency,
            startingDate=day,
            exchangeRateAmount=100.0,
            relationalCurrencyCode="",
            relationalExchangeRateAmount=float(rate.rate * 100),
        )


def load_firm(emu: "BusinessCentralEmulator", firm: Firm) -> None:
    """Create the firm's reference data in ``emu`` (idempotent ids: derived from names)."""
    now = emu.now_iso()
    currencies = firm.currencies()
    for period in firm.accounting_periods:
        emu.periods[(period.legal_entity, period.period)] = period.status
    for entity in firm.legal_entities:
        cid = entity.bc_company_id.lower()
        emu.company_codes[cid] = entity.code
        emu.rowversion += 1
        emu.store.put(
            "companies",
            cid,
            {
                "id": cid,
                "systemVersion": _SYSTEM_VERSION,
                "timestamp": emu.rowversion,
                "name": entity.name,
                "displayName": entity.name,
                "businessProfileId": "",
                "systemCreatedAt": now,
                "systemCreatedBy": BLANK_GUID,
                "systemModifiedAt": now,
                "systemModifiedBy": BLANK_GUID,
                "_companyId": cid,
                "_currency": entity.currency,
                "_code": entity.code,
            },
        )
        dims = (
            ("DEPARTMENT", "Department", [(p.bc_department_code, p.name) for p in firm.practices]),
            ("AREA", "Area", [(r.bc_area_code, r.name) for r in firm.regions]),
        )
        for code, label, values in dims:
            dim_id = _put(emu, "dimensions", cid, ("dimension", code), code=code, displayName=label)
            for value_code, value_name in values:
                _put(
                    emu,
                    "dimensionValues",
                    cid,
                    ("dimensionValue", code, value_code),
                    code=value_code,
                    dimensionId=dim_id,
                    displayName=value_name,
                )
        for consultant in firm.consultants:
            number = consultant.id.upper()[:20]
            name = f"{consultant.first_name} {consultant.last_name}"
            home = consultant.legal_entity == entity.code
            if home:
                _put(
                    emu,
                    "employees",
                    cid,
                    ("employee", number),
                    number=number,
                    displayName=name,
                    givenName=consultant.first_name,
                    surname=consultant.last_name,
                    jobTitle=consultant.role,
                    email=consultant.email,
                )
            _put(
                emu,
                "resources",
                cid,
                ("resource", number),
                number=number,
                displayName=name,
                unitCost=float(consultant.cost_rate) if home else 0.0,
                unitPrice=float(consultant.bill_rate) if home else 0.0,
            )
        _load_rates(emu, firm, cid, entity.currency)
        for vendor in (v for v in firm.vendors if v.legal_entity == entity.code):
            # The vendor's number is the firm's vendor key ([inferred] the firm's set-up).
            number = vendor.id.upper()[:20]
            _put(
                emu,
                "vendors",
                cid,
                ("vendor", number),
                number=number,
                displayName=vendor.name,
                email=vendor.email,
                currencyCode=vendor.currency,
            )
        for period in sorted(
            (p for p in firm.accounting_periods if p.legal_entity == entity.code),
            key=lambda p: p.period,
        ):
            month = int(period.period[5:7])
            _put(
                emu,
                "accountingPeriods",
                cid,
                ("period", period.period),
                startingDate=f"{period.period}-01",
                name=_MONTHS[month - 1],
                newFiscalYear=month == 1,
            )
        for code in (c for c in currencies if c != entity.currency):
            _put(
                emu,
                "currencies",
                cid,
                ("currency", code),
                code=code,
                displayName=code,
                symbol=_SYMBOLS.get(code, code),
                amountDecimalPlaces="2:2",
                amountRoundingPrecision=0.01,
            )
        for number, name in SERVICE_ITEMS.items():
            _put(
                emu,
                "items",
                cid,
                ("item", number),
                number=number,
                displayName=name,
                type="Service",
                baseUnitOfMeasureCode="HOUR",
            )
        # [inferred] batch names: BC's CRONUS demo uses GENERAL/DEFAULT and CASHRCPT; the
        # PROJECTS batch is where the sandbox expects project time/expense lines.
        for code, label in (("GENERAL", "General journal"), ("PROJECTS", "Project postings")):
            _put(
                emu,
                "journals",
                cid,
                ("journal", code),
                code=code,
                displayName=label,
                templateDisplayName="GENERAL",
            )
        _put(
            emu,
            "customerPaymentJournals",
            cid,
            ("customerPaymentJournal", "CASHRCPT"),
            code="CASHRCPT",
            displayName="Cash receipts",
        )
