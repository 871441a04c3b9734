# IMAP passwords are encrypted at rest (issue 17, item 27): the column becomes an encrypted
# text field and every stored password is encrypted with the configured key
# (FIRSTLINE_FIELD_KEY, or the key derived from SECRET_KEY). Reversing writes them back in
# clear.

from django.db import migrations

import firstline.core.secret_field


def encrypt_passwords(apps, schema_editor):
    Mailbox = apps.get_model('mail', 'Mailbox')
    # The field reads a password stored in clear as it is and encrypts it on save.
    for mailbox in Mailbox.objects.exclude(imap_password='').only('pk', 'imap_password'):
        mailbox.save(update_fields=['imap_password'])


def decrypt_passwords(apps, schema_editor):
    from firstline.core import encryption

    table = apps.get_model('mail', 'Mailbox')._meta.db_table
    quote = schema_editor.quote_name
    with schema_editor.connection.cursor() as cursor:
        cursor.execute(
            f"SELECT id, imap_password FROM {quote(table)} WHERE imap_password <> ''"
        )
        rows = cursor.fetchall()
        for pk, stored in rows:
            cursor.execute(
                f"UPDATE {quote(table)} SET imap_password = %s WHERE id = %s",
                [encryption.unseal(stored), pk],
            )


class Migration(migrations.Migration):

    dependencies = [
        ('mail', '0002_unknown_senders_flagged_by_default'),
    ]

    operations = [
        migrations.AlterField(
            model_name='mailbox',
            name='imap_password',
            field=firstline.core.secret_field.EncryptedTextField(blank=True, verbose_name='IMAP password'),
        ),
        migrations.RunPython(encrypt_passwords, decrypt_passwords),
    ]
