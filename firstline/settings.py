"""One settings module for every environment, configured from environment variables.

Each reader fails loudly on a malformed value instead of silently falling back, so a typo
in a deployment shows up at start and not as odd behaviour later.
"""

import ipaddress
import os
from pathlib import Path
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import dj_database_url
from django.core.exceptions import ImproperlyConfigured
from django.utils.csp import CSP
from django.utils.translation import gettext_lazy as _

from firstline.core.local_box import data_dir, read_secret_key

BASE_DIR = Path(__file__).resolve().parent
DATA_DIR = data_dir()


def env_str(name: str, default: str) -> str:
    return os.environ.get(name, default)


def env_bool(name: str, default: bool) -> bool:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    value = raw.strip().lower()
    if value in {"1", "true", "yes", "on"}:
        return True
    if value in {"0", "false", "no", "off"}:
        return False
    raise ImproperlyConfigured(f"{name}: expected a boolean (1/0, true/false), got {raw!r}")


def env_int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError as exc:
        raise ImproperlyConfigured(f"{name}: expected an integer, got {raw!r}") from exc


def env_list(name: str, default: list[str]) -> list[str]:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    return [item.strip() for item in raw.split(",") if item.strip()]


def env_count(name: str, default: int) -> int:
    value = env_int(name, default)
    if value < 1:
        raise ImproperlyConfigured(f"{name}: expected a positive integer, got {value}")
    return value


def env_networks(name: str, default: list[str]) -> list[str]:
    networks = env_list(name, default)
    for network in networks:
        try:
            ipaddress.ip_network(network, strict=False)
        except ValueError as exc:
            raise ImproperlyConfigured(
                f"{name}: expected IP addresses or networks (10.0.0.0/8), got {network!r}"
            ) from exc
    return networks


def env_time_zone(name: str, default: str) -> str:
    value = env_str(name, default)
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ImproperlyConfigured(f"{name}: unknown IANA time zone {value!r}") from exc
    return value


DEBUG = env_bool("DEBUG", False)
# The environment's key, else the one `firstline run` generated and keeps in the data dir.
SECRET_KEY = os.environ.get("SECRET_KEY", "") or read_secret_key(DATA_DIR)
if not SECRET_KEY:
    if not DEBUG and not env_bool("FIRSTLINE_INSECURE_DEV_KEY", False):
        raise ImproperlyConfigured(
            "SECRET_KEY is not set. Set it, or start `firstline run` once (it keeps a generated"
            f" key in {DATA_DIR / 'secret_key'}), or set DEBUG=1 for a development run."
        )
    SECRET_KEY = "firstline-insecure-development-key-do-not-use-in-production"  # noqa: S105

# `firstline run` sets SITE_URL from its bind unless the environment sets it.
SITE_URL = env_str("SITE_URL", "http://127.0.0.1:8000").rstrip("/")
_site_host = urlsplit(SITE_URL).hostname or ""
_bind_host = os.environ.get("FIRSTLINE_BIND", "").rpartition(":")[0].strip("[]")
_own_hosts = [f"[{host}]" if ":" in host else host for host in (_site_host, _bind_host)
              if host and host not in ("0.0.0.0", "::")]  # noqa: S104 - wildcards: no names
# By default the site answers to the loopback names and to the hosts of SITE_URL and the bind.
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", list(dict.fromkeys(
    ["localhost", "127.0.0.1", "[::1]", "testserver", *_own_hosts]
)))
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    # Before django_tasks_db: its `db_worker` (the same, beating the heartbeat) wins.
    "firstline.ops",
    "django_tasks_db",
    # Serves the API docs' Swagger UI from local static files: no CDN on closed networks.
    "ninja",
    "firstline.core",
    "firstline.contacts",
    "firstline.tickets",
    "firstline.sla",
    "firstline.outbox",
    "firstline.quality",
    "firstline.mail",
    "firstline.calls",
    "firstline.incidents",
    "firstline.surveys",
    "firstline.metrics",
    "firstline.billing",
    "firstline.kb",
    "firstline.webhooks",
    "firstline.agreements",
    "firstline.telegram",
    "firstline.web",
    "firstline.portal",
    "firstline.api",
    "firstline.accounts",
]

MIDDLEWARE = [
    # /healthz, /readyz, /metrics, the request id and request metrics (firstline/ops).
    "firstline.ops.middleware.OpsMiddleware",
    "django.middleware.security.SecurityMiddleware",
    # The Content-Security-Policy header (SECURE_CSP below) on every response.
    "django.middleware.csp.ContentSecurityPolicyMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # A lock timeout raised by a view is a 503 with Retry-After, not a 500.
    "firstline.core.middleware.DatabaseBusyMiddleware",
]

ROOT_URLCONF = "firstline.urls"
WSGI_APPLICATION = "firstline.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

_default_db = f"sqlite:///{DATA_DIR / 'firstline.sqlite3'}"
if "DATABASE_URL" not in os.environ:
    DATA_DIR.mkdir(parents=True, exist_ok=True)
DATABASES = {"default": dj_database_url.parse(env_str("DATABASE_URL", _default_db))}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # IMMEDIATE transactions take the write lock up front, so the web process and the worker
    # wait for each other (busy_timeout) instead of failing with "database is locked".
    DATABASES["default"]["OPTIONS"] = {
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
elif DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    # Persistent connections: opening one costs ~5 ms of server CPU, more than a whole intake
    # request's queries. Each gunicorn thread and each loop command keeps its own, closed
    # when older than this (close_old_connections at every request and loop turn) or found
    # broken by the health check (a restarted server). 0 restores one connection a request.
    DATABASES["default"]["CONN_MAX_AGE"] = env_int("DATABASE_CONN_MAX_AGE", 600)
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_USER_MODEL = "core.User"
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]
if env_bool("FIRSTLINE_FAST_PASSWORD_HASHER", False):
    # Tests only: the default PBKDF2 hasher would dominate the suite's run time.
    PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]

LANGUAGE_CODE = env_str("LANGUAGE_CODE", "ru")
LANGUAGES = [("ru", _("Russian")), ("en", _("English"))]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = env_time_zone("TIME_ZONE", "Europe/Moscow")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = DATA_DIR / "static"
MEDIA_ROOT = Path(env_str("MEDIA_ROOT", str(DATA_DIR / "media")))
MEDIA_URL = "media/"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = DEBUG

# Outgoing mail. MAIL_BACKEND=smtp sends through MAIL_HOST; the default prints mail to the
# console, which is what a first local run wants (the portal's sign-in links appear there).
MAIL_BACKEND = env_str("MAIL_BACKEND", "console")
if MAIL_BACKEND == "smtp":
    MAILERS = {
        "default": {
            "BACKEND": "django.core.mail.backends.smtp.EmailBackend",
            "OPTIONS": {
                "host": env_str("MAIL_HOST", "localhost"),
                "port": env_int("MAIL_PORT", 25),
                "username": env_str("MAIL_USER", ""),
                "password": env_str("MAIL_PASSWORD", ""),
                "use_tls": env_bool("MAIL_USE_TLS", False),
                "use_ssl": env_bool("MAIL_USE_SSL", False),
                "timeout": env_int("MAIL_TIMEOUT", 30),
            },
        }
    }
elif MAIL_BACKEND == "console":
    MAILERS = {"default": {"BACKEND": "firstline.core.mail.ReadableConsoleBackend"}}
else:
    raise ImproperlyConfigured(f"MAIL_BACKEND: expected 'smtp' or 'console', got {MAIL_BACKEND!r}")
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "firstline@localhost")

TASKS = {
    "default": {
        "BACKEND": env_str("TASKS_BACKEND", "django_tasks_db.DatabaseBackend"),
        "QUEUES": ["default"],
    }
}

# The transports process each letter themselves instead of leaving it to the mail workers
# (a box that runs no `mail_work`).
FIRSTLINE_MAIL_PROCESS_INLINE = env_bool("FIRSTLINE_MAIL_PROCESS_INLINE", False)

# Finished background-task results: kept this many days, then pruned by the task worker.
FIRSTLINE_TASK_RESULTS_KEEP_DAYS = env_count("FIRSTLINE_TASK_RESULTS_KEEP_DAYS", 14)
FIRSTLINE_TASK_RESULTS_KEEP_FAILED_DAYS = env_count("FIRSTLINE_TASK_RESULTS_KEEP_FAILED_DAYS", 30)

# The outbox (firstline/outbox): every outgoing mail, SMS and call, retried with back-off.
FIRSTLINE_OUTBOX_MAX_ATTEMPTS = env_int("FIRSTLINE_OUTBOX_MAX_ATTEMPTS", 30)
FIRSTLINE_OUTBOX_BACKOFF_BASE_SECONDS = env_int("FIRSTLINE_OUTBOX_BACKOFF_BASE_SECONDS", 60)
FIRSTLINE_OUTBOX_BACKOFF_MAX_SECONDS = env_int("FIRSTLINE_OUTBOX_BACKOFF_MAX_SECONDS", 3600)
FIRSTLINE_OUTBOX_LEASE_SECONDS = env_int("FIRSTLINE_OUTBOX_LEASE_SECONDS", 300)
FIRSTLINE_OUTBOX_HTTP_TIMEOUT = env_int("FIRSTLINE_OUTBOX_HTTP_TIMEOUT", 10)
FIRSTLINE_OUTBOX_SEND_THREADS = env_int("FIRSTLINE_OUTBOX_SEND_THREADS", 4)
# SMS: "smsru" (SMS.ru's HTTP API) or "webhook" (a JSON POST); empty keeps SMS queued.
FIRSTLINE_SMS_PROVIDER = env_str("FIRSTLINE_SMS_PROVIDER", "")
FIRSTLINE_SMSRU_API_ID = env_str("FIRSTLINE_SMSRU_API_ID", "")
FIRSTLINE_SMSRU_URL = env_str("FIRSTLINE_SMSRU_URL", "https://sms.ru/sms/send")
FIRSTLINE_SMSRU_FROM = env_str("FIRSTLINE_SMSRU_FROM", "")
FIRSTLINE_SMSRU_TEST = env_bool("FIRSTLINE_SMSRU_TEST", False)
FIRSTLINE_SMS_WEBHOOK_URL = env_str("FIRSTLINE_SMS_WEBHOOK_URL", "")
FIRSTLINE_SMS_WEBHOOK_AUTH_HEADER = env_str("FIRSTLINE_SMS_WEBHOOK_AUTH_HEADER", "Authorization")
FIRSTLINE_SMS_WEBHOOK_AUTH_VALUE = env_str("FIRSTLINE_SMS_WEBHOOK_AUTH_VALUE", "")
# Voice calls: "webhook" (a call-back / text-to-speech provider's JSON API).
FIRSTLINE_VOICE_PROVIDER = env_str("FIRSTLINE_VOICE_PROVIDER", "")
FIRSTLINE_VOICE_WEBHOOK_URL = env_str("FIRSTLINE_VOICE_WEBHOOK_URL", "")
FIRSTLINE_VOICE_WEBHOOK_AUTH_HEADER = env_str(
    "FIRSTLINE_VOICE_WEBHOOK_AUTH_HEADER", "Authorization"
)
FIRSTLINE_VOICE_WEBHOOK_AUTH_VALUE = env_str("FIRSTLINE_VOICE_WEBHOOK_AUTH_VALUE", "")
# JSON payload templates with {phone}, {text}, {subject}, {partner}, {ticket}; empty = built-in.
FIRSTLINE_SMS_WEBHOOK_TEMPLATE = env_str("FIRSTLINE_SMS_WEBHOOK_TEMPLATE", "")
FIRSTLINE_VOICE_WEBHOOK_TEMPLATE = env_str("FIRSTLINE_VOICE_WEBHOOK_TEMPLATE", "")
# Telegram (firstline/telegram): the Bot API's address (a local Bot API server, a stand-in).
FIRSTLINE_TELEGRAM_API_URL = env_str("FIRSTLINE_TELEGRAM_API_URL", "https://api.telegram.org")

# The phone channel (firstline/calls). The JSON webhook accepts an HMAC-SHA256 signature
# of its body with this secret (empty: tokens only); Zadarma's notifications are signed with
# the account's API secret and carry times in the account's time zone.
FIRSTLINE_CALLS_WEBHOOK_SECRET = env_str("FIRSTLINE_CALLS_WEBHOOK_SECRET", "")
FIRSTLINE_ZADARMA_SECRET = env_str("FIRSTLINE_ZADARMA_SECRET", "")
FIRSTLINE_ZADARMA_TIME_ZONE = env_time_zone("FIRSTLINE_ZADARMA_TIME_ZONE", TIME_ZONE)

# Inbound mail: the CA bundle for IMAP servers with a private CA, and the largest message
# the LMTP listener accepts.
FIRSTLINE_IMAP_CA_FILE = env_str("FIRSTLINE_IMAP_CA_FILE", "")
FIRSTLINE_MAIL_MAX_MESSAGE_BYTES = env_int("FIRSTLINE_MAIL_MAX_MESSAGE_BYTES", 32 * 1024 * 1024)
# Raw messages up to this size are kept in the database, larger ones as files in MEDIA_ROOT.
FIRSTLINE_MAIL_RAW_DB_MAX_BYTES = env_int("FIRSTLINE_MAIL_RAW_DB_MAX_BYTES", 1024 * 1024)
# Automatic replies (acknowledgements) per sender address and window, against mail loops.
FIRSTLINE_MAIL_AUTOREPLY_MAX = env_int("FIRSTLINE_MAIL_AUTOREPLY_MAX", 3)
FIRSTLINE_MAIL_AUTOREPLY_WINDOW_MINUTES = env_int("FIRSTLINE_MAIL_AUTOREPLY_WINDOW_MINUTES", 60)


def env_field_keys(name: str) -> list[str]:
    """Fernet keys, comma-separated; a malformed one stops the start naming `name`."""
    from firstline.core.encryption import parse_keys

    return parse_keys(env_str(name, ""), name)


# Secrets kept in the database (IMAP passwords) are encrypted at rest with these keys: the
# first encrypts, every one decrypts (rotation). Empty: a key derived from SECRET_KEY
# (firstline/core/encryption.py).
FIRSTLINE_FIELD_KEYS = env_field_keys("FIRSTLINE_FIELD_KEY")

# Attachments larger than this are refused at upload with a form/API error.
FIRSTLINE_MAX_ATTACHMENT_BYTES = env_int("FIRSTLINE_MAX_ATTACHMENT_BYTES", 10 * 1024 * 1024)
# How long a one-time sign-in link mailed to a customer stays valid.
FIRSTLINE_LOGIN_LINK_MINUTES = env_int("FIRSTLINE_LOGIN_LINK_MINUTES", 30)
FIRSTLINE_PAGE_SIZE = env_int("FIRSTLINE_PAGE_SIZE", 50)

# Cache: Redis when REDIS_URL is set (shared by every process: sessions, the status page,
# hot configuration), else each process's local memory, so SQLite trials and tests need
# nothing. Sessions stay in the database, read through Redis when there is one.
REDIS_URL = env_str("REDIS_URL", "")
if REDIS_URL:
    CACHES = {"default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": REDIS_URL,
        # One Redis may serve several installations: keep their keys apart.
        "KEY_PREFIX": f"firstline:{DATABASES['default'].get('NAME') or 'default'}",
    }}
    SESSION_ENGINE = "django.contrib.sessions.backends.cached_db"
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SECURE = env_bool("SESSION_COOKIE_SECURE", False)
CSRF_COOKIE_SECURE = env_bool("CSRF_COOKIE_SECURE", False)
X_FRAME_OPTIONS = "DENY"

# Content-Security-Policy for the desk, the portal, the admin and the API docs: scripts and
# styles only from our own static files, no inline <script>, style="" or on*= handlers.
SECURE_CSP = {
    "default-src": [CSP.SELF],
    "script-src": [CSP.SELF],
    "style-src": [CSP.SELF],
    "img-src": [CSP.SELF, "data:"],
    "object-src": [CSP.NONE],
    "base-uri": [CSP.SELF],
    "frame-ancestors": [CSP.NONE],
    "form-action": [CSP.SELF],
}

# Sign-in protection (firstline/accounts/throttle.py). Password failures are counted per
# account and per client address over a sliding window; reaching a limit locks the account
# or address, first for LOCKOUT_MINUTES, then twice as long each time up to the maximum.
FIRSTLINE_SIGNIN_ACCOUNT_MAX_FAILURES = env_count("FIRSTLINE_SIGNIN_ACCOUNT_MAX_FAILURES", 5)
FIRSTLINE_SIGNIN_ADDRESS_MAX_FAILURES = env_count("FIRSTLINE_SIGNIN_ADDRESS_MAX_FAILURES", 20)
FIRSTLINE_SIGNIN_WINDOW_MINUTES = env_count("FIRSTLINE_SIGNIN_WINDOW_MINUTES", 15)
FIRSTLINE_SIGNIN_LOCKOUT_MINUTES = env_count("FIRSTLINE_SIGNIN_LOCKOUT_MINUTES", 5)
FIRSTLINE_SIGNIN_LOCKOUT_MAX_MINUTES = env_count("FIRSTLINE_SIGNIN_LOCKOUT_MAX_MINUTES", 60)
# One-time sign-in links: letters per mailbox and requests per client address per window.
FIRSTLINE_LOGIN_LINK_MAX_PER_EMAIL = env_count("FIRSTLINE_LOGIN_LINK_MAX_PER_EMAIL", 3)
FIRSTLINE_LOGIN_LINK_MAX_PER_CLIENT = env_count("FIRSTLINE_LOGIN_LINK_MAX_PER_CLIENT", 20)
FIRSTLINE_LOGIN_LINK_WINDOW_MINUTES = env_count("FIRSTLINE_LOGIN_LINK_WINDOW_MINUTES", 30)
# Reverse proxies whose X-Forwarded-For is believed (addresses or networks). Empty: the
# client is REMOTE_ADDR and X-Forwarded-For is ignored, since any client can write it.
FIRSTLINE_TRUSTED_PROXIES = env_networks("FIRSTLINE_TRUSTED_PROXIES", [])

# A PostgreSQL read replica for the quality pages' report reads (firstline/ops/routers.py).
if env_str("DATABASE_REPLICA_URL", ""):
    DATABASES["replica"] = dj_database_url.parse(env_str("DATABASE_REPLICA_URL", ""))
    DATABASES["replica"]["TEST"] = {"MIRROR": "default"}
    DATABASE_ROUTERS = ["firstline.ops.routers.ReportsToReplica"]

# Logs on stderr: text, or one JSON object per line with LOG_FORMAT=json; each line carries
# the request id (X-Request-ID) of the request, or of the request that enqueued the task.
LOG_FORMAT = env_str("LOG_FORMAT", "text")
if LOG_FORMAT not in ("text", "json"):
    raise ImproperlyConfigured(f"LOG_FORMAT: expected 'text' or 'json', got {LOG_FORMAT!r}")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"request_id": {"()": "firstline.ops.requestid.RequestIdFilter"}},
    "formatters": {
        "text": {"format": "%(levelname)s %(name)s [%(request_id)s] %(message)s"},
        "json": {"()": "firstline.ops.requestid.JsonFormatter"},
    },
    "handlers": {"console": {"class": "logging.StreamHandler", "filters": ["request_id"],
                             "formatter": LOG_FORMAT}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "WARNING")},
}
