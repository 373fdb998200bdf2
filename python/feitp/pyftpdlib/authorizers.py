"""pyftpdlib.authorizers on feitp: DummyAuthorizer keeps pyftpdlib's virtual user table and API.

A DummyAuthorizer used as is is handed to feitp's own user table (passwords checked in C++, no
Python per login); a subclass that overrides validate_authentication, get_home_dir or
get_perms is called from Python at each login instead (on a thread pool, so it may block).
"""
from __future__ import annotations

import os
import warnings
from typing import Any, Dict, Optional

from .._support import LoginRefused

__all__ = ["AuthorizerError", "AuthenticationFailed", "DummyAuthorizer"]


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


UnixAuthorizer = None  # not yet: see docs/python.md
WindowsAuthorizer = None
