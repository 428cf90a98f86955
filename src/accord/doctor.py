"""``accord doctor``: is this installation ready to run against its systems, and if not, why.

Checks, in order, each one answering with a problem and its fix when it fails:

* **database**: reachable, and migrated to the revision this Accord ships;
* **configuration**: ``accord.yaml`` readable, its connections valid, the rules file loadable;
* **each connection**: its hosts reachable; the clock in step with the system's (the ``Date``
  header: JWT bearer, TBA signatures and webhook timestamps fail beyond a few minutes);
  authentication (the connector's ``check()``); the custom fields, pages and permissions its
  declaration needs (:mod:`accord.connectors.requirements`, read through describe or metadata
  as the integration user); its budget (throttling Accord met, the org's daily API usage).

Nothing is written: the database is read, not migrated, and connectors run on a local budget.

What does *not* belong here: the CLI's printing (:mod:`accord.cli.doctor_cmd`) and a system's
own checks (its connector package's ``verify``).
"""

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any

import httpx
import sqlalchemy as sa

from accord.connectors.config import ConnectorConfig, load_connections
from accord.connectors.registry import create_connector
from accord.connectors.requirements import verifier_for
from accord.errors import AuthError, ConfigError, ConnectorError
from accord.settings import Settings
from accord.store import budget as budget_repo
from accord.store import create_db_engine, current_revision, head_revision
from accord.store.engine import ping
from accord.store.migrate import known_revisions

__all__ = ["MAX_CLOCK_SKEW_S", "Result", "check_connection", "check_database", "diagnose"]

MAX_CLOCK_SKEW_S = 60.0
"""Largest clock difference with a system before it is a problem (webhook windows are 5 min,
JWT and TBA allow a few minutes; a minute leaves room)."""
THROTTLED_SHARE = 0.02
"""Share of calls answered 429/403-limit above which the budget is too generous."""
API_USAGE_SHARE = 0.9
"""Share of a daily API allowance used above which it is a problem."""

Clock = Callable[[], datetime]


@dataclass(frozen=True, slots=True)
class Result:
    """One check: passed (``problem`` is None) or failed, with what fixes it."""

    subject: str
    check: str
    problem: str | None = None
    fix: str = ""
    detail: str = ""

    @property
    def ok(self) -> bool:
        """Whether the check passed."""
        return self.problem is None


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__


# --------------------------------------------------------------------------- database
def check_database(url: str) -> list[Result]:
    """The database answers and is at this Accord's migration head."""
    subject = "database"
    engine = create_db_engine(url, pool_size=1)
    try:
        try:
            ping(engine)
        except sa.exc.SQLAlchemyError as exc:
            return [
                Result(
                    subject,
                    "reachable",
                    f"cannot connect ({_first_line(exc)})",
                    "check ACCORD_DATABASE_URL and that the database server is running",
                )
            ]
        reachable = Result(subject, "reachable", detail=engine.url.render_as_string())
        head, current = head_revision(), current_revision(engine)
        if current == head:
            return [reachable, Result(subject, "migrated", detail=f"revision {head}")]
        if current is None or current in known_revisions():
            problem = f"at revision {current or 'none'}, this Accord needs {head}"
            fix = "start accord run once (it migrates the database at start)"
        else:
            problem = f"at revision {current}, newer than this Accord knows ({head})"
            fix = "upgrade Accord to the version that migrated this database"
        return [reachable, Result(subject, "migrated", problem, fix)]
    finally:
        engine.dispose()


# --------------------------------------------------------------------------- connections
def _origins(config: ConnectorConfig) -> list[str]:
    urls = [config.base_url, str(getattr(config, "token_url", "") or "")]
    origins: list[str] = []
    for url in urls:
        if url.startswith(("http://", "https://")):
            parsed = httpx.URL(url)
            origin = str(parsed.copy_with(path="/", query=None, fragment=None))
            if origin not in origins:
                origins.append(origin)
    return origins


def _reach(subject: str, config: ConnectorConfig, clock: Clock) -> list[Result]:
    results: list[Result] = []
    skews: list[float] = []
    timeout = min(config.timeout_s, 15.0)
    for origin in _origins(config):
        before = clock()
        started = time.monotonic()
        try:
            response = httpx.get(origin, timeout=timeout, follow_redirects=False)
        except httpx.HTTPError as exc:
            results.append(
                Result(
                    subject,
                    "reachable",
                    f"cannot reach {origin} ({_first_line(exc)})",
                    "check the URL in accord.yaml, DNS, the proxy (HTTPS_PROXY) and the firewall",
                )
            )
            continue
        results.append(Result(subject, "reachable", detail=origin))
        stamp = response.headers.get("date")
        if stamp:
            try:
                server = parsedate_to_datetime(stamp).astimezone(UTC)
            except (TypeError, ValueError):
                continue
            local = before + (clock() - before) / 2
            # The Date header has one-second resolution: half the round trip is noise too.
            slack = 1.0 + (time.monotonic() - started) / 2
            skew = (server - local).total_seconds()
            skews.append(0.0 if abs(skew) <= slack else skew)
    if skews:
        worst = max(skews, key=abs)
        if abs(worst) > MAX_CLOCK_SKEW_S:
            results.append(
                Result(
                    subject,
                    "clock",
                    f"this machine's clock is {abs(worst):.0f}s "
                    f"{'behind' if worst > 0 else 'ahead of'} the system's",
                    "synchronise the clock (NTP, chrony or systemd-timesyncd): signed tokens and "
                    "webhook timestamps are refused beyond a few minutes",
                )
            )
        else:
            results.append(Result(subject, "clock", detail=f"within {abs(worst):.0f}s"))
    return results


def _budget(subject: str, config: ConnectorConfig, engine: sa.Engine | None) -> list[Result]:
    if engine is None:
        return []
    try:
        with engine.connect() as conn:
            row = budget_repo.states(conn).get(config.name)
    except sa.exc.SQLAlchemyError:
        return []  # the database check reports it
    if row is None or not row.acquired_total:
        return [Result(subject, "budget", detail=f"{config.rate_per_s}/s, no calls yet")]
    share = row.throttled_total / row.acquired_total
    if row.throttled_total >= 5 and share > THROTTLED_SHARE:
        return [
            Result(
                subject,
                "budget",
                f"the system throttled {row.throttled_total} of {row.acquired_total} calls "
                f"({share:.1%})",
                f"lower rate_per_s ({config.rate_per_s}) or concurrency ({config.concurrency}) "
                "for this connection in accord.yaml, or raise the system's allowance",
            )
        ]
    return [Result(subject, "budget", detail=f"{config.rate_per_s}/s, {share:.1%} throttled")]


def _usage(subject: str, connector: Any) -> list[Result]:  # noqa: ANN401 - any connector
    usage = getattr(connector, "api_usage", None)
    fraction = getattr(usage, "fraction", None)
    if not isinstance(fraction, float):
        return []
    if fraction >= API_USAGE_SHARE:
        return [
            Result(
                subject,
                "api allowance",
                f"{fraction:.0%} of the daily API request allowance is used",
                "find what else calls the API, lengthen polling intervals, or buy more calls",
            )
        ]
    return [Result(subject, "api allowance", detail=f"{fraction:.0%} used")]


def check_connection(
    config: ConnectorConfig,
    *,
    engine: sa.Engine | None = None,
    transport: httpx.BaseTransport | None = None,
    clock: Clock | None = None,
) -> list[Result]:
    """Every check of one connection (reachability and clock, auth, requirements, budget)."""
    subject = f"connection {config.name}"
    now: Clock = clock or (lambda: datetime.now(UTC))
    results = _reach(subject, config, now) if transport is None else []
    if any(not r.ok and r.check == "reachable" for r in results):
        return results
    try:
        connector = create_connector(config, transport=transport)
    except ConfigError as exc:
        return [*results, Result(subject, "configuration", str(exc), "fix accord.yaml")]
    with connector:
        try:
            connector.check()
        except AuthError as exc:
            results.append(
                Result(
                    subject,
                    "authentication",
                    f"refused ({_first_line(exc)})",
                    "check the client id and secret (or key) this connection references in "
                    "accord.yaml, and that the integration user or app is active",
                )
            )
            return results
        except ConnectorError as exc:
            results.append(
                Result(
                    subject,
                    "authentication",
                    f"the check call failed ({_first_line(exc)})",
                    "retry; if it persists, check the system's status page and base URL",
                )
            )
            return results
        results.append(Result(subject, "authentication", detail=config.kind))
        verify = verifier_for(config.kind)
        if verify is not None:
            try:
                findings = verify(connector)
            except ConnectorError as exc:
                findings = []
                results.append(
                    Result(
                        subject,
                        "setup",
                        f"cannot read the system's metadata ({_first_line(exc)})",
                        "give the integration user read access to metadata (describe, "
                        "metadata catalog, API pages)",
                    )
                )
            results.extend(Result(subject, "setup", f.problem, f.fix) for f in findings)
            if not findings and all(r.check != "setup" for r in results):
                results.append(Result(subject, "setup", detail="fields and pages present"))
        results.extend(_usage(subject, connector))
    results.extend(_budget(subject, config, engine))
    return results


# --------------------------------------------------------------------------- everything
def _configuration(
    settings: Settings, env: Mapping[str, str]
) -> tuple[list[Result], dict[str, ConnectorConfig]]:
    subject = "configuration"
    path: Path = settings.config_file
    if not path.is_file():
        problem = f"no accord.yaml at {path}"
        fix = "write one (see docs/production.md) or set ACCORD_CONFIG_FILE"
        return [Result(subject, "accord.yaml", problem, fix)], {}
    results = [Result(subject, "accord.yaml", detail=str(path))]
    try:
        configs = load_connections(path, env)
    except ConfigError as exc:
        results.append(Result(subject, "connections", str(exc), "fix accord.yaml"))
        return results, {}
    results.append(Result(subject, "connections", detail=", ".join(sorted(configs)) or "none"))
    from accord.flows.shared.settings import load_flow_settings  # noqa: PLC0415
    from accord.rules import load_rules  # noqa: PLC0415

    try:
        rules_path = load_flow_settings(path, env).rules_path
        rules = load_rules(rules_path)
    except ConfigError as exc:
        results.append(Result(subject, "rules", str(exc), "fix the rules file it names"))
    else:
        results.append(Result(subject, "rules", detail=f"{rules_path} ({rules.version[:12]})"))
    return results, configs


def diagnose(
    settings: Settings,
    env: Mapping[str, str],
    *,
    only: Sequence[str] = (),
    progress: Callable[[str], None] | None = None,
) -> list[Result]:
    """Every check of this installation; ``only`` limits the connections checked."""
    results = check_database(settings.database_url)
    configured, configs = _configuration(settings, env)
    results += configured
    unknown = [name for name in only if name not in configs]
    results += [
        Result("configuration", "connections", f"no connection named {n!r}", "check the name")
        for n in unknown
    ]
    engine = create_db_engine(settings.database_url, pool_size=1)
    try:
        for name, config in sorted(configs.items()):
            if only and name not in only:
                continue
            if progress is not None:
                progress(name)
            results += check_connection(config, engine=engine)
    finally:
        engine.dispose()
    return results
