"""The systemd units and the nginx site of a production box, rendered for its paths.

`firstline install-units` writes them; `deploy/` holds them rendered with the defaults below
(tests check that the two agree, that `systemd-analyze verify` accepts the units and that
`nginx -t` accepts the site).
"""

import math
from dataclasses import dataclass

MIB = 1024 * 1024


@dataclass(frozen=True)
class Layout:
    """Where things live on the box."""

    bin: str = "/opt/firstline/venv/bin/firstline"
    user: str = "firstline"
    group: str = "firstline"
    env_file: str = "/etc/firstline/firstline.env"
    data_dir: str = "/var/lib/firstline"
    bind: str = "127.0.0.1:8000"
    workers: int = 2
    # Mail worker processes (`mail_work`): one per core takes a burst at full speed; see
    # docs/production.md.
    mail_workers: int = 2
    server_name: str = "desk.example.com"
    certificate: str = "/etc/ssl/firstline/fullchain.pem"
    certificate_key: str = "/etc/ssl/firstline/privkey.pem"
    max_attachment_bytes: int = 10 * MIB


# (unit name, description, the command after `firstline`, extra [Service] lines)
LOOPS = [
    ("firstline-outbox", "firstline outbox loop (retries of mail, SMS and calls)",
     "deliver_outbox --loop --interval 5", []),
    ("firstline-sla-clock", "firstline SLA clock (escalation steps)",
     "sla_clock --loop --interval 10", []),
    ("firstline-survey-clock", "firstline survey clock (CSAT/NPS requests, win-back reminders)",
     "surveys_tick --loop --interval 60", []),
    ("firstline-incidents-clock", "firstline incidents clock (planned-works reminders)",
     "incidents_clock --loop --interval 30", []),
    ("firstline-report-clock", "firstline report clock (monthly partner reports)",
     "metrics_reports --loop --interval 900", []),
    ("firstline-billing-clock", "firstline billing clock (usage notices, monthly invoices)",
     "billing_tick --loop --interval 600", []),
    ("firstline-telegram-poller", "firstline Telegram poller (bots in long-polling mode)",
     "telegram_poll --loop --interval 5", []),
    ("firstline-mail-poller", "firstline mail poller (IMAP mailboxes)",
     "mail_poll --loop", []),
    # One process applies well over a thousand events a second (bench/calls.py).
    ("firstline-calls-worker", "firstline calls worker (webhook and Zadarma call events)",
     "calls_work --interval 0.2", []),
]

HARDENING = """\
NoNewPrivileges=yes
ProtectSystem=strict
ProtectHome=yes
PrivateTmp=yes
PrivateDevices=yes
ProtectKernelTunables=yes
ProtectKernelModules=yes
ProtectKernelLogs=yes
ProtectControlGroups=yes
ProtectClock=yes
ProtectHostname=yes
RestrictSUIDSGID=yes
RestrictRealtime=yes
RestrictNamespaces=yes
LockPersonality=yes
SystemCallArchitectures=native
CapabilityBoundingSet=
AmbientCapabilities=
RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6
UMask=0027"""


def _service(layout: Layout, description: str, exec_start: str, extra: list[str],
             *, instance: bool = False) -> str:
    lines = [
        "# Rendered by `firstline install-units`; edit the environment file, not this unit.",
        "[Unit]",
        f"Description={description}",
        "Documentation=file:///opt/firstline/docs/production.md",
        "PartOf=firstline.target",
        "Wants=network-online.target",
        "After=network-online.target postgresql.service",
        "StartLimitIntervalSec=300",
        "StartLimitBurst=10",
        "",
        "[Service]",
        "Type=exec",
        f"User={layout.user}",
        f"Group={layout.group}",
        f"EnvironmentFile={layout.env_file}",
        f"Environment=FIRSTLINE_DATA_DIR={layout.data_dir}",
        f"WorkingDirectory={layout.data_dir}",
        *extra,
        f"ExecStart={layout.bin} {exec_start}",
        "Restart=on-failure",
        "RestartSec=2s",
        "TimeoutStopSec=20s",
        "StateDirectory=firstline",
        "StateDirectoryMode=0750",
        f"ReadWritePaths={layout.data_dir}",
        HARDENING,
        "",
        "[Install]",
        "WantedBy=firstline.target",
        "",
    ]
    return "\n".join(lines)


def worker_names(layout: Layout) -> list[str]:
    return [f"firstline-worker@{n}.service" for n in range(1, layout.workers + 1)]


def mail_worker_names(layout: Layout) -> list[str]:
    return [f"firstline-mail-worker@{n}.service" for n in range(1, layout.mail_workers + 1)]


def render_units(layout: Layout) -> dict[str, str]:
    """File name -> text of every unit."""
    units = {
        "firstline-web.service": _service(
            layout, "firstline web server (gunicorn)", f"serve {layout.bind}",
            ["RuntimeDirectory=firstline-web",
             "Environment=PROMETHEUS_MULTIPROC_DIR=/run/firstline-web/prometheus",
             f"ExecStartPre={layout.bin} migrate --noinput",
             f"ExecStartPre={layout.bin} collectstatic --noinput --verbosity 0",
             # SIGTERM to gunicorn's master, which stops its workers gracefully.
             "KillMode=mixed"],
        ),
        "firstline-worker@.service": _service(
            layout, "firstline task worker %i", "db_worker --interval 1 --worker-id %H-%i", []
        ),
        # The letters the transports stored, processed in batches; instances share the queue.
        "firstline-mail-worker@.service": _service(
            layout, "firstline mail worker %i (stored letters into tickets)",
            "mail_work --interval 1", []
        ),
    }
    for name, description, command, extra in LOOPS:
        units[f"{name}.service"] = _service(layout, description, command, extra)
    wants = ["firstline-web.service", *worker_names(layout), *mail_worker_names(layout),
             *(f"{name}.service" for name, *_ in LOOPS)]
    units["firstline.target"] = "\n".join([
        "# Rendered by `firstline install-units`: every process of a firstline box.",
        "[Unit]",
        "Description=firstline service desk (web, task and mail workers, outbox, clocks, "
        "mail poller)",
        "Wants=network-online.target",
        "After=network-online.target",
        "Wants=" + " ".join(wants),
        "",
        "[Install]",
        "WantedBy=multi-user.target",
        "",
    ])
    return units


def client_max_body_size(max_attachment_bytes: int) -> str:
    """One attachment at the limit plus a megabyte of form fields and multipart overhead."""
    return f"{math.ceil(max_attachment_bytes / MIB) + 1}m"


def render_nginx(layout: Layout) -> str:
    upstream = layout.bind
    return f"""\
# firstline behind nginx: TLS, static files from disk, the upload limit, the request id.
# Rendered by `firstline install-units --nginx`; put it in /etc/nginx/sites-available/.
# Set in the environment file: SITE_URL=https://{layout.server_name},
# ALLOWED_HOSTS={layout.server_name}, CSRF_TRUSTED_ORIGINS=https://{layout.server_name},
# FIRSTLINE_TRUSTED_PROXIES=127.0.0.1, SESSION_COOKIE_SECURE=1, CSRF_COOKIE_SECURE=1.
upstream firstline {{
    server {upstream};
    keepalive 16;
}}

server {{
    listen 80;
    listen [::]:80;
    server_name {layout.server_name};
    return 301 https://$host$request_uri;
}}

server {{
    listen 443 ssl http2;
    listen [::]:443 ssl http2;
    server_name {layout.server_name};

    ssl_certificate {layout.certificate};
    ssl_certificate_key {layout.certificate_key};
    ssl_protocols TLSv1.2 TLSv1.3;
    ssl_prefer_server_ciphers off;
    ssl_session_cache shared:firstline:10m;
    ssl_session_timeout 1d;
    add_header Strict-Transport-Security "max-age=31536000" always;

    # FIRSTLINE_MAX_ATTACHMENT_BYTES ({layout.max_attachment_bytes}) plus the form around it.
    client_max_body_size {client_max_body_size(layout.max_attachment_bytes)};

    location /static/ {{
        alias {layout.data_dir}/static/;
        expires 7d;
        access_log off;
    }}

    # Prometheus scrapes the application's own address (or with its bearer token through a
    # location of your own): through this proxy every client would look like 127.0.0.1.
    location = /metrics {{
        return 404;
    }}

    location / {{
        proxy_pass http://firstline;
        proxy_http_version 1.1;
        proxy_set_header Connection "";
        proxy_set_header Host $host;
        proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
        proxy_set_header X-Forwarded-Proto $scheme;
        proxy_set_header X-Request-ID $request_id;
        proxy_read_timeout 70s;
    }}
}}
"""
