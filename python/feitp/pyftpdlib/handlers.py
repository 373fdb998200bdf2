"""pyftpdlib.handlers on feitp: FTPHandler's class attributes configure the server and its
callbacks (on_login, on_file_received, ...) are called with pyftpdlib's arguments.

One handler object is made per session, lazily, the first time one of its callbacks runs, with
`username`, `remote_ip`, `remote_port`, `fs` (an AbstractedFS on the user's home), `server` and
`authenticated` set. Callbacks run on a Python thread after the event (the reply has gone, the
session does not wait), in order per session. docs/python.md lists what differs from pyftpdlib.
"""
from __future__ import annotations

import logging
import os
from typing import Any, Optional

from .authorizers import DummyAuthorizer
from .filesystems import AbstractedFS

__all__ = ["FTPHandler", "DTPHandler", "ThrottledDTPHandler"]

logger = logging.getLogger("pyftpdlib")

CALLBACKS = ("on_connect", "on_disconnect", "on_login", "on_login_failed", "on_logout", "on_file_sent",
             "on_file_received", "on_incomplete_file_sent", "on_incomplete_file_received")


class DTPHandler(object):
    """Accepted for compatibility: feitp's data connections are its own."""
    timeout = 300
    ac_in_buffer_size = 65536
    ac_out_buffer_size = 65536


class ThrottledDTPHandler(DTPHandler):
    """Not supported yet: feitp has no per-session bandwidth limit. Setting read_limit or
    write_limit and using it as dtp_handler makes FTPServer refuse to start."""
    read_limit = 0
    write_limit = 0
    auto_sized_buffers = True


class FTPHandler(object):
    """pyftpdlib's FTPHandler. Class attributes that configure the server:

    authorizer, banner, passive_ports, masquerade_address, permit_foreign_addresses, timeout,
    max_login_attempts, auth_failed_timeout, use_sendfile (accepted; feitp picks its own
    zero-copy paths), dtp_handler (ThrottledDTPHandler with limits is refused).
    """

    authorizer = DummyAuthorizer()
    dtp_handler = DTPHandler
    abstracted_fs = AbstractedFS
    timeout = 300
    banner = "pyftpdlib based ftpd ready."
    max_login_attempts = 3
    permit_foreign_addresses = False
    permit_privileged_ports = False
    masquerade_address: Optional[str] = None
    masquerade_address_map: dict = {}
    passive_ports: Any = None
    use_gmt_times = True
    use_sendfile = True
    tcp_no_delay = True
    encoding = "utf8"
    unicode_errors = "replace"
    log_prefix = "%(remote_ip)s:%(remote_port)s-[%(username)s]"
    auth_failed_timeout = 3

    def __init__(self, conn: Any = None, server: Any = None, ioloop: Any = None) -> None:
        self.server = server
        self.remote_ip = ""
        self.remote_port = 0
        self.username = ""
        self.password = ""
        self.authenticated = False
        self.fs: Optional[AbstractedFS] = None

    def _feitp_update(self, t: tuple) -> None:
        (_, self.remote_ip, self.remote_port, user, home, cwd, _tls, _anon) = t
        self.username = user
        self.authenticated = bool(user)
        if home:
            if self.fs is None or self.fs.root != home:
                self.fs = self.abstracted_fs(home, self)
            self.fs.cwd = cwd or "/"

    # --- callbacks (override them) -------------------------------------------------------
    def on_connect(self) -> None:
        """Called when a client connects."""

    def on_disconnect(self) -> None:
        """Called when the connection is closed."""

    def on_login(self, username: str) -> None:
        """Called on user login."""

    def on_login_failed(self, username: str, password: Optional[str]) -> None:
        """Called on a failed login (feitp passes password=None: it never hands passwords on)."""

    def on_logout(self, username: str) -> None:
        """Called when a logged-in session ends."""

    def on_file_sent(self, file: str) -> None:
        """A file was sent completely; `file` is its absolute path on disk."""

    def on_file_received(self, file: str) -> None:
        """A file was received completely; `file` is its absolute path on disk."""

    def on_incomplete_file_sent(self, file: str) -> None:
        """A download ended early (ABOR, client gone)."""

    def on_incomplete_file_received(self, file: str) -> None:
        """An upload ended early (ABOR, client gone, refused)."""

    # --- logging as pyftpdlib's handler does -------------------------------------------
    def log(self, msg: str, logfun: Any = logger.info) -> None:
        prefix = self.log_prefix % {"remote_ip": self.remote_ip, "remote_port": self.remote_port,
                                    "username": self.username}
        logfun("%s %s" % (prefix, msg))

    def logline(self, msg: str, logfun: Any = logger.debug) -> None:
        self.log(msg, logfun)

    def logerror(self, msg: str) -> None:
        self.log(msg, logger.error)


def overridden_callbacks(handler: type) -> list:
    return [n for n in CALLBACKS if getattr(handler, n) is not getattr(FTPHandler, n)]


class _Router:
    """Calls a handler class's callbacks, one handler object per session."""

    def __init__(self, handler: type, server: Any) -> None:
        self.handler = handler
        self.server = server
        self.sessions: dict = {}

    def _get(self, t: tuple) -> FTPHandler:
        h = self.sessions.get(t[0])
        if h is None:
            h = self.handler.__new__(self.handler)
            FTPHandler.__init__(h, None, self.server, None)
            self.sessions[t[0]] = h
        h._feitp_update(t)
        return h

    def event(self, name: str, t: tuple, arg: Any) -> None:
        h = self._get(t)
        fn = getattr(h, name)
        if name in ("on_connect", "on_disconnect"):
            fn()
        elif name == "on_login":
            fn(h.username)
        elif name == "on_logout":
            fn(h.username)
        elif name == "on_login_failed":
            fn(arg, None)
        else:
            home = t[4]
            path = arg[0]
            fn(os.path.join(home, path.lstrip("/")) if home else path)

    def decide(self, name: str, t: tuple, arg: Any) -> None:
        return None

    def end(self, sid: int) -> None:
        self.sessions.pop(sid, None)
