"""`firstline seed_demo [--if-empty]`: load the demo data set and print how to sign in.

`firstline run` calls it with --if-empty on every start, so it must be a quick no-op once
any partner exists. The data itself is built by firstline.core.demo.

Every demo account's password is demo12345: demo only, never on a reachable server.
"""

import time
from argparse import ArgumentParser
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from firstline.core import demo
from firstline.core.models import Partner


class Command(BaseCommand):
    help = (
        "Create demo data: tariffs, provider staff, three partners with their customers and "
        f"~{demo.TICKET_COUNT} tickets over the last {demo.HISTORY_DAYS} days. "
        f"Every demo account's password is {demo.DEMO_PASSWORD} (demo use only)."
    )

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument(
            "--if-empty",
            action="store_true",
            help="Do nothing if any partner exists (for `firstline run` on every start).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        started = time.monotonic()
        # The check and the build share one transaction, so two starts cannot both seed.
        with transaction.atomic():
            if Partner.objects.exists() and options["if_empty"]:
                self.stdout.write(
                    "Demo data is already there (the database has partners); nothing to do."
                )
                return
            conflicts = demo.demo_conflicts()
            if conflicts:
                raise CommandError(
                    "The demo data would clash with existing rows: " + ", ".join(conflicts)
                    + ". Use an empty database (or --if-empty to skip quietly)."
                )
            summary = demo.build_demo()
        elapsed = time.monotonic() - started
        counts = ", ".join(f"{count} {name}" for name, count in summary.counts.items())
        self.stdout.write(self.style.SUCCESS(f"Demo data created in {elapsed:.1f} s: {counts}."))
        self.stdout.write("")
        self.stdout.write(self._logins_table(summary))
        self.stdout.write("")
        self.stdout.write(self._code_words_table(summary))
        self.stdout.write("")
        self.stdout.write(
            f"Password of every demo account: {demo.DEMO_PASSWORD} (demo only: never use this "
            "data on a server other people can reach)."
        )
        self.stdout.write(f"Open {settings.SITE_URL}/")

    def _logins_table(self, summary: demo.Summary) -> str:
        rows = [
            (login.role, login.username, demo.DEMO_PASSWORD, login.sees)
            for login in summary.logins
        ]
        header = ("role", "login (customers: e-mail)", "password", "what they see")
        return "Sign in as:\n" + _table(header, rows)

    def _code_words_table(self, summary: demo.Summary) -> str:
        # The operator identifies callers by contract number and code word (F5); the demo
        # needs the words in the clear, and the database only keeps their hashes.
        rows = [
            (item.partner, item.contract_number, item.code_word, item.organisation)
            for item in summary.code_words
        ]
        return "Customer identification:\n" + _table(
            ("partner", "contract", "code word", "organisation"), rows
        )


def _table(header: tuple[str, ...], rows: list[tuple[str, ...]]) -> str:
    widths = [max(len(str(cell)) for cell in column) for column in zip(header, *rows, strict=False)]

    def line(cells: tuple[str, ...]) -> str:
        cells_text = (str(cell).ljust(width) for cell, width in zip(cells, widths, strict=True))
        return "  ".join(cells_text).rstrip()

    rule = "  ".join("-" * width for width in widths)
    return "\n".join([line(header), rule, *(line(row) for row in rows)])
