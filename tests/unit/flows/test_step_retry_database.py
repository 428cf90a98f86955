"""A step retries when Accord's own database could not be reached (a restart, a failover)."""

import sqlalchemy as sa

from accord.errors import BusinessRuleError
from accord.flows.retries import DATABASE_BACKOFF, StepRetry, database_unavailable


def _operational() -> sa.exc.OperationalError:
    return sa.exc.OperationalError(
        "SELECT 1", {}, Exception("the database system is shutting down")
    )


def test_which_database_errors_are_worth_retrying() -> None:
    assert database_unavailable(_operational())
    assert database_unavailable(sa.exc.InterfaceError("SELECT 1", {}, Exception("closed")))
    invalidated = sa.exc.DBAPIError("SELECT 1", {}, Exception("reset"), connection_invalidated=True)
    assert database_unavailable(invalidated)
    assert not database_unavailable(sa.exc.ProgrammingError("SELECT x", {}, Exception("no x")))
    assert not database_unavailable(sa.exc.IntegrityError("INSERT", {}, Exception("dup")))
    assert not database_unavailable(BusinessRuleError("closed period"))


def test_a_step_waits_out_a_restart() -> None:
    sleeps: list[float] = []
    retry = StepRetry(4, sleep=sleeps.append, rng=lambda: 0.5)
    assert all(retry(_operational()) for _ in range(4))
    # Waits 1, 2, 4 s at most (half with this draw); none after the last attempt (DBOS stops).
    assert sleeps == [0.5 * DATABASE_BACKOFF.ceiling(n) for n in range(3)] == [0.5, 1.0, 2.0]
    # A business refusal is still not retried.
    assert StepRetry(4, sleep=sleeps.append)(BusinessRuleError("closed period")) is False
