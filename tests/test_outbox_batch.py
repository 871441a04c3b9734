"""Batch delivery: one claim for many messages under one lease, results recorded with few
statements, webhooks over kept-alive connections to the address that was checked."""

import socket
import threading
from collections import Counter
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
import time_machine

from firstline.outbox import delivery, httpclient
from firstline.outbox.models import Channel, OutboxMessage, Status
from firstline.outbox.services import enqueue
from firstline.webhooks import adapter, addresses, signing
from firstline.webhooks.models import Delivery, Subscription
from tests.test_outbox_delivery import two_workers_deliver
from tests.test_outbox_http import (
    FakeServer,
    make_partner,
    skip_unless_concurrent_connections_work,
)

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
SECRET = "whsec_batch-test"  # noqa: S105 - the tests' own receiver


@pytest.fixture(autouse=True)
def fresh_caches():
    """Subscriptions and connections are cached per process; tests reuse ids and ports."""
    adapter.forget()
    httpclient.KEEP_ALIVE.close_all()
    yield
    adapter.forget()
    httpclient.KEEP_ALIVE.close_all()


class KeepAliveReceiver:
    """An HTTP/1.1 receiver with keep-alive that checks signatures, counts the connections
    it accepted and answers 200 (or what `status_for(path)` says)."""

    def __init__(self, status_for=lambda path: 200) -> None:
        self.status_for = status_for
        self.connections = 0
        self.deliveries: list[str] = []
        self.hosts: set[str] = set()
        self._lock = threading.Lock()

    def __enter__(self) -> "KeepAliveReceiver":
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True

            def setup(self) -> None:
                super().setup()
                with outer._lock:
                    outer.connections += 1

            def do_POST(self) -> None:  # noqa: N802
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                signed = signing.verify(
                    SECRET, self.headers.get(signing.SIGNATURE_HEADER, ""), body)
                status = outer.status_for(self.path) if signed else 401
                with outer._lock:
                    outer.hosts.add(self.headers.get("Host", ""))
                    if status == 200:
                        outer.deliveries.append(self.headers.get(adapter.DELIVERY_HEADER, ""))
                self.send_response(status)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"{}")

            def log_message(self, format: str, *args: Any) -> None:
                pass

        class Server(ThreadingHTTPServer):
            daemon_threads = True

        self._server = Server(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever,
                                        kwargs={"poll_interval": 0.02})
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        httpclient.KEEP_ALIVE.close_all()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=10)

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    def url(self, path: str = "/hook", host: str = "127.0.0.1") -> str:
        return f"http://{host}:{self.port}{path}"


def subscribed_hooks(url: str, count: int, partner=None) -> list[OutboxMessage]:
    """`count` event_hook rows for one subscription to `url`, as on_event writes them."""
    partner = partner or make_partner("batch")
    subscription = Subscription.objects.create(
        partner=partner, url=url, secret=SECRET, events=["ticket.created"])
    messages = OutboxMessage.objects.bulk_create(
        OutboxMessage(partner=partner, channel=Channel.EVENT_HOOK, recipient=url,
                      body=f'{{"n": {number}}}', subject="ticket.created",
                      headers={adapter.SUBSCRIPTION_HEADER: str(subscription.pk)})
        for number in range(count)
    )
    Delivery.objects.bulk_create(
        Delivery(message=message, subscription=subscription, event_type="ticket.created")
        for message in messages
    )
    return messages


def hook(url: str, body: str = '{"event": "test"}') -> OutboxMessage:
    return enqueue(partner=None, channel=Channel.WEBHOOK, recipient=url, body=body)


@pytest.fixture
def allow_local(settings):
    settings.FIRSTLINE_WEBHOOKS_ALLOW_PRIVATE = True


# The claim --------------------------------------------------------------------------------


def test_one_claim_takes_a_batch_under_one_lease_and_no_row_twice(db) -> None:
    with time_machine.travel(NOW, tick=False):
        made = [hook(f"http://127.0.0.1:9/{number}") for number in range(5)]
        first, first_claim = delivery.claim_batch("w1", 3)
        second, second_claim = delivery.claim_batch("w2", 10)
        third, _claim = delivery.claim_batch("w3", 10)
    assert [message.pk for message in first] == [message.pk for message in made[:3]]
    assert [message.pk for message in second] == [message.pk for message in made[3:]]
    assert third == []
    rows = {row.pk: row for row in OutboxMessage.objects.all()}
    for messages, claim in ((first, first_claim), (second, second_claim)):
        for message in messages:
            row = rows[message.pk]
            assert (row.status, row.claimed_by, row.attempts) == (
                Status.SENDING, claim.worker_id, 1)
            assert row.claimed_until == claim.until == NOW + timedelta(seconds=300)


def test_the_batch_path_records_what_the_single_path_records(db) -> None:
    """Sent, refused for good and to be retried: the same rows, message by message or as
    one batch."""
    replies = {"/ok": (200, {"id": "ok-7"}), "/gone": (410, "gone"), "/busy": (503, "busy")}

    def outcome_rows(batch: bool) -> list[tuple]:
        OutboxMessage.objects.all().delete()
        with FakeServer(lambda seen: replies[seen.path]) as server, time_machine.travel(
            NOW, tick=False
        ):
            made = [hook(server.url(path)) for path in ("/ok", "/gone", "/busy", "/ok")]
            if batch:
                delivery.run_pass(limit=10, worker_id="w")
            else:
                for message in made:
                    claimed = delivery.claim(message.pk, "w")
                    assert claimed is not None
                    delivery.attempt(*claimed, "w")
        return [
            (row.recipient.rsplit("/", 1)[1], row.status, row.attempts, row.last_error,
             row.provider_message_id, row.sent_at, row.claimed_until, row.claimed_by,
             row.next_attempt_at > NOW + timedelta(seconds=40))
            for row in OutboxMessage.objects.order_by("id")
        ]

    single = outcome_rows(batch=False)
    assert outcome_rows(batch=True) == single
    assert [row[1] for row in single] == ["sent", "failed", "pending", "sent"]


def test_failures_in_one_batch_each_get_their_own_back_off(db) -> None:
    with FakeServer(lambda seen: (503, "busy")) as server, time_machine.travel(
        NOW, tick=False
    ):
        for number in range(6):
            hook(server.url(f"/{number}"))
        result = delivery.run_pass(limit=10, worker_id="w")
    assert (result.claimed, result.sent, result.retrying, result.failed) == (6, 0, 6, 0)
    rows = list(OutboxMessage.objects.all())
    assert {(row.status, row.attempts, row.claimed_until) for row in rows} == {
        (Status.PENDING, 1, None)}
    waits = {row.next_attempt_at - NOW for row in rows}
    assert all(timedelta(seconds=45) <= wait <= timedelta(seconds=60) for wait in waits)
    assert len(waits) > 1  # jittered row by row, not one statement for all
    assert all(row.last_error.startswith("webhook: HTTP 503") for row in rows)


def test_a_lease_that_runs_out_mid_batch_is_taken_over_and_the_old_owner_records_nothing(
    db, settings
) -> None:
    settings.FIRSTLINE_OUTBOX_LEASE_SECONDS = 60
    with FakeServer() as server, time_machine.travel(NOW, tick=False) as clock:
        for number in range(3):
            hook(server.url(f"/{number}"))
        stale, stale_claim = delivery.claim_batch("slow", 10)
        clock.shift(timedelta(seconds=61))  # the slow worker hangs past its lease
        fresh, fresh_claim = delivery.claim_batch("fresh", 10)
        assert [m.pk for m in fresh] == [m.pk for m in stale]
        assert delivery.deliver(fresh, fresh_claim).sent == 3
        delivery.deliver(stale, stale_claim)  # wakes up: sends (at least once), records nothing
    rows = set(OutboxMessage.objects.values_list("status", "claimed_by", "attempts"))
    assert rows == {(Status.SENT, "fresh", 2)}


def test_messages_not_started_before_the_deadline_are_handed_back(db) -> None:
    with FakeServer() as server:
        for number in range(3):
            hook(server.url(f"/{number}"))
        messages, claim = delivery.claim_batch("w", 10)
        late = delivery.Claim(claim.worker_id, claim.until, send_deadline=0.0)
        result = delivery.deliver(messages, late)
        assert (result.sent, result.handed_back) == (0, 3)
        assert server.requests == []
        rows = set(OutboxMessage.objects.values_list("status", "attempts", "claimed_until"))
        assert rows == {(Status.PENDING, 0, None)}
        assert delivery.deliver_due(limit=10) == 3  # due again at once


def test_a_batch_of_webhooks_hands_back_what_it_could_not_start(db, allow_local) -> None:
    with KeepAliveReceiver() as receiver:
        subscribed_hooks(receiver.url(), 4)
        messages, claim = delivery.claim_batch("w", 10)
        late = delivery.Claim(claim.worker_id, claim.until, send_deadline=0.0)
        assert delivery.deliver(messages, late).handed_back == 4
    assert receiver.deliveries == []
    assert set(OutboxMessage.objects.values_list("status", "attempts")) == {
        (Status.PENDING, 0)}


# Webhooks: keep-alive, the checked address, the failures' codes ---------------------------


def test_webhooks_go_over_kept_alive_connections(db, allow_local, settings) -> None:
    settings.FIRSTLINE_OUTBOX_SEND_THREADS = 3
    with KeepAliveReceiver() as receiver:
        made = subscribed_hooks(receiver.url(), 60)
        while delivery.run_pass(limit=20, worker_id="w").claimed:
            pass
    assert sorted(receiver.deliveries) == sorted(str(message.pk) for message in made)
    # Three sends in flight at most: three connections, not sixty.
    assert 1 <= receiver.connections <= 3
    assert OutboxMessage.objects.filter(status=Status.SENT, attempts=1).count() == 60
    assert set(OutboxMessage.objects.values_list("provider_message_id", flat=True)) == {
        "HTTP 200"}


def test_a_failed_answer_is_logged_on_its_delivery_and_retried(db, allow_local) -> None:
    with KeepAliveReceiver(lambda path: 500 if path == "/down" else 200) as receiver:
        partner = make_partner("codes")
        good = subscribed_hooks(receiver.url("/hook"), 2, partner)
        bad = subscribed_hooks(receiver.url("/down"), 2, partner)
        result = delivery.run_pass(limit=10, worker_id="w")
    assert (result.sent, result.retrying) == (2, 2)
    codes = dict(Delivery.objects.values_list("message_id", "response_code"))
    assert {codes[message.pk] for message in bad} == {500}
    assert {codes[message.pk] for message in good} == {None}
    assert set(OutboxMessage.objects.filter(pk__in=[m.pk for m in bad]).values_list(
        "status", flat=True)) == {Status.PENDING}


def test_the_connection_goes_to_the_checked_address_not_a_second_dns_answer(
    db, allow_local, monkeypatch
) -> None:
    """The name is resolved once, by the check; the socket connects to that address."""
    lookups: list[str] = []

    def fake_dns(host, port, *args, **kwargs):
        lookups.append(host)
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("127.0.0.1", port))]

    monkeypatch.setattr(addresses.socket, "getaddrinfo", fake_dns)
    with KeepAliveReceiver() as receiver:
        # hooks.invalid never resolves for real: only the checked address can be reached.
        made = subscribed_hooks(receiver.url(host="hooks.invalid"), 5)
        delivery.run_pass(limit=10, worker_id="w")
    assert sorted(receiver.deliveries) == sorted(str(message.pk) for message in made)
    assert receiver.hosts == {f"hooks.invalid:{receiver.port}"}
    # Once per batch and URL (the other lookups are of the literal address connected to).
    assert lookups.count("hooks.invalid") == 1
    assert set(lookups) == {"hooks.invalid", "127.0.0.1"}


def test_a_host_that_now_resolves_to_a_private_address_is_refused_at_send_time(
    db, settings, monkeypatch
) -> None:
    settings.FIRSTLINE_WEBHOOKS_ALLOW_PRIVATE = False
    monkeypatch.delenv(addresses.ALLOW_PRIVATE, raising=False)
    monkeypatch.setattr(
        addresses.socket, "getaddrinfo",
        lambda host, port, *args, **kwargs: [
            (socket.AF_INET, socket.SOCK_STREAM, 6, "", ("127.0.0.1", port))])
    with KeepAliveReceiver() as receiver:
        subscribed_hooks(receiver.url(host="rebound.example"), 2)
        result = delivery.run_pass(limit=10, worker_id="w")
    assert (result.sent, result.failed) == (0, 2)
    assert receiver.connections == 0
    errors = set(OutboxMessage.objects.values_list("last_error", flat=True))
    assert len(errors) == 1 and "not a public Internet address" in errors.pop()


def test_a_kept_alive_connection_the_server_closed_is_replaced(db, allow_local) -> None:
    """A connection closed by the server while idle costs nothing but a new connection."""
    with KeepAliveReceiver() as receiver:
        address = addresses.checked_address(receiver.url())
        for _round in range(2):
            answer = httpclient.post_to_address(receiver.url(), address, b"{}", {
                signing.SIGNATURE_HEADER: signing.header(SECRET, b"{}")}, timeout=5)
            assert answer.status == 200
            # The server drops every idle connection (as after its keep-alive timeout).
            for connections in httpclient.KEEP_ALIVE._idle.values():
                for kept, _since in connections:
                    kept.sock.shutdown(socket.SHUT_RDWR)
        answer = httpclient.post_to_address(receiver.url(), address, b"{}", {
            signing.SIGNATURE_HEADER: signing.header(SECRET, b"{}")}, timeout=5)
    assert answer.status == 200
    assert receiver.connections == 3


# Two workers at once (PostgreSQL) ---------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_two_workers_send_hundreds_of_webhooks_each_exactly_once(settings) -> None:
    skip_unless_concurrent_connections_work()
    settings.FIRSTLINE_WEBHOOKS_ALLOW_PRIVATE = True
    with KeepAliveReceiver() as receiver:
        made = subscribed_hooks(receiver.url(), 300)
        sent, errors = two_workers_deliver(limit=20, timeout=120)

    assert errors == []
    counts = Counter(receiver.deliveries)
    assert set(counts) == {str(message.pk) for message in made}  # none lost
    assert set(counts.values()) == {1}  # none twice
    assert sent["w1"] + sent["w2"] == 300
    assert min(sent.values()) > 0  # both workers really took part
    assert OutboxMessage.objects.filter(status=Status.SENT, attempts=1).count() == 300


# Publishing: the webhooks' subscriber inside every publisher's transaction ---------------


def test_an_event_nobody_subscribes_to_costs_no_query(db, django_assert_num_queries) -> None:
    from firstline.core.clock import now
    from firstline.webhooks import services

    partner = make_partner("quiet")
    Subscription.objects.create(partner=partner, url="http://127.0.0.1:9/h", secret=SECRET,
                                events=["ticket.created"])
    services.on_event(event="sla.breached", partner_id=partner.pk, moment=now())  # warm
    with django_assert_num_queries(0):
        for _n in range(20):
            services.on_event(event="sla.breached", partner_id=partner.pk, moment=now())
    assert not OutboxMessage.objects.exists()


def test_an_event_with_subscribers_costs_a_check_and_two_inserts(
    db, django_assert_num_queries
) -> None:
    from firstline.core.clock import now
    from firstline.webhooks import services

    partner = make_partner("busy")
    other = make_partner("other")
    mine = [Subscription.objects.create(partner=partner, url=f"http://127.0.0.1:9/{n}",
                                        secret=SECRET, events=["sla.breached"])
            for n in range(3)]
    provider_wide = Subscription.objects.create(
        partner=None, url="http://127.0.0.1:9/all", secret=SECRET, events=["sla.breached"])
    Subscription.objects.create(partner=other, url="http://127.0.0.1:9/x", secret=SECRET,
                                events=["sla.breached"])
    services.on_event(event="incident.resolved", partner_id=partner.pk, moment=now())  # warm
    # The partner row (no ticket in the arguments), the re-check, two INSERTs.
    with django_assert_num_queries(4):
        services.on_event(event="sla.breached", partner_id=partner.pk, moment=now(),
                          target="first_response")
    deliveries = Delivery.objects.select_related("message")
    assert sorted(d.subscription_id for d in deliveries) == sorted(
        s.pk for s in [*mine, provider_wide])  # tenancy: not the other partner's hook
    assert {d.message.partner_id for d in deliveries} == {partner.pk}
    assert len({d.event_id for d in deliveries}) == 1
    for item in deliveries:
        assert item.message.headers[adapter.SUBSCRIPTION_HEADER] == str(item.subscription_id)
        assert item.message.recipient == item.subscription.url


def test_a_subscription_switched_off_elsewhere_gets_no_row_from_a_stale_cache(db) -> None:
    from firstline.core.clock import now
    from firstline.webhooks import services

    partner = make_partner("stale")
    subscription = Subscription.objects.create(
        partner=partner, url="http://127.0.0.1:9/h", secret=SECRET, events=["incident.opened"])
    assert services.active_subscriptions("incident.opened", partner.pk) == [subscription]
    # As another process would: no signal reaches this process's cache.
    Subscription.objects.filter(pk=subscription.pk).update(is_active=False)
    services.on_event(event="incident.opened", partner_id=partner.pk, moment=now())
    assert not OutboxMessage.objects.exists()


def test_enqueue_many_writes_what_enqueue_writes_and_refuses_the_same_bad_input(db) -> None:
    from django.core.exceptions import ValidationError

    from firstline.outbox.services import enqueue_many

    partner = make_partner("many")
    item = {"partner": partner, "channel": Channel.EVENT_HOOK, "recipient": " http://h/x ",
            "body": "{}", "subject": " ticket.created ", "headers": {"X-A": "1"}}
    single = enqueue(**item)
    (batch,) = enqueue_many([item])
    fields = ("partner_id", "channel", "recipient", "body", "subject", "headers", "status",
              "attempts", "ticket_id", "dedupe_key")
    assert [getattr(batch, name) for name in fields] == [
        getattr(single, name) for name in fields]
    before = OutboxMessage.objects.count()
    with pytest.raises(ValidationError) as refused:
        enqueue_many([item, {**item, "body": "  "}])
    assert set(refused.value.message_dict) == {"body"}
    with pytest.raises(ValidationError) as refused:
        enqueue_many([{**item, "headers": {"X-B": "a\r\nBcc: x"}}])
    assert set(refused.value.message_dict) == {"headers"}
    assert OutboxMessage.objects.count() == before
