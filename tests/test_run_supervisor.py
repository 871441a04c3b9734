"""The supervisor of `firstline run` on small real processes: back-off, isolation, stop;
and the settings it relies on (the kept signing key, the allowed hosts)."""

import json
import os
import re
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from firstline.cli import parse_bind, site_url_for
from firstline.core.local_box import ensure_secret_key, read_secret_key
from firstline.core.supervisor import Child, Supervisor, describe_exit

PY = sys.executable
WILDCARD = "0.0.0.0"  # noqa: S104 - the all-interfaces address, as a user would type it


def python(code: str) -> list[str]:
    return [PY, "-c", textwrap.dedent(code)]


def gone(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return True
    return stat.rpartition(")")[2].split()[0] in "ZX"


def run_checks(supervisor: Supervisor, seconds: float, until=None) -> None:
    """Let the supervisor work for `seconds`, or, given `until`, until it holds (a loaded
    machine starts a Python process in far more than the delays under test)."""
    deadline = time.monotonic() + (seconds if until is None else 30)
    while time.monotonic() < deadline:
        supervisor.check()
        if until is not None and until():
            return
        time.sleep(0.01)


def test_backoff_doubles_from_the_first_delay_up_to_the_cap():
    supervisor = Supervisor([], {}, backoff_first=1, backoff_max=60)
    assert [supervisor.backoff(n) for n in range(1, 9)] == [1, 2, 4, 8, 16, 32, 60, 60]


def test_a_crashing_child_is_restarted_with_growing_delays_and_the_others_stay_up():
    log: list[str] = []
    crashing = Child("crasher", python("import sys; sys.exit(3)"))
    steady = Child("steady", python("import time; time.sleep(30)"))
    supervisor = Supervisor([crashing, steady], dict(os.environ), backoff_first=0.05,
                            backoff_max=0.2, stable_after=10, log=log.append)
    supervisor.start_all()
    try:
        def restarts_logged() -> list[float]:
            return [float(m) for m in re.findall(r"restarting it in ([\d.]+) s", " ".join(log))]

        run_checks(supervisor, 0, until=lambda: len(restarts_logged()) >= 4)
        delays = restarts_logged()
        assert delays[:4] == [0.05, 0.1, 0.2, 0.2]
        assert all("the crasher (pid" in line and "exited with code 3" in line
                   for line in log if "restarting" in line)
        assert crashing.restarts >= 3
        assert len(set(crashing.pids)) == crashing.restarts + 1
        assert steady.restarts == 0 and steady.process.poll() is None
    finally:
        supervisor.stop_all()


def test_a_child_that_stayed_up_long_enough_restarts_after_the_first_delay_again():
    log: list[str] = []
    child = Child("sleeper", python("import time; time.sleep(0.25)"))
    supervisor = Supervisor([child], dict(os.environ), backoff_first=0.05, backoff_max=5,
                            stable_after=0.2, log=log.append)
    supervisor.start_all()
    try:
        run_checks(supervisor, 1.3)
    finally:
        supervisor.stop_all()
    delays = re.findall(r"restarting it in ([\d.]+) s", " ".join(log))
    assert len(delays) >= 2
    assert set(delays) == {"0.05"}


def test_stop_terminates_children_and_kills_one_that_ignores_sigterm_with_its_group(tmp_path):
    log: list[str] = []
    grandchild_file = tmp_path / "grandchild"
    stubborn = Child("stubborn", python(f"""
        import signal, subprocess, sys, time
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        grandchild = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
        open({str(grandchild_file)!r}, "w").write(str(grandchild.pid))
        time.sleep(60)
    """))
    polite = Child("polite", python("import time; time.sleep(60)"))
    supervisor = Supervisor([stubborn, polite], dict(os.environ), stop_timeout=0.5,
                            log=log.append)
    supervisor.start_all()
    deadline = time.monotonic() + 20
    while not grandchild_file.exists() or not grandchild_file.read_text():
        assert time.monotonic() < deadline, "the stubborn child did not start its own child"
        time.sleep(0.05)
    grandchild = int(grandchild_file.read_text())
    began = time.monotonic()
    supervisor.stop_all()
    assert time.monotonic() - began < 5
    assert polite.process.returncode == -signal.SIGTERM
    assert stubborn.process.returncode == -signal.SIGKILL
    assert log == ["the stubborn did not stop in time; killing it"]
    deadline = time.monotonic() + 5
    while not gone(grandchild):
        assert time.monotonic() < deadline, "the stubborn child's own child is still running"
        time.sleep(0.05)


@pytest.mark.skipif(sys.platform != "linux", reason="the parent-death signal is Linux's")
def test_children_end_when_the_supervisor_itself_is_killed(tmp_path):
    pid_file = tmp_path / "child"
    script = f"""
        import os, sys, time
        from firstline.core.supervisor import Child, Supervisor
        child = Child("sleeper", [sys.executable, "-c", "import time; time.sleep(60)"])
        supervisor = Supervisor([child], dict(os.environ))
        supervisor.start_all()
        open({str(pid_file)!r}, "w").write(str(child.process.pid))
        time.sleep(60)
    """
    outer = subprocess.Popen(python(script), cwd=Path(__file__).resolve().parent.parent)
    try:
        deadline = time.monotonic() + 20
        while not pid_file.exists() or not pid_file.read_text():
            assert time.monotonic() < deadline, "the supervisor did not start its child"
            time.sleep(0.05)
        child = int(pid_file.read_text())
        assert not gone(child)
        outer.kill()
        outer.wait()
        deadline = time.monotonic() + 5
        while not gone(child):
            assert time.monotonic() < deadline, "the child outlived its supervisor"
            time.sleep(0.05)
    finally:
        if outer.poll() is None:
            outer.kill()
            outer.wait()


def test_exits_are_described_by_code_or_signal():
    assert describe_exit(3) == "exited with code 3"
    assert describe_exit(-9) == "was killed by SIGKILL"


@pytest.mark.parametrize(("bind", "expected"), [
    ("127.0.0.1:8000", ("127.0.0.1", 8000)),
    ("[::1]:8080", ("::1", 8080)),
    ("9000", ("127.0.0.1", 9000)),
    (f"{WILDCARD}:80", (WILDCARD, 80)),
])
def test_binds_are_parsed(bind, expected):
    assert parse_bind(bind) == expected


@pytest.mark.parametrize("bind", ["127.0.0.1", "127.0.0.1:http", "127.0.0.1:0", "h:70000"])
def test_a_bad_bind_is_refused_naming_it(bind):
    with pytest.raises(ValueError, match=re.escape(repr(bind))):
        parse_bind(bind)


def test_site_url_follows_the_bind():
    assert site_url_for("127.0.0.2", 8123) == "http://127.0.0.2:8123"
    assert site_url_for("::1", 8123) == "http://[::1]:8123"
    assert site_url_for(WILDCARD, 80).endswith(":80")
    assert WILDCARD not in site_url_for(WILDCARD, 80)


def test_the_signing_key_is_made_once_private_and_kept(tmp_path):
    assert read_secret_key(tmp_path) == ""
    key = ensure_secret_key(tmp_path / "var")
    path = tmp_path / "var" / "secret_key"
    assert path.stat().st_mode & 0o777 == 0o600
    assert len(key) >= 50
    path.chmod(0o644)
    assert ensure_secret_key(tmp_path / "var") == key == read_secret_key(tmp_path / "var")
    assert path.stat().st_mode & 0o777 == 0o600
    path.write_text("")
    with pytest.raises(ValueError, match="secret_key: the signing key file is empty"):
        ensure_secret_key(tmp_path / "var")


def settings_with(**env) -> dict[str, object]:
    """Load firstline.settings in a fresh interpreter with `env`; return a few settings."""
    code = ("import json, firstline.settings as s; print(json.dumps({'key': s.SECRET_KEY, "
            "'hosts': s.ALLOWED_HOSTS, 'site': s.SITE_URL}))")
    environment = {key: value for key, value in os.environ.items()
                   if key not in ("SECRET_KEY", "SITE_URL", "ALLOWED_HOSTS", "FIRSTLINE_BIND")}
    environment.update(DEBUG="0", DATABASE_URL="sqlite:///:memory:", **env)
    result = subprocess.run([PY, "-c", code], env=environment, capture_output=True, text=True,
                            check=False)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_settings_read_the_kept_key_when_the_environment_has_none(tmp_path):
    key = ensure_secret_key(tmp_path)
    assert settings_with(FIRSTLINE_DATA_DIR=str(tmp_path))["key"] == key
    assert settings_with(FIRSTLINE_DATA_DIR=str(tmp_path), SECRET_KEY="from-env")["key"] == (
        "from-env")


def test_the_hosts_of_the_site_url_and_the_bind_are_allowed_by_default(tmp_path):
    ensure_secret_key(tmp_path)
    loaded = settings_with(FIRSTLINE_DATA_DIR=str(tmp_path), SITE_URL="https://desk.example.com",
                           FIRSTLINE_BIND="10.1.2.3:8080")
    assert loaded["site"] == "https://desk.example.com"
    assert {"desk.example.com", "10.1.2.3", "localhost"} <= set(loaded["hosts"])
    wildcard = settings_with(FIRSTLINE_DATA_DIR=str(tmp_path), FIRSTLINE_BIND=f"{WILDCARD}:80")
    assert WILDCARD not in wildcard["hosts"]
    explicit = settings_with(FIRSTLINE_DATA_DIR=str(tmp_path), ALLOWED_HOSTS="only.example",
                             FIRSTLINE_BIND="10.1.2.3:8080")
    assert explicit["hosts"] == ["only.example"]
