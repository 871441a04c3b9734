"""Telegram intake on PostgreSQL: updates through the webhook view, beside mail and the portal.

Usage (a throwaway database is created and dropped; over the Unix socket):
    .venv/bin/python bench/telegram.py [--updates 300] [--rounds 3]

Each round posts `--updates` updates in the documented shape to the bot's webhook through
the WSGI handler in-process (the secret header checked, the raw update stored, then a
ticket with its acknowledgement in the outbox for a new chat — 70% — or the message added
to the chat's open ticket — 30%), one request each, as Telegram calls it. Baselines in the
same run: `mail.ingest_raw` of as many letters (the other channel's intake: store, parse,
ticket and acknowledgement) and `create_ticket` alone (the portal's path). Printed per
round and over the rounds: updates per second, p50/p95 per update (min–max over rounds),
and the ratio to each baseline.

Files: as many updates with a photo (~200 KB) go through the webhook too ("photo"): the
request keeps the message and the photo's file_id and answers, without calling Telegram
(the task is enqueued on commit). Then the worker's part ("fetch", files.fetch: claim,
getFile, download, attach) runs for each, against a stand-in Bot API on loopback
(tests/telegram_standin.py, a real HTTP server). CPU ms per item (this process's CPU time:
the application's share, PostgreSQL's own not counted) does not depend on the machine's load.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
DB = "firstline_bench_telegram"
PSQL = ["psql", "-h", "/var/run/postgresql", "-U", "postgres", "-d", "postgres", "-qc"]
TOKEN = "7012345678:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw0"  # noqa: S105 - a made-up bot


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--updates", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    subprocess.run([*PSQL, f"DROP DATABASE IF EXISTS {DB}"], check=True)
    subprocess.run([*PSQL, f"CREATE DATABASE {DB}"], check=True)
    from tests.telegram_standin import TelegramStandIn

    standin = TelegramStandIn().__enter__()
    standin.add_bot(TOKEN, "bench_bot")
    os.environ["FIRSTLINE_TELEGRAM_API_URL"] = standin.url
    os.environ["DATABASE_URL"] = f"postgres://postgres@%2Fvar%2Frun%2Fpostgresql/{DB}"
    os.environ["DEBUG"] = "0"
    os.environ.setdefault("SECRET_KEY", "bench-only-secret-key")
    os.environ["DJANGO_SETTINGS_MODULE"] = "firstline.settings"
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    try:
        run(args.updates, args.rounds, standin)
    finally:
        standin.__exit__(None, None, None)
        from django.db import connections

        connections.close_all()
        subprocess.run([*PSQL, f"DROP DATABASE IF EXISTS {DB}"], check=False)


def setup():  # type: ignore[no-untyped-def]
    from firstline.core.models import Partner, Tariff, User
    from firstline.mail.models import Mailbox
    from firstline.telegram import services

    tariff = Tariff.objects.create(code="t", name="T", requests_included=1, minutes_included=1,
                                   monthly_fee=1, first_month_fee=1, overage_request_fee=1,
                                   overage_minute_fee=1)
    partner = Partner.objects.create(name="Облакотека", slug="oblako", tariff=tariff,
                                     support_email="support@oblako.example")
    admin = User.objects.create_user(username="bench-admin", role=User.Role.SUPERVISOR)
    bot = services.save_bot(partner=partner, actor=admin, token=TOKEN, mode="webhook",
                            is_active=True)
    mailbox = Mailbox.objects.create(partner=partner, address="help@oblako.example")
    return partner, bot, mailbox


def update(update_id: int, chat: int, text: str) -> str:
    return json.dumps({"update_id": update_id, "message": {
        "message_id": update_id, "date": 1765000000, "text": text,
        "from": {"id": chat, "is_bot": False, "first_name": "Иван", "last_name": f"П{chat}"},
        "chat": {"id": chat, "type": "private"}}}, ensure_ascii=False)


def photo_update(update_id: int, chat: int, file_id: str) -> str:
    return json.dumps({"update_id": update_id, "message": {
        "message_id": update_id, "date": 1765000000, "caption": "Скриншот ошибки",
        "photo": [{"file_id": f"{file_id}-s", "file_unique_id": f"{file_id}-s", "width": 90,
                   "height": 60, "file_size": 2000},
                  {"file_id": file_id, "file_unique_id": file_id, "width": 1280,
                   "height": 960, "file_size": len(PHOTO)}],
        "from": {"id": chat, "is_bot": False, "first_name": "Анна", "last_name": f"С{chat}"},
        "chat": {"id": chat, "type": "private"}}}, ensure_ascii=False)


PHOTO = b"\xff\xd8\xff\xe0" + os.urandom(200 * 1024)


def letter(index: int) -> bytes:
    return (
        f"From: Иван <ivan{index}@romashka.example>\r\nTo: help@oblako.example\r\n"
        f"Subject: Не работает FTP {index}\r\nMessage-ID: <tg-bench-{index}@romashka.example>\r\n"
        "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n"
        "Content-Transfer-Encoding: 8bit\r\n\r\nНе могу зайти на сервер, помогите.\r\n"
    ).encode()


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(share * (len(ordered) - 1))))]


CPU: dict[str, list[float]] = {}


def timed(calls, name: str = "") -> list[float]:  # type: ignore[no-untyped-def]
    durations = []
    cpu = time.process_time()
    for call in calls:
        start = time.perf_counter()
        call()
        durations.append(time.perf_counter() - start)
    if name:
        CPU.setdefault(name, []).append((time.process_time() - cpu) / len(durations) * 1000)
    return durations


def run(count: int, rounds: int, standin) -> None:  # type: ignore[no-untyped-def]
    from django.test import Client

    from firstline.mail.ingest import ingest_raw
    from firstline.telegram import files
    from firstline.telegram.models import IncomingFile, Update
    from firstline.tickets.models import Channel
    from firstline.tickets.services import create_ticket

    partner, bot, mailbox = setup()
    client = Client()
    headers = {"X-Telegram-Bot-Api-Secret-Token": str(bot.secret_token)}
    url = f"/telegram/{bot.bot_id}/webhook"
    results: dict[str, list[list[float]]] = {"telegram": [], "mail": [], "portal": [],
                                             "photo": [], "fetch": []}
    next_id = 1
    for number in range(rounds):
        base = (number + 1) * 1_000_000
        bodies = []
        for index in range(count):
            # 70% a new chat, 30% a follow-up in a chat of this round.
            chat = base + (index if index < 10 or index % 10 < 7 else index - 7)
            bodies.append(update(next_id, chat, f"Не работает FTP, сервер {index}"))
            next_id += 1

        def post(body: str) -> None:
            answer = client.post(url, body, content_type="application/json", headers=headers)
            assert answer.status_code == 200 and answer.json()["status"] == "processed", \
                answer.content

        results["telegram"].append(timed((lambda body=body: post(body) for body in bodies),
                                         "telegram"))
        results["mail"].append(timed((
            lambda index=index, base=base: ingest_raw(letter(base + index), mailbox=mailbox)
            for index in range(count)), "mail"))
        results["portal"].append(timed((
            lambda index=index: create_ticket(
                partner=partner, actor=None, channel=Channel.PORTAL,
                subject=f"Не работает FTP {index}", text="Не могу зайти на сервер.")
            for index in range(count)), "portal"))
        photos = []
        for index in range(count):
            file_id = f"photo-{base + index}"
            standin.add_file(TOKEN, file_id, PHOTO, path=f"photos/{file_id}.jpg")
            photos.append(photo_update(next_id, base + 500_000 + index, file_id))
            next_id += 1
        results["photo"].append(timed((lambda body=body: post(body) for body in photos),
                                      "photo"))
        pending = list(IncomingFile.objects.filter(status=IncomingFile.Status.PENDING)
                       .values_list("pk", flat=True))
        assert len(pending) == count, len(pending)
        results["fetch"].append(timed((lambda pk=pk: files.fetch(pk) for pk in pending),
                                      "fetch"))
        fetched = IncomingFile.objects.filter(pk__in=pending,
                                              status=IncomingFile.Status.FETCHED).count()
        assert fetched == count, fetched
    load = os.getloadavg()
    print(f"{count} updates a round, {rounds} rounds; load average {load[0]:.1f} "
          f"{load[1]:.1f} {load[2]:.1f} (the machine is shared: figures are comparable "
          "within this run only; CPU ms per item is not load-bound)")
    rates = {}
    for name, per_round in results.items():
        per_second = [len(d) / sum(d) for d in per_round]
        p50 = [percentile(d, 0.5) * 1000 for d in per_round]
        p95 = [percentile(d, 0.95) * 1000 for d in per_round]
        rates[name] = statistics.median(per_second)
        print(f"{name:9} {rates[name]:7.1f}/s (min–max {min(per_second):.1f}–"
              f"{max(per_second):.1f})  p50 {statistics.median(p50):6.1f} ms "
              f"({min(p50):.1f}–{max(p50):.1f})  p95 {statistics.median(p95):6.1f} ms "
              f"({min(p95):.1f}–{max(p95):.1f})  CPU {statistics.median(CPU[name]):5.1f} "
              f"ms/item ({min(CPU[name]):.1f}–{max(CPU[name]):.1f})")
    print(f"telegram / mail   {rates['telegram'] / rates['mail']:.2f}x")
    print(f"photo / telegram  {rates['photo'] / rates['telegram']:.2f}x  (a photo's update "
          "answered without Telegram, beside a text one)")
    print(f"telegram / portal {rates['telegram'] / rates['portal']:.2f}x")
    print(f"updates stored: {Update.objects.count()}; files fetched: "
          f"{IncomingFile.objects.filter(status=IncomingFile.Status.FETCHED).count()} "
          f"of {len(PHOTO) // 1024} KB each")


if __name__ == "__main__":
    main()
