"""Loading a rules file into :class:`Rules`: validation, the content hash, lookups, the schema.

The version of a rules file is the SHA-256 of the canonical JSON of its validated spec (keys
sorted, no whitespace), so reformatting the YAML, reordering keys or editing comments keeps
the version, while any change of meaning gives a new one. A run records the version it used.

What does not belong here: the shape of the spec (:mod:`accord.rules.spec`), storing or
auditing versions (the store layer), and anything that talks to a remote system.
"""

import hashlib
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from accord.domain import BillingModel, ErpSystem
from accord.errors import ConfigError, RuleViolation
from accord.rules.spec import (
    LegalEntitySpec,
    OwnerRole,
    ProjectTemplateSpec,
    RevenuePolicySpec,
    RouteSpec,
    RulesSpec,
    TaxRuleSpec,
)
from accord.rules.transforms import DEFAULT_TRANSFORMS, TransformRegistry

__all__ = [
    "ErpPlacement",
    "Rules",
    "canonical_json",
    "export_schema",
    "load_rules",
    "parse_rules",
    "rules_json_schema",
]


def canonical_json(spec: RulesSpec) -> str:
    """The canonical JSON of a spec: what the version hash is computed over."""
    return json.dumps(
        spec.model_dump(mode="json"), sort_keys=True, separators=(",", ":"), ensure_ascii=False
    )


@dataclass(frozen=True)
class ErpPlacement:
    """Where a project or customer lands in its ERP: entity, ids and dimensions.

    For NetSuite, ``subsidiary``, ``department`` and ``class_`` are internal ids; for
    Business Central, ``subsidiary`` is the company and ``dimensions`` holds the dimension
    codes (``{"DEPARTMENT": "TECH", "AREA": "DACH"}``).
    """

    legal_entity: str
    erp: ErpSystem
    connection: str
    currency: str
    subsidiary: str
    department: str
    class_: str
    cost_center: str
    tax_region: str
    tax: TaxRuleSpec
    dimensions: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Rules:
    """A loaded, validated rules file and its version; all lookups the flows need."""

    spec: RulesSpec
    version: str
    """SHA-256 (hex) of :func:`canonical_json` of the spec."""
    source: Path | None = None
    project_namers: Mapping[str, Callable[[str], str]] = field(default_factory=dict, repr=False)

    def template_for(self, service_package: str) -> ProjectTemplateSpec:
        """The project template of a service package.

        Raises:
            RuleViolation: The package is not in the rules (``field="service_package"``).
        """
        template = self.spec.service_packages.get(service_package)
        if template is None:
            raise RuleViolation(
                f"unknown service package {service_package!r}", field="service_package"
            )
        return template

    def project_name(self, service_package: str, opportunity_name: str) -> str:
        """The PSA project name for an opportunity, through the package's transforms."""
        self.template_for(service_package)
        namer = self.project_namers.get(service_package)
        return namer(opportunity_name) if namer else opportunity_name

    def legal_entity(self, code: str) -> LegalEntitySpec:
        """A legal entity by code.

        Raises:
            RuleViolation: The entity is unknown (``field="legal_entity"``).
        """
        entity = self.spec.legal_entities.get(code)
        if entity is None:
            raise RuleViolation(f"unknown legal entity {code!r}", field="legal_entity")
        return entity

    def tax_rule(self, tax_region: str) -> TaxRuleSpec:
        """The tax rule of a tax region.

        Raises:
            RuleViolation: No rule for the region (``field="tax_region"``).
        """
        rule = self.spec.tax.get(tax_region)
        if rule is None:
            raise RuleViolation(f"no tax rule for tax region {tax_region!r}", field="tax_region")
        return rule

    def revenue_policy(self, billing_model: BillingModel) -> RevenuePolicySpec:
        """The revenue policy of a billing model (the spec guarantees one for each)."""
        return self.spec.revenue[billing_model]

    def placement(self, *, legal_entity: str, practice: str, region: str) -> ErpPlacement:
        """ERP entity, dimensions and tax for a deal's legal entity, practice and region.

        Raises:
            RuleViolation: A code is unknown; ``field`` names which.
        """
        entity = self.legal_entity(legal_entity)
        prac = self.spec.practices.get(practice)
        if prac is None:
            raise RuleViolation(f"unknown practice {practice!r}", field="practice")
        reg = self.spec.regions.get(region)
        if reg is None:
            raise RuleViolation(f"unknown region {region!r}", field="region")
        tax = self.tax_rule(reg.tax_region)
        bc = entity.erp is ErpSystem.BUSINESS_CENTRAL
        # A firm moving off Business Central keeps its dimension values in Dynamics 365
        # Finance (the emulator seeds them so), so both read the rules' BC codes.
        dimension_codes = bc or entity.erp is ErpSystem.DYNAMICS_FINANCE
        dims = self.spec.business_central
        return ErpPlacement(
            legal_entity=legal_entity,
            erp=entity.erp,
            connection=entity.connection,
            currency=entity.currency,
            subsidiary=(entity.erp_book[1] if dimension_codes else entity.netsuite_subsidiary_id)
            or "",
            department=prac.bc_department_code if dimension_codes else prac.netsuite_department_id,
            class_=reg.bc_area_code if dimension_codes else reg.netsuite_class_id,
            cost_center=prac.cost_center,
            tax_region=reg.tax_region,
            tax=tax,
            dimensions=(
                {dims.department: prac.bc_department_code, dims.region: reg.bc_area_code}
                if bc
                else {}
            ),
        )

    def route(self, code: str) -> RouteSpec:
        """The owner queue and severity for a failure code.

        An exact key wins; otherwise the longest matching prefix key (``erp.*`` matches
        ``erp.rejected`` and ``erp.period.closed``); otherwise the default route.
        """
        routes = self.spec.exception_routing.routes
        if code in routes:
            return routes[code]
        parts = code.split(".")
        for n in range(len(parts) - 1, 0, -1):
            hit = routes.get(".".join(parts[:n]) + ".*")
            if hit is not None:
                return hit
        return self.spec.exception_routing.default

    def owner(self, obj: str, field_name: str) -> OwnerRole | None:
        """Which system role owns ``obj.field_name``; ``None`` when nobody does."""
        if field_name in {"id", "refs", "updated_at"}:
            return None
        spec = self.spec.field_ownership.objects.get(obj)
        if spec is None:
            return None
        if field_name in spec.fields:
            return spec.fields[field_name]
        return spec.default


def _format_errors(exc: ValidationError) -> str:
    lines = []
    for err in exc.errors():
        path = ".".join(str(p) for p in err["loc"]) or "(root)"
        if err["type"] == "extra_forbidden":
            msg = "unknown key"
        elif err["type"] == "missing":
            msg = "required key is missing"
        else:
            msg = err["msg"].removeprefix("Value error, ")
        lines.append(f"{path}: {msg}")
    return "; ".join(lines)


def parse_rules(
    document: Any,  # noqa: ANN401 - the YAML document, validated here
    *,
    source: Path | None = None,
    transforms: TransformRegistry = DEFAULT_TRANSFORMS,
) -> Rules:
    """Validate an already-parsed rules document.

    Raises:
        ConfigError: The document is invalid; the message names each bad key's path.
    """
    where = str(source) if source else "rules"
    if not isinstance(document, Mapping):
        raise ConfigError(f"{where}: the top level must be a mapping")
    try:
        spec = RulesSpec.model_validate(document)
    except ValidationError as exc:
        raise ConfigError(f"{where}: {_format_errors(exc)}") from exc
    namers = {}
    for code, template in spec.service_packages.items():
        if template.project_name:
            try:
                namers[code] = transforms.compile(
                    ((t.name, t.args) for t in template.project_name),
                    where=f"service_packages.{code}.project_name",
                )
            except ConfigError as exc:
                raise ConfigError(f"{where}: {exc.message}") from exc
    version = hashlib.sha256(canonical_json(spec).encode()).hexdigest()
    return Rules(spec=spec, version=version, source=source, project_namers=namers)


def load_rules(path: Path | str, *, transforms: TransformRegistry = DEFAULT_TRANSFORMS) -> Rules:
    """Read, validate and version a rules YAML file.

    Args:
        path: The rules file (``rules/default.yaml`` ships with Accord).
        transforms: The transforms the file may call.

    Returns:
        The rules with ``version`` set to the content hash.

    Raises:
        ConfigError: The file is unreadable, not YAML, or invalid; the message names the file
            and the path of each bad key (``service_packages.IMPL-FIXED.phasez: unknown key``).
    """
    path = Path(path)
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"cannot read rules from {path}") from exc
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        at = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise ConfigError(f"{path}: not valid YAML{at}") from exc
    return parse_rules(document, source=path, transforms=transforms)


def rules_json_schema() -> dict[str, Any]:
    """The JSON Schema of a rules file, exported from :class:`RulesSpec`."""
    schema = RulesSpec.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "Accord rules"
    return schema


def export_schema(path: Path | None = None) -> str:
    """The schema as stable, indented JSON text; written to ``path`` when given."""
    text = json.dumps(rules_json_schema(), indent=2, sort_keys=True, ensure_ascii=False) + "\n"
    if path is not None:
        path.write_text(text, encoding="utf-8")
    return text
