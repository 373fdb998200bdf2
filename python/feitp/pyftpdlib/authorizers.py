"""pyftpdlib.authorizers on feitp: DummyAuthorizer keeps pyftpdlib's virtual user table and API.

A DummyAuthorizer used as is is handed to feitp's own user table (passwords checked in C++, no
Python per login); a subclass that overrides validate_authentication, get_home_dir or
get_perms is called from Python at each login instead (on a thread pool, so it may block).
UnixAuthorizer checks system accounts with PAM (feitp's PAM helper, as root).
"""
from __future__ import annotations

import os
import pwd
import threading
import warnings
from typing import Any, Dict, Optional

from .._support import LoginRefused, LoginUnavailable

__all__ = ["AuthorizerError", "AuthenticationFailed", "DummyAuthorizer", "BaseUnixAuthorizer", "UnixAuthorizer"]


class AuthorizerError(Exception):
    """Base class for authorizer exceptions."""


class AuthenticationFailed(LoginRefused):
    """Exception raised when authentication fails for any reason."""


class DummyAuthorizer(object):
    """Virtual users: name, password, home directory and permission letters (elradfmwMT).

    Read permissions:  e change directory, l list, r retrieve.
    Write permissions: a append, d delete, f rename, m make directory, w store,
                       M change mode (SITE CHMOD), T change modification time (MFMT).
    """

    read_perms = "elr"
    write_perms = "adfmwMT"

    def __init__(self) -> None:
        self.user_table: Dict[str, Dict[str, Any]] = {}

    def add_user(self, username: str, password: str, homedir: str, perm: str = "elr",
                 msg_login: str = "Login successful.", msg_quit: str = "Goodbye.") -> None:
        if self.has_user(username):
            raise ValueError("user %r already exists" % username)
        if isinstance(homedir, bytes):
            homedir = homedir.decode("utf8")
        if not os.path.isdir(homedir):
            raise ValueError("no such directory: %r" % homedir)
        homedir = os.path.realpath(homedir)
        self._check_permissions(username, perm)
        self.user_table[username] = {"pwd": str(password), "home": homedir, "perm": perm, "operms": {},
                                     "msg_login": str(msg_login), "msg_quit": str(msg_quit)}

    def add_anonymous(self, homedir: str, **kwargs: Any) -> None:
        """The "anonymous" user (any password); perm defaults to "elr" (write letters warn)."""
        DummyAuthorizer.add_user(self, "anonymous", "", homedir, **kwargs)

    def remove_user(self, username: str) -> None:
        del self.user_table[username]

    def override_perm(self, username: str, directory: str, perm: str, recursive: bool = False) -> None:
        """Other letters for `directory` (a local path below the user's home)."""
        self._check_permissions(username, perm)
        if not os.path.isdir(directory):
            raise ValueError("no such directory: %r" % directory)
        directory = os.path.normcase(os.path.realpath(directory))
        home = os.path.normcase(self.get_home_dir(username))
        if directory == home:
            raise ValueError("can't override home directory permissions")
        if not self._issubpath(directory, home):
            raise ValueError("path escapes user home directory")
        self.user_table[username]["operms"][directory] = perm, recursive

    def validate_authentication(self, username: str, password: str, handler: Any) -> None:
        msg = "Authentication failed."
        if not self.has_user(username):
            if username == "anonymous":
                msg = "Anonymous access not allowed."
            raise AuthenticationFailed(msg)
        if username != "anonymous":
            if self.user_table[username]["pwd"] != password:
                raise AuthenticationFailed(msg)

    def get_home_dir(self, username: str) -> str:
        return self.user_table[username]["home"]

    def impersonate_user(self, username: str, password: str) -> None:
        """No-op (feitp never switches the process's user per session)."""

    def terminate_impersonation(self, username: str) -> None:
        """No-op."""

    def has_user(self, username: str) -> bool:
        return username in self.user_table

    def has_perm(self, username: str, perm: str, path: Optional[str] = None) -> bool:
        if path is None:
            return perm in self.user_table[username]["perm"]
        path = os.path.normcase(path)
        for d, (operm, recursive) in self.user_table[username]["operms"].items():
            if self._issubpath(path, d):
                if recursive:
                    return perm in operm
                if path == d or (os.path.dirname(path) == d and not os.path.isdir(path)):
                    return perm in operm
        return perm in self.user_table[username]["perm"]

    def get_perms(self, username: str) -> str:
        return self.user_table[username]["perm"]

    def get_msg_login(self, username: str) -> str:
        return self.user_table[username]["msg_login"]

    def get_msg_quit(self, username: str) -> str:
        try:
            return self.user_table[username]["msg_quit"]
        except KeyError:
            return "Goodbye."

    def _check_permissions(self, username: str, perm: str) -> None:
        warned = False
        for p in perm:
            if p not in self.read_perms + self.write_perms:
                raise ValueError("no such permission %r" % p)
            if username == "anonymous" and p in self.write_perms and not warned:
                warnings.warn("write permissions assigned to anonymous user.", RuntimeWarning)
                warned = True

    def _issubpath(self, a: str, b: str) -> bool:
        p1 = a.rstrip(os.sep).split(os.sep)
        p2 = b.rstrip(os.sep).split(os.sep)
        return p1[:len(p2)] == p2

    # --- feitp ------------------------------------------------------------------------
    def _ftp_overrides(self, username: str) -> list:
        """operms as (ftp directory, letters), as feitp's permission rules take them."""
        home = self.get_home_dir(username)
        out = []
        for d, (operm, _recursive) in self.user_table.get(username, {}).get("operms", {}).items():
            out.append(("/" + os.path.relpath(d, home).replace(os.sep, "/"), operm))
        return out


def _plain_dummy(auth: Any) -> bool:
    """True when `auth` behaves exactly like DummyAuthorizer at login (its table can go to C++)."""
    if not isinstance(auth, DummyAuthorizer):
        return False
    for name in ("validate_authentication", "get_home_dir", "get_perms", "has_user"):
        if getattr(type(auth), name) is not getattr(DummyAuthorizer, name):
            return False
    return True


def _user_table(auth: DummyAuthorizer) -> tuple:
    """(users, anonymous) for feitp._feitp.Server.set_users."""
    users, anonymous = [], None
    for name, u in auth.user_table.items():
        if name == "anonymous":
            anonymous = (u["home"], u["perm"])
            continue
        users.append((name, u["pwd"], u["home"], u["perm"], auth._ftp_overrides(name), 0))
    return users, anonymous


# --- System accounts ------------------------------------------------------------------------

def _system_users() -> list:
    return [entry.pw_name for entry in pwd.getpwall()]


def _has_valid_shell(username: str) -> bool:
    """True when the user's shell is listed in /etc/shells (or there is no /etc/shells)."""
    try:
        f = open("/etc/shells")
    except FileNotFoundError:
        return True
    with f:
        try:
            shell = pwd.getpwnam(username).pw_shell
        except KeyError:
            return False
        for line in f:
            if line.startswith("#"):
                continue
            if line.strip() == shell:
                return True
    return False


class BaseUnixAuthorizer(object):
    """System accounts: the password is checked by PAM (service `pam_service`, "feitpd" by
    default: /etc/pam.d/feitpd when installed, else PAM's "other"), the home is the user's home
    in the system's password database. Needs root, as pyftpdlib's does: feitp forks a small
    privileged helper per serving process that does nothing but the PAM checks
    (docs/accounts.md). root (uid 0) never logs in."""

    msg_no_such_user = "Authentication failed."
    msg_wrong_password = "Authentication failed."
    msg_anon_not_allowed = "Anonymous access not allowed."
    msg_invalid_shell = "User %s doesn't have a valid shell."
    msg_rejected_user = "User %s is not allowed to login."

    def __init__(self, anonymous_user: Optional[str] = None, pam_service: str = "feitpd") -> None:
        if os.geteuid() != 0:
            raise AuthorizerError("super user privileges are required")
        self.anonymous_user = anonymous_user
        self.pam_service = pam_service
        if anonymous_user is not None:
            try:
                pwd.getpwnam(anonymous_user)
            except KeyError:
                raise AuthorizerError("no such user %s" % anonymous_user)
        self._pam: Any = None
        self._pam_pid = 0
        self._pam_lock = threading.Lock()

    def _feitp_prepare(self) -> None:
        """Starts this process's PAM helper (FTPServer calls it in each serving process, before
        the first client)."""
        with self._pam_lock:
            if self._pam is None or self._pam_pid != os.getpid():
                from .. import _feitp
                self._pam = _feitp.PamChecker(self.pam_service)
                self._pam_pid = os.getpid()

    def _pam_check(self, username: str, password: str, remote_ip: str) -> None:
        self._feitp_prepare()
        status, detail = self._pam.check(username, password, remote_ip)
        if status == "unavailable":
            raise LoginUnavailable(detail)
        if status != "ok":
            raise AuthenticationFailed(self.msg_wrong_password)

    def _real(self, username: str) -> str:
        return (self.anonymous_user or username) if username == "anonymous" else username

    def validate_authentication(self, username: str, password: str, handler: Any) -> None:
        if username == "anonymous":
            if self.anonymous_user is None:
                raise AuthenticationFailed(self.msg_anon_not_allowed)
            return
        self._pam_check(username, password, getattr(handler, "remote_ip", "") or "")

    def impersonate_user(self, username: str, password: str) -> None:
        """No-op: feitp never switches the process's user per session (docs/python.md)."""

    def terminate_impersonation(self, username: str) -> None:
        """No-op."""

    def has_user(self, username: str) -> bool:
        return self._real(username) in _system_users()

    def get_home_dir(self, username: str) -> str:
        try:
            return pwd.getpwnam(self._real(username)).pw_dir
        except KeyError:
            raise AuthorizerError(self.msg_no_such_user)

    def get_msg_login(self, username: str) -> str:
        return "Login successful."

    def get_msg_quit(self, username: str) -> str:
        return "Goodbye."

    def get_perms(self, username: str) -> str:
        return "elradfmwMT"

    def has_perm(self, username: str, perm: str, path: Optional[str] = None) -> bool:
        return perm in self.get_perms(username)


class UnixAuthorizer(BaseUnixAuthorizer):
    """pyftpdlib's UnixAuthorizer on PAM:

    global_perm          letters for every system user (anonymous: "elr").
    allowed_users        only these may log in; rejected_users: these may not (exclusive).
    require_valid_shell  refuse users whose shell is not in /etc/shells (not anonymous).
    anonymous_user       the system user whose home anonymous sessions get; None: no anonymous.
    msg_login, msg_quit  kept and returned by get_msg_login / get_msg_quit.
    pam_service          (feitp) the PAM service; "feitpd" by default.
    """

    def __init__(self, global_perm: str = "elradfmwMT", allowed_users: Optional[list] = None,
                 rejected_users: Optional[list] = None, require_valid_shell: bool = True,
                 anonymous_user: Optional[str] = None, msg_login: str = "Login successful.",
                 msg_quit: str = "Goodbye.", pam_service: str = "feitpd") -> None:
        BaseUnixAuthorizer.__init__(self, anonymous_user, pam_service)
        self.global_perm = global_perm
        self.allowed_users = list(allowed_users or [])
        self.rejected_users = list(rejected_users or [])
        self.require_valid_shell = require_valid_shell
        self.msg_login = msg_login
        self.msg_quit = msg_quit
        self._dummy_authorizer = DummyAuthorizer()
        self._dummy_authorizer._check_permissions("", global_perm)
        if self.rejected_users and self.allowed_users:
            raise AuthorizerError("rejected_users and allowed_users options are mutually exclusive")
        users = _system_users()
        for user in self.allowed_users or self.rejected_users:
            if user == "anonymous":
                raise AuthorizerError('invalid username "anonymous"')
            if user not in users:
                raise AuthorizerError("unknown user %s" % user)
        if anonymous_user is not None:
            if not self.has_user(anonymous_user):
                raise AuthorizerError("no such user %s" % anonymous_user)
            if not os.path.isdir(self.get_home_dir(anonymous_user)):
                raise AuthorizerError("no valid home set for user %s" % anonymous_user)
        if require_valid_shell:
            for username in self.allowed_users:
                if not _has_valid_shell(username):
                    raise AuthorizerError("user %s has not a valid shell" % username)

    def override_user(self, username: str, password: Optional[str] = None, homedir: Optional[str] = None,
                      perm: Optional[str] = None, msg_login: Optional[str] = None,
                      msg_quit: Optional[str] = None) -> None:
        """Other settings for one user: a password (then checked instead of PAM's), a home,
        permission letters, messages."""
        if self.require_valid_shell and username != "anonymous" and not _has_valid_shell(username):
            raise AuthorizerError(self.msg_invalid_shell % username)
        if not password and not homedir and not perm and not msg_login and not msg_quit:
            raise AuthorizerError("at least one keyword argument must be specified")
        if self.allowed_users and username not in self.allowed_users:
            raise AuthorizerError("%s is not an allowed user" % username)
        if self.rejected_users and username in self.rejected_users:
            raise AuthorizerError("%s is not an allowed user" % username)
        if username == "anonymous" and password:
            raise AuthorizerError("can't assign password to anonymous user")
        if not self.has_user(username):
            raise AuthorizerError("no such user %s" % username)
        if isinstance(homedir, bytes):
            homedir = homedir.decode("utf8")
        table = self._dummy_authorizer.user_table
        table.pop(username, None)
        self._dummy_authorizer.add_user(username, password or "", homedir or os.getcwd(), perm or "",
                                        msg_login or "", msg_quit or "")
        if homedir is None:
            table[username]["home"] = ""

    def _get_key(self, username: str, key: str) -> Any:
        if self._dummy_authorizer.has_user(username):
            return self._dummy_authorizer.user_table[username][key]
        return None

    def _is_rejected_user(self, username: str) -> bool:
        if self.allowed_users and username not in self.allowed_users:
            return True
        if self.rejected_users and username in self.rejected_users:
            return True
        return False

    def validate_authentication(self, username: str, password: str, handler: Any) -> None:
        if username == "anonymous":
            if self.anonymous_user is None:
                raise AuthenticationFailed(self.msg_anon_not_allowed)
            return
        if self._is_rejected_user(username):
            raise AuthenticationFailed(self.msg_rejected_user % username)
        overridden = self._get_key(username, "pwd")
        if overridden:
            if overridden != password:
                raise AuthenticationFailed(self.msg_wrong_password)
        else:
            BaseUnixAuthorizer.validate_authentication(self, username, password, handler)
        if self.require_valid_shell and not _has_valid_shell(username):
            raise AuthenticationFailed(self.msg_invalid_shell % username)

    def has_user(self, username: str) -> bool:
        if self._is_rejected_user(self._real(username)):
            return False
        return BaseUnixAuthorizer.has_user(self, username)

    def get_home_dir(self, username: str) -> str:
        home = self._get_key(username, "home")
        if home:
            return home
        return BaseUnixAuthorizer.get_home_dir(self, username)

    def get_msg_login(self, username: str) -> str:
        return self._get_key(username, "msg_login") or self.msg_login

    def get_msg_quit(self, username: str) -> str:
        return self._get_key(username, "msg_quit") or self.msg_quit

    def get_perms(self, username: str) -> str:
        perm = self._get_key(username, "perm")
        if perm:
            return perm
        if username == "anonymous":
            return "elr"
        return self.global_perm


WindowsAuthorizer = None  # Windows only
