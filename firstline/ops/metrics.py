"""/metrics for Prometheus.

Two kinds of figures:
- per request (middleware): `firstline_http_requests_total{view,method,status}` and
  `firstline_http_request_duration_seconds{view,method}`. Under `firstline serve` the web
  workers are several processes: PROMETHEUS_MULTIPROC_DIR is set and each worker writes its
  figures to files there that a scrape sums (prometheus-client's multiprocess mode; the
  gunicorn config marks exited workers dead). Without it (`firstline run`, tests) the figures
  are the answering process's own.
- from the database at scrape time, the same whichever process answers: outbox messages by
  channel and status, the oldest due one, failed inbound mail, tasks waiting, the SLA clock's
  lag (the oldest escalation step due and not fired), escalations fired, tickets created and
  deadlines missed by partner and channel, each loop's heartbeat age. One query each; the
  tickets' is one grouped scan.

Access: a client in FIRSTLINE_METRICS_NETWORKS (default loopback) or one presenting
`Authorization: Bearer $FIRSTLINE_METRICS_TOKEN`.
"""

import hmac
import ipaddress
import os
import time
from collections import defaultdict
from collections.abc import Iterator

from django.db.models import Count, Min, Q
from django.http import HttpRequest, HttpResponse
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    disable_created_metrics,
    generate_latest,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from firstline.core.clock import now
from firstline.ops import conf

# No `_created` series beside each counter: Prometheus does not need them, they double the
# exposition.
disable_created_metrics()
REQUEST_REGISTRY = CollectorRegistry(auto_describe=True)
REQUESTS = Counter(
    "firstline_http_requests", "HTTP requests answered, by view, method and status.",
    ["view", "method", "status"], registry=REQUEST_REGISTRY,
)
LATENCY = Histogram(
    "firstline_http_request_duration_seconds", "Time to answer a request, by view and method.",
    ["view", "method"], registry=REQUEST_REGISTRY,
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0),
)


def observe(view: str, method: str, status: int, seconds: float) -> None:
    REQUESTS.labels(view, method, str(status)).inc()
    LATENCY.labels(view, method).observe(seconds)


def _age(moment, then) -> float:  # noqa: ANN001
    return max(0.0, (moment - then).total_seconds()) if then is not None else 0.0


class DatabaseCollector(Collector):
    """Queue sizes and counts read from the database when Prometheus scrapes."""

    def collect(self) -> Iterator[Metric]:
        from django_tasks_db.models import DBTaskResult

        from firstline.core.models import Partner
        from firstline.mail.models import InboundMail
        from firstline.ops.models import Heartbeat
        from firstline.outbox.models import OutboxMessage, Status
        from firstline.sla.policy_models import PendingEscalation
        from firstline.tickets.models import Ticket

        started = time.monotonic()
        moment = now()

        outbox = GaugeMetricFamily(
            "firstline_outbox_messages",
            "Outgoing messages not delivered yet (pending, sending) or given up (failed).",
            labels=["channel", "status"],
        )
        for row in (OutboxMessage.objects
                    .filter(status__in=[Status.PENDING, Status.SENDING, Status.FAILED])
                    .values("channel", "status").annotate(n=Count("id"))
                    .order_by("channel", "status")):
            outbox.add_metric([row["channel"], row["status"]], row["n"])
        yield outbox

        due = GaugeMetricFamily("firstline_outbox_due", "Outgoing messages due now and unsent.",
                                labels=["channel"])
        oldest = GaugeMetricFamily(
            "firstline_outbox_oldest_due_seconds",
            "How long the oldest due, unsent message has waited past its attempt time.",
            labels=["channel"],
        )
        for row in (OutboxMessage.objects
                    .filter(status__in=[Status.PENDING, Status.SENDING],
                            next_attempt_at__lte=moment)
                    .values("channel").annotate(n=Count("id"), first=Min("next_attempt_at"))
                    .order_by("channel")):
            due.add_metric([row["channel"]], row["n"])
            oldest.add_metric([row["channel"]], _age(moment, row["first"]))
        yield due
        yield oldest

        yield GaugeMetricFamily(
            "firstline_mail_failed", "Inbound letters that could not be processed (/mail/failed/).",
            value=InboundMail.objects.filter(status=InboundMail.Status.FAILED).count(),
        )

        waiting = DBTaskResult.objects.ready().aggregate(n=Count("id"), first=Min("enqueued_at"))
        yield GaugeMetricFamily("firstline_tasks_waiting",
                                "Background tasks ready and not started.", value=waiting["n"])
        yield GaugeMetricFamily(
            "firstline_tasks_oldest_waiting_seconds", "Age of the oldest task waiting.",
            value=_age(moment, waiting["first"]),
        )

        late = (PendingEscalation.objects.filter(fired_at__isnull=True, due_at__lte=moment)
                .aggregate(n=Count("id"), first=Min("due_at")))
        yield GaugeMetricFamily(
            "firstline_sla_clock_lag_seconds",
            "How long the oldest escalation step due has waited for the SLA clock (0: none).",
            value=_age(moment, late["first"]),
        )
        yield GaugeMetricFamily("firstline_escalations_due",
                                "Escalation steps due and not fired yet.", value=late["n"])
        fired = CounterMetricFamily("firstline_escalations_fired",
                                    "Escalation steps fired, on time or late (after a stop).",
                                    labels=["late"])
        counts = dict(PendingEscalation.objects.filter(fired_at__isnull=False)
                      .values("fired_late").annotate(n=Count("id"))
                      .values_list("fired_late", "n"))
        fired.add_metric(["false"], counts.get(False, 0))
        fired.add_metric(["true"], counts.get(True, 0))
        yield fired

        slugs = dict(Partner.objects.values_list("id", "slug"))
        created = CounterMetricFamily("firstline_tickets_created", "Tickets created.",
                                      labels=["partner", "channel"])
        breaches = CounterMetricFamily(
            "firstline_sla_breaches", "Tickets whose reaction or resolution deadline was missed.",
            labels=["partner", "target"],
        )
        missed: dict[tuple[str, str], int] = defaultdict(int)
        for row in (Ticket.objects.values("partner_id", "channel")
                    .annotate(n=Count("id"),
                              reaction=Count("id", filter=Q(reaction_in_time=False)),
                              resolution=Count("id", filter=Q(resolution_in_time=False)))
                    .order_by("partner_id", "channel")):
            partner = slugs.get(row["partner_id"], str(row["partner_id"]))
            created.add_metric([partner, row["channel"]], row["n"])
            missed[partner, "reaction"] += row["reaction"]
            missed[partner, "resolution"] += row["resolution"]
        for (partner, target), n in sorted(missed.items()):
            breaches.add_metric([partner, target], n)
        yield created
        yield breaches

        beats = GaugeMetricFamily("firstline_heartbeat_age_seconds",
                                  "Seconds since each loop last went round.", labels=["process"])
        for name, beat_at in Heartbeat.objects.order_by("name").values_list("name", "beat_at"):
            beats.add_metric([name], _age(moment, beat_at))
        yield beats

        yield GaugeMetricFamily("firstline_metrics_query_seconds",
                                "Time the database figures of this scrape took.",
                                value=time.monotonic() - started)


def allowed(request: HttpRequest) -> bool:
    token = conf.text("FIRSTLINE_METRICS_TOKEN")
    header = request.headers.get("Authorization", "")
    if token and header.startswith("Bearer ") and hmac.compare_digest(
        header.removeprefix("Bearer ").strip().encode(), token.encode()
    ):
        return True
    from firstline.accounts.client import client_address

    try:
        client = ipaddress.ip_network(client_address(request), strict=False)
    except ValueError:
        return False
    return any(client.version == net.version and client.subnet_of(net)  # type: ignore[arg-type]
               for net in conf.networks("FIRSTLINE_METRICS_NETWORKS"))


def exposition() -> bytes:
    multiproc_dir = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if multiproc_dir:
        from prometheus_client import multiprocess

        requests = CollectorRegistry()
        multiprocess.MultiProcessCollector(requests, path=multiproc_dir)
    else:
        requests = REQUEST_REGISTRY
    database = CollectorRegistry(auto_describe=False)
    database.register(DatabaseCollector())
    return generate_latest(requests) + generate_latest(database)


def metrics_view(request: HttpRequest) -> HttpResponse:
    if not allowed(request):
        response = HttpResponse("forbidden\n", status=401 if conf.text("FIRSTLINE_METRICS_TOKEN")
                                else 403, content_type="text/plain")
        if response.status_code == 401:
            response["WWW-Authenticate"] = 'Bearer realm="metrics"'
        return response
    response = HttpResponse(exposition(), content_type=CONTENT_TYPE_LATEST)
    response["Cache-Control"] = "no-store"
    return response
