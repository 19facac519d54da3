"""A throwaway OpenLDAP server (Debian's `slapd`) on free loopback ports, for the directory tests.

`running_slapd()` writes a slapd.conf and an empty database into a temporary folder, starts slapd
in the foreground as the current user (plain LDAP on one port and, when `openssl` can make a test
CA, LDAPS on another, StartTLS on the first), loads the test tree below with the directory's own
administrator and yields a `Directory`; on exit slapd is stopped and the folder deleted.

The tree (dc=example,dc=com), every password PASSWORD:
  ou=people   kim, park, choi, nomail, ab (inetOrgPerson, mail <uid>@example.com except nomail),
              lee (in no group)
  ou=groups   chat-users  (groupOfNames, member: kim park nomail ab): the group allowed to sign in
              chat-admins (groupOfUniqueNames, uniqueMember: park): the administrators
              hidden-staff (groupOfNames, member: choi), which nobody but the directory's
              administrator may read: only choi's memberOf (the memberof overlay) tells
  ou=services chat-app, the service account that searches
"""

from __future__ import annotations

import contextlib
import dataclasses
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import ldap3

SLAPD = Path("/usr/sbin/slapd")
SCHEMA_DIR = Path("/etc/ldap/schema")
MODULE_DIR = Path("/usr/lib/ldap")
SKIP_REASON = (
    "OpenLDAP server not installed (Debian package slapd, /usr/sbin/slapd); ./run.sh test installs it when run as root"
)

BASE = "dc=example,dc=com"
ROOT_DN = f"cn=admin,{BASE}"
ROOT_PASSWORD = "directory-root-secret"
PEOPLE = f"ou=people,{BASE}"
GROUPS = f"ou=groups,{BASE}"
SERVICE_DN = f"cn=chat-app,ou=services,{BASE}"
SERVICE_PASSWORD = "service-secret-1"
PASSWORD = "directory-pass-1"
ALLOWED_GROUP = f"cn=chat-users,{GROUPS}"
ADMIN_GROUP = f"cn=chat-admins,{GROUPS}"
HIDDEN_GROUP = f"cn=hidden-staff,{GROUPS}"
PEOPLE_UIDS = ("kim", "park", "choi", "nomail", "ab", "lee")


def person_dn(uid: str) -> str:
    return f"uid={uid},{PEOPLE}"


SLAPD_CONF = """\
include {schema}/core.schema
include {schema}/cosine.schema
include {schema}/inetorgperson.schema
modulepath {modules}
moduleload back_mdb
moduleload memberof
pidfile {root}/slapd.pid
argsfile {root}/slapd.args
{tls}
database mdb
maxsize 33554432
suffix "{base}"
rootdn "{root_dn}"
rootpw "{root_password}"
directory {root}/db
overlay memberof
access to dn.base="{hidden}" by * none
access to attrs=userPassword by self read by anonymous auth by * none
access to * by * read
"""


@dataclasses.dataclass(frozen=True)
class Directory:
    """The running server: its URLs, the CA its TLS certificate is signed by ("" without TLS)."""

    port: int
    ldaps_port: int = 0
    ca_file: str = ""

    @property
    def url(self) -> str:
        return f"ldap://127.0.0.1:{self.port}"

    @property
    def ldaps_url(self) -> str:
        return f"ldaps://127.0.0.1:{self.ldaps_port}" if self.ldaps_port else ""

    def _admin(self) -> ldap3.Connection:
        return ldap3.Connection(
            ldap3.Server(self.url, get_info=ldap3.NONE), ROOT_DN, ROOT_PASSWORD, auto_bind=True, receive_timeout=10
        )

    def set_member(self, group: str, uid: str, *, member: bool) -> None:
        """Add `uid` to (or remove it from) `group`, as the directory's administrator would."""
        attribute = "uniqueMember" if group == ADMIN_GROUP else "member"
        change = ldap3.MODIFY_ADD if member else ldap3.MODIFY_DELETE
        connection = self._admin()
        try:
            if not connection.modify(group, {attribute: [(change, [person_dn(uid)])]}):
                raise RuntimeError(f"slapd refused to change {group}: {connection.result}")
        finally:
            connection.unbind()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _make_tls(root: Path) -> tuple[Path, Path, Path] | None:
    """(CA certificate, server certificate, server key) for 127.0.0.1 and localhost, made by
    openssl; None when openssl is not installed (then the server has no TLS)."""
    openssl = shutil.which("openssl")
    if openssl is None:
        return None
    ca_key, ca_cert = root / "ca.key", root / "ca.pem"
    key, request, cert, ext = root / "server.key", root / "server.csr", root / "server.pem", root / "server.ext"
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    ext.write_text("subjectAltName = IP:127.0.0.1, DNS:localhost\n", encoding="ascii")
    commands = [
        [openssl, "req", "-x509", *ec, "-keyout", ca_key, "-out", ca_cert, "-days", "2", "-subj", "/CN=Test CA"],
        [openssl, "req", *ec, "-keyout", key, "-out", request, "-subj", "/CN=127.0.0.1"],
        [openssl, "x509", "-req", "-in", request, "-CA", ca_cert, "-CAkey", ca_key, "-CAcreateserial"]
        + ["-out", cert, "-days", "2", "-extfile", ext],
    ]
    for command in commands:
        result = subprocess.run([str(part) for part in command], capture_output=True, text=True, timeout=60)
        if result.returncode != 0:
            raise RuntimeError(f"openssl failed making the test certificate:\n{result.stderr}")
    return ca_cert, cert, key


def _tree() -> list[tuple[str, list[str], dict[str, object]]]:
    entries: list[tuple[str, list[str], dict[str, object]]] = [
        (BASE, ["dcObject", "organization"], {"dc": "example", "o": "Example"}),
        (PEOPLE, ["organizationalUnit"], {"ou": "people"}),
        (GROUPS, ["organizationalUnit"], {"ou": "groups"}),
        (f"ou=services,{BASE}", ["organizationalUnit"], {"ou": "services"}),
        (
            SERVICE_DN,
            ["organizationalRole", "simpleSecurityObject"],
            {"cn": "chat-app", "userPassword": SERVICE_PASSWORD},
        ),
    ]
    for uid in PEOPLE_UIDS:
        attributes: dict[str, object] = {"uid": uid, "cn": uid.title(), "sn": uid.title(), "userPassword": PASSWORD}
        if uid != "nomail":
            attributes["mail"] = f"{uid.title()}@Example.com"  # the app lower-cases it
        entries.append((person_dn(uid), ["inetOrgPerson"], attributes))
    members = [person_dn(uid) for uid in ("kim", "park", "nomail", "ab")]
    entries += [
        (ALLOWED_GROUP, ["groupOfNames"], {"cn": "chat-users", "member": members}),
        # (a groupOfUniqueNames must keep one member: the directory's administrator stays in it)
        (ADMIN_GROUP, ["groupOfUniqueNames"], {"cn": "chat-admins", "uniqueMember": [ROOT_DN, person_dn("park")]}),
        (HIDDEN_GROUP, ["groupOfNames"], {"cn": "hidden-staff", "member": [person_dn("choi")]}),
    ]
    return entries


@contextlib.contextmanager
def running_slapd() -> Iterator[Directory]:
    """Start slapd with the test tree, yield the Directory, stop it and delete its folder. The
    caller has checked that slapd is installed (no pytest here, like tests/redis_server.py)."""
    root = Path(tempfile.mkdtemp(prefix="fabrix-slapd-"))
    proc = None
    try:
        (root / "db").mkdir()
        tls = _make_tls(root)
        tls_lines = ""
        if tls:
            ca, cert, key = tls
            tls_lines = f"TLSCACertificateFile {ca}\nTLSCertificateFile {cert}\nTLSCertificateKeyFile {key}\n"
        conf = root / "slapd.conf"
        conf.write_text(
            SLAPD_CONF.format(
                schema=SCHEMA_DIR,
                modules=MODULE_DIR,
                root=root,
                tls=tls_lines,
                base=BASE,
                root_dn=ROOT_DN,
                root_password=ROOT_PASSWORD,
                hidden=HIDDEN_GROUP,
            ),
            encoding="utf-8",
        )
        port, ldaps_port = _free_port(), (_free_port() if tls else 0)
        listen = f"ldap://127.0.0.1:{port}/" + (f" ldaps://127.0.0.1:{ldaps_port}/" if tls else "")
        log = root / "slapd.log"
        with log.open("wb") as out:
            # -d 0: stay in the foreground (no fork), so this process is the server.
            proc = subprocess.Popen([str(SLAPD), "-d", "0", "-f", str(conf), "-h", listen], stdout=out, stderr=out)
        directory = Directory(port=port, ldaps_port=ldaps_port, ca_file=str(tls[0]) if tls else "")
        deadline = time.monotonic() + 20
        while True:
            try:
                connection = directory._admin()
                break
            except ldap3.core.exceptions.LDAPException:
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise RuntimeError(
                        f"slapd did not start on port {port}:\n{log.read_text(errors='replace')}"
                    ) from None
                time.sleep(0.05)
        try:
            for dn, classes, attributes in _tree():
                if not connection.add(dn, classes, attributes):
                    raise RuntimeError(f"slapd refused the test entry {dn}: {connection.result}")
        finally:
            connection.unbind()
        yield directory
    finally:
        if proc is not None:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        shutil.rmtree(root, ignore_errors=True)


@contextlib.contextmanager
def slapd_directory(skip_reason: str) -> Iterator[Directory]:
    """running_slapd() for a test; the test is skipped when slapd is not installed."""
    if not (SLAPD.exists() and (SCHEMA_DIR / "inetorgperson.schema").exists()):
        import pytest

        pytest.skip(f"{SKIP_REASON}; {skip_reason}")
    with running_slapd() as directory:
        yield directory
