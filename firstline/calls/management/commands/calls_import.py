"""`firstline calls_import queue_log FILE [--follow]`: Asterisk's queue_log into calls."""

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from firstline.calls.importer import import_file


class Command(BaseCommand):
    help = ("Import Asterisk's queue_log into calls, from the position saved last time; "
            "--follow keeps reading as the file grows.")

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("format", choices=["queue_log"])
        parser.add_argument("file")
        parser.add_argument("--follow", action="store_true",
                            help="Keep reading new lines until stopped (Ctrl-C, SIGTERM).")
        parser.add_argument("--poll", type=float, default=1.0,
                            help="Seconds between looks at a followed file.")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            counts = import_file(options["file"], follow=options["follow"],
                                 poll_seconds=options["poll"])
        except FileNotFoundError as exc:
            raise CommandError(f"{options['file']}: no such file") from exc
        except KeyboardInterrupt:
            return
        self.stdout.write(
            f"read {counts.read}, applied {counts.applied}, waiting {counts.waiting}, "
            f"refused {counts.refused}, replayed {counts.duplicate}, skipped {counts.skipped}"
        )
