"""Dynamics 365 Finance in the ERP role, delivery half: status, fields, vendors; what it refuses.

- **Status** is the project's stage (``ProjectStage`` of the ``Projects`` entity, enum
  ``ProjStatus``): active is the connection's ``active_stage`` (``InProcess``; the stages in
  ``posting_stages`` take postings), completed and cancelled its ``inactive_stage``
  (``Completed``, shown as *Finished*), planned its ``planned_stage`` (``Created``), on hold
  its ``on_hold_stage`` (``Scheduled``: F&O has no on-hold stage, so a stage whose stage rules
  take no postings stands for it [inferred]). Cancelled reads back as completed. A project's
  stage is read across the connection's companies; the feed ``delivery:Projects`` reads the
  default company's changed projects (as the other feeds do).
- **Firm-specific fields**: the rules' ``custom_fields`` have no Dynamics 365 Finance name
  (:class:`~accord.rules.spec.CustomFieldSpec`), so F&O carries none of them: states have no
  fields, nothing is written and no field is a problem (a system left out does not carry the
  field).
- **Vendors** are ``VendorsV2`` records (``VendVendorV2Entity``) of the legal entity's company
  whose ``VendorAccountNumber`` is the firm's vendor key; a vendor on hold for ``All`` is not
  usable.
- **Refused** (classified :class:`~accord.errors.PermanentError`, never a silent no-op):
  project tasks and their progress (F&O's WBS activities), people on projects, and posting
  vendor bills: "Dynamics 365 Finance: <operation> is not supported by Accord yet". The
  vendor-bill feed is refused when it is built (:class:`~accord.errors.UnsupportedOperationError`),
  so delivery capture leaves it out with one logged reason per start.
"""

from collections.abc import Mapping
from typing import Final, NoReturn

from accord.connectors.dynamics_finance._erp_billing import DynamicsFinanceBilling
from accord.connectors.dynamics_finance.connector import (
    RESOURCES,
    DynamicsFinanceConnector,
    odata_string,
)
from accord.connectors.dynamics_finance.mapping import stage_status, status_stage
from accord.connectors.roles import (
    ChangeFeed,
    ErpAssignment,
    ErpTask,
    KnownIds,
    Mapped,
    PostedVendorBill,
    ProjectState,
    TaskProgress,
    VendorBillRequest,
    project_state_feed,
)
from accord.connectors.types import RawRecord
from accord.domain import ProjectStatus, VendorBill
from accord.errors import NotFoundError, PermanentError, UnsupportedOperationError

__all__ = ["DynamicsFinanceDelivery"]

_PROJECTS: Final = "Projects"
_VENDORS: Final = "VendorsV2"
_PRODUCT: Final = "Dynamics 365 Finance"


class DynamicsFinanceDelivery(DynamicsFinanceBilling):
    """The delivery methods of ``DynamicsFinanceErp`` (the module docstring)."""

    def _project_record(self, erp_id: str) -> RawRecord | None:
        """Project ``erp_id`` in one of the connection's companies (one cross-company read)."""
        config = self._connector.config
        areas = {a.lower() for a in config.companies.values()} | {config.company.lower()}
        found = self._connector.query(
            _PROJECTS, f"ProjectID eq {odata_string(erp_id)}", every_company=True, top=50
        )
        return next((r for r in found if str(r.get("dataAreaId")).lower() in areas), None)

    def _held_project(self, erp_id: str) -> tuple[DynamicsFinanceConnector, RawRecord]:
        record = self._project_record(erp_id)
        if record is None:
            raise NotFoundError(
                connector=self._connector.name, resource=_PROJECTS, external_id=erp_id
            )
        return self._connector.for_company(str(record["dataAreaId"])), record

    def _unsupported(self, operation: str, resource: str) -> NoReturn:
        message = f"{_PRODUCT}: {operation} is not supported by Accord yet"
        raise PermanentError(
            message, detail=message, connector=self._connector.name, resource=resource
        )

    # ----------------------------------------------------------------- status and fields
    def _state(self, record: RawRecord, project_id: str) -> ProjectState:
        return ProjectState(
            project_id=project_id,
            status=stage_status(str(record.get("ProjectStage") or ""), self._connector.config),
            changed_at=self._connector.describe(_PROJECTS, record).modified_at,
            label=str(record.get("ProjectName") or record.get("ProjectID") or ""),
        )

    def project_states(self, ids: KnownIds) -> ChangeFeed[Mapped[ProjectState] | None]:
        """The default company's changed projects that Accord created."""
        return project_state_feed(
            self._connector, _PROJECTS, ids, id_field="ProjectID", state=self._state
        )

    def project_state(self, erp_id: str, project_id: str) -> ProjectState:
        """The project's stage now, in canonical terms."""
        return self._state(self._held_project(erp_id)[1], project_id)

    def set_project_status(self, erp_id: str, status: ProjectStatus, *, reason: str) -> bool:
        """PATCH ``ProjectStage`` (a project has no field for ``reason``)."""
        del reason
        company, record = self._held_project(erp_id)
        config = self._connector.config
        current = str(record.get("ProjectStage") or "")
        if stage_status(current, config) is stage_status(status_stage(status, config), config):
            return False
        spec = RESOURCES[_PROJECTS]
        company.update(
            _PROJECTS,
            company.record_id(spec, record),
            {"ProjectStage": status_stage(status, config)},
            etag=record.get("@odata.etag"),
        )
        return True

    def write_project_fields(self, erp_id: str, fields: Mapping[str, str | None]) -> None:
        """Nothing to write: no firm-specific field maps to F&O (module docstring)."""
        del erp_id, fields

    def project_field_problems(self) -> dict[str, str]:
        """None: the rules map no firm-specific field to F&O (module docstring)."""
        return {}

    # ----------------------------------------------------------------- refused
    def upsert_task(self, request: ErpTask) -> str:
        """Refused: project tasks (WBS activities) are not supported yet."""
        del request
        self._unsupported("project tasks (WBS activities)", "ProjectWBSActivities")

    def task_progress(self, erp_task_id: str) -> TaskProgress:
        """Refused: project tasks (WBS activities) are not supported yet."""
        del erp_task_id
        self._unsupported("project task progress", "ProjectWBSActivities")

    def assign(self, request: ErpAssignment) -> str:
        """Refused: people on projects (resource assignments) are not supported yet."""
        del request
        self._unsupported("assigning people to projects", "Resources")

    def post_vendor_bill(self, request: VendorBillRequest, ids: KnownIds) -> PostedVendorBill:
        """Refused: vendor invoices are not supported yet."""
        del request, ids
        self._unsupported("posting vendor bills", "VendorInvoiceHeaders")

    def vendor_bills(self, ids: KnownIds) -> ChangeFeed[Mapped[VendorBill] | None]:
        """Refused when built: the vendor invoice feed is not supported yet."""
        del ids
        message = f"{_PRODUCT}: the vendor bill feed is not supported by Accord yet"
        raise UnsupportedOperationError(
            message, detail=message, connector=self._connector.name, resource="VendorInvoiceHeaders"
        )

    # ----------------------------------------------------------------- vendors
    def vendor(self, vendor_id: str, legal_entity: str) -> str | None:
        """The company's vendor account whose number is the firm's vendor key, if usable."""
        found = self._company(legal_entity).get_by_external_id(_VENDORS, vendor_id)
        if found is None or found.get("OnHoldStatus") == "All":
            return None
        return str(found["VendorAccountNumber"])
