"""`firstline run`: migrate, demo data on first start only, web + worker, clean stop."""

import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.request
from contextlib import closing

import pytest


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start(data_dir, port):
    env = {key: value for key, value in os.environ.items()
           if key not in ("DATABASE_URL", "DJANGO_SETTINGS_MODULE")}
    env.update(DEBUG="1", FIRSTLINE_DATA_DIR=str(data_dir), MAIL_BACKEND="console")
    return subprocess.Popen(
        [sys.executable, "-m", "firstline", "run", f"127.0.0.1:{port}"], env=env,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        start_new_session=True,
    )


def wait_for_http(url, process, timeout=90):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"firstline run exited early:\n{process.stdout.read()}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310
                return response.status, response.read().decode()
        except OSError:
            time.sleep(0.5)
    pytest.fail("the web server did not answer in time")


def count_tickets(database) -> int:
    with closing(sqlite3.connect(database)) as connection:
        return connection.execute("SELECT COUNT(*) FROM tickets_ticket").fetchone()[0]


def children_of(pid):
    result = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True,
                            check=False)
    return [int(line) for line in result.stdout.split()]


def stop_with_ctrl_c(process):
    kids = children_of(process.pid)
    process.send_signal(signal.SIGINT)
    output, _ = process.communicate(timeout=20)
    for kid in kids:
        with pytest.raises(ProcessLookupError):
            os.kill(kid, 0)
    return output


def test_run_starts_web_and_worker_with_demo_data_and_keeps_it_on_restart(tmp_path):
    port = free_port()
    process = start(tmp_path, port)
    status, page = wait_for_http(f"http://127.0.0.1:{port}/login/", process)
    assert status == 200
    # The web server, the task worker, the outbox retry loop and the SLA clock.
    assert len(children_of(process.pid)) == 4
    output = stop_with_ctrl_c(process)
    assert "operator" in output and "demo12345" in output
    assert process.returncode == 0

    database = tmp_path / "firstline.sqlite3"
    tickets_first = count_tickets(database)
    assert tickets_first >= 150
    process = start(tmp_path, port)
    wait_for_http(f"http://127.0.0.1:{port}/login/", process)
    output = stop_with_ctrl_c(process)
    assert "already there" in output
    assert count_tickets(database) == tickets_first
