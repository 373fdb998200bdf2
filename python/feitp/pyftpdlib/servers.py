"""pyftpdlib.servers on feitp: FTPServer(address, handler) with max_cons, max_cons_per_ip,
serve_forever(timeout, blocking, handle_exit, worker_processes) and close_all().

feitp's C++ core serves the connections; serve_forever(worker_processes=N) (or workers=N) forks
N processes that share the port and the connection limits, each with its own interpreter."""
from __future__ import annotations

import logging
import os
import socket
import threading
from typing import Any, Optional

from .. import _support
from .._server import _listen, _passive
from .authorizers import _plain_dummy, _user_table
from .handlers import FTPHandler, ThrottledDTPHandler, TLS_FTPHandler, _Router, overridden_callbacks

__all__ = ["FTPServer", "ThreadedFTPServer", "MultiprocessFTPServer"]

logger = logging.getLogger("pyftpdlib")


class FTPServer(object):
    """Listens on `address_or_socket` ((host, port), or a bound socket whose address is taken)
    and serves with `handler`'s settings and callbacks."""

    max_cons = 512
    max_cons_per_ip = 0

    def __init__(self, address_or_socket: Any, handler: type, ioloop: Any = None, backlog: int = 100) -> None:
        self.handler = handler
        self.ioloop = ioloop
        self.backlog = backlog
        if isinstance(address_or_socket, socket.socket):
            sock = address_or_socket
        else:
            host, port = address_or_socket[0], address_or_socket[1]
            family = socket.AF_INET6 if ":" in (host or "") else socket.AF_INET
            sock = socket.socket(family, socket.SOCK_STREAM)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
            sock.bind((host or "0.0.0.0", port))
        # Listening from here on, as pyftpdlib's: a client may connect before serve_forever().
        # feitp serves this socket (worker 0 does when there are several; the others get
        # sockets of their own on the same port, SO_REUSEPORT).
        sock.listen(backlog)
        self._probe: Optional[socket.socket] = sock
        self._address = sock.getsockname()[:2]
        self._core: Any = None
        self._thread: Optional[threading.Thread] = None
        self._closed = False

    @property
    def address(self) -> tuple:
        return self._address

    def _options(self) -> dict:
        h = self.handler
        lo, hi = _passive(h.passive_ports)
        options = {
            "listen": _listen(tuple(self._address)),
            "banner": str(h.banner),
            "passive_port_min": lo,
            "passive_port_max": hi,
            "masquerade_address": h.masquerade_address,
            "allow_foreign_addresses": bool(h.permit_foreign_addresses),
            "max_connections": int(self.max_cons or 0),
            "max_per_ip": int(self.max_cons_per_ip or 0),
            "max_login_attempts": int(h.max_login_attempts or 0),
            "login_failure_delay": float(getattr(h, "auth_failed_timeout", 0) or 0),
            "idle_timeout": int(h.timeout or 0),
        }
        dtp = getattr(h, "dtp_handler", None)
        if isinstance(dtp, type) and issubclass(dtp, ThrottledDTPHandler):
            # read: what the server reads from the data connection (uploads); write: downloads.
            options["session_upload_rate"] = _limit("read_limit", dtp.read_limit)
            options["session_download_rate"] = _limit("write_limit", dtp.write_limit)
        if isinstance(h, type) and issubclass(h, TLS_FTPHandler):
            options.update(h._feitp_tls_options())
        return options

    def _make_core(self, options: dict) -> Any:
        from .. import _feitp

        def make(cluster: Any, index: int) -> Any:
            core = _feitp.Server(options, cluster, index, 8)
            auth = self.handler.authorizer
            if _plain_dummy(auth):
                users, anonymous = _user_table(auth)
                core.set_users(users, anonymous)
            else:
                if hasattr(auth, "_feitp_prepare"):
                    auth._feitp_prepare()  # UnixAuthorizer: this process's PAM helper
                core.set_authenticator(_authenticate(auth))
            # In place, as pyftpdlib writes: on_incomplete_file_received finds the partial file.
            core.set_local_storage(False, False)
            events = overridden_callbacks(self.handler)
            if events:
                core.set_router(_Router(self.handler, self), events, [])
            self._core = core
            return core
        return make

    def serve_forever(self, timeout: Optional[float] = None, blocking: bool = True, handle_exit: bool = True,
                      worker_processes: int = 1, workers: Optional[int] = None) -> None:
        """Serves until Ctrl-C, SIGTERM or close_all(). worker_processes (or workers) > 1 forks that
        many processes. blocking=False starts serving on a background thread and returns."""
        n = workers if workers is not None else worker_processes
        options = self._options()
        if not blocking:
            if n != 1:
                raise ValueError("'worker_processes' and 'blocking' are mutually exclusive")
            if self._thread is None:
                self._thread = threading.Thread(target=_support.serve, name="feitp-server", daemon=True,
                                                args=(self._make_core(options), options, 1, 0, False,
                                                      None, self._probe))
                self._thread.start()
            return
        self._log_start(n)
        try:
            _support.serve(self._make_core(options), options, n, 0, handle_exit, None, self._probe)
        finally:
            if handle_exit:
                self.close_all()

    def _release_probe(self, ports: list) -> None:
        if self._probe is not None:
            self._probe.close()
            self._probe = None

    def _log_start(self, n: int) -> None:
        logger.info(">>> starting FTP server on %s:%s, pid=%i <<<", self._address[0], self._address[1],
                    os.getpid())
        logger.info("concurrency model: feitp (%d process%s)", n, "" if n == 1 else "es")

    def close_all(self) -> None:
        """Stops serving and closes every connection."""
        if self._core is not None:
            self._core.stop(0)
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join()
            self._thread = None
        self._release_probe([])

    def close(self) -> None:
        self.close_all()


def _limit(name: str, value: Any) -> int:
    try:
        n = int(value or 0)
    except (TypeError, ValueError):
        raise ValueError("ThrottledDTPHandler.%s must be a number of bytes per second, not %r" % (name, value))
    if n < 0:
        raise ValueError("ThrottledDTPHandler.%s must not be negative (%d)" % (name, n))
    return n


def _authenticate(authorizer: Any) -> Any:
    from .._server import User

    class _LoginHandler(object):
        def __init__(self, ip: str, port: int) -> None:
            self.remote_ip, self.remote_port, self.username = ip, port, ""

    def authenticate(username: str, password: str, ip: str, port: int, tls: bool) -> User:
        authorizer.validate_authentication(username, password, _LoginHandler(ip, port))
        home = authorizer.get_home_dir(username)
        overrides = authorizer._ftp_overrides(username) if hasattr(authorizer, "_ftp_overrides") else []
        return User(name=username, home=home, perm=authorizer.get_perms(username),
                    anonymous=username == "anonymous", overrides=overrides)
    return authenticate


# pyftpdlib's other concurrency models: feitp's model serves all of them.
ThreadedFTPServer = FTPServer
MultiprocessFTPServer = FTPServer
