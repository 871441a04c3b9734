from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from firstline.ops.backup import BackupError, restore


class Command(BaseCommand):
    help = ("Restore a backup made by `firstline backup`: replaces the database's contents "
            "and MEDIA_ROOT (the old media directory is kept beside it). Stop the firstline "
            "units first.")

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("backup", help="the backup directory")
        parser.add_argument("--yes", action="store_true",
                            help="do it: without this nothing is changed")

    def handle(self, *args: Any, backup: str, yes: bool, **options: Any) -> None:
        if not yes:
            raise CommandError("restore replaces the database and the attachments; "
                               "run it again with --yes")
        try:
            manifest = restore(Path(backup))
        except (BackupError, OSError) as exc:
            raise CommandError(f"restore failed: {exc}") from exc
        self.stdout.write(f"restored the backup of {manifest['created_at']} from {backup}")
