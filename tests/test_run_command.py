"""`firstline run`: the single box under real load, crashes and signals.

Each test starts the real command on a free port: migrate, demo data on first start only,
gunicorn beside the task worker, the outbox loop and the SLA clock; DEBUG off; a generated
signing key kept in the data directory; SITE_URL and the allowed host following the bind;
a crashed child restarted while the rest stay up; SIGINT and SIGTERM stop everything.
"""

import http.cookiejar
import os
import re
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from contextlib import closing, suppress
from pathlib import Path

import pytest

from bench.web_load import run_load

# The children are found through /proc, and 127.0.0.2 answers on Linux's loopback only.
pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="reads Linux's /proc")

# Every child of `firstline run`, by a word of its command line.
CHILDREN = {"gunicorn": "web server", "db_worker": "task worker",
            "deliver_outbox": "outbox loop", "sla_clock": "SLA clock",
            "surveys_tick": "survey clock", "incidents_clock": "incidents clock",
            "metrics_reports": "report clock", "telegram_poll": "telegram poller",
            "billing_tick": "billing clock", "mail_work": "mail worker",
            "calls_work": "calls worker"}


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def start(data_dir: Path, bind: str) -> subprocess.Popen:
    env = {key: value for key, value in os.environ.items()
           if key not in ("DATABASE_URL", "DJANGO_SETTINGS_MODULE", "DEBUG", "SECRET_KEY",
                          "SITE_URL", "ALLOWED_HOSTS", "FIRSTLINE_BIND")}
    env.update(FIRSTLINE_DATA_DIR=str(data_dir), MAIL_BACKEND="console")
    # A file, not a pipe: the test reads the output while the command runs.
    log = open(data_dir / "run.log", "w")  # noqa: SIM115 - closed by stop()
    process = subprocess.Popen(
        [sys.executable, "-m", "firstline", "run", bind], env=env,
        stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )
    process.log = log
    return process


def output(data_dir: Path) -> str:
    return (data_dir / "run.log").read_text(errors="replace")


def get(url: str, timeout: float = 10) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


def wait_for_http(url: str, process: subprocess.Popen, data_dir: Path,
                  timeout: float = 90) -> tuple[int, str]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"firstline run exited early:\n{output(data_dir)}")
        if "firstline is running" in output(data_dir):
            try:
                return get(url, timeout=5)
            except OSError:
                pass
        time.sleep(0.3)
    pytest.fail(f"the web server did not answer in time:\n{output(data_dir)}")


def wait_until(condition, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.1)
    pytest.fail(f"timed out waiting for {what}")


def count_tickets(database: Path) -> int:
    with closing(sqlite3.connect(database)) as connection:
        return connection.execute("SELECT COUNT(*) FROM tickets_ticket").fetchone()[0]


def children_of(pid: int) -> dict[str, int]:
    """The direct children by role ("SLA clock" -> pid)."""
    result = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True,
                            check=False)
    children = {}
    for child in (int(line) for line in result.stdout.split()):
        try:
            command = Path(f"/proc/{child}/cmdline").read_bytes().decode()
        except FileNotFoundError:
            continue
        for marker, role in CHILDREN.items():
            if marker in command:
                children[role] = child
    return children


def descendants_of(pid: int) -> list[int]:
    result = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True,
                            check=False)
    kids = [int(line) for line in result.stdout.split()]
    return kids + [grandchild for kid in kids for grandchild in descendants_of(kid)]


def environment_of(pid: int) -> dict[str, str]:
    raw = Path(f"/proc/{pid}/environ").read_bytes().decode(errors="replace")
    return dict(item.split("=", 1) for item in raw.split("\0") if "=" in item)


def stop(process: subprocess.Popen, sig: signal.Signals) -> None:
    """Send `sig` to the command alone; it must stop every process it started."""
    tree = descendants_of(process.pid)
    assert tree, "firstline run has no children"
    process.send_signal(sig)
    try:
        process.wait(timeout=25)
    finally:
        process.log.close()
    deadline = time.monotonic() + 5
    while (left := {pid: alive(pid) for pid in tree if alive(pid)}) and (
            time.monotonic() < deadline):
        time.sleep(0.1)
    assert not left, f"still running after the stop: {left}"


def alive(pid: int) -> str | None:
    """The command line of a live process (a zombie waiting for its reaper is not)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        command = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except (FileNotFoundError, ProcessLookupError):
        return None
    return None if stat.rpartition(")")[2].split()[0] in "ZX" else command


def start_and_wait(data_dir: Path, bind: str) -> subprocess.Popen:
    process = start(data_dir, bind)
    try:
        status, _page = wait_for_http(f"http://{bind}/login/", process, data_dir)
        assert status == 200, output(data_dir)[-3000:]
    except BaseException:
        kill_all(process)
        raise
    return process


def kill_all(process: subprocess.Popen) -> None:
    """Clean-up after a failed test: SIGKILL the command and everything it started."""
    if process.poll() is None:
        for pid in [process.pid, *descendants_of(process.pid)]:
            with suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        process.wait()
    process.log.close()


@pytest.fixture(scope="module")
def first_box(tmp_path_factory):
    """A box after its first start and a Ctrl-C: demo data loaded, signing key kept."""
    data_dir = tmp_path_factory.mktemp("box")
    port = free_port()
    process = start_and_wait(data_dir, f"127.0.0.1:{port}")
    try:
        roles = set(children_of(process.pid))
        stop(process, signal.SIGINT)
    finally:
        kill_all(process)
    return {"dir": data_dir, "port": port, "roles": roles, "output": output(data_dir),
            "returncode": process.returncode, "key": (data_dir / "secret_key").read_text(),
            "tickets": count_tickets(data_dir / "firstline.sqlite3")}


def test_first_start_loads_demo_data_runs_every_child_and_keeps_a_private_key(first_box):
    assert first_box["roles"] == set(CHILDREN.values())
    assert first_box["returncode"] == 0
    text = first_box["output"]
    assert "operator" in text and "demo12345" in text
    assert f"firstline is running at http://127.0.0.1:{first_box['port']}/" in text
    assert "DEBUG is on" not in text
    assert first_box["tickets"] >= 150
    key_file = first_box["dir"] / "secret_key"
    assert key_file.stat().st_mode & 0o777 == 0o600
    assert len(first_box["key"].strip()) >= 50
    # Several processes write to SQLite: WAL, so readers do not block the writer.
    with closing(sqlite3.connect(first_box["dir"] / "firstline.sqlite3")) as connection:
        assert connection.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_second_start_keeps_data_and_key_and_serves_real_load_without_debug(first_box):
    data_dir, port = first_box["dir"], first_box["port"]
    base = f"http://127.0.0.1:{port}"
    process = start_and_wait(data_dir, f"127.0.0.1:{port}")
    try:
        # 50 clients at once, a new connection per request: every one answered, none reset.
        result = run_load(f"{base}/login/", clients=50, requests=4, seconds=40)
        assert result["failures"] == {}, result
        assert result["statuses"] == {"200": 200}, result
        # No SYN was dropped for a full listen backlog (each costs the client a 1 s retry).
        assert result["connects_retried"] == 0, result

        # DEBUG is off: a 404 is the plain page, no URLconf listing or traceback.
        status, page = get(f"{base}/no-such-page/")
        assert status == 404
        assert "DEBUG = True" not in page and "URLconf" not in page
        # Static files are collected and served by the app (whitenoise).
        status, css = get(f"{base}/static/firstline/app.css")
        assert status == 200 and css.strip()

        stop(process, signal.SIGINT)
    finally:
        kill_all(process)
    assert process.returncode == 0
    assert "already there" in output(data_dir)
    assert count_tickets(data_dir / "firstline.sqlite3") == first_box["tickets"]
    assert (data_dir / "secret_key").read_text() == first_box["key"]


def request_sign_in_link(base: str, partner: str, email: str) -> None:
    opener = urllib.request.build_opener(
        urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))
    url = f"{base}/portal/{partner}/login/"
    with opener.open(url, timeout=10) as response:
        page = response.read().decode()
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)
    body = urllib.parse.urlencode({"csrfmiddlewaretoken": token, "link-email": email}).encode()
    post = urllib.request.Request(url, data=body, headers={"Referer": url})  # noqa: S310
    with opener.open(post, timeout=10) as response:
        assert response.status == 200


LETTER = (
    "From: Пётр Новиков <petr@newcustomer.example>\r\nTo: support@oblakoteka.example\r\n"
    "Subject: =?utf-8?b?0J3QtSDRgNCw0LHQvtGC0LDQtdGCINC/0L7Rh9GC0LA=?=\r\n"
    "Message-ID: <run-box-1@newcustomer.example>\r\nMIME-Version: 1.0\r\n"
    "Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n"
    "Здравствуйте! Почта не отправляется с утра.\r\n"
).encode()


def deliver_by_pipe(data_dir: Path, partner: str) -> None:
    """`firstline mail_in` as an MTA runs it against the box: the letter stored, exit 0."""
    env = {key: value for key, value in os.environ.items()
           if key not in ("DATABASE_URL", "DJANGO_SETTINGS_MODULE", "DEBUG", "SECRET_KEY")}
    env["FIRSTLINE_DATA_DIR"] = str(data_dir)
    done = subprocess.run([sys.executable, "-m", "firstline", "mail_in", "--partner", partner],
                          input=LETTER, capture_output=True, env=env, timeout=60, check=False)
    assert done.returncode == 0, done.stderr.decode()


def copy_box(source: Path, target: Path) -> None:
    with closing(sqlite3.connect(source / "firstline.sqlite3")) as old, \
            closing(sqlite3.connect(target / "firstline.sqlite3")) as new:
        old.backup(new)
    shutil.copy(source / "secret_key", target / "secret_key")


def test_another_bind_moves_links_and_a_killed_child_restarts_and_sigterm_stops_all(
        first_box, tmp_path):
    copy_box(first_box["dir"], tmp_path)
    host = "127.0.0.2"  # any loopback address other than the default one
    port = free_port(host)
    base = f"http://{host}:{port}"
    process = start_and_wait(tmp_path, f"{host}:{port}")  # the bind's host is allowed
    try:
        # The printed address, the children's SITE_URL and the mailed links follow the bind.
        assert f"firstline is running at {base}/" in output(tmp_path)
        children = children_of(process.pid)
        assert {environment_of(pid).get("SITE_URL") for pid in children.values()} == {base}
        customer = re.search(r"customer\s+(\S+@\S+)\s.*/portal/([\w-]+)/login/",
                             first_box["output"])
        request_sign_in_link(base, customer.group(2), customer.group(1))
        link = wait_until(
            lambda: re.search(r"https?://\S+/portal/link/\S+", output(tmp_path)), 20,
            "the sign-in letter")
        assert link.group(0).startswith(f"{base}/portal/link/")

        # A letter piped in as an MTA does (stored only, exit 0) becomes a ticket through
        # the mail worker within two seconds.
        before = count_tickets(tmp_path / "firstline.sqlite3")
        deliver_by_pipe(tmp_path, "oblakoteka")
        stored = time.monotonic()
        wait_until(lambda: count_tickets(tmp_path / "firstline.sqlite3") > before, 10,
                   "the mail worker to make the letter a ticket")
        assert time.monotonic() - stored < 2.0

        # A background child killed outright is started again; the web answers meanwhile.
        killed = children["SLA clock"]
        os.kill(killed, signal.SIGKILL)
        assert get(f"{base}/login/")[0] == 200
        wait_until(lambda: children_of(process.pid).get("SLA clock") not in (None, killed),
                   10, "the SLA clock to be restarted")
        assert (f"the SLA clock (pid {killed}) was killed by SIGKILL; restarting it in 1 s"
                in output(tmp_path))
        now = children_of(process.pid)
        assert now["task worker"] == children["task worker"]
        assert now["web server"] == children["web server"]

        # The web server itself: the listening socket is kept, so a request sent meanwhile
        # waits for an answer (from a worker of the old server or the new server).
        os.kill(children["web server"], signal.SIGKILL)
        assert get(f"{base}/login/", timeout=30)[0] == 200
        wait_until(lambda: children_of(process.pid).get("web server") not in (
            None, children["web server"]), 10, "the web server to be restarted")
        assert get(f"{base}/login/", timeout=30)[0] == 200

        stop(process, signal.SIGTERM)
    finally:
        kill_all(process)
    assert process.returncode == 0
