"""Debian's Chromium for the browser tests, driven by Playwright (its own download does not
work on closed networks). The `browser` fixture lives in conftest.py."""

import os
import shutil
from pathlib import Path

import pytest

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"
LAUNCH_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic",
]

if CHROMIUM is None and os.environ.get("CI"):
    pytest.fail("CI must have Debian's chromium for the browser tests", pytrace=False)

# Marks for a browser test module: `pytestmark = BROWSER_TEST`.
BROWSER_TEST = [
    pytest.mark.browser,
    pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed"),
]
