"""The rules of the phone channel: one way an event changes a call, and what a call does.

`record_event` is what the JSON webhook, Zadarma and the queue_log import all call. It
stores the raw event first (a replay of the same event is recognised by its key and
changes nothing), then reads it, then merges it into the call. The merge keeps the
earliest start and answer and the latest end, and derives wait, talk and outcome from what
is stored, so events in any order end in the same record. A bad event is kept, refused,
with its reason; an event for a call not seen yet waits and is applied when the call
appears. Nothing here raises for bad input.
"""

import json
import json.encoder
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, connection, transaction
from django.db.models import NOT_PROVIDED
from django.utils import translation
from django.utils.translation import gettext as _

from firstline.calls.events import MAX_CALL_SECONDS, BadEvent, CallEvent, Kind
from firstline.calls.models import (
    LIVE_OUTCOMES,
    Call,
    Direction,
    OperatorLine,
    Outcome,
    PartnerPhoneNumber,
    RawCallEvent,
)
from firstline.calls.phones import NotANumber, to_e164
from firstline.contacts.models import Contact, ContactPhone
from firstline.core import audit, bulk, config_cache
from firstline.core.clock import now
from firstline.core.models import Partner, User
from firstline.sla import deadlines, escalation
from firstline.tenancy import tickets_for
from firstline.tickets import services as ticket_services
from firstline.tickets.models import Channel, IdentifiedBy, Status, Ticket

REPORTED_OUTCOMES = {o.value for o in Outcome} - {o.value for o in LIVE_OUTCOMES}


@dataclass
class Recorded:
    """What became of one event: its stored row, and whether it was a replay."""

    raw: RawCallEvent
    duplicate: bool = False

    @property
    def ok(self) -> bool:
        return self.raw.state != RawCallEvent.State.FAILED


def record_event(
    *,
    source: str,
    payload: dict[str, Any],
    dedupe_key: str,
    parse: Callable[[], CallEvent],
    partner: Partner | None = None,
) -> Recorded:
    """Store one event, then apply it to its call; never raises for a bad event.

    `parse` reads the payload (raising `BadEvent`); `partner`, when the sender is known to
    act for one partner (its token), is the only partner the event may touch.
    """
    event, reason = _parse(parse)
    raw = RawCallEvent(
        source=source, dedupe_key=dedupe_key[:64], payload=payload,
        event=event.to_json() if event else None,
        external_id=event.external_id if event else "",
        state=RawCallEvent.State.FAILED if event is None else RawCallEvent.State.PROCESSED,
        reason=reason, partner=partner,
    )
    with transaction.atomic():
        if not _store_new(raw):
            return Recorded(RawCallEvent.objects.get(source=source, dedupe_key=raw.dedupe_key),
                            duplicate=True)
        if event is not None:
            _apply_raw(raw, event, partner)
    return Recorded(raw)


@dataclass(frozen=True)
class Incoming:
    """One event of a batch: its payload as received, its key, and how to read it."""

    payload: dict[str, Any]
    dedupe_key: str
    parse: Callable[[], CallEvent]
    # The only partner the event may touch (its sender's token acts for one), as
    # `record_event(partner=...)`.
    partner: Partner | None = None
    # The payload and the event read, as JSON text, when the sender wrote them already
    # (the queue_log import does, in its reading thread); else written here.
    payload_json: str | None = None
    event_json: str | None = None


# Keys looked up per query: well under SQLite's limit on bound parameters.
_KEYS_PER_QUERY = 900
# What `record_many` says of an event already stored (by an earlier batch or earlier in it).
DUPLICATE = "duplicate"


def record_many(*, source: str, items: list[Incoming], expect_new: bool = False) -> list[str]:
    """`record_event` for many events at once, with the same results in a few statements.

    Returns each event's state (`RawCallEvent.State`, or DUPLICATE for a replay). The raw
    events go in with one bulk insert (COPY on PostgreSQL), each call's events are folded
    in memory in the order given (the same merge as one by one), and the calls are written
    with one bulk insert (COPY, with ids drawn from the sequence beforehand) and one
    UPDATE … FROM (VALUES …). An event that names no number or queue (its call must be
    looked up, or it waits for it) takes the one-by-one path inside the batch. If a
    concurrent writer stored one of these events or created one of these calls meanwhile,
    the whole batch is redone one by one, where each event's checks sort it out.

    `expect_new` (a log read from its saved position): skip asking which keys are stored,
    and whether the calls started in the batch are, and let the unique indexes say so; a
    replay among the events rolls the attempt back and the batch is done again with the
    questions asked.
    """
    if expect_new and connection.vendor == "postgresql":
        try:
            with transaction.atomic():
                return _record_many(source, items, look_up=False)
        except IntegrityError:
            pass
    try:
        with transaction.atomic():
            return _record_many(source, items, look_up=True)
    except IntegrityError:
        results = [record_event(source=source, payload=item.payload,
                                dedupe_key=item.dedupe_key, parse=item.parse,
                                partner=item.partner) for item in items]
        return [DUPLICATE if r.duplicate else r.raw.state for r in results]


@dataclass(slots=True)
class _Raw:
    """A raw event of a batch before it is stored: a model instance per line costs too much."""

    key: str
    payload: dict[str, Any]
    event: CallEvent | None
    state: str
    reason: str
    partner: Partner | None = None
    call: "Call | _NewCall | None" = None
    forced: Partner | None = None
    payload_json: str | None = None
    event_json: str | None = None

    def refuse(self, exc: BadEvent) -> None:
        self.state, self.reason = RawCallEvent.State.FAILED, str(exc)

    def model(self, source: str, moment: datetime) -> RawCallEvent:
        return RawCallEvent(
            source=source, dedupe_key=self.key, payload=self.payload,
            event=None if self.event is None else self.event.to_json(),
            external_id=self.event.external_id if self.event else "", partner=self.partner,
            received_at=moment, state=self.state, reason=self.reason,
            call_id=self.call.pk if self.call else None)


class _NewCall:
    """A call first seen in a batch, before it is stored: what `_merge` and `derive` read
    and write, without a model instance's cost (a quarter of a queue_log's lines start one).
    """

    __slots__ = ("answered_at", "caller", "dialled", "direction", "ended_at", "entered_at",
                 "external_id", "operator_id", "outcome", "partner", "pk", "recording_url",
                 "reported_outcome", "reported_talk_seconds", "started_at", "talk_seconds",
                 "wait_seconds")

    def __init__(self, partner: Partner, external_id: str, direction: str,
                 started_at: datetime) -> None:
        self.partner, self.external_id, self.direction = partner, external_id, direction
        self.started_at = started_at
        self.pk: int | None = None
        self.caller = self.dialled = self.recording_url = self.reported_outcome = ""
        self.entered_at = self.answered_at = self.ended_at = None
        self.wait_seconds = self.reported_talk_seconds = self.operator_id = None
        self.talk_seconds = 0
        self.outcome = Outcome.RINGING

    @property
    def operator(self) -> None:  # pragma: no cover - `_merge` only sets it
        raise AttributeError("operator")

    @operator.setter
    def operator(self, user: User) -> None:
        self.operator_id = user.pk

    def values(self) -> dict[str, Any]:
        """The model fields `_merge` and `derive` fill in, by attribute name."""
        return {"partner_id": self.partner.pk, "external_id": self.external_id,
                **{name: getattr(self, name) for name in _NEW_CALL_FIELDS}}


# What `_merge` and `derive` may set on a call that is not stored yet.
_NEW_CALL_FIELDS = ("direction", "caller", "dialled", "started_at", "entered_at",
                    "answered_at", "ended_at", "wait_seconds", "talk_seconds",
                    "reported_talk_seconds", "reported_outcome", "outcome", "operator_id",
                    "recording_url")


@dataclass
class _Folding:
    """A call being built from a batch's events, and whether it was stored before."""

    partner: Partner
    call: "Call | _NewCall | None" = None
    existed: bool = False
    changed: bool = False


def _stored_keys(source: str, keys: list[str]) -> set[str]:
    stored: set[str] = set()
    if connection.vendor == "postgresql":
        # One statement with an array, rather than a queryset per 900 keys; each key looked
        # up in the unique index whatever the statistics say (see `_stored_calls`).
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT raw.dedupe_key FROM unnest(%s::text[]) AS key(value) "  # noqa: S608
                f"CROSS JOIN LATERAL (SELECT dedupe_key FROM {RawCallEvent._meta.db_table} "
                "WHERE source = %s AND dedupe_key = key.value) AS raw", [keys, source])
            stored.update(row[0] for row in cursor.fetchall())
        return stored
    for start in range(0, len(keys), _KEYS_PER_QUERY):
        stored.update(RawCallEvent.objects.filter(
            source=source, dedupe_key__in=keys[start:start + _KEYS_PER_QUERY],
        ).order_by().values_list("dedupe_key", flat=True))
    return stored


_UNREAD: Any = object()


def _record_many(source: str, items: list[Incoming], *, look_up: bool) -> list[str]:
    stored: set[str] = set()
    if look_up:
        stored = _stored_keys(source, list(dict.fromkeys(item.dedupe_key[:64]
                                                         for item in items)))
    results: list[_Raw | None] = []
    fresh: list[_Raw] = []
    processed, failed = RawCallEvent.State.PROCESSED, RawCallEvent.State.FAILED
    for item in items:
        key = item.dedupe_key[:64]
        if key in stored:
            results.append(None)
            continue
        event, reason = _parse(item.parse)
        raw = _Raw(key, item.payload, event, failed if event is None else processed, reason,
                   item.partner, None, item.partner, item.payload_json,
                   item.event_json if event is not None else None)
        stored.add(key)
        results.append(raw)
        fresh.append(raw)

    # Which partner each event is for; events naming no number take the one-by-one path.
    foldings: dict[tuple[int, str], _Folding] = {}
    one_by_one: list[_Raw] = []
    ordered: list[tuple[_Raw, CallEvent, _Folding]] = []
    # A batch names few numbers and queues: each read once.
    partners: dict[tuple[str, str, int | None], Partner | BadEvent | None] = {}
    for raw in fresh:
        event = raw.event
        if event is None:
            continue
        named = (event.dialled, event.queue, raw.forced.pk if raw.forced else None)
        partner = partners.get(named, _UNREAD)
        if partner is _UNREAD:
            try:
                partner = partners[named] = _number_partner(event, raw.forced)
            except BadEvent as exc:
                partner = partners[named] = exc
        if isinstance(partner, BadEvent):
            raw.refuse(partner)
            continue
        if partner is None:
            one_by_one.append(raw)
            continue
        folding = foldings.get((partner.pk, event.external_id))
        if folding is None:
            folding = foldings[(partner.pk, event.external_id)] = _Folding(partner)
        ordered.append((raw, event, folding))
    keys = list(foldings)
    if not look_up:
        # A call whose start is in the batch is new too, unless the log was read before:
        # the calls' unique index says so then, as the raw events' does for their keys.
        started = {event.external_id for _raw, event, _folding in ordered
                   if event.kind == Kind.START}
        keys = [key for key in keys if key[1] not in started]
    for call in _stored_calls(source, keys):
        folding = foldings[(call.partner_id, call.external_id)]
        folding.call, folding.existed = call, True

    # Each event merged into its call in the given order, as `_apply` would one by one;
    # what is derived from the merged moments is derived once per call, after.
    for raw, event, folding in ordered:
        raw.partner = folding.partner
        try:
            caller, dialled = _numbers(event)
            call = folding.call
            if call is None:
                call = _NewCall(folding.partner, event.external_id, event.direction, event.at)
                _merge(call, event, caller, dialled, then_derive=False)
                folding.call = call
            else:
                _check_span(call, event)
                _merge(call, event, caller, dialled, then_derive=False)
        except BadEvent as exc:
            raw.refuse(exc)
            continue
        folding.changed = True
        raw.call = folding.call

    moment = now()
    created: list[_NewCall] = []
    updated: list[Call] = []
    for folding in foldings.values():
        if folding.changed:
            derive(folding.call)  # type: ignore[arg-type]
            if folding.existed:
                folding.call.updated_at = moment  # type: ignore[union-attr]
                updated.append(folding.call)  # type: ignore[arg-type]
            else:
                created.append(folding.call)  # type: ignore[arg-type]
    _insert_calls(source, created, moment)
    bulk.save_fields(Call, updated, _MERGED_FIELDS)
    later = {id(raw) for raw in one_by_one}
    _insert_raw_events(source, [raw for raw in fresh if id(raw) not in later], moment)

    waiting = _waiting_ids(source, [call.external_id for call in created])
    for call in created:
        if call.external_id in waiting:
            _apply_waiting(source, Call.objects.get(pk=call.pk))
    for raw in one_by_one:
        # Stored as record_event stores it, then applied by the one-by-one rules.
        row = raw.model(source, moment)
        row.save(force_insert=True)
        assert raw.event is not None
        _apply_raw(row, raw.event, raw.forced)
        raw.state = row.state
    _after_end_all([(f.partner.pk, f.call) for f in foldings.values()
                    if f.call is not None and f.changed])
    return [DUPLICATE if raw is None else raw.state for raw in results]


def _stored_calls(source: str, keys: list[tuple[int, str]]) -> list[Call]:
    """The calls of these (partner id, external id) stored already, locked for the batch's
    update."""
    if not keys:
        return []
    if connection.vendor == "postgresql":
        # One statement that looks each key up whole in the unique index, whatever the
        # table's statistics say: they lag behind an import, and with `external_id =
        # ANY(...)` (or a join) the planner then read every queue_log call (15-45 ms for
        # 250 keys, against 0.6 ms).
        return list(Call.objects.raw(
            "SELECT call.* FROM unnest(%s::bigint[], %s::text[]) AS key(partner, id) "  # noqa: S608
            f"CROSS JOIN LATERAL (SELECT * FROM {Call._meta.db_table} "
            "WHERE source = %s AND external_id = key.id AND partner_id = key.partner "
            "FOR UPDATE) AS call",
            [[partner for partner, _id in keys], [id_ for _partner, id_ in keys], source]))
    found: list[Call] = []
    wanted = set(keys)
    ids = list(dict.fromkeys(external_id for _partner, external_id in keys))
    for start in range(0, len(ids), _KEYS_PER_QUERY):
        found += [call for call in Call.objects.select_for_update().filter(
            source=source, external_id__in=ids[start:start + _KEYS_PER_QUERY]).order_by()
            if (call.partner_id, call.external_id) in wanted]
    return found


def _waiting_ids(source: str, ids: list[str]) -> set[str]:
    """Which of these calls have events stored before them, waiting for them to start."""
    if not ids:
        return set()
    table = RawCallEvent._meta.db_table
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(
                f"SELECT DISTINCT external_id FROM {table} WHERE source = %s "  # noqa: S608
                "AND state = %s AND external_id = ANY(%s)",
                [source, RawCallEvent.State.WAITING.value, ids])
            return {row[0] for row in cursor.fetchall()}
    waiting: set[str] = set()
    for start in range(0, len(ids), _KEYS_PER_QUERY):
        waiting.update(RawCallEvent.objects.filter(
            source=source, state=RawCallEvent.State.WAITING,
            external_id__in=ids[start:start + _KEYS_PER_QUERY],
        ).order_by().values_list("external_id", flat=True))
    return waiting


def _insert_calls(source: str, calls: list[_NewCall], moment: datetime) -> None:
    """Store the batch's new calls and give each its id.

    On PostgreSQL the ids are drawn from the table's sequence first, then the rows go in
    with COPY (Django's bulk INSERT ... RETURNING costs more than all the folding); a
    column this code does not fill gets the field's default, as bulk_create would."""
    if not calls:
        return
    if connection.vendor != "postgresql":
        models = [Call(source=source, updated_at=moment, **call.values()) for call in calls]
        Call.objects.bulk_create(models)
        for call, model in zip(calls, models, strict=True):
            call.pk = model.pk
        return
    table = Call._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute("SELECT nextval(pg_get_serial_sequence(%s, 'id')) "
                       "FROM generate_series(1, %s)", [table, len(calls)])
        for call, (pk,) in zip(calls, cursor.fetchall(), strict=True):
            call.pk = pk
        others = _call_defaults()
        columns = ["id", "source", "updated_at", "partner_id", "external_id",
                   *_NEW_CALL_FIELDS, *others]
        # COPY's text rows written here, as the raw events' are (see _insert_raw_events).
        same = f"\t{_copy_text(source)}\t{moment.isoformat()}\t"
        tail = "".join("\t" + _copy_value(value) for value in others.values()) + "\n"
        rows = [
            f"{call.pk}{same}{call.partner.id}\t{_copy_text(call.external_id)}\t"
            + "\t".join([_copy_value(getattr(call, name)) for name in _NEW_CALL_FIELDS])
            + tail
            for call in calls
        ]
        with connection.wrap_database_errors, cursor.cursor.copy(
                f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
            copy.write("".join(rows))


def _call_defaults() -> dict[str, Any]:
    """The database value of each call column `_NewCall` does not fill in, by column name
    (which is the attribute name: no call field names its column otherwise)."""
    known = {"id", "source", "updated_at", "partner_id", "external_id", *_NEW_CALL_FIELDS}
    defaults = {}
    for field in Call._meta.concrete_fields:
        assert field.column == field.attname
        # A column the database fills itself (db_default) is left out of the COPY.
        if (not field.generated and field.attname not in known
                and field.db_default is NOT_PROVIDED):
            defaults[field.column] = field.get_db_prep_save(field.get_default(), connection)
    return defaults


def _copy_value(value: Any) -> str:
    """A value in COPY's text format."""
    if value is None:
        return "\\N"
    if isinstance(value, str):
        return _copy_text(value)
    if isinstance(value, datetime):
        return value.isoformat()
    return _copy_text(str(value))


def _after_end_all(calls: list[tuple[int, "Call | _NewCall"]]) -> None:
    """`_after_end` for the calls a batch changed (with their partners' ids), with one query
    for the known callers: only an unanswered inbound call from a partner's contact needs
    its call-back task."""
    candidates = [(partner_id, call) for partner_id, call in calls
                  if call.direction == Direction.INBOUND and call.caller
                  and call.outcome not in LIVE_OUTCOMES and call.outcome != Outcome.ANSWERED]
    if not candidates:
        return
    callers = list({call.caller for _partner_id, call in candidates})
    known: set[tuple[int, str]] = set()
    for start in range(0, len(callers), _KEYS_PER_QUERY):
        known.update(ContactPhone.objects.filter(
            partner_id__in={partner_id for partner_id, _call in candidates},
            e164__in=callers[start:start + _KEYS_PER_QUERY],
        ).values_list("partner_id", "e164"))
    for partner_id, call in candidates:
        if (partner_id, call.caller) in known:
            # Read again: the one-by-one events of the batch may have changed it since.
            _after_end(Call.objects.select_related("partner").get(pk=call.pk))


def precheck(event: CallEvent, partner: Partner | None = None) -> None:
    """Raise `BadEvent` for what applying `event` would refuse without looking at its call:
    a dialled number or queue of no partner (or not of `partner`, when the sender acts for
    one), a caller that is not a phone number. No query once the numbers are cached, so a
    way in that answers before the event is applied can still refuse it with the reason."""
    _number_partner(event, partner)
    _numbers(event)


def _store_new(raw: RawCallEvent) -> bool:
    """Insert the raw event unless its key is stored already (then False).

    One statement (INSERT ... ON CONFLICT DO NOTHING, on PostgreSQL and SQLite alike)
    instead of a savepoint, an insert and its release: the webhook pays per round trip.
    A concurrent insert of the same key waits for the other transaction and then does
    nothing, so the event is applied once."""
    table = RawCallEvent._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} ({', '.join(_RAW_COLUMNS)}) "  # noqa: S608 - constants
            f"VALUES ({', '.join(['%s'] * len(_RAW_COLUMNS))}) "
            "ON CONFLICT (source, dedupe_key) DO NOTHING RETURNING id",
            [raw.source, raw.dedupe_key, raw.external_id, raw.partner_id,
             json.dumps(raw.payload), None if raw.event is None else json.dumps(raw.event),
             raw.received_at, raw.state, raw.reason, raw.call_id],
        )
        row = cursor.fetchone()
    if row is None:
        return False
    raw.pk = row[0]
    raw._state.adding = False
    return True


_RAW_COLUMNS = ("source", "dedupe_key", "external_id", "partner_id", "payload", "event",
                "received_at", "state", "reason", "call_id")


def _insert_raw_events(source: str, raws: list[_Raw], moment: datetime) -> None:
    """Insert many raw events: with COPY on PostgreSQL, a bulk insert elsewhere.

    COPY's text rows are written here rather than by psycopg's `write_row`, which costs
    more than the rest of a row's work: the JSON texts need only their backslashes
    doubled (JSON escapes every control character), other texts the four COPY escapes."""
    if connection.vendor != "postgresql":
        RawCallEvent.objects.bulk_create(raw.model(source, moment) for raw in raws)
        return
    table = RawCallEvent._meta.db_table
    head = _copy_text(source) + "\t"
    middle = "\t" + moment.isoformat() + "\t"
    # A key stored meanwhile (a replay, another importer) is Django's IntegrityError.
    with connection.wrap_database_errors, connection.cursor() as cursor, cursor.cursor.copy(
            f"COPY {table} ({', '.join(_RAW_COLUMNS)}) FROM STDIN") as copy:
        rows = []
        for raw in raws:
            event = raw.event
            if event is None:
                external_id, event_text = "", "\\N"
            else:
                external_id = _copy_text(event.external_id)
                event_text = (raw.event_json or event_json(event)).replace("\\", "\\\\")
            payload = (raw.payload_json or _payload_json(raw.payload)).replace("\\", "\\\\")
            partner = raw.partner
            call = raw.call
            rows.append(
                f"{head}{_copy_text(raw.key)}\t{external_id}\t"
                f"{'\\N' if partner is None else partner.id}\t{payload}\t{event_text}"
                f"{middle}{raw.state}\t{_copy_text(raw.reason)}\t"
                f"{'\\N' if call is None else call.pk}\n")
            if len(rows) == _COPY_ROWS:
                # Sent as they are written: the server stores these meanwhile.
                copy.write("".join(rows))
                rows.clear()
        copy.write("".join(rows))


# Rows written to COPY at a time.
_COPY_ROWS = 500
_COPY_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})


def _copy_text(value: str) -> str:
    """A text for COPY's text format (NULL is \\N, never given here)."""
    if "\\" in value or not value.isprintable():
        return value.translate(_COPY_ESCAPES)
    return value


def _payload_json(payload: dict[str, Any]) -> str:
    # A queue_log line's payload is {"line": text}: quoted by the C encoder alone.
    if len(payload) == 1 and type(payload.get("line")) is str:
        return '{"line": ' + _quote(payload["line"]) + "}"
    return json.dumps(payload)


_quote = json.encoder.encode_basestring_ascii  # type: ignore[attr-defined]


def event_json(event: CallEvent) -> str:
    """`json.dumps(event.to_json())`, written out by hand: the import writes one a line.

    The same JSON value (tests/test_calls_batch.py compares them); PostgreSQL's jsonb keeps
    values, not spacing or key order."""
    talk = event.talk_seconds
    return (f'{{"kind": "{event.kind.value}", "external_id": {_quote(event.external_id)}, '
            f'"at": "{event.at.isoformat()}", "direction": {_json_text(event.direction)}, '
            f'"caller": {_json_text(event.caller)}, "dialled": {_json_text(event.dialled)}, '
            f'"queue": {_json_text(event.queue)}, "operator": {_json_text(event.operator)}, '
            f'"outcome": {_json_text(event.outcome)}, '
            f'"talk_seconds": {"null" if talk is None else int(talk)}, '
            f'"recording_url": {_json_text(event.recording_url)}}}')


def _json_text(value: str) -> str:
    return _quote(value) if value else '""'


# What `_merge` may change on a call.
_MERGED_FIELDS = [
    "started_at", "caller", "dialled", "direction", "entered_at", "answered_at", "ended_at",
    "reported_talk_seconds", "reported_outcome", "operator", "recording_url", "talk_seconds",
    "outcome", "wait_seconds", "updated_at",
]


def _parse(parse: Callable[[], CallEvent]) -> tuple[CallEvent | None, str]:
    """The event `parse` reads, or None and the reason it could not."""
    try:
        return parse(), ""
    except BadEvent as exc:
        return None, str(exc)
    except (KeyError, TypeError, ValueError) as exc:
        return None, _("unreadable event: %(error)s") % {"error": exc}


def _refuse(raw: RawCallEvent, reason: str, state: str = RawCallEvent.State.FAILED) -> None:
    raw.state = state
    raw.reason = reason
    raw.save(update_fields=["state", "reason", "partner"])


def _apply_raw(raw: RawCallEvent, event: CallEvent, forced: Partner | None) -> None:
    try:
        partner, existing = _partner_for(raw.source, event, forced)
    except BadEvent as exc:
        _refuse(raw, str(exc))
        return
    if partner is None:
        _refuse(raw, _("call_id: no call %(id)s yet; the event is applied when the call "
                       "starts") % {"id": event.external_id}, RawCallEvent.State.WAITING)
        return
    raw.partner = partner
    try:
        call, created = _apply(raw.source, partner, event, existing)
    except BadEvent as exc:
        _refuse(raw, str(exc))
        return
    RawCallEvent.objects.filter(pk=raw.pk).update(call=call, partner=partner)
    raw.call = call
    if created:
        _apply_waiting(raw.source, call)
    _after_end(call)


def _partner_for(
    source: str, event: CallEvent, forced: Partner | None
) -> tuple[Partner | None, Call | None]:
    partner = _number_partner(event, forced)
    if partner is not None:
        return partner, None
    calls = Call.objects.select_related("partner").filter(
        source=source, external_id=event.external_id)
    if forced is not None:
        calls = calls.filter(partner=forced)
    existing = next(iter(calls[:1]), None)
    if existing is not None:
        return existing.partner, existing
    if forced is not None and event.kind == Kind.START:
        return forced, None
    return None, None


def _number_partner(event: CallEvent, forced: Partner | None) -> Partner | None:
    """The partner whose support number or queue the event names (None: it names neither)."""
    number = None
    if event.dialled:
        try:
            dialled = to_e164(event.dialled)
        except NotANumber as exc:
            raise BadEvent("dialled", _("%(value)r is not a phone number (%(error)s)")
                           % {"value": event.dialled, "error": exc}) from exc
        number = _number_row(number=dialled)
        if number is None or (forced is not None and number.partner_id != forced.pk):
            raise BadEvent("dialled", _("%(number)s is not a support number of any partner")
                           % {"number": dialled})
    elif event.queue:
        number = _number_row(queue_name=event.queue)
        if number is None or (forced is not None and number.partner_id != forced.pk):
            raise BadEvent("queue", _("queue %(queue)s is not a partner's queue")
                           % {"queue": event.queue})
    return number.partner if number is not None else None


def _number_row(*, number: str = "", queue_name: str = "") -> PartnerPhoneNumber | None:
    """The support number dialled, or the one whose queue is named."""
    by_number, by_queue = _support_numbers()
    return by_number.get(number) if number else by_queue.get(queue_name)


def _support_numbers() -> tuple[dict[str, PartnerPhoneNumber], dict[str, PartnerPhoneNumber]]:
    """Every partner's support numbers, by number and by queue, read in one query and
    cached briefly per process (core.config_cache drops it when this process saves a
    number; another process's change shows within 5 s): every event names one, a busy line
    names all of them within seconds, and an unknown number (a wrong event, a scan) must
    not cost a query each."""
    def load() -> tuple[dict[str, PartnerPhoneNumber], dict[str, PartnerPhoneNumber]]:
        rows = list(PartnerPhoneNumber.objects.select_related("partner"))
        return ({row.number: row for row in rows},
                {row.queue_name: row for row in rows if row.queue_name})

    return config_cache.get(("calls.support_numbers",), load)


def _operator(extension: str) -> User | None:
    if not extension:
        return None

    def load() -> User | None:
        line = next(iter(OperatorLine.objects.select_related("user").filter(
            extension=extension)[:1]), None)
        if line is not None:
            return line.user
        return next(iter(User.objects.filter(
            username=extension, role__in=list(User.STAFF_ROLES))[:1]), None)

    return config_cache.get(("calls.operator", extension), load)


def _apply(
    source: str, partner: Partner, event: CallEvent, known: Call | None
) -> tuple[Call, bool]:
    caller, dialled = _numbers(event)
    calls = Call.objects.select_for_update()
    call = next(iter(calls.filter(
        source=source, partner=partner, external_id=event.external_id)[:1]), None)
    created = False
    if call is None:
        call = Call(source=source, partner=partner, external_id=event.external_id,
                    direction=event.direction, started_at=event.at)
        try:
            with transaction.atomic():
                _merge(call, event, caller, dialled)
                call.save()
            created = True
        except IntegrityError:
            # Another worker created it a moment ago: merge into theirs.
            call = calls.get(source=source, partner=partner, external_id=event.external_id)
    if not created:
        _check_span(call, event)
        _merge(call, event, caller, dialled)
        call.updated_at = now()
        call.save()
    return call, created


def _numbers(event: CallEvent) -> tuple[str, str]:
    """The event's caller and dialled numbers in E.164; a caller that is not one is refused."""
    caller = ""
    if event.caller:
        try:
            caller = to_e164(event.caller)
        except NotANumber as exc:
            raise BadEvent("caller", _("%(value)r is not a phone number (%(error)s)")
                           % {"value": event.caller, "error": exc}) from exc
    dialled = to_e164(event.dialled) if event.dialled else ""
    return caller, dialled


def _check_span(call: Call, event: CallEvent) -> None:
    if abs((event.at - call.started_at).total_seconds()) > MAX_CALL_SECONDS:
        raise BadEvent("at", _("%(at)s is more than 12 hours from the call's start")
                       % {"at": event.at.isoformat()})


def _earliest(current: datetime | None, moment: datetime) -> datetime:
    return moment if current is None or moment < current else current


def _merge(call: "Call | _NewCall", event: CallEvent, caller: str, dialled: str, *,
           then_derive: bool = True) -> None:
    """Fold one event in; every rule is order-free (min, max, first non-empty).

    What can refuse the event is checked before anything changes, so a refused event
    leaves the call as it was. `derive` reads only what the merge sets, never what it
    derived before: a batch folding many events derives once, after the last
    (`then_derive=False`)."""
    if event.kind == Kind.END and event.outcome and event.outcome not in REPORTED_OUTCOMES:
        raise BadEvent("outcome", _("unknown outcome %(value)r") % {"value": event.outcome})
    call.started_at = _earliest(call.started_at, event.at)
    call.caller = call.caller or caller
    call.dialled = call.dialled or dialled
    if event.direction == Direction.OUTBOUND:
        call.direction = Direction.OUTBOUND
    operator = _operator(event.operator)
    if event.kind == Kind.START:
        call.entered_at = _earliest(call.entered_at, event.at)
    elif event.kind == Kind.OFFER:
        if call.answered_at is None and operator is not None:
            call.operator = operator
    elif event.kind == Kind.ANSWER:
        call.answered_at = _earliest(call.answered_at, event.at)
        if operator is not None:
            call.operator = operator
    elif event.kind == Kind.END:
        call.ended_at = event.at if call.ended_at is None else max(call.ended_at, event.at)
        if event.talk_seconds is not None:
            call.reported_talk_seconds = event.talk_seconds
        if event.outcome:
            call.reported_outcome = event.outcome
        if operator is not None and call.operator_id is None:
            call.operator = operator
    if event.recording_url:
        call.recording_url = event.recording_url
    if then_derive:
        derive(call)


def answer_moment(call: Call) -> datetime | None:
    """When the call was answered: the answer event, else its end less the talk time."""
    if call.answered_at is not None:
        return call.answered_at
    if call.outcome == Outcome.ANSWERED and call.ended_at is not None:
        return call.ended_at - timedelta(seconds=call.talk_seconds)
    return None


def derive(call: Call) -> None:
    """Outcome, talk and wait from the stored moments and what the PBX reported."""
    if call.reported_talk_seconds is not None:
        call.talk_seconds = call.reported_talk_seconds
    elif call.answered_at is not None and call.ended_at is not None:
        call.talk_seconds = min(
            max(int((call.ended_at - call.answered_at).total_seconds()), 0), MAX_CALL_SECONDS)
    else:
        call.talk_seconds = 0
    reported = call.reported_outcome
    if call.ended_at is None:
        call.outcome = Outcome.TALKING if call.answered_at is not None else Outcome.RINGING
    elif reported in (Outcome.VOICEMAIL, Outcome.CALLBACK):
        call.outcome = reported
    elif call.answered_at is not None or call.talk_seconds > 0 or reported == Outcome.ANSWERED:
        call.outcome = Outcome.ANSWERED
    elif reported in (Outcome.ABANDONED, Outcome.MISSED):
        call.outcome = reported
    else:
        call.outcome = Outcome.MISSED
    call.wait_seconds = None
    if call.direction == Direction.INBOUND:
        start = call.entered_at or call.started_at
        stop = answer_moment(call) or call.ended_at
        if stop is not None:
            call.wait_seconds = min(max(int((stop - start).total_seconds()), 0), MAX_CALL_SECONDS)


def _apply_waiting(source: str, call: Call) -> None:
    """Events that came before their call's start, applied now that the call exists."""
    waiting = RawCallEvent.objects.filter(
        source=source, external_id=call.external_id, state=RawCallEvent.State.WAITING
    ).order_by("id")
    for raw in waiting:
        event = CallEvent.from_json(raw.event or {})
        raw.partner = call.partner
        try:
            # Refused as it would have been had its call been there (and as the webhook's
            # answer said): a caller that is not a phone number.
            caller, _dialled = _numbers(event)
            _merge(call, event, caller, "")
        except BadEvent as exc:
            _refuse(raw, str(exc))
            continue
        raw.state = RawCallEvent.State.PROCESSED
        raw.reason = ""
        raw.call = call
        raw.save(update_fields=["state", "reason", "partner", "call"])
    call.save()


# --- Who is calling ------------------------------------------------------------------------


def contact_for_number(partner: Partner | int, e164: str) -> Contact | None:
    """The partner's contact with this phone number, if any.

    Contact phones are kept as people typed them (+7 912 345-67-89) and, beside, in E.164
    (ContactPhone.e164, filled on save): one lookup on the (partner, e164) index.
    """
    if not e164:
        return None
    partner_id = partner if isinstance(partner, int) else partner.pk
    phone = (
        ContactPhone.objects.filter(partner_id=partner_id, e164=e164)
        .select_related("contact__organisation").order_by("id").first()
    )
    return phone.contact if phone is not None else None


# --- Calls and tickets ---------------------------------------------------------------------


def _after_end(call: Call) -> None:
    """A missed or abandoned call from a known customer becomes a call-back task."""
    if (call.direction != Direction.INBOUND or call.outcome in LIVE_OUTCOMES
            or call.outcome == Outcome.ANSWERED or call.callback_ticket_id is not None):
        return
    contact = contact_for_number(call.partner, call.caller)
    if contact is None:
        return
    with translation.override(call.partner.language or "ru"):
        subject = _("Call back: %(name)s, %(number)s (%(outcome)s)") % {
            "name": contact.name, "number": call.caller, "outcome": call.get_outcome_display()}
        text = _("%(name)s called %(partner)s on %(when)s and was not answered (%(outcome)s). "
                 "Call them back on %(number)s.") % {
            "name": contact.name, "partner": call.partner.name,
            "when": call.started_at.strftime("%Y-%m-%d %H:%M UTC"),
            "outcome": call.get_outcome_display(), "number": call.caller}
    ticket = ticket_services.create_ticket(
        partner=call.partner, actor=None, channel=Channel.PHONE, subject=subject, text=text,
        contact=contact, identified_by=IdentifiedBy.NONE,
    )
    call.callback_ticket = ticket
    call.ticket = call.ticket or ticket
    call.save(update_fields=["callback_ticket", "ticket"])


def _meet_reaction(ticket: Ticket, call: Call) -> None:
    """An answered call is the first response, as a human reply is."""
    answered = answer_moment(call)
    if answered is None:
        return
    ticket = Ticket.objects.select_for_update().get(pk=ticket.pk)
    if ticket.first_response_at is not None:
        return
    moment = max(answered, ticket.created_at)
    ticket.first_response_at = moment
    deadlines.first_response(ticket, moment)
    fields = ["first_response_at", *deadlines.DEADLINE_FIELDS]
    if ticket.status == Status.NEW:
        ticket.status = Status.OPEN
        fields.append("status")
    ticket.save(update_fields=list(dict.fromkeys(fields)))
    escalation.reschedule(ticket)


def _check_actor(actor: User, call: Call) -> None:
    if not (actor.is_provider_staff or actor.is_partner_user):
        raise PermissionDenied(_("Only support staff and partner accounts can do this."))
    if not actor.is_provider_staff and actor.partner_id != call.partner_id:
        raise PermissionDenied(_("This call is not available to you."))


@transaction.atomic
def attach_call(*, call: Call, ticket: Ticket, actor: User) -> Call:
    """Put the call on a ticket of the same partner; an answered call meets reaction."""
    _check_actor(actor, call)
    if ticket.partner_id != call.partner_id or not tickets_for(actor).filter(
            pk=ticket.pk).exists():
        raise ValidationError({"ticket": _("No such ticket of this call's partner.")})
    call = Call.objects.select_for_update().get(pk=call.pk)
    before = {"ticket": call.ticket_id}
    call.ticket = ticket
    call.save(update_fields=["ticket"])
    _meet_reaction(ticket, call)
    audit.record(actor=actor, partner=call.partner, action="call.attached", target=call,
                 before=before, after={"ticket": ticket.pk})
    return call


@transaction.atomic
def create_ticket_from_call(
    *, call: Call, actor: User, subject: str, text: str, priority: str | None = None
) -> Ticket:
    """A ticket on the phone channel with the call on it, the caller as its contact."""
    _check_actor(actor, call)
    contact = contact_for_number(call.partner_id, call.caller)
    ticket = ticket_services.create_ticket(
        partner=call.partner, actor=actor, channel=Channel.PHONE, subject=subject, text=text,
        contact=contact, priority=priority,
    )
    call = Call.objects.select_for_update().get(pk=call.pk)
    call.ticket = ticket
    call.save(update_fields=["ticket"])
    _meet_reaction(ticket, call)
    audit.record(actor=actor, partner=call.partner, action="call.ticket_created", target=call,
                 after={"ticket": ticket.pk})
    ticket.refresh_from_db()
    return ticket
