"""deploy/: the systemd units verify, the nginx site parses, the alert rules and the dashboard
name metrics /metrics really exports, and `firstline install-units` writes what deploy/ holds."""

import io
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from django.core.management import call_command
from django.test import Client

from firstline.ops.units import Layout, render_nginx, render_units

ROOT = Path(__file__).resolve().parent.parent
DEPLOY = ROOT / "deploy"
FIRSTLINE = str(Path(sys.executable).parent / "firstline")
NGINX = shutil.which("nginx") or ("/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None)


def test_deploy_holds_the_rendered_defaults():
    for name, text in render_units(Layout()).items():
        assert (DEPLOY / "systemd" / name).read_text() == text, name
    assert (DEPLOY / "nginx" / "firstline.conf").read_text() == render_nginx(Layout())
    assert sorted(p.name for p in (DEPLOY / "systemd").iterdir()) == sorted(
        render_units(Layout()))


def test_every_process_of_firstline_run_has_a_unit():
    units = render_units(Layout())
    commands = " ".join(re.findall(r"^ExecStart=\S+ (\S+)", "\n".join(units.values()), re.M))
    # What `firstline run` starts (firstline/cli.py), plus the mail poller.
    for command in ("serve", "db_worker", "deliver_outbox", "sla_clock", "surveys_tick",
                    "incidents_clock", "metrics_reports", "billing_tick", "telegram_poll",
                    "mail_poll", "mail_work", "calls_work"):
        assert command in commands
    target = units["firstline.target"]
    for name in units:
        if name.endswith(".service") and "@." not in name:
            assert name in target
    assert "firstline-worker@1.service firstline-worker@2.service" in target
    assert "firstline-mail-worker@1.service firstline-mail-worker@2.service" in target
    for name, text in units.items():
        if name.endswith(".service"):
            for line in ("User=firstline", "Restart=on-failure", "ProtectSystem=strict",
                         "NoNewPrivileges=yes", "PrivateTmp=yes",
                         "ReadWritePaths=/var/lib/firstline", "PartOf=firstline.target"):
                assert line in text.splitlines(), (name, line)


def test_install_units_writes_units_for_the_given_layout(tmp_path, settings):
    settings.FIRSTLINE_MAX_ATTACHMENT_BYTES = 25 * 1024 * 1024
    call_command("install_units", output=str(tmp_path / "units"), user="desk",
                 env_file="/etc/desk.env", data_dir="/srv/desk/", workers=3, mail_workers=3,
                 nginx=str(tmp_path / "site.conf"), server_name="help.example.org",
                 stdout=io.StringIO())
    web = (tmp_path / "units" / "firstline-web.service").read_text()
    assert f"ExecStart={FIRSTLINE} serve 127.0.0.1:8000" in web
    assert "User=desk" in web and "Group=desk" in web
    assert "EnvironmentFile=/etc/desk.env" in web and "ReadWritePaths=/srv/desk" in web
    target = (tmp_path / "units" / "firstline.target").read_text()
    assert "firstline-worker@3.service" in target
    assert "firstline-mail-worker@3.service" in target
    site = (tmp_path / "site.conf").read_text()
    assert "client_max_body_size 26m;" in site and "server_name help.example.org;" in site


def test_install_units_refuses_a_relative_path(tmp_path):
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match="--data-dir"):
        call_command("install_units", output=str(tmp_path), data_dir="var/lib")
    with pytest.raises(CommandError, match="--mail-workers"):
        call_command("install_units", output=str(tmp_path), mail_workers=0)
    assert not list(tmp_path.iterdir())


@pytest.mark.skipif(shutil.which("systemd-analyze") is None,
                    reason="systemd-analyze is missing (Debian package systemd; make system-deps)")
def test_systemd_analyze_verifies_the_units(tmp_path):
    layout = Layout(bin=FIRSTLINE)
    for name, text in render_units(layout).items():
        (tmp_path / name).write_text(text)
    # A template is verified through an instance of it.
    names = [*sorted(p.name for p in tmp_path.iterdir() if "@." not in p.name),
             "firstline-worker@1.service", "firstline-mail-worker@1.service"]
    result = subprocess.run(["systemd-analyze", "verify", *names], cwd=tmp_path,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    own = [line for line in result.stderr.splitlines() if "firstline" in line]
    assert own == [], result.stderr
    # The verification is real: a misspelt hardening option is reported.
    broken = tmp_path / "firstline-outbox.service"
    broken.write_text(broken.read_text().replace("ProtectSystem=", "ProtectSystm="))
    result = subprocess.run(["systemd-analyze", "verify", "firstline-outbox.service"],
                            cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert "ProtectSystm" in result.stderr


def self_signed(tmp_path: Path) -> tuple[Path, Path]:
    from datetime import UTC, datetime, timedelta

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "desk.example.com")])
    moment = datetime.now(UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(moment).not_valid_after(moment + timedelta(days=1))
            .sign(key, hashes.SHA256()))
    cert_path, key_path = tmp_path / "fullchain.pem", tmp_path / "privkey.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


@pytest.mark.skipif(NGINX is None, reason="nginx is missing (Debian nginx-light; make system-deps)")
def test_nginx_accepts_the_site(tmp_path):
    cert, key = self_signed(tmp_path)
    site = (DEPLOY / "nginx" / "firstline.conf").read_text()
    site = site.replace("/etc/ssl/firstline/fullchain.pem", str(cert))
    site = site.replace("/etc/ssl/firstline/privkey.pem", str(key))
    (tmp_path / "site.conf").write_text(site)
    conf = tmp_path / "nginx.conf"
    conf.write_text(f"""
pid {tmp_path}/nginx.pid;
error_log {tmp_path}/error.log;
events {{}}
http {{
    include /etc/nginx/mime.types;
    access_log off;
    client_body_temp_path {tmp_path}/body;
    proxy_temp_path {tmp_path}/proxy;
    include {tmp_path}/site.conf;
}}
""")
    result = subprocess.run([NGINX, "-t", "-q", "-e", str(tmp_path / "error.log"), "-c", str(conf)],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr + (tmp_path / "error.log").read_text()
    # The check is real: a directive nginx does not know fails it.
    (tmp_path / "site.conf").write_text(site.replace("client_max_body_size", "client_max_bodysize"))
    result = subprocess.run([NGINX, "-t", "-q", "-e", str(tmp_path / "error.log"), "-c", str(conf)],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode != 0


def exported_metric_names(db_client: Client) -> set[str]:
    text = db_client.get("/metrics").content.decode()
    return {name for name, _kind in re.findall(r"^# TYPE (\S+) (\w+)", text, re.M)}


def series_names(names: set[str]) -> set[str]:
    """What PromQL can name: counters with _total, histograms with _bucket/_sum/_count."""
    result = set(names)
    for name in names:
        result |= {f"{name}_total", f"{name}_bucket", f"{name}_sum", f"{name}_count"}
    return result


def promql_metrics(expr: str) -> set[str]:
    return set(re.findall(r"\b(firstline_[a-z_]+)\b", expr))


@pytest.mark.skipif(shutil.which("promtool") is None, reason="promtool is missing; the rules "
                    "are parsed as YAML by the next test instead")
def test_promtool_checks_the_rules():
    result = subprocess.run(["promtool", "check", "rules",
                             str(DEPLOY / "prometheus" / "firstline-rules.yml")],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr


def test_alert_rules_and_dashboard_name_exported_metrics(db):
    exported = series_names(exported_metric_names(Client()))
    rules = yaml.safe_load((DEPLOY / "prometheus" / "firstline-rules.yml").read_text())
    alerts = {}
    for group in rules["groups"]:
        for rule in group["rules"]:
            assert set(rule) >= {"alert", "expr", "labels", "annotations"}, rule
            assert rule["labels"]["severity"] in ("critical", "warning")
            alerts[rule["alert"]] = rule["expr"]
            assert promql_metrics(rule["expr"]) <= exported, rule["alert"]
    # The things that lose money.
    assert {"FirstlineSlaClockStopped", "FirstlineOutboxStuck", "FirstlineMailFailing"} <= set(
        alerts)
    dashboard = json.loads((DEPLOY / "grafana" / "firstline-dashboard.json").read_text())
    exprs = [t["expr"] for panel in dashboard["panels"] for t in panel["targets"]]
    assert len(exprs) >= 10
    for expr in exprs:
        assert promql_metrics(expr) <= exported, expr
    assert len({panel["id"] for panel in dashboard["panels"]}) == len(dashboard["panels"])


def test_serve_empties_only_the_prometheus_files(tmp_path):
    from firstline.ops.serve import gunicorn_argv, prepare_multiproc_dir

    (tmp_path / "counter_123.db").write_bytes(b"old figures")
    (tmp_path / "notes.txt").write_text("not ours")
    env = {"PROMETHEUS_MULTIPROC_DIR": str(tmp_path)}
    assert prepare_multiproc_dir(env) == tmp_path
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt"]
    argv = gunicorn_argv("127.0.0.1:8000", 3)
    assert argv[argv.index("--workers") + 1] == "3"
    assert argv[argv.index("--worker-class") + 1] == "gthread"
    assert "python:firstline.ops.gunicorn_conf" in argv
