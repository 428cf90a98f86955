"""Seeding Dynamics 365 Finance from the synthetic firm.

One legal entity (company, ``dataAreaId`` = the code in lower case: ``de01``) per firm entity,
even those booked elsewhere, so that a migration can be rehearsed for any of them, plus the
system company ``DAT`` (the app user's default company, which holds nothing). Per company: a
resource per consultant of the entity (``ResourceId`` = the consultant id upper-cased, as in
Business Central), its vendors (``VendorsV2``, ``VendorAccountNumber`` = the firm's vendor
key), monthly fiscal periods (closed as the firm says), and the shared currencies and financial
dimension values (``Department`` from the practices' Business Central department codes,
``Region`` from the regions' area codes: a firm moving off Business Central keeps its dimension
values). Customers, contracts and projects are not seeded: Accord's flows create them.
"""

import calendar
from typing import TYPE_CHECKING

from accord_sandbox.dynamics_finance.entities import ENTITY_SETS, EntitySet
from accord_sandbox.firm import Firm

if TYPE_CHECKING:
    from accord_sandbox.dynamics_finance.emulator import DynamicsFinanceEmulator

__all__ = ["CURRENCY_NAMES", "load_firm"]

CURRENCY_NAMES = {
    "USD": ("US Dollar", "$"),
    "EUR": ("Euro", "€"),
    "GBP": ("British Pound", "£"),
    "CAD": ("Canadian Dollar", "$"),
    "AUD": ("Australian Dollar", "$"),
    "CHF": ("Swiss Franc", "CHF"),
}


def _put(emu: "DynamicsFinanceEmulator", spec: EntitySet, **fields: str | int | float) -> None:
    record: dict[str, object] = {p.name: p.blank() for p in spec.props}
    record.update(fields)
    emu.put_version(spec, record)


def load_firm(emu: "DynamicsFinanceEmulator", firm: Firm) -> None:
    """Create the firm's reference data in ``emu`` (keys derive from the firm: stable)."""
    sets = ENTITY_SETS
    currencies = firm.currencies()
    for code in currencies:
        name, symbol = CURRENCY_NAMES.get(code, (code, code))
        _put(emu, sets["Currencies"], CurrencyCode=code, Name=name, Symbol=symbol)
    _put(emu, sets["LegalEntities"], LegalEntityId="DAT", Name="Company DAT")
    for practice in firm.practices:
        _put(
            emu,
            sets["FinancialDimensionValues"],
            DimensionName="Department",
            DimensionValue=practice.bc_department_code,
            Description=practice.name,
        )
    for region in firm.regions:
        _put(
            emu,
            sets["FinancialDimensionValues"],
            DimensionName="Region",
            DimensionValue=region.bc_area_code,
            Description=region.name,
        )
    for period in firm.accounting_periods:
        emu.periods[(period.legal_entity, period.period)] = period.status
    for entity in firm.legal_entities:
        area = entity.code.lower()
        emu.company_codes[area] = entity.code
        _put(
            emu,
            sets["LegalEntities"],
            LegalEntityId=entity.code,
            Name=entity.name,
            AccountingCurrency=entity.currency,
            AddressCountryRegionId=entity.country,
        )
        for consultant in (c for c in firm.consultants if c.legal_entity == entity.code):
            number = consultant.id.upper()[:25]
            _put(
                emu,
                sets["Resources"],
                dataAreaId=area,
                ResourceId=number,
                Name=f"{consultant.first_name} {consultant.last_name}",
                PersonnelNumber=number,
                ResourceCategory=consultant.role[:30],
                CostPrice=float(consultant.cost_rate),
                SalesPrice=float(consultant.bill_rate),
            )
        for vendor in (v for v in firm.vendors if v.legal_entity == entity.code):
            _put(
                emu,
                sets["VendorsV2"],
                dataAreaId=area,
                VendorAccountNumber=vendor.id,
                VendorOrganizationName=vendor.name,
                VendorGroupId="SUBCON",
                CurrencyCode=vendor.currency,
                PrimaryContactEmail=vendor.email,
            )
        for period in sorted(
            (p for p in firm.accounting_periods if p.legal_entity == entity.code),
            key=lambda p: p.period,
        ):
            year, month = int(period.period[:4]), int(period.period[5:7])
            last = calendar.monthrange(year, month)[1]
            _put(
                emu,
                sets["LedgerFiscalPeriods"],
                dataAreaId=area,
                FiscalCalendar="Fiscal",
                FiscalYear=str(year),
                PeriodName=f"Period {month}",
                StartDate=f"{period.period}-01T12:00:00Z",
                EndDate=f"{period.period}-{last:02d}T12:00:00Z",
            )
