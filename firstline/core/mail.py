"""A console mail backend a person can read: decoded headers and the text body.

Django's console backend prints the wire format, where Russian text is base64; on a first
local run the operator wants to read the letter (and click the portal's sign-in link).
"""

from django.core.mail import EmailMessage
from django.core.mail.backends.console import EmailBackend


class ReadableConsoleBackend(EmailBackend):
    def write_message(self, message: EmailMessage) -> None:
        self.stream.write(
            f"From: {message.from_email}\nTo: {', '.join(message.to)}\n"
            f"Subject: {message.subject}\n\n{message.body}\n{'-' * 79}\n"
        )
