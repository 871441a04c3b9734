"""Where a single-box install keeps its state, and its generated signing key.

Imported by `firstline/settings.py` before Django is configured: no Django imports here.
`firstline run` creates `secret_key` in the data directory on its first start (unless the
environment sets SECRET_KEY) with permissions 0600, so sessions and sign-in links survive a
restart; the settings read it back for every command run on the same box.
"""

import os
import secrets
from pathlib import Path

SECRET_KEY_FILE = "secret_key"  # noqa: S105 - a file name, not a key


def data_dir() -> Path:
    """FIRSTLINE_DATA_DIR, or `var/` beside the source tree."""
    default = Path(__file__).resolve().parent.parent.parent / "var"
    return Path(os.environ.get("FIRSTLINE_DATA_DIR", default))


def read_secret_key(directory: Path) -> str:
    """The kept key, or "" when there is none yet."""
    path = directory / SECRET_KEY_FILE
    try:
        return path.read_text(encoding="ascii").strip()
    except FileNotFoundError:
        return ""


def ensure_secret_key(directory: Path) -> str:
    """The kept key; a new random one is written first if there is none (mode 0600)."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / SECRET_KEY_FILE
    try:
        # O_EXCL: two starts at once cannot both write; the loser reads the winner's key.
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        descriptor = None
    if descriptor is None:
        os.chmod(path, 0o600)  # tighten a key someone copied in with looser permissions
        existing = read_secret_key(directory)
        if not existing:
            raise ValueError(f"{path}: the signing key file is empty; delete it or fill it")
        return existing
    key = secrets.token_urlsafe(50)
    with os.fdopen(descriptor, "w", encoding="ascii") as handle:
        handle.write(key + "\n")
    return key
