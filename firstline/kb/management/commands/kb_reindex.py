"""`firstline kb_reindex`: rebuild the articles' stored search vectors (after a bulk import
or a restore); a no-op on SQLite, where search does not use them."""

from typing import Any

from django.core.management.base import BaseCommand

from firstline.kb.services import reindex


class Command(BaseCommand):
    help = "Rebuild the knowledge base's full-text search vectors (PostgreSQL)."

    def handle(self, *args: Any, **options: Any) -> None:
        self.stdout.write(f"{reindex()} articles reindexed")
