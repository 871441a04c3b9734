"""Models of the desk app, one module per idea (each imported here so Django finds it)."""

from firstline.web.draft_models import ReplyDraft  # noqa: F401
from firstline.web.preference_models import QueuePreference  # noqa: F401
