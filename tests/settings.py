"""Test settings: the production module with fast hashing, immediate tasks and temp media."""

import os
import tempfile

os.environ.setdefault("SECRET_KEY", "firstline-test-secret-key-not-for-production")

from firstline.settings import *  # noqa: E402,F403

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
TASKS = {"default": {"BACKEND": "django.tasks.backends.immediate.ImmediateBackend"}}
MEDIA_ROOT = tempfile.mkdtemp(prefix="firstline-test-media-")
LANGUAGE_CODE = "en"
STATIC_ROOT = tempfile.mkdtemp(prefix="firstline-test-static-")
