"""`firstline install-units`: write the systemd units (and the nginx site) for this box.

    firstline install-units --user firstline --env-file /etc/firstline/firstline.env \\
        --data-dir /var/lib/firstline --workers 2 [--output /etc/systemd/system] \\
        [--nginx /etc/nginx/sites-available/firstline --server-name desk.example.com]

The firstline executable is this one (the virtual environment it runs from), unless --bin
says otherwise. Then: `systemctl daemon-reload && systemctl enable --now firstline.target`.
"""

import sys
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from firstline.ops.units import Layout, render_nginx, render_units


def default_bin() -> str:
    return str(Path(sys.executable).parent / "firstline")


class Command(BaseCommand):
    help = "Write the systemd units of a production box (and, with --nginx, the nginx site)."

    def add_arguments(self, parser: CommandParser) -> None:
        d = Layout()
        parser.add_argument("--output", default="/etc/systemd/system",
                            help="directory for the units (default /etc/systemd/system)")
        parser.add_argument("--bin", default="", help="the firstline executable (default: this)")
        parser.add_argument("--user", default=d.user)
        parser.add_argument("--group", default="", help="default: the user's name")
        parser.add_argument("--env-file", default=d.env_file)
        parser.add_argument("--data-dir", default=d.data_dir)
        parser.add_argument("--bind", default=d.bind, help="where the web server listens")
        parser.add_argument("--workers", type=int, default=d.workers, help="task workers")
        parser.add_argument("--mail-workers", type=int, default=d.mail_workers,
                            help="mail worker processes (one per core given to mail)")
        parser.add_argument("--nginx", default="", help="also write the nginx site to this file")
        parser.add_argument("--server-name", default=d.server_name)
        parser.add_argument("--certificate", default=d.certificate)
        parser.add_argument("--certificate-key", default=d.certificate_key)

    def handle(self, *args: Any, **options: Any) -> None:
        for name in ("workers", "mail_workers"):
            if options[name] < 1:
                raise CommandError(f"--{name.replace('_', '-')}: expected 1 or more")
        for name in ("env_file", "data_dir", "output"):
            if not options[name].startswith("/"):
                raise CommandError(f"--{name.replace('_', '-')}: expected an absolute path")
        layout = Layout(
            bin=options["bin"] or default_bin(), user=options["user"],
            group=options["group"] or options["user"], env_file=options["env_file"],
            data_dir=options["data_dir"].rstrip("/"), bind=options["bind"],
            workers=options["workers"], mail_workers=options["mail_workers"],
            server_name=options["server_name"],
            certificate=options["certificate"], certificate_key=options["certificate_key"],
            max_attachment_bytes=settings.FIRSTLINE_MAX_ATTACHMENT_BYTES,
        )
        output = Path(options["output"])
        output.mkdir(parents=True, exist_ok=True)
        for name, text in render_units(layout).items():
            (output / name).write_text(text)
            self.stdout.write(f"wrote {output / name}")
        if options["nginx"]:
            site = Path(options["nginx"])
            site.parent.mkdir(parents=True, exist_ok=True)
            site.write_text(render_nginx(layout))
            self.stdout.write(f"wrote {site}")
        self.stdout.write(
            "next: systemctl daemon-reload && systemctl enable --now firstline.target"
        )
