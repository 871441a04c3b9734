from argparse import ArgumentParser
from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from firstline.api.services import issue_token
from firstline.core.models import User


class Command(BaseCommand):
    help = "Issue an API token for a user and print it. It is shown only this once."

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("username")
        parser.add_argument(
            "--name", required=True, help="What will use the token, e.g. 'billing sync'."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            user = User.objects.get(username=options["username"])
        except User.DoesNotExist:
            raise CommandError(f"No user {options['username']!r}.") from None
        try:
            token, plaintext = issue_token(user, options["name"])
        except ValidationError as exc:
            raise CommandError("; ".join(exc.messages)) from None
        self.stderr.write(
            f"Token {token.prefix}… '{token.name}' for {user.username}. "
            "Store it now: it cannot be shown again."
        )
        # The secret alone on stdout, so `... create_api_token x --name y > file` works.
        self.stdout.write(plaintext)
