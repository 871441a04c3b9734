# A letter from somebody who is neither the ticket's customer nor its participant is kept
# for the operator by default (issue 17, item 1); colleagues join only when allowed.
# Existing mailboxes move to the safe policy too: the old default was taken by every
# mailbox, chosen or not, and a partner who wants forwarded threads to add their senders
# sets it again.

from django.db import migrations, models


def flag_unknown_senders(apps, schema_editor):
    Mailbox = apps.get_model('mail', 'Mailbox')
    Mailbox.objects.filter(unknown_sender_policy='add_participant').update(
        unknown_sender_policy='flag'
    )


class Migration(migrations.Migration):

    dependencies = [
        ('mail', '0001_initial'),
    ]

    operations = [
        migrations.AddField(
            model_name='mailbox',
            name='colleagues_may_join',
            field=models.BooleanField(default=False, help_text="A letter on a ticket's thread from a confirmed address of another contact of the customer's organisation joins the ticket, and its sender gets the public replies. Off: such a letter becomes an internal note.", verbose_name='colleagues of the customer join the ticket'),
        ),
        migrations.AlterField(
            model_name='mailbox',
            name='unknown_sender_policy',
            field=models.CharField(choices=[('add_participant', 'Add the sender to the ticket'), ('flag', 'Flag for the operator (internal note)')], default='flag', help_text="What happens when somebody who is neither the ticket's customer nor its participant answers a letter of the ticket (e.g. one forwarded to them). A letter that only names the ticket's number never adds its sender: it becomes an internal note.", max_length=20, verbose_name='unknown sender on a ticket'),
        ),
        migrations.RunPython(flag_unknown_senders, migrations.RunPython.noop),
    ]
