"""The production processes as systemd runs them, against PostgreSQL (issue 14).

The command lines are the units' own (`firstline install-units` rendering, ExecStartPre
and ExecStart), started under firstline's supervisor: the web server (twice, on two ports,
as two web boxes would), two task workers, the outbox loop and every clock. Then a desk
user signs in and registers a ticket whose request id reaches the worker's JSON log; then
load on both web servers with both workers: every ticket and every letter exactly once.
"""

import os
import re
import socket
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from pathlib import Path

import pytest
import requests
from django.core.management import call_command
from django.db import connection

from firstline.core.models import User
from firstline.core.supervisor import Child, Supervisor
from firstline.ops.units import Layout, render_units
from firstline.outbox.models import OutboxMessage, Status
from firstline.tickets.models import Ticket
from tests.conftest import PASSWORD

pytestmark = [
    # Committed data: the servers and workers are other processes.
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(connection.vendor != "postgresql",
                       reason="several processes share one database: PostgreSQL only "
                              "(DATABASE_URL=postgres://...)"),
    pytest.mark.skipif(sys.platform != "linux", reason="the supervisor's process groups"),
]
FIRSTLINE = str(Path(sys.executable).parent / "firstline")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def unit_commands(layout: Layout) -> dict[str, tuple[list[list[str]], list[str]]]:
    """unit name -> (ExecStartPre command lines, ExecStart command line)."""
    result = {}
    for name, text in render_units(layout).items():
        if not name.endswith(".service"):
            continue
        pre = [line.split("=", 1)[1].split() for line in text.splitlines()
               if line.startswith("ExecStartPre=")]
        start = next(line.split("=", 1)[1].split() for line in text.splitlines()
                     if line.startswith("ExecStart="))
        result[name] = (pre, start)
    return result


def instance(argv: list[str], n: int) -> list[str]:
    return [part.replace("%i", str(n)).replace("%H", socket.gethostname()) for part in argv]


def database_url() -> str:
    s = connection.settings_dict
    auth = s["USER"] + (f":{s['PASSWORD']}" if s.get("PASSWORD") else "")
    return f"postgres://{auth}@{s['HOST'] or '127.0.0.1'}:{s['PORT'] or 5432}/{s['NAME']}"


class Box:
    def __init__(self, supervisor: Supervisor, ports: list[int], log: Path) -> None:
        self.supervisor = supervisor
        self.ports = ports
        self.log = log

    def url(self, n: int = 0) -> str:
        return f"http://127.0.0.1:{self.ports[n]}"

    def pids(self, child_name: str) -> set[int]:
        return {pid for child in self.supervisor.children if child.name.startswith(child_name)
                for pid in child.pids}


def wait_ready(url: str, seconds: float = 90) -> dict:
    deadline = time.monotonic() + seconds
    body: dict = {}
    while time.monotonic() < deadline:
        try:
            response = requests.get(f"{url}/readyz", timeout=15)
            body = response.json()
            if response.status_code == 200:
                return body
        except (requests.RequestException, ValueError):
            pass  # still starting (a busy machine starts ten Django processes at once)
        time.sleep(0.5)
    raise AssertionError(f"{url}/readyz never became ready: {body}")


@pytest.fixture(scope="module")
def box(django_db_setup, django_db_blocker):
    data_dir = Path(tempfile.mkdtemp(prefix="firstline-ops-box-"))
    ports = [free_port(), free_port()]
    env = {key: value for key, value in os.environ.items()
           if not key.startswith(("PYTEST", "DJANGO_SETTINGS"))}
    env.update({
        "DATABASE_URL": database_url(), "DATABASE_CONN_MAX_AGE": "0",
        "SECRET_KEY": "ops-process-test-key-" + "x" * 40, "FIRSTLINE_DATA_DIR": str(data_dir),
        "FIRSTLINE_WEB_WORKERS": "2", "FIRSTLINE_FAST_PASSWORD_HASHER": "1",
        "LOG_FORMAT": "json", "LOG_LEVEL": "INFO", "MAIL_BACKEND": "console",
        "SITE_URL": f"http://127.0.0.1:{ports[0]}", "PYTHONUNBUFFERED": "1",
        "PROMETHEUS_MULTIPROC_DIR": str(data_dir / "prometheus-web"),
        # The SLA clock beats every 10 s; a stopped one shows within half a minute.
        "FIRSTLINE_READY_HEARTBEAT_SECONDS": "25",
    })
    commands = unit_commands(Layout(bin=FIRSTLINE, bind=f"127.0.0.1:{ports[0]}"))
    import subprocess

    for argv in commands["firstline-web.service"][0]:  # ExecStartPre: migrate, collectstatic
        subprocess.run(argv, env=env, check=True, timeout=300, capture_output=True)
    second_web = [part.replace(str(ports[0]), str(ports[1]))
                  for part in commands["firstline-web.service"][1]]
    children = [Child("web 1", commands["firstline-web.service"][1]), Child("web 2", second_web),
                Child("worker 1", instance(commands["firstline-worker@.service"][1], 1)),
                Child("worker 2", instance(commands["firstline-worker@.service"][1], 2))]
    children += [Child(name.removesuffix(".service"), start)
                 for name, (_pre, start) in commands.items()
                 if name not in ("firstline-web.service", "firstline-worker@.service")]
    supervisor = Supervisor(children, env, stop_timeout=15)
    # Web 2 is its own box: its own multiprocess directory.
    log = data_dir / "children.log"
    saved_out, saved_err = os.dup(1), os.dup(2)
    with log.open("ab") as sink:
        os.dup2(sink.fileno(), 1)
        os.dup2(sink.fileno(), 2)
        try:
            supervisor.start(children[0])
            env2 = dict(env, PROMETHEUS_MULTIPROC_DIR=str(data_dir / "prometheus-web2"))
            supervisor.env = env2
            supervisor.start(children[1])
            supervisor.env = env
            for child in children[2:]:
                supervisor.start(child)
        finally:
            os.dup2(saved_out, 1)
            os.dup2(saved_err, 2)
            os.close(saved_out)
            os.close(saved_err)
    try:
        yield Box(supervisor, ports, log)
    finally:
        supervisor.stop_all()


def sign_in(base: str, username: str) -> requests.Session:
    session = requests.Session()
    session.get(f"{base}/login/", timeout=30).raise_for_status()
    response = session.post(f"{base}/login/", timeout=30, data={
        "username": username, "password": PASSWORD,
        "csrfmiddlewaretoken": session.cookies["csrftoken"],
    }, headers={"Referer": f"{base}/login/"}, allow_redirects=False)
    assert response.status_code == 302, response.text[:500]
    return session


def api_token(user: User) -> str:
    from io import StringIO

    out = StringIO()
    call_command("create_api_token", user.username, name=f"ops-{uuid.uuid4().hex[:6]}",
                 stdout=out, stderr=StringIO())
    return out.getvalue().strip()


def test_the_units_command_lines_serve_a_desk(box, cast):
    for port in range(2):
        body = wait_ready(box.url(port))
        assert body["failing"] == []
    session = sign_in(box.url(), cast.operator.username)
    with session:
        form = session.get(f"{box.url()}/tickets/new/", timeout=30)
        assert form.status_code == 200
        request_id = f"drill-{uuid.uuid4().hex[:12]}"
        response = session.post(f"{box.url()}/tickets/new/", timeout=30, data={
            "partner": cast.a.partner.pk, "contact": cast.a.contact.pk, "channel": "phone",
            "service": cast.a.service.pk, "subject": "Нет доступа к панели",
            "text": "Не открывается панель управления с утра.",
            "csrfmiddlewaretoken": session.cookies["csrftoken"],
        }, headers={"Referer": f"{box.url()}/tickets/new/", "X-Request-ID": request_id},
            allow_redirects=False)
        assert response.status_code == 302, response.text[:800]
        assert response.headers["X-Request-ID"] == request_id
    ticket = Ticket.objects.get(subject="Нет доступа к панели")
    assert response.headers["Location"].endswith(f"/tickets/{ticket.pk}/")

    # The operator's public reply goes out through the task worker under the request id
    # of the request that wrote it.
    token = api_token(cast.operator)
    request_id = f"drill-{uuid.uuid4().hex[:12]}"
    reply = requests.post(f"{box.url()}/api/tickets/{ticket.pk}/messages", timeout=30, json={
        "kind": "reply", "text": "Иван, проверяем доступ к панели, ответим в течение часа.",
    }, headers={"Authorization": f"Bearer {token}", "X-Request-ID": request_id})
    assert reply.status_code == 201, reply.text
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and not OutboxMessage.objects.filter(
            ticket=ticket, status=Status.SENT).exists():
        time.sleep(0.5)
    letters = list(OutboxMessage.objects.filter(ticket=ticket))
    assert letters and all(m.status == Status.SENT for m in letters), letters
    worker_pids = box.pids("worker")
    import json

    traced = []
    for line in box.log.read_text(errors="replace").splitlines():
        if line.startswith("{") and request_id in line:
            entry = json.loads(line)
            if entry["request_id"] == request_id:
                traced.append(entry)
    assert any(e["process"] in worker_pids and "started" in e["message"] for e in traced), traced

    # /metrics from loopback: the outbox by channel and the requests summed over both of
    # web 1's gunicorn workers (Prometheus' multiprocess mode).
    for _ in range(6):
        requests.get(f"{box.url()}/login/", timeout=30).raise_for_status()
    text = requests.get(f"{box.url()}/metrics", timeout=30).text
    assert "# TYPE firstline_outbox_messages gauge" in text
    assert re.search(r'^firstline_tickets_created_total\{channel="phone",partner="alpha"\} 1\.0$',
                     text, re.M)
    logins = float(re.search(
        r'^firstline_http_requests_total\{method="GET",status="200",view="login"\} (\S+)',
        text, re.M).group(1))
    assert logins >= 7  # one sign-in page and six more, whichever worker answered
    # A forwarded-for header from an untrusted peer changes nothing.
    assert requests.get(f"{box.url()}/metrics", timeout=30,
                        headers={"X-Forwarded-For": "203.0.113.9"}).status_code == 200


def test_two_web_servers_and_two_workers_lose_nothing_and_do_nothing_twice(box, cast):
    wait_ready(box.url(0))
    wait_ready(box.url(1))
    token = api_token(cast.operator)
    marker = uuid.uuid4().hex[:8]
    before = set(Ticket.objects.values_list("pk", flat=True))
    contacts = [cast.a.contact, cast.a.other_contact]
    total, threads_n = 40, 8
    answers: Counter[int] = Counter()
    created: list[int] = []
    lock = threading.Lock()

    def client(n: int) -> None:
        with requests.Session() as session:
            for i in range(n, total, threads_n):
                base = box.url(i % 2)
                response = session.post(f"{base}/api/tickets", timeout=60, json={
                    "partner_id": cast.a.partner.pk, "contact_id": contacts[i % 2].pk,
                    "subject": f"load {i}", "text": f"Запрос номер {i}",
                }, headers={"Authorization": f"Bearer {token}"})
                if response.status_code == 201:
                    ticket_id = response.json()["id"]
                    response = session.post(
                        f"{base}/api/tickets/{ticket_id}/messages", timeout=60,
                        json={"kind": "reply", "text": f"Ответ {marker}-{i}-end, проверяем."},
                        headers={"Authorization": f"Bearer {token}"})
                with lock:
                    answers[response.status_code] += 1
                    if response.status_code == 201:
                        created.append(ticket_id)

    started = time.monotonic()
    threads = [threading.Thread(target=client, args=(n,)) for n in range(threads_n)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert answers == {201: total}, answers
    assert len(set(created)) == total
    new = Ticket.objects.exclude(pk__in=before)
    assert sorted(new.values_list("pk", flat=True)) == sorted(created)
    assert sorted(new.values_list("subject", flat=True)) == sorted(
        f"load {i}" for i in range(total))

    letters = OutboxMessage.objects.filter(ticket__in=new)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and letters.exclude(status=Status.SENT).exists():
        time.sleep(0.5)
    assert letters.count() == total  # the reply of each
    assert Counter(letters.values_list("status", flat=True)) == {Status.SENT: total}
    assert set(letters.values_list("attempts", flat=True)) == {1}
    # Each letter left once: the console mailer printed each reply once, whichever worker
    # or loop sent it.
    printed = Counter(re.findall(rf"Ответ {marker}-(\d+)-end", box.log.read_text(
        errors="replace")))
    assert printed == {str(i): 1 for i in range(total)}
    assert time.monotonic() - started < 40


def test_readyz_goes_unhealthy_when_the_sla_clock_stops(box):
    wait_ready(box.url())
    clock = next(c for c in box.supervisor.children if c.name == "firstline-sla-clock")
    assert clock.process is not None
    clock.process.terminate()  # as `systemctl stop firstline-sla-clock` does
    clock.process.wait(timeout=30)
    deadline = time.monotonic() + 60
    body: dict = {}
    while time.monotonic() < deadline:
        response = requests.get(f"{box.url()}/readyz", timeout=15)
        body = response.json()
        if response.status_code == 503:
            break
        time.sleep(1)
    assert body["failing"] == ["heartbeat:SLA clock"], body
