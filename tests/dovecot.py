"""A real IMAP server for the mail tests: Debian's Dovecot, run as the current user.

The session-scoped fixture `dovecot` (import `dovecot_fixture` into a test module to use
it) writes a minimal configuration into a temporary directory and runs
`dovecot -F -c <conf>` in the foreground: Maildir storage in the same directory, users in
passwd-files with plain passwords, `ssl = required` with a certificate signed by a
throw-away CA made here (`tls_files`), listening on 127.0.0.1 only, on two free ports (IMAP
with STARTTLS, and IMAPS). Each test asks for its own user, so tests never see each
other's mail. Messages are delivered the way an MTA does: written into the Maildir's `tmp/`
and renamed into `new/`; Dovecot sees them at once (inotify), also during IDLE.

As root (containers, CI) Dovecot's own processes run as the unprivileged users its Debian
package creates, and the mail belongs to "nobody": Dovecot refuses root for both.

Without /usr/sbin/dovecot the tests that need it are skipped, unless the environment
variable CI is set: CI installs Dovecot (`make system-deps`), so there a missing server is
a failure, not a silent skip.
"""

import getpass
import grp
import os
import pwd
import shutil
import socket
import ssl
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

DOVECOT = "/usr/sbin/dovecot"
OPENSSL = "openssl"


def require_dovecot() -> str:
    """The Dovecot binary; skips the test without it (fails it when CI is set)."""
    binary = DOVECOT if os.access(DOVECOT, os.X_OK) else shutil.which("dovecot")
    if binary:
        return binary
    reason = (
        f"Dovecot is not installed ({DOVECOT} is missing): install dovecot-imapd "
        "(`make system-deps` does, as root) to run the IMAP tests"
    )
    if os.environ.get("CI"):
        pytest.fail(f"CI is set, so the IMAP tests must run: {reason}", pytrace=False)
    pytest.skip(reason)


def free_port() -> int:
    """A loopback port nobody listens on right now (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


# TLS: a throw-away CA and a server certificate for 127.0.0.1 and localhost -------------------


@dataclass(frozen=True)
class TlsFiles:
    ca_file: Path  # the CA certificate clients trust
    cert_file: Path  # the server certificate (signed by the CA)
    key_file: Path

    def server_context(self) -> ssl.SSLContext:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(self.cert_file, self.key_file)
        return context

    def client_context(self) -> ssl.SSLContext:
        """A verifying client context that trusts the test CA (and nothing else)."""
        return ssl.create_default_context(cafile=str(self.ca_file))


def _openssl(*args: str) -> None:
    subprocess.run([OPENSSL, *args], check=True, capture_output=True, timeout=60)


def make_tls_files(directory: Path) -> TlsFiles:
    """A CA and a server certificate (127.0.0.1, localhost) made with the openssl CLI.

    A separate CA rather than one self-signed leaf: Python's default context verifies
    strictly (VERIFY_X509_STRICT), which wants a proper CA and a leaf that names its issuer.
    """
    directory.mkdir(parents=True, exist_ok=True)
    ca_key, ca_cert = directory / "ca.key", directory / "ca.pem"
    key, csr, cert = directory / "server.key", directory / "server.csr", directory / "server.pem"
    extensions = directory / "server.ext"
    _openssl(
        "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
        "-keyout", str(ca_key), "-out", str(ca_cert), "-days", "3",
        "-subj", "/CN=firstline test CA",
        "-addext", "basicConstraints=critical,CA:TRUE",
        "-addext", "keyUsage=critical,keyCertSign,cRLSign",
    )
    _openssl(
        "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
        "-keyout", str(key), "-out", str(csr), "-subj", "/CN=localhost",
    )
    extensions.write_text(
        "basicConstraints = critical, CA:FALSE\n"
        "keyUsage = critical, digitalSignature, keyEncipherment\n"
        "extendedKeyUsage = serverAuth\n"
        "subjectAltName = DNS:localhost, IP:127.0.0.1\n"
        "subjectKeyIdentifier = hash\n"
        "authorityKeyIdentifier = keyid, issuer\n"
    )
    _openssl(
        "x509", "-req", "-in", str(csr), "-CA", str(ca_cert), "-CAkey", str(ca_key),
        "-CAcreateserial", "-out", str(cert), "-days", "3", "-extfile", str(extensions),
    )
    return TlsFiles(ca_file=ca_cert, cert_file=cert, key_file=key)


# Dovecot ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ImapUser:
    name: str
    password: str


@dataclass(frozen=True)
class StoredMessage:
    """A message file in a Maildir folder, as Dovecot keeps it."""

    path: Path
    folder: str
    flags: str  # Maildir info letters: S seen, T trashed (\\Deleted), a-z keywords

    @property
    def content(self) -> bytes:
        return self.path.read_bytes()


CONFIG = """\
# Written by tests/dovecot.py for one test run.
base_dir = {root}/run
state_dir = {root}/state
log_path = {root}/dovecot.log
info_log_path = {root}/dovecot.log
protocols = imap
listen = 127.0.0.1
shutdown_clients = yes

default_internal_user = {internal_user}
default_internal_group = {internal_group}
default_login_user = {login_user}
first_valid_uid = {uid}
first_valid_gid = {gid}

ssl = required
ssl_cert = <{cert}
ssl_key = <{key}
ssl_min_protocol = TLSv1.2
disable_plaintext_auth = yes
auth_mechanisms = plain login
# Tests log in with wrong passwords on purpose: no 2-second penalty each time.
auth_failure_delay = 0

passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {root}/users/%n
}}
userdb {{
  driver = passwd-file
  args = username_format=%n {root}/users/%n
  default_fields = uid={uid} gid={gid} home={root}/home/%u
}}
mail_location = maildir:{root}/mail/%u
namespace inbox {{
  inbox = yes
  separator = /
}}

service imap-login {{
  chroot =
  inet_listener imap {{
    address = 127.0.0.1
    port = {imap_port}
  }}
  inet_listener imaps {{
    address = 127.0.0.1
    port = {imaps_port}
    ssl = yes
  }}
}}
service anvil {{
  chroot =
  # No growing login delay for an address after failed logins (all tests come from
  # 127.0.0.1, and some fail on purpose).
  unix_listener anvil-auth-penalty {{
    mode = 0
  }}
}}
service imap {{
  process_limit = 100
}}
"""


def _service_users() -> tuple[str, str, str]:
    """(internal user, its group, login user) for Dovecot's own processes.

    Normally the current user for all of them. Dovecot refuses to run its login processes
    as root ("This process must not be run as root"), so as root (containers, CI) they run
    as the unprivileged users Debian's package creates, as a packaged Dovecot would.
    """
    if os.geteuid() != 0:
        return getpass.getuser(), grp.getgrgid(os.getgid()).gr_name, getpass.getuser()
    internal = "dovecot" if _user_exists("dovecot") else "nobody"
    login = "dovenull" if _user_exists("dovenull") else "nobody"
    return internal, grp.getgrgid(pwd.getpwnam(internal).pw_gid).gr_name, login


def _user_exists(name: str) -> bool:
    try:
        pwd.getpwnam(name)
    except KeyError:
        return False
    return True


class Dovecot:
    host = "127.0.0.1"

    def __init__(self, root: Path, tls: TlsFiles, binary: str = DOVECOT) -> None:
        self.root = root
        self.tls = tls
        self.binary = binary
        self.imap_port = free_port()  # STARTTLS
        self.imaps_port = free_port()  # implicit TLS
        self.config = root / "dovecot.conf"
        self.users = root / "users"
        self._process: subprocess.Popen[bytes] | None = None
        # Whom the mail belongs to: the current user, or "nobody" as root (Dovecot does not
        # give mail access to uid 0).
        if os.geteuid() == 0:
            nobody = pwd.getpwnam("nobody")
            self.mail_uid, self.mail_gid = nobody.pw_uid, nobody.pw_gid
        else:
            self.mail_uid, self.mail_gid = os.getuid(), os.getgid()

    # Life cycle ------------------------------------------------------------------------------

    def start(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        for name in ("run", "state", "mail", "home", "users"):
            (self.root / name).mkdir(parents=True, exist_ok=True)
        internal_user, internal_group, login_user = _service_users()
        if os.geteuid() == 0:
            os.chown(self.root / "mail", self.mail_uid, self.mail_gid)
            # The unprivileged login and auth processes must reach the sockets in base_dir
            # and read the passwd-files: let them through the temporary directory.
            self.root.chmod(0o755)
            self.users.chmod(0o755)
        self.config.write_text(CONFIG.format(
            root=self.root, internal_user=internal_user, internal_group=internal_group,
            login_user=login_user, uid=self.mail_uid, gid=self.mail_gid,
            cert=self.tls.cert_file, key=self.tls.key_file,
            imap_port=self.imap_port, imaps_port=self.imaps_port,
        ))
        with open(self.root / "stdout.log", "wb") as output:
            self._process = subprocess.Popen(
                [self.binary, "-F", "-c", str(self.config)],
                stdin=subprocess.DEVNULL, stdout=output, stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise RuntimeError(f"dovecot exited with {self._process.returncode}:\n{self.log()}")
            if self._accepts(self.imap_port) and self._accepts(self.imaps_port):
                return
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"dovecot did not start listening in 20 s:\n{self.log()}")

    def stop(self) -> None:
        if self._process is None:
            return
        if self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait(timeout=5)
        self._process = None

    def log(self) -> str:
        parts = []
        for name in ("stdout.log", "dovecot.log"):
            path = self.root / name
            if path.exists():
                parts.append(path.read_text(errors="replace"))
        return "\n".join(parts)

    def _accepts(self, port: int) -> bool:
        try:
            with socket.create_connection((self.host, port), timeout=0.5):
                return True
        except OSError:
            return False

    # Users and their mail --------------------------------------------------------------------

    def new_user(self, *, capabilities: str = "") -> ImapUser:
        """A fresh user with an empty INBOX.

        `capabilities` replaces what the server announces after this user's login:
        "IMAP4rev1" plays a server with none of IDLE, MOVE or UIDPLUS (Dovecot's
        imap_capability, set per user; one word only, the passwd-file splits on spaces).
        """
        if " " in capabilities:
            raise ValueError("one capability word only (passwd-file extra fields split on spaces)")
        user = ImapUser(name=f"u{uuid.uuid4().hex[:12]}", password=uuid.uuid4().hex)
        extra = f"userdb_imap_capability={capabilities}" if capabilities else ""
        # One passwd-file per user: Dovecot notices a changed file by its mtime in whole
        # seconds, so users added to one file within a second would go unseen.
        passwd = self.users / user.name
        passwd.write_text(f"{user.name}:{{PLAIN}}{user.password}::::::{extra}\n")
        passwd.chmod(0o644)
        self._make_folder(user, "INBOX")
        return user

    def maildir(self, user: ImapUser, folder: str = "INBOX") -> Path:
        base = self.root / "mail" / user.name
        if folder == "INBOX":
            return base
        # Maildir++ layout: a folder is a dot-directory ("/" separators become ".").
        return base / ("." + folder.replace("/", "."))

    def deliver(self, user: ImapUser, raw: bytes, folder: str = "INBOX") -> str:
        """Put a message into a folder as an MTA does: write into tmp/, rename into new/."""
        directory = self._make_folder(user, folder)
        name = f"{time.time_ns()}.{uuid.uuid4().hex}.firstline-test"
        temporary = directory / "tmp" / name
        temporary.write_bytes(raw)
        self._own(temporary)
        temporary.rename(directory / "new" / name)
        return name

    def _make_folder(self, user: ImapUser, folder: str) -> Path:
        directory = self.maildir(user, folder)
        subdirectories = [directory / sub for sub in ("cur", "new", "tmp")]
        for path in (directory.parent, directory, *subdirectories):
            if not path.exists():
                path.mkdir()
                self._own(path)
        return directory

    def _own(self, path: Path) -> None:
        if os.geteuid() == 0:
            os.chown(path, self.mail_uid, self.mail_gid)

    def messages(self, user: ImapUser, folder: str = "INBOX") -> list[StoredMessage]:
        """The messages now in a folder with their flags, oldest delivery first."""
        directory = self.maildir(user, folder)
        found = []
        for sub in ("new", "cur"):
            if not (directory / sub).is_dir():
                continue
            for path in (directory / sub).iterdir():
                _base, _sep, info = path.name.partition(":2,")
                found.append(StoredMessage(path=path, folder=folder, flags=info))
        return sorted(found, key=lambda message: message.path.name)

    def keywords(self, user: ImapUser, folder: str = "INBOX") -> dict[str, str]:
        """Maildir keyword letters -> names, from Dovecot's dovecot-keywords file."""
        path = self.maildir(user, folder) / "dovecot-keywords"
        if not path.exists():
            return {}
        letters = "abcdefghijklmnopqrstuvwxyz"
        mapping = {}
        for line in path.read_text().splitlines():
            number, _sep, name = line.partition(" ")
            if number.isdigit() and int(number) < len(letters):
                mapping[letters[int(number)]] = name
        return mapping

    def flags_of(self, message: StoredMessage, user: ImapUser) -> set[str]:
        """IMAP flags of a stored message: \\Seen, \\Deleted and keyword names."""
        names = self.keywords(user, message.folder)
        flags = set()
        for letter in message.flags:
            if letter == "S":
                flags.add("\\Seen")
            elif letter == "T":
                flags.add("\\Deleted")
            elif letter in names:
                flags.add(names[letter])
        return flags


@pytest.fixture(scope="session", name="tls_files")
def tls_files_fixture() -> Iterator[TlsFiles]:
    """A throw-away CA and a server certificate for 127.0.0.1, for the whole session."""
    with tempfile.TemporaryDirectory(prefix="firstline-tls-") as directory:
        yield make_tls_files(Path(directory))


@pytest.fixture(scope="session", name="dovecot")
def dovecot_fixture(tls_files: TlsFiles) -> Iterator[Dovecot]:
    """Dovecot on two free loopback ports for the whole test session."""
    binary = require_dovecot()
    with tempfile.TemporaryDirectory(prefix="firstline-dovecot-") as directory:
        Path(directory).chmod(0o755)  # Dovecot's unprivileged processes pass through it
        for attempt in range(3):
            server = Dovecot(Path(directory) / str(attempt), tls_files, binary)
            try:
                server.start()
                break
            except RuntimeError as exc:
                # A free port taken by another process between choosing and binding it
                # (test runs side by side): choose again.
                if "Address already in use" not in str(exc) or attempt == 2:
                    raise
        try:
            yield server
        finally:
            server.stop()
