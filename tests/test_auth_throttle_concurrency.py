"""Throttle counters stay exact when several web workers count at once (PostgreSQL).

Each thread has its own database connection, as each worker process has: without the row
lock, concurrent failures would overwrite each other's counts and a brute force spread over
workers would never reach the limit.
"""

import contextlib
import threading

import pytest
from django.db import connection, connections

from firstline.accounts import throttle
from firstline.accounts.models import SignInThrottle
from firstline.core.models import AuditEvent

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        connection.vendor != "postgresql",
        reason="SQLite's in-memory test database is one connection; PostgreSQL has many",
    ),
]

WORKERS = 10


def run_together(work) -> list[BaseException]:
    barrier, errors = threading.Barrier(WORKERS), []

    def worker(number: int) -> None:
        try:
            barrier.wait()
            work(number)
        except BaseException as error:  # reported by the test
            errors.append(error)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(WORKERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return errors


def test_ten_simultaneous_failures_lock_an_account_exactly_twice():
    account = throttle.Account("staff:target")

    def fail(number: int) -> None:
        with contextlib.suppress(throttle.Locked):
            throttle.failed(account, f"192.0.2.{number}")

    assert run_together(fail) == []
    row = SignInThrottle.objects.get(scope="account")
    # 10 failures with a limit of 5: two lockouts, nothing lost, nothing left over.
    assert row.lockouts == 2 and row.hits == []
    assert AuditEvent.objects.filter(action="signin.locked", after__scope="account").count() == 2
    with pytest.raises(throttle.Locked):
        throttle.check(account, "198.51.100.1")


def test_simultaneous_link_requests_send_no_more_than_the_limit():
    results: list[bool] = []

    def ask(number: int) -> None:
        results.append(throttle.allow_login_link("ivan@alpha.example", f"192.0.2.{number}"))

    assert run_together(ask) == []
    assert results.count(True) == 3
