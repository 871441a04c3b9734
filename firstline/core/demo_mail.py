"""Demo mailboxes: each demo partner's support address, so that mail works at once.

`firstline mail_in --partner oblakoteka < letter.eml` (a pipe) and `firstline mail_lmtp`
(an MTA forwarding by LMTP) need an active mailbox to file a letter under. IMAP stays
unconfigured: the demo has no mail server to poll, and the poller skips a mailbox without
an IMAP host.
"""

from firstline.core.models import Partner
from firstline.mail.models import Mailbox


def create_mailbox(partner: Partner) -> Mailbox:
    return Mailbox.objects.create(partner=partner, address=partner.support_email)
