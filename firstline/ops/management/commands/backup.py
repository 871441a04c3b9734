from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from firstline.core.local_box import data_dir
from firstline.ops.backup import BackupError, create


class Command(BaseCommand):
    help = ("Back up the database (pg_dump custom format, or SQLite's online backup) and the "
            "attachments (MEDIA_ROOT) into a new directory; safe while the desk runs.")

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--output", default="",
                            help="where to put the backup (default $FIRSTLINE_DATA_DIR/backups)")

    def handle(self, *args: Any, output: str, **options: Any) -> None:
        try:
            target = create(Path(output) if output else data_dir() / "backups")
        except (BackupError, OSError) as exc:
            raise CommandError(f"backup failed: {exc}") from exc
        self.stdout.write(str(target))
