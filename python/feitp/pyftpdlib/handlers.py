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

__all__ = ["FTPHandler", "DTPHandler", "ThrottledDTPHandler", "TLS_FTPHandler", "TLS_DTPHandler"]

logger = logging.getLogger("pyftpdlib")

CALLBACKS = ("on_connect", "on_disconnect", "on_login", "on_login_failed", "on_logout", "on_file_sent",
             "on_file_received", "on_incomplete_file_sent", "on_incomplete_file_received")


class DTPHandler(object):
    """Accepted for compatibility: feitp's data connections are its own."""
    timeout = 300
    ac_in_buffer_size = 65536
    ac_out_buffer_size = 65536


class ThrottledDTPHandler(DTPHandler):
    """Bandwidth limits for each data transfer, in bytes per second (0 = none), as the handler's
    dtp_handler: read_limit bounds what the server reads (uploads, feitp's session_upload_rate),
    write_limit what it writes (downloads, session_download_rate). feitp paces with a token
    bucket that lends at most 20 ms worth of credit; auto_sized_buffers is accepted (feitp sizes
    its chunks to about 1/20 s of the limit itself)."""
    read_limit = 0
    write_limit = 0
    auto_sized_buffers = True


class TLS_DTPHandler(DTPHandler):
    """Accepted for compatibility: with TLS_FTPHandler, feitp's data connections speak TLS after
    PROT P."""


class FTPHandler(object):
    """pyftpdlib's FTPHandler. Class attributes that configure the server:

    authorizer, banner, passive_ports, masquerade_address, permit_foreign_addresses, timeout,
    max_login_attempts, auth_failed_timeout, use_sendfile (accepted; feitp picks its own
    zero-copy paths), dtp_handler (a ThrottledDTPHandler's read_limit and write_limit are
    honoured).
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


class TLS_FTPHandler(FTPHandler):
    """pyftpdlib's FTPS handler (RFC 4217: AUTH TLS, PBSZ, PROT), served by feitp's TLS in C++
    (OpenSSL; TLS 1.2 and 1.3, forward-secret AEAD ciphers only). Attributes:

    certfile  PEM certificate (chain); also holds the key when keyfile is None. Required.
    keyfile   PEM private key of certfile (None: the key is in certfile).
    tls_control_required  USER/PASS only after AUTH TLS (530 otherwise).
    tls_data_required     every data connection under TLS (PROT P; 521 otherwise). feitp has
                          no level "data only": this also requires TLS before login.
    ssl_context           a pyOpenSSL context cannot drive feitp's TLS: it is accepted only
                          beside certfile, and then unused (a warning says so).
    ssl_protocol, ssl_options  accepted, unused (feitp negotiates TLS 1.2 or 1.3).
    """

    tls_control_required = False
    tls_data_required = False
    certfile: Optional[str] = None
    keyfile: Optional[str] = None
    ssl_protocol: Any = None
    ssl_options: Any = None
    ssl_context: Any = None
    dtp_handler = TLS_DTPHandler

    @classmethod
    def _feitp_tls_options(cls) -> dict:
        """The server options for this handler's TLS (tls_cert, tls_key, tls_required)."""
        if not cls.certfile:
            if cls.ssl_context is not None:
                raise ValueError("TLS_FTPHandler.ssl_context: feitp builds its TLS context in C++ from files; "
                                 "set certfile (and keyfile) instead")
            raise ValueError("TLS_FTPHandler: at least certfile must be specified")
        if cls.ssl_context is not None:
            logger.warning("TLS_FTPHandler.ssl_context is not used: feitp serves TLS from certfile=%r",
                           cls.certfile)
        for name in ("certfile", "keyfile"):
            path = getattr(cls, name)
            if path is not None and not os.path.isfile(path):
                raise ValueError("TLS_FTPHandler.%s: no such file: %r" % (name, path))
        if cls.tls_data_required:
            required = "all"
        elif cls.tls_control_required:
            required = "login"
        else:
            required = "off"
        return {"tls_cert": os.path.abspath(cls.certfile),
                "tls_key": os.path.abspath(cls.keyfile) if cls.keyfile else None,
                "tls_required": required}


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
