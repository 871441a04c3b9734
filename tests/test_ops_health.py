"""/healthz, /readyz, /metrics, the request id, JSON logs and the deploy checks (issue 14)."""

import io
import json
import logging
from datetime import timedelta

import pytest
from django.core.checks import run_checks
from django.core.management import call_command
from django.test import Client, override_settings

from firstline.core.clock import now
from firstline.ops import heartbeat, requestid
from firstline.ops.models import Heartbeat
from firstline.outbox import services as outbox
from firstline.outbox.models import Channel, OutboxMessage, Status

LOOPS = ("task worker", "SLA clock", "outbox loop", "mail worker", "calls worker")


def beat_all(age: timedelta = timedelta(0)) -> None:
    for name in LOOPS:
        Heartbeat.objects.update_or_create(name=name, defaults={"beat_at": now() - age})


def test_healthz_answers_and_echoes_a_well_formed_request_id(db):
    response = Client().get("/healthz", HTTP_X_REQUEST_ID="lb-probe.42")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}
    assert response["X-Request-ID"] == "lb-probe.42"


@pytest.mark.parametrize("bad", ["has space", "x" * 129, "new\nline", "ю"])
def test_a_malformed_request_id_is_replaced(db, bad):
    response = Client().get("/healthz", HTTP_X_REQUEST_ID=bad)
    assert response["X-Request-ID"] != bad
    assert len(response["X-Request-ID"]) == 32


def test_health_answers_before_the_host_check(db):
    # A load balancer calls the bare address: no ALLOWED_HOSTS name, plain HTTP.
    response = Client().get("/healthz", HTTP_HOST="10.1.2.3:8000")
    assert response.status_code == 200
    assert Client().get("/tickets/", HTTP_HOST="10.1.2.3:8000").status_code == 400


def test_readyz_names_every_check_and_is_ready_when_the_loops_beat(db):
    beat_all()
    response = Client().get("/readyz")
    body = response.json()
    assert response.status_code == 200, body
    assert body["status"] == "ok" and body["failing"] == []
    assert set(body["checks"]) == {"database", "migrations", "outbox", *(
        f"heartbeat:{name}" for name in LOOPS)}
    assert body["checks"]["migrations"] == {"ok": True, "unapplied": 0}


def test_readyz_is_503_when_the_sla_clock_stopped(db):
    beat_all()
    Heartbeat.objects.filter(name="SLA clock").update(beat_at=now() - timedelta(seconds=61))
    response = Client().get("/readyz")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "unhealthy"
    assert body["failing"] == ["heartbeat:SLA clock"]
    assert body["checks"]["heartbeat:SLA clock"]["ok"] is False
    assert body["checks"]["heartbeat:SLA clock"]["age_seconds"] >= 61
    assert body["checks"]["heartbeat:task worker"]["ok"] is True


def test_readyz_is_503_when_a_loop_never_beat(db):
    response = Client().get("/readyz")
    assert response.status_code == 503
    assert response.json()["failing"] == [f"heartbeat:{name}" for name in sorted(LOOPS)]


@override_settings(FIRSTLINE_READY_OUTBOX_MAX=2)
def test_readyz_is_503_when_the_outbox_backlog_passes_the_threshold(db, cast):
    beat_all()
    OutboxMessage.objects.all().delete()
    for n in range(3):
        outbox.enqueue(partner=cast.a.partner, channel=Channel.EMAIL,
                       recipient=f"c{n}@alpha.example", subject="s", body="b")
    OutboxMessage.objects.update(status=Status.PENDING, next_attempt_at=now())
    response = Client().get("/readyz")
    assert response.status_code == 503
    assert response.json()["failing"] == ["outbox"]
    assert response.json()["checks"]["outbox"] == {"ok": False, "due": 3, "limit": 2}
    # Not due yet (retrying later): not a backlog.
    OutboxMessage.objects.update(next_attempt_at=now() + timedelta(minutes=5))
    assert Client().get("/readyz").status_code == 200


def test_the_loops_beat(db):
    call_command("sla_clock")
    call_command("surveys_tick")
    call_command("incidents_clock")
    call_command("deliver_outbox", stdout=io.StringIO())
    names = set(Heartbeat.objects.values_list("name", flat=True))
    assert {"SLA clock", "survey clock", "incidents clock"} <= names
    beat_at = Heartbeat.objects.get(name="SLA clock").beat_at
    assert now() - beat_at < timedelta(seconds=30)


@override_settings(TASKS={"default": {"BACKEND": "django_tasks_db.DatabaseBackend",
                                      "QUEUES": ["default"]}})
def test_the_task_worker_beats_on_every_pass(transactional_db):
    heartbeat._last_beat.clear()
    call_command("db_worker", batch=True, interval=0, startup_delay=False, verbosity=0)
    row = Heartbeat.objects.get(name="task worker")
    assert now() - row.beat_at < timedelta(seconds=30)
    assert ":" in row.worker


def metrics(client: Client | None = None, **extra) -> tuple[int, str]:
    response = (client or Client()).get("/metrics", **extra)
    return response.status_code, response.content.decode()


def sample(text: str, line_start: str) -> float:
    for line in text.splitlines():
        if line.startswith(line_start + " "):
            return float(line.rsplit(" ", 1)[1])
    raise AssertionError(f"no sample {line_start} in\n{text}")


def test_metrics_show_the_outbox_backlog_tickets_and_requests(db, cast):
    OutboxMessage.objects.all().delete()
    for n in range(2):
        outbox.enqueue(partner=cast.a.partner, channel=Channel.EMAIL,
                       recipient=f"c{n}@alpha.example", subject="s", body="b")
    OutboxMessage.objects.update(status=Status.PENDING, next_attempt_at=now() - timedelta(
        seconds=90))
    failed = outbox.enqueue(partner=cast.a.partner, channel=Channel.SMS, recipient="+79161234567",
                            body="b")
    OutboxMessage.objects.filter(pk=failed.pk).update(status=Status.FAILED)
    Client().get("/login/")
    status, text = metrics()
    assert status == 200
    assert sample(text, 'firstline_outbox_messages{channel="email",status="pending"}') == 2
    assert sample(text, 'firstline_outbox_messages{channel="sms",status="failed"}') == 1
    assert sample(text, 'firstline_outbox_due{channel="email"}') == 2
    assert sample(text, 'firstline_outbox_oldest_due_seconds{channel="email"}') >= 90
    assert sample(text, 'firstline_tickets_created_total{channel="portal",partner="alpha"}') == 2
    assert sample(text, 'firstline_sla_breaches_total{partner="alpha",target="reaction"}') == 0
    assert sample(text, "firstline_mail_failed") == 0
    assert sample(text, "firstline_tasks_waiting") == 0
    assert sample(text, "firstline_sla_clock_lag_seconds") == 0
    assert sample(text, 'firstline_escalations_fired_total{late="false"}') >= 0
    assert sample(
        text, 'firstline_http_requests_total{method="GET",status="200",view="login"}') >= 1
    assert 'firstline_http_request_duration_seconds_bucket{le="0.5",method="GET",view="login"}' \
        in text
    assert "firstline_http_requests_created" not in text


def test_metrics_refuse_a_client_outside_the_networks(db):
    status, text = metrics(REMOTE_ADDR="203.0.113.5")
    assert status == 403
    assert "firstline_" not in text


@override_settings(FIRSTLINE_METRICS_TOKEN="s3cret-token", FIRSTLINE_METRICS_NETWORKS="")
def test_metrics_with_a_bearer_token(db):
    assert metrics()[0] == 401  # loopback is no longer enough
    response = Client().get("/metrics", HTTP_AUTHORIZATION="Bearer wrong")
    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith("Bearer")
    assert metrics(HTTP_AUTHORIZATION="Bearer s3cret-token")[0] == 200


@override_settings(FIRSTLINE_METRICS_NETWORKS="10.0.0.0/8")
def test_metrics_allow_a_listed_network(db):
    assert metrics(REMOTE_ADDR="10.20.30.40")[0] == 200
    assert metrics(REMOTE_ADDR="127.0.0.1")[0] == 403


def test_the_quality_pages_under_metrics_slash_are_not_taken(db, cast):
    from tests.conftest import client_for

    response = client_for(cast.supervisor).get("/metrics/")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/html")


def test_json_log_lines_carry_the_request_id():
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(requestid.RequestIdFilter())
    handler.setFormatter(requestid.JsonFormatter())
    log = logging.getLogger("firstline.test_ops")
    log.addHandler(handler)
    log.propagate = False
    token = requestid.current.set("req-1")
    try:
        log.warning("ticket %s created", "FL-000001", extra={"ticket": 1})
        try:
            raise ValueError("boom")
        except ValueError:
            log.exception("failed")
    finally:
        requestid.current.reset(token)
        log.removeHandler(handler)
        log.propagate = True
    first, second = (json.loads(line) for line in stream.getvalue().splitlines())
    assert first["message"] == "ticket FL-000001 created"
    assert first["request_id"] == "req-1" and first["level"] == "WARNING"
    assert first["ticket"] == 1 and first["logger"] == "firstline.test_ops"
    assert "ValueError: boom" in second["exception"]


def project_checks() -> dict[str, str]:
    return {m.id: m.msg for m in run_checks(include_deployment_checks=True, tags=["firstline"])}


@override_settings(
    SECRET_KEY="firstline-insecure-development-key-do-not-use-in-production",
    ALLOWED_HOSTS=["localhost", "127.0.0.1"], SITE_URL="http://127.0.0.1:8000",
    MAIL_BACKEND="console", SESSION_COOKIE_SECURE=False, CSRF_COOKIE_SECURE=False,
)
def test_deploy_checks_name_what_a_trial_box_lacks():
    found = project_checks()
    for check_id in ("firstline.E001", "firstline.E003", "firstline.E004", "firstline.E005",
                     "firstline.E007", "firstline.E008"):
        assert check_id in found, found
    assert "SECRET_KEY" in found["firstline.E001"]


@override_settings(
    SECRET_KEY="k" * 20 + "QWERTYUIOPasdfghjklzxcvbnm1234567890",
    ALLOWED_HOSTS=["desk.example.com"], SITE_URL="https://desk.example.com",
    MAIL_BACKEND="smtp", MAILERS={"default": {"BACKEND": "x", "OPTIONS": {
        "host": "smtp.example.com", "use_tls": True}}},
    DEFAULT_FROM_EMAIL="desk@example.com", SESSION_COOKIE_SECURE=True, CSRF_COOKIE_SECURE=True,
    FIRSTLINE_FIELD_KEYS=["x"],
)
def test_deploy_checks_pass_a_production_configuration():
    assert project_checks() == {}


@override_settings(ALLOWED_HOSTS=["desk.example.com"], SITE_URL="https://other.example.com")
def test_deploy_check_site_url_host_must_be_allowed():
    assert "firstline.E006" in project_checks()


def test_plain_check_skips_the_deploy_checks():
    assert not [m for m in run_checks(tags=["firstline"]) if m.id.startswith("firstline.")]


@override_settings(TASKS={"default": {"BACKEND": "django_tasks_db.DatabaseBackend",
                                      "QUEUES": ["default"]}})
def test_a_task_deleted_while_it_runs_does_not_stop_the_worker(transactional_db):
    """django-tasks-db's own worker dies when the outcome of a task whose row was purged
    meanwhile cannot be saved; ours records nothing for it and goes on to the next task."""
    from django_tasks_db.models import DBTaskResult

    from firstline.ops.management.commands.db_worker import BeatingWorker
    from firstline.outbox.tasks import deliver_outbox

    deliver_outbox.enqueue()
    deliver_outbox.enqueue()
    first, second = DBTaskResult.objects.order_by("enqueued_at", "id")
    DBTaskResult.objects.filter(pk=first.pk).delete()  # purged under the worker
    worker = BeatingWorker(queue_names=["default"], interval=0, batch=True,
                           backend_name="default", startup_delay=False, max_tasks=None,
                           worker_id="test", excluded_queue_names=[])

    worker.run_task(first)  # would raise Model.NotUpdated
    worker.run_task(second)

    assert DBTaskResult.objects.get(pk=second.pk).status == "SUCCESSFUL"
    assert not DBTaskResult.objects.filter(pk=first.pk).exists()
