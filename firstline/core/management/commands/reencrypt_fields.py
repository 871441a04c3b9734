"""`firstline reencrypt_fields`: encrypt every stored secret with the current first key.

    firstline reencrypt_fields --new-key   # print a new key for FIRSTLINE_FIELD_KEY
    firstline reencrypt_fields             # re-encrypt (after putting the new key first)

Rotation: FIRSTLINE_FIELD_KEY=NEW,OLD, run this, then FIRSTLINE_FIELD_KEY=NEW. A secret that
none of the keys opens is listed and the command exits 1, changing nothing for that row.
"""

from typing import Any

from django.apps import apps
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction

from firstline.core import encryption
from firstline.core.secret_field import EncryptedTextField, Undecryptable


class Command(BaseCommand):
    help = "Re-encrypt the secrets kept in the database with the first FIRSTLINE_FIELD_KEY."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--new-key", action="store_true",
                            help="Print a new random key and change nothing.")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["new_key"]:
            self.stdout.write(encryption.new_key())
            return
        done, failed = 0, []
        for model in apps.get_models():
            fields = [
                field.name for field in model._meta.get_fields()
                if isinstance(field, EncryptedTextField)
            ]
            for name in fields:
                # Loading decrypts with any of the keys; saving encrypts with the first.
                with transaction.atomic():
                    rows = model._default_manager.exclude(**{name: ""}).only("pk", name)
                    for row in rows.select_for_update().order_by("pk"):
                        value = getattr(row, name)
                        if isinstance(value, Undecryptable):
                            failed.append(f"{model._meta.label} {row.pk} {name}: {value.error}")
                            continue
                        row.save(update_fields=[name])
                        done += 1
        self.stdout.write(f"{done} secrets encrypted with the current key")
        if failed:
            raise CommandError("cannot decrypt:\n" + "\n".join(failed))
