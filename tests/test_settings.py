"""Bad configuration stops the start with a message naming the variable."""

import os
import subprocess
import sys

import pytest

CHECK = "import django; django.setup()"


def start_with(**env):
    environment = {**os.environ, "DJANGO_SETTINGS_MODULE": "firstline.settings", "DEBUG": "1",
                   "DATABASE_URL": "sqlite:///:memory:", **env}
    return subprocess.run([sys.executable, "-c", CHECK], env=environment, capture_output=True,
                          text=True, check=False)


@pytest.mark.parametrize(("variable", "value"), [
    ("DEBUG", "maybe"),
    ("TIME_ZONE", "Mars/Olympus"),
    ("FIRSTLINE_PAGE_SIZE", "fifty"),
    ("MAIL_BACKEND", "pigeon"),
])
def test_malformed_setting_names_the_variable(variable, value):
    result = start_with(**{variable: value})
    assert result.returncode != 0
    assert variable in result.stderr


def test_production_start_without_secret_key_is_refused(tmp_path):
    # An empty data directory: no key kept there by an earlier `firstline run`.
    result = start_with(DEBUG="0", SECRET_KEY="", FIRSTLINE_DATA_DIR=str(tmp_path))
    assert result.returncode != 0 and "SECRET_KEY" in result.stderr


def test_good_configuration_starts():
    result = start_with(TIME_ZONE="Asia/Yekaterinburg", MAIL_BACKEND="smtp", MAIL_PORT="2525")
    assert result.returncode == 0, result.stderr
