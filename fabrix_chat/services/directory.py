"""Directory sign-in (LDAP / Active Directory), with ldap3: is this the user's password, and who are they?

The user is found one of two ways, as [ldap] says:
- `bind_dn_template`: bind as the user directly ("uid={username},ou=people,dc=corp,dc=example,dc=com",
  or Active Directory's "{username}@corp.example.com"), then read their entry as them: under
  `search_base` with `search_filter` when it is set (needed with a "user@domain" template, which
  names no entry), else the entry the DN names;
- `search_base` alone: bind as the service account (`service_dn`; anonymously when it is empty),
  search `search_filter`, then bind as the one entry found, with the password.

Group membership (`allowed_group`, `admin_group`): the user's `memberOf` (Active Directory,
OpenLDAP's memberof overlay) naming the group, else the group's own entry listing the user's DN as
`member` (groupOfNames, AD groups) or `uniqueMember` (groupOfUniqueNames). Nested groups are not
followed. The username is escaped for the filter and the DN, and an empty password is refused
before anything is sent (a simple bind without a password is an anonymous bind on many servers).

Every ldap3 call blocks: the whole check runs in a worker thread, each connect and each answer
bounded by `timeout_seconds`. A directory that cannot be reached, answers too slowly or fails TLS
is DirectoryUnavailable: the caller refuses the sign-in, never falls back to anything else.
Nothing here logs or keeps a password.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import math
import ssl
from collections.abc import Iterator
from pathlib import Path

import ldap3
from ldap3.core.exceptions import LDAPException
from ldap3.utils.conv import escape_filter_chars
from ldap3.utils.dn import escape_rdn, parse_dn

from fabrix_chat import i18n
from fabrix_chat.config import LdapSettings
from fabrix_chat.db import run_db
from fabrix_chat.models import User
from fabrix_chat.services import accounts

log = logging.getLogger(__name__)

# Bind answers that mean "not this password" (or no such user); any other is a directory problem.
INVALID_CREDENTIALS, NO_SUCH_OBJECT, INVALID_DN_SYNTAX = 49, 32, 34
REFUSED_BINDS = frozenset({INVALID_CREDENTIALS, NO_SUCH_OBJECT, INVALID_DN_SYNTAX})
SUCCESS, SIZE_LIMIT_EXCEEDED = 0, 4
# A whole check (connect, StartTLS, binds, searches) gives up after this many timeouts.
TIMEOUTS_PER_CHECK = 3


@dataclasses.dataclass(frozen=True)
class DirectoryUser:
    """Who the directory says signed in."""

    dn: str
    email: str  # "" when the entry has none
    is_admin: bool | None  # member of admin_group; None when no admin_group is set


class DirectoryError(i18n.KeyedError):
    """A directory sign-in refused for a reason the user is told; `detail` is for the audit trail."""

    def __init__(self, key: str, detail: str) -> None:
        super().__init__(key)
        self.detail = detail


class DirectoryUnavailable(DirectoryError):
    """The directory cannot be reached, answered too slowly, failed TLS or refused the service account."""

    def __init__(self) -> None:
        super().__init__("directory_unavailable", "directory unreachable")


# What the audit trail says when the local account refuses a user the directory accepted.
ACCOUNT_REFUSALS = {
    "directory_username_invalid": "directory username not usable here",
    "directory_no_email": "no email in the directory",
    "email_taken": "the directory's email is another account's",
    "username_taken": "account being created by another sign-in",
}


async def sign_in(settings: LdapSettings, username: str, password: str) -> tuple[User, list[str]] | None:
    """The local account of a directory user whose password is right, created at the first sign-in
    and otherwise brought in line with the directory (accounts.sign_in_from_directory), with what
    changed; None for a wrong password or unknown user; DirectoryError for a refusal."""
    found = await authenticate(settings, username, password)
    if found is None:
        return None
    try:
        return await run_db(
            accounts.sign_in_from_directory, username=username, email=found.email, is_admin=found.is_admin
        )
    except accounts.AccountError as exc:
        if exc.key == "bad_credentials":  # a local account of that name: only its own password signs it in
            return None
        raise DirectoryError(exc.key, ACCOUNT_REFUSALS.get(exc.key, exc.key)) from None


async def authenticate(settings: LdapSettings, username: str, password: str) -> DirectoryUser | None:
    """The directory's user when `password` is theirs, None when it is not (or there is no such
    user); DirectoryError when it is theirs but they may not sign in here (not in allowed_group,
    no entry to read), DirectoryUnavailable when the directory cannot say."""
    if not settings.enabled or not username or not password:
        return None
    try:
        async with asyncio.timeout(TIMEOUTS_PER_CHECK * settings.timeout_seconds):
            return await asyncio.to_thread(_authenticate, settings, username, password)
    except TimeoutError:
        log.warning("directory %s: no answer within %s s", settings.url, TIMEOUTS_PER_CHECK * settings.timeout_seconds)
        raise DirectoryUnavailable() from None


def _authenticate(settings: LdapSettings, username: str, password: str) -> DirectoryUser | None:
    server = _server(settings)
    try:
        if settings.bind_dn_template:
            bind_dn = settings.bind_dn_template.replace("{username}", escape_rdn(username))
            connection = _bind(server, settings, bind_dn, password)
            if connection is None:
                return None
            with _unbinding(connection):
                if settings.search_base:
                    entry = _find_entry(connection, settings, username)
                else:
                    entry = _read_entry(connection, settings, bind_dn)
                if entry is None:
                    log.warning(
                        "directory %s accepted %r but its entry cannot be read (with a user@domain "
                        "bind_dn_template, set search_base and search_filter)",
                        settings.url,
                        username,
                    )
                    raise DirectoryError("directory_no_email", "directory entry not found")
                return _directory_user(connection, settings, entry)
        service = _bind(server, settings, settings.service_dn or None, settings.service_password or None)
        if service is None:
            log.error(
                "directory %s refused the service account: check [ldap] service_dn and service_password", settings.url
            )
            raise DirectoryUnavailable()
        with _unbinding(service):
            entry = _find_entry(service, settings, username)
            if entry is None:
                return None
            user = _bind(server, settings, entry["dn"], password)
            if user is None:
                return None
            user.unbind()
            return _directory_user(service, settings, entry)
    except (LDAPException, OSError) as exc:  # OSError: a socket or TLS error ldap3 did not wrap
        log.warning("directory %s unreachable: %s: %s", settings.url, type(exc).__name__, exc)
        raise DirectoryUnavailable() from None


@contextlib.contextmanager
def _unbinding(connection: ldap3.Connection) -> Iterator[ldap3.Connection]:
    """Close the connection after use (ldap3's own `with` leaves a connection bound before it open)."""
    try:
        yield connection
    finally:
        connection.unbind()


def _server(settings: LdapSettings) -> ldap3.Server:
    if settings.ca_file and not Path(settings.ca_file).is_file():
        log.error("[ldap] ca_file %s is not a file: directory sign-in refused", settings.ca_file)
        raise DirectoryUnavailable()
    # Always verified: against ca_file, else the system's CAs, and the certificate must name the host.
    tls = ldap3.Tls(validate=ssl.CERT_REQUIRED, ca_certs_file=settings.ca_file or None)
    return ldap3.Server(
        settings.url,
        use_ssl=settings.url.startswith("ldaps://"),
        tls=tls,
        get_info=ldap3.NONE,
        connect_timeout=settings.timeout_seconds,
    )


def _bind(server: ldap3.Server, settings: LdapSettings, user: str | None, password: str | None):
    """An open, bound connection (anonymous when `user` is None); None when the directory says
    the password is wrong; DirectoryUnavailable when StartTLS fails or the bind fails otherwise."""
    connection = ldap3.Connection(
        server,
        user=user,
        password=password,
        read_only=True,
        auto_referrals=False,
        raise_exceptions=False,
        # ldap3 packs this into a C struct on Linux: whole seconds only.
        receive_timeout=math.ceil(settings.timeout_seconds),
    )
    connection.open()
    try:
        if settings.start_tls and not connection.start_tls(read_server_info=False):
            log.warning("directory %s: StartTLS failed: %s", settings.url, connection.result)
            raise DirectoryUnavailable()
        if connection.bind():
            return connection
        result = connection.result or {}
    except BaseException:
        connection.unbind()
        raise
    connection.unbind()
    if result.get("result") in REFUSED_BINDS:
        return None
    log.warning(
        "directory %s answered a bind with %s %s", settings.url, result.get("description"), result.get("message")
    )
    raise DirectoryUnavailable()


def _entries(connection: ldap3.Connection) -> list[dict]:
    return [item for item in connection.response or [] if item.get("type") == "searchResEntry"]


def _attributes(settings: LdapSettings) -> list[str]:
    return [settings.email_attribute, "memberOf"]


def _find_entry(connection: ldap3.Connection, settings: LdapSettings, username: str) -> dict | None:
    """The one entry search_filter finds for the username under search_base; None for none or several."""
    query = settings.search_filter.replace("{username}", escape_filter_chars(username))
    connection.search(
        settings.search_base, query, search_scope=ldap3.SUBTREE, attributes=_attributes(settings), size_limit=2
    )
    code = (connection.result or {}).get("result")
    if code not in (SUCCESS, SIZE_LIMIT_EXCEEDED):
        log.warning("directory %s: searching %s failed: %s", settings.url, settings.search_base, connection.result)
        raise DirectoryUnavailable()
    found = _entries(connection)
    if len(found) > 1 or code == SIZE_LIMIT_EXCEEDED:
        log.warning("directory %s: several entries match %r: sign-in refused", settings.url, username)
        return None
    return found[0] if found else None


def _read_entry(connection: ldap3.Connection, settings: LdapSettings, dn: str) -> dict | None:
    connection.search(dn, "(objectClass=*)", search_scope=ldap3.BASE, attributes=_attributes(settings))
    found = _entries(connection)
    return found[0] if found else None


def _values(entry: dict, name: str) -> list[str]:
    """An attribute's values (ldap3 gives a list, or one value when it knows the schema)."""
    for key, value in (entry.get("attributes") or {}).items():
        if key.lower() == name.lower():
            return [str(v) for v in value] if isinstance(value, list | tuple) else [str(value)]
    return []


def _dn_key(dn: str) -> str:
    """A DN as compared: attribute names and values lower-cased, spaces around separators dropped."""
    try:
        return ",".join(f"{name.strip().lower()}={value.strip().lower()}" for name, value, _ in parse_dn(dn))
    except LDAPException:
        return dn.strip().lower()


def _is_member(
    connection: ldap3.Connection, settings: LdapSettings, group: str, user_dn: str, member_of: set[str]
) -> bool:
    if _dn_key(group) in member_of:
        return True
    value = escape_filter_chars(user_dn)
    connection.search(
        group,
        f"(|(member={value})(uniqueMember={value}))",
        search_scope=ldap3.BASE,
        attributes=[ldap3.NO_ATTRIBUTES],
    )
    code = (connection.result or {}).get("result")
    if code not in (SUCCESS, NO_SUCH_OBJECT):  # no such group (or not readable): not a member
        log.warning("directory %s: reading the group %s failed: %s", settings.url, group, connection.result)
        raise DirectoryUnavailable()
    return bool(_entries(connection))


def _directory_user(connection: ldap3.Connection, settings: LdapSettings, entry: dict) -> DirectoryUser:
    dn = entry["dn"]
    member_of = {_dn_key(group) for group in _values(entry, "memberOf")}
    if settings.allowed_group and not _is_member(connection, settings, settings.allowed_group, dn, member_of):
        raise DirectoryError("directory_not_allowed", "not in the allowed group")
    is_admin = _is_member(connection, settings, settings.admin_group, dn, member_of) if settings.admin_group else None
    emails = _values(entry, settings.email_attribute)
    return DirectoryUser(dn=dn, email=emails[0].strip().lower() if emails else "", is_admin=is_admin)
