"""IMAP passwords are encrypted at rest (issue 17, item 27).

The column holds a Fernet token, never the password; the key comes from FIRSTLINE_FIELD_KEY
(or is derived from SECRET_KEY); keys rotate; a row whose key is gone still loads (mail
keeps arriving by LMTP and the pipe) and the poller says which variable to fix; a malformed
key stops the start naming the variable; the admin never shows the password back; the data
migration encrypts passwords stored in clear.
"""

import importlib
import os
import subprocess
import sys
from io import StringIO
from pathlib import Path

import pytest
from django.apps import apps as global_apps
from django.core.exceptions import ImproperlyConfigured
from django.core.management import CommandError, call_command
from django.db import connection

from firstline.core import encryption
from firstline.core.models import User
from firstline.core.secret_field import Undecryptable
from firstline.mail import imap
from firstline.mail.models import Mailbox
from tests.conftest import client_for

PASSWORD = "s3cret-пароль"  # noqa: S105 - a test value
KEY_A = "k6mhrbIyoydgpTdQDtR6lWCzhN1YLtD3DHbiyjNrRcQ="
KEY_B = "7HcF4ViqfmYuRZuT_jLNyJKzTcU0sVb6IR3rL_jrJ0Y="
ROOT = Path(__file__).resolve().parent.parent


def stored(mailbox: Mailbox) -> str:
    """The column as the database holds it."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT imap_password FROM mail_mailbox WHERE id = %s", [mailbox.pk])
        return cursor.fetchone()[0]


def make(cast, password: str = PASSWORD) -> Mailbox:
    return Mailbox.objects.create(
        partner=cast.a.partner, address="help@alpha.example", imap_host="127.0.0.1",
        imap_port=1, imap_username="help", imap_password=password,
    )


@pytest.fixture
def keys(settings):
    """Set the key list as FIRSTLINE_FIELD_KEY would."""

    def use(*values: str) -> None:
        settings.FIRSTLINE_FIELD_KEYS = list(values)

    return use


def test_the_password_is_stored_encrypted_and_read_back_in_clear(cast) -> None:
    mailbox = make(cast)
    column = stored(mailbox)
    assert column.startswith("fernet:") and PASSWORD not in column
    assert Mailbox.objects.get(pk=mailbox.pk).imap_password == PASSWORD
    # Each save encrypts anew: equal passwords do not show as equal tokens.
    mailbox.save()
    assert stored(mailbox) != column


def test_without_a_field_key_the_key_comes_from_secret_key(cast, settings, keys) -> None:
    keys()
    mailbox = make(cast)
    original = settings.SECRET_KEY
    settings.SECRET_KEY = "another-secret-key-entirely"  # noqa: S105
    assert isinstance(Mailbox.objects.get(pk=mailbox.pk).imap_password, Undecryptable)
    settings.SECRET_KEY_FALLBACKS = [original]
    assert Mailbox.objects.get(pk=mailbox.pk).imap_password == PASSWORD


def test_keys_rotate_new_key_first_then_reencrypt(cast, keys) -> None:
    keys(KEY_A)
    mailbox = make(cast)
    keys(KEY_B, KEY_A)
    assert Mailbox.objects.get(pk=mailbox.pk).imap_password == PASSWORD
    out = StringIO()
    call_command("reencrypt_fields", stdout=out)
    assert "1 secrets" in out.getvalue()
    keys(KEY_B)
    assert Mailbox.objects.get(pk=mailbox.pk).imap_password == PASSWORD


def test_a_row_whose_key_is_gone_still_loads_keeps_its_token_and_names_the_variable(
    cast, keys
) -> None:
    keys(KEY_A)
    mailbox = make(cast)
    token = stored(mailbox)
    keys(KEY_B)
    loaded = Mailbox.objects.get(pk=mailbox.pk)
    assert isinstance(loaded.imap_password, Undecryptable) and loaded.imap_password == ""
    loaded.is_active = False
    loaded.save()  # an unrelated change must not wipe or re-encrypt the password
    assert stored(mailbox) == token
    with pytest.raises(imap.MailboxConfigError, match="FIRSTLINE_FIELD_KEY"):
        imap.connect(loaded)
    with pytest.raises(CommandError, match="FIRSTLINE_FIELD_KEY"):
        call_command("reencrypt_fields", stdout=StringIO())
    assert stored(mailbox) == token
    keys(KEY_B, KEY_A)
    assert Mailbox.objects.get(pk=mailbox.pk).imap_password == PASSWORD


@pytest.mark.parametrize("value", ["not-a-key", KEY_A[:-4], f"{KEY_A},oops"])
def test_a_malformed_key_is_refused_naming_the_variable(value) -> None:
    with pytest.raises(ImproperlyConfigured, match="FIRSTLINE_FIELD_KEY: key"):
        encryption.parse_keys(value)


def test_a_malformed_key_stops_the_start_naming_the_variable() -> None:
    env = {**os.environ, "FIRSTLINE_FIELD_KEY": "definitely-not-a-fernet-key",
           "DJANGO_SETTINGS_MODULE": "firstline.settings"}
    result = subprocess.run(  # noqa: S603 - our own interpreter and module
        [sys.executable, "-c", "import django; django.setup()"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, check=False,
    )
    assert result.returncode != 0
    assert "FIRSTLINE_FIELD_KEY: key 1 is not a Fernet key" in result.stderr


def test_new_key_prints_a_usable_key() -> None:
    out = StringIO()
    call_command("reencrypt_fields", "--new-key", stdout=out)
    assert encryption.parse_keys(out.getvalue().strip())


def test_dumpdata_writes_the_token_not_the_password(cast) -> None:
    make(cast)
    out = StringIO()
    call_command("dumpdata", "mail.mailbox", stdout=out)
    assert PASSWORD not in out.getvalue() and "fernet:" in out.getvalue()


def test_the_admin_never_shows_the_password_and_keeps_it_when_left_empty(cast) -> None:
    mailbox = make(cast)
    admin = User.objects.create_superuser("root", "root@example.com", "pw")
    client = client_for(admin)
    url = f"/admin/mail/mailbox/{mailbox.pk}/change/"
    page = client.get(url).content.decode()
    assert PASSWORD not in page and stored(mailbox) not in page and "fernet:" not in page
    form = {
        "partner": cast.a.partner.pk, "address": mailbox.address, "is_active": "on",
        "imap_host": "imap.alpha.example", "imap_port": 993, "imap_security": "ssl",
        "imap_username": "help", "new_imap_password": "", "imap_folder": "INBOX",
        "imap_processed_folder": "", "unknown_sender_policy": "flag",
    }
    assert client.post(url, form).status_code == 302
    mailbox.refresh_from_db()
    assert mailbox.imap_host == "imap.alpha.example" and mailbox.imap_password == PASSWORD
    assert client.post(url, {**form, "new_imap_password": "changed"}).status_code == 302
    mailbox.refresh_from_db()
    assert mailbox.imap_password == "changed" and "changed" not in stored(mailbox)
    assert client.post(url, {**form, "clear_imap_password": "on"}).status_code == 302
    mailbox.refresh_from_db()
    assert mailbox.imap_password == "" and stored(mailbox) == ""


def test_the_data_migration_encrypts_passwords_stored_in_clear_and_back(cast) -> None:
    migration = importlib.import_module("firstline.mail.migrations.0003_imap_password_encrypted")
    mailbox = make(cast)
    with connection.cursor() as cursor:
        cursor.execute("UPDATE mail_mailbox SET imap_password = %s WHERE id = %s",
                       [PASSWORD, mailbox.pk])
    migration.encrypt_passwords(global_apps, connection.schema_editor())
    assert stored(mailbox).startswith("fernet:") and PASSWORD not in stored(mailbox)
    assert Mailbox.objects.get(pk=mailbox.pk).imap_password == PASSWORD
    migration.decrypt_passwords(global_apps, connection.schema_editor())
    assert stored(mailbox) == PASSWORD
