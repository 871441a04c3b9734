"""The one place the application asks for the current time.

Everything goes through `now()` so tests can move time with time-machine and so that no
naive datetime sneaks into the database.
"""

from datetime import datetime

from django.utils import timezone


def now() -> datetime:
    return timezone.now()
