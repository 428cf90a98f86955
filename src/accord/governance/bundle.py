"""Promotion between environments: a reviewable bundle of one environment's configuration.

``accord bundle export`` writes one YAML file: the active rules version (its full document and
hash), the connection settings with every secret replaced by ``<redacted>`` (a ``${env:...}``
or ``${file:...}`` reference is kept: it names a secret, it is not one), the schema versions
(database migration head, canonical model schemas, rules schema) and the flow settings (the
other sections of ``accord.yaml``, with the rules file path left out: the rules travel as
the version).

``accord bundle import`` checks a bundle against the target environment: the rules hash must
match the document (a corrupted or edited bundle is refused), the rules must pass the
target's reference checks (every connection they name exists there, of the right kind), and
the differences to the target are listed section by section. Without ``--dry-run`` the rules
become a **proposal** in the target, which then goes through the target's own approval;
connection and flow settings stay the target's own (they live in its ``accord.yaml``, which
Accord never writes), and the listed differences say what to change there.
"""

import hashlib
import json
import re
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import sqlalchemy as sa
import yaml
from pydantic import SecretStr

import accord
from accord.connectors.registry import config_model_for
from accord.domain.export import SCHEMA_MODELS
from accord.errors import ConfigError, GovernanceError
from accord.flows.config_sections import read_section
from accord.governance.changes import NothingToChangeError, RulesChanges
from accord.governance.diff import Change, diff
from accord.governance.resolve import RulesResolver
from accord.governance.settings import GovernanceSettings
from accord.governance.validate import Finding, check_references
from accord.rules import Rules, parse_rules, rules_json_schema
from accord.store import audit, head_revision, rulesets
from accord.store.rulesets import Proposal
from accord.store.util import utc_now

__all__ = [
    "BUNDLE_FORMAT",
    "REDACTED",
    "BundleCheck",
    "check_bundle",
    "export_bundle",
    "import_bundle",
    "read_bundle",
    "render_bundle",
]

BUNDLE_FORMAT: Final = 1
"""The bundle format this Accord writes and reads."""
REDACTED: Final = "<redacted>"
"""What a secret is replaced by in a bundle."""
_NOT_SETTINGS: Final = frozenset({"connections", "webhooks", "governance"})
"""Top-level sections of ``accord.yaml`` that are not flow settings."""
_SECRET_NAME: Final = re.compile(r"secret|password|token|private_key|api_key", re.IGNORECASE)
_REFERENCE: Final = re.compile(r"^\$\{[a-z]+:[^}]*\}$")


def _secret_fields(kind: Any) -> set[str]:  # noqa: ANN401 - raw YAML
    try:
        model = config_model_for(str(kind))
    except ConfigError:
        return set()
    return {
        name
        for name, info in model.model_fields.items()
        if info.annotation is SecretStr or SecretStr in typing.get_args(info.annotation)
    }


def _redact(value: Any, *, secret: bool) -> Any:  # noqa: ANN401 - raw YAML
    if isinstance(value, Mapping):
        return {
            str(k): _redact(v, secret=secret or bool(_SECRET_NAME.search(str(k))))
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [_redact(v, secret=secret) for v in value]
    if secret and value is not None and not (isinstance(value, str) and _REFERENCE.match(value)):
        return REDACTED
    return value


def _connections(config_file: Path | None) -> dict[str, Any]:
    raw = read_section(config_file, "connections") or {}
    out: dict[str, Any] = {}
    for name, settings in sorted(raw.items()):
        if not isinstance(settings, Mapping):
            continue
        secrets = _secret_fields(settings.get("kind"))
        out[str(name)] = {
            str(k): _redact(v, secret=str(k) in secrets or bool(_SECRET_NAME.search(str(k))))
            for k, v in settings.items()
        }
    return out


def _settings(config_file: Path | None) -> dict[str, Any]:
    if config_file is None or not config_file.exists():
        return {}
    document = yaml.safe_load(config_file.read_text(encoding="utf-8")) or {}
    out: dict[str, Any] = {}
    for section, value in sorted(document.items()):
        if section in _NOT_SETTINGS:
            continue
        kept = value
        if isinstance(value, Mapping):
            # The rules file's path is this environment's; the rules travel as the version.
            kept = {k: v for k, v in value.items() if (section, k) != ("lead_to_project", "rules")}
        out[str(section)] = _redact(kept, secret=False)
    return out


def _schemas() -> dict[str, Any]:
    rules_schema = json.dumps(rules_json_schema(), sort_keys=True, separators=(",", ":"))
    return {
        "database": head_revision(),
        "canonical": {m.schema_name(): m.__schema_version__ for m in SCHEMA_MODELS},
        "rules_sha256": hashlib.sha256(rules_schema.encode()).hexdigest(),
    }


def export_bundle(
    engine: sa.Engine,
    *,
    config_file: Path | None,
    rules: Rules,
    settings: GovernanceSettings,
    actor: str,
) -> dict[str, Any]:
    """The bundle of this environment, with ``rules`` (the active version) as its rules."""
    with engine.connect() as conn:
        stored = rulesets.get_version(conn, version=rules.version)
    return {
        "accord_bundle": BUNDLE_FORMAT,
        "environment": settings.environment,
        "exported_at": utc_now().isoformat(timespec="seconds"),
        "exported_by": actor,
        "accord_version": accord.__version__,
        "schema": _schemas(),
        "rules": {
            "version": rules.version,
            "source": stored.source if stored else None,
            "document": rules.spec.model_dump(mode="json"),
        },
        "connections": _connections(config_file),
        "settings": _settings(config_file),
    }


def render_bundle(bundle: Mapping[str, Any]) -> str:
    """The bundle as YAML, with a header saying what it is."""
    header = (
        f"# Accord configuration bundle from environment {bundle['environment']!r}, rules "
        f"version {bundle['rules']['version'][:12]}.\n"
        "# Secrets are redacted. Review it, then: accord bundle import FILE --dry-run\n"
    )
    return header + yaml.safe_dump(dict(bundle), sort_keys=False, allow_unicode=True)


def read_bundle(path: Path) -> tuple[dict[str, Any], Rules]:
    """Read a bundle and its rules; the rules must hash to the version the bundle names.

    Raises:
        ConfigError: Not a bundle, another format, invalid rules, or a hash mismatch.
    """
    try:
        bundle = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"cannot read bundle {path}") from exc
    if not isinstance(bundle, dict) or bundle.get("accord_bundle") != BUNDLE_FORMAT:
        raise ConfigError(f"{path}: not an Accord bundle of format {BUNDLE_FORMAT}")
    section = bundle.get("rules")
    if not isinstance(section, dict) or not isinstance(section.get("document"), dict):
        raise ConfigError(f"{path}: the bundle has no rules document")
    rules = parse_rules(section["document"], source=path)
    if rules.version != section.get("version"):
        raise ConfigError(
            f"{path}: the rules document hashes to {rules.version[:12]}, not to the version "
            f"{str(section.get('version'))[:12]} the bundle names (edited or corrupted)"
        )
    return bundle, rules


@dataclass
class BundleCheck:
    """A bundle against the target environment: what differs and whether it may be imported."""

    source: str
    target: str
    direction: str
    rules_version: str
    active_version: str | None
    rules: list[Change] = field(default_factory=list)
    connections: list[Change] = field(default_factory=list)
    settings: list[Change] = field(default_factory=list)
    schema: list[Change] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)

    @property
    def importable(self) -> bool:
        """No finding is an error."""
        return not any(f.severity == "error" for f in self.findings)


def check_bundle(
    bundle: Mapping[str, Any],
    rules: Rules,
    *,
    resolver: RulesResolver,
    config_file: Path | None,
    connection_kinds: Mapping[str, str],
    settings: GovernanceSettings,
) -> BundleCheck:
    """Compare a bundle with the target (this database and ``accord.yaml``); writes nothing."""
    active = resolver.active_version()
    before = resolver.version(active).spec.model_dump(mode="json") if active else {}
    source = str(bundle.get("environment") or "unknown")
    return BundleCheck(
        source=source,
        target=settings.environment,
        direction=settings.direction(source),
        rules_version=rules.version,
        active_version=active,
        rules=diff(before, rules.spec.model_dump(mode="json")),
        connections=diff(_connections(config_file), bundle.get("connections") or {}),
        settings=diff(_settings(config_file), bundle.get("settings") or {}),
        schema=diff(_schemas(), bundle.get("schema") or {}),
        findings=check_references(rules, connection_kinds),
    )


def import_bundle(
    engine: sa.Engine,
    bundle: Mapping[str, Any],
    rules: Rules,
    *,
    check: BundleCheck,
    settings: GovernanceSettings,
    actor: str,
    reason: str,
) -> Proposal:
    """Propose the bundle's rules in the target (audited as ``bundle.import``).

    Raises:
        GovernanceError: The rules fail the target's reference checks.
        NothingToChangeError: The version is already active or proposed.
    """
    if not check.importable:
        errors = "; ".join(
            f"{f.path}: {f.message}" for f in check.findings if f.severity == "error"
        )
        raise GovernanceError(f"the bundle's rules do not fit this environment: {errors}")
    if check.active_version == rules.version:
        raise NothingToChangeError(f"version {rules.version[:12]} is already active here")
    proposal = RulesChanges(engine, settings).propose(
        rules, source=f"bundle:{check.source}", reason=reason, actor=actor
    )
    with engine.begin() as conn:
        audit.append(
            conn,
            actor=actor,
            action="bundle.import",
            target=f"rules:proposal:{proposal.id}",
            after={
                "from": check.source,
                "to": check.target,
                "direction": check.direction,
                "version": rules.version,
                "exported_at": bundle.get("exported_at"),
                "exported_by": bundle.get("exported_by"),
            },
        )
    return proposal
