"""feitp.Server: feitp's native API in Python."""
from __future__ import annotations

import os
import threading
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, Iterable, List, Optional, Sequence, Tuple, Union

from . import _support

EVENTS = ("on_connect", "on_disconnect", "on_login", "on_login_failed", "on_logout", "on_file_sent",
          "on_file_received", "on_incomplete_file_sent", "on_incomplete_file_received", "on_mkdir",
          "on_remove", "on_rename")
DECISIONS = ("before_command", "before_upload", "before_download", "check_upload")
ALL_PERMS = "elradfmwMT"
READ_PERMS = "elr"


class Refuse(Exception):
    """Raise in a decision (or return a string) to refuse: the client gets `code` (550) and `text`."""

    def __init__(self, text: str = "Refused.", code: int = 550) -> None:
        super().__init__(text)
        self.text = text
        self.code = code


class Disconnect(Exception):
    """Raise in a decision to answer 421 with `text` and close the control connection."""

    def __init__(self, text: str = "Closing control connection.") -> None:
        super().__init__(text)
        self.text = text


class LoginFailed(_support.LoginRefused):
    """Raise in an Authenticator to refuse a login (530); nothing is logged as an error."""


LoginUnavailable = _support.LoginUnavailable


@dataclass
class User:
    """A user an Authenticator lets in. `perm` uses pyftpdlib's letters (elradfmwMT); `overrides`
    are (ftp directory, letters) pairs for a directory and everything below it."""
    name: str
    home: str
    perm: str = READ_PERMS
    anonymous: bool = False
    max_sessions: int = 0
    overrides: List[Tuple[str, str]] = field(default_factory=list)


@dataclass
class FileInfo:
    """What a Storage tells about a file: type is "file", "dir", "link" or "other"."""
    name: str
    type: str = "file"
    size: int = 0
    mtime: int = 0
    mode: int = 0o644


@dataclass
class TransferEvent:
    """A finished transfer. outcome: complete, aborted, client_gone, failed or refused."""
    path: str
    bytes: int
    offset: int
    seconds: float
    outcome: str
    upload: bool
    error: str
    local_path: str = ""


class Session:
    """One control connection as the callbacks see it. `data` is yours, kept for the session."""
    __slots__ = ("id", "remote_ip", "remote_port", "username", "home", "cwd", "tls", "anonymous", "data")

    def __init__(self, t: tuple) -> None:
        self.id: int = t[0]
        self.data: Dict[str, Any] = {}
        self._update(t)

    def _update(self, t: tuple) -> None:
        (_, self.remote_ip, self.remote_port, self.username, self.home, self.cwd, self.tls,
         self.anonymous) = t

    def __repr__(self) -> str:
        return "Session(id=%d, remote=%s:%d, user=%r)" % (self.id, self.remote_ip, self.remote_port,
                                                         self.username)


class Hooks:
    """Subclass and override what you need. Events (on_*) run after the fact, on a Python thread,
    in order per session; the session does not wait for them. Decisions (before_*, check_upload)
    are waited for: return None or True to proceed, False or a string to refuse (550), a
    (code, text) pair for another reply, or raise Refuse / Disconnect. An exception in a decision
    refuses with 451; in an event it is logged and the session goes on."""

    def on_connect(self, session: Session) -> None: ...
    def on_disconnect(self, session: Session) -> None: ...
    def on_login(self, session: Session) -> None: ...
    def on_login_failed(self, session: Session, username: str) -> None: ...
    def on_logout(self, session: Session) -> None: ...
    def on_file_sent(self, session: Session, event: TransferEvent) -> None: ...
    def on_file_received(self, session: Session, event: TransferEvent) -> None: ...
    def on_incomplete_file_sent(self, session: Session, event: TransferEvent) -> None: ...
    def on_incomplete_file_received(self, session: Session, event: TransferEvent) -> None: ...
    def on_mkdir(self, session: Session, path: str) -> None: ...
    def on_remove(self, session: Session, path: str) -> None: ...
    def on_rename(self, session: Session, source: str, target: str) -> None: ...
    def before_command(self, session: Session, verb: str, arg: str) -> Any: ...
    def before_upload(self, session: Session, path: str) -> Any: ...
    def before_download(self, session: Session, path: str) -> Any: ...
    def check_upload(self, session: Session, event: TransferEvent) -> Any: ...


class Authenticator:
    """Override authenticate(); it runs on the server's thread pool and may block (a database, a
    web service). Return a User, or None / raise LoginFailed to refuse (530); raise
    LoginUnavailable when the service cannot answer (421, not counted as a failed login)."""

    def authenticate(self, username: str, password: str, remote_ip: str, remote_port: int,
                     tls: bool) -> Optional[User]:
        raise NotImplementedError


class Storage:
    """A file tree written in Python. Paths are normalised absolute FTP paths ("/", "/a/b").
    Raise OSError with an errno (FileNotFoundError, PermissionError, ...) for errors. Methods run
    on the server's thread pool; calls for one session never overlap, calls for several do."""

    def stat(self, path: str) -> FileInfo:
        raise NotImplementedError

    def list(self, path: str) -> Iterable[FileInfo]:
        raise NotImplementedError

    def open_read(self, path: str, offset: int) -> Any:
        """A binary file object with read(n) (io.BytesIO will do), positioned at offset."""
        raise NotImplementedError

    def open_write(self, path: str, mode: str, offset: int) -> Any:
        """An object with write(data) and commit() (or close()), and optionally abort(keep_partial)
        (also called with False for an upload dropped before it ended, so nothing half-written
        looks complete).
        mode: "truncate" (STOR), "append" (APPE), "exclusive" (STOU), "at_offset" (REST+STOR)."""
        raise NotImplementedError

    def mkdir(self, path: str) -> None:
        raise PermissionError(13, "read-only storage")

    def rmdir(self, path: str) -> None:
        raise PermissionError(13, "read-only storage")

    def remove(self, path: str) -> None:
        raise PermissionError(13, "read-only storage")

    def rename(self, source: str, target: str) -> None:
        raise PermissionError(13, "read-only storage")


def _overridden(obj: Any, name: str, base: type) -> bool:
    fn = getattr(type(obj), name, None)
    if fn is None:
        return callable(getattr(obj, name, None))
    return fn is not getattr(base, name, None)


def _decision(answer: Any) -> Optional[tuple]:
    if answer is None or answer is True:
        return None
    if answer is False:
        return (550, "Refused.", False)
    if isinstance(answer, str):
        return (550, answer, False)
    if isinstance(answer, tuple) and len(answer) == 2:
        return (int(answer[0]), str(answer[1]), False)
    raise TypeError("a decision must return None, True, False, a string or (code, text), not %r" % (answer,))


class _Router:
    """What the native core calls: events, decisions and session ends."""

    def __init__(self, handlers: Dict[str, List[Callable]]) -> None:
        self.handlers = handlers
        self.sessions: Dict[int, Session] = {}

    def _session(self, t: tuple) -> Session:
        s = self.sessions.get(t[0])
        if s is None:
            s = self.sessions[t[0]] = Session(t)
        else:
            s._update(t)
        return s

    @staticmethod
    def _args(name: str, s: Session, arg: Any) -> tuple:
        if arg is None:
            return (s,)
        if isinstance(arg, tuple) and len(arg) == 7:
            ev = TransferEvent(*arg)
            if s.home:
                ev.local_path = os.path.join(s.home, ev.path.lstrip("/"))
            return (s, ev)
        if isinstance(arg, tuple):
            return (s,) + arg
        return (s, arg)

    def event(self, name: str, t: tuple, arg: Any) -> None:
        s = self._session(t)
        args = self._args(name, s, arg)
        for fn in self.handlers.get(name, ()):
            try:
                fn(*args)
            except Exception as e:  # noqa: BLE001 - logged, the next hook still runs
                _support.report(name, e)

    def decide(self, name: str, t: tuple, arg: Any) -> Optional[tuple]:
        s = self._session(t)
        args = self._args(name, s, arg)
        for fn in self.handlers.get(name, ()):
            try:
                answer = _decision(fn(*args))
            except Refuse as r:
                answer = (r.code, r.text, False)
            except Disconnect as d:
                answer = (421, d.text, True)
            if answer is not None:
                return answer
        return None

    def end(self, sid: int) -> None:
        self.sessions.pop(sid, None)


def _passive(ports: Any) -> Tuple[int, int]:
    if ports is None:
        return (0, 0)
    if isinstance(ports, range):
        return (ports.start, ports.stop - 1)
    ports = list(ports)
    if len(ports) == 0:
        return (0, 0)
    return (min(ports), max(ports))


def _listen(value: Union[str, Sequence[str], Tuple[str, int]]) -> List[str]:
    if isinstance(value, tuple) and len(value) == 2 and isinstance(value[1], int):
        host, port = value
        return ["[%s]:%d" % (host, port) if ":" in host else "%s:%d" % (host or "0.0.0.0", port)]
    if isinstance(value, str):
        return [value]
    return list(value)


class Server:
    """An FTP server. Options are keyword arguments:

    listen            "ADDR:PORT", a list of them, or (host, port) (default "0.0.0.0:2121")
    root              the default home of users added without one
    passive_ports     (min, max) or a range
    masquerade_address  the address put in PASV replies (behind NAT)
    banner, max_connections, max_per_ip, max_login_attempts, idle_timeout, login_timeout,
    data_timeout, allow_foreign_addresses, ban_after_failures, blocking_threads
    tls_cert, tls_key FTPS (AUTH TLS): PEM certificate (chain) and key (default: in tls_cert)
    tls_required      "off" (default), "login" (AUTH TLS before USER) or "all" (also PROT P)
    tls_chain, tls_min_version  intermediates (PEM); "1.2" (default) or "1.3"
    session_upload_rate, session_download_rate, upload_rate, download_rate
                      bytes per second (0 = none): each session's, or the whole server's
    workers           processes to serve with (1); serve_forever(workers=N) overrides it
    callback_threads  Python threads per process running the callbacks (8)
    storage           "memory", a feitp.Storage instance shared by every user, or a callable
                      (username, home) -> Storage; default: the local disk under each user's home
    authenticator     a feitp.Authenticator (or a callable with its signature); default: the users
                      added with add_user / add_anonymous
    hooks             a Hooks object or a list of them
    grace             seconds a stop leaves transfers to finish (5)
    """

    def __init__(self, *, listen: Union[str, Sequence[str], Tuple[str, int]] = "0.0.0.0:2121",
                 root: Optional[str] = None, passive_ports: Any = None,
                 masquerade_address: Optional[str] = None, workers: int = 1, callback_threads: int = 8,
                 storage: Any = None, authenticator: Any = None, hooks: Any = None, grace: float = 5,
                 atomic_uploads: bool = True, **options: Any) -> None:
        lo, hi = _passive(passive_ports)
        self._options: Dict[str, Any] = dict(options)
        self._options.update(listen=_listen(listen), passive_port_min=lo, passive_port_max=hi,
                             masquerade_address=masquerade_address)
        self.root = root
        self.workers = workers
        self.callback_threads = callback_threads
        self.storage = storage
        self.authenticator = authenticator
        self.grace = grace
        self.atomic_uploads = atomic_uploads
        self._users: List[tuple] = []
        self._anonymous: Optional[tuple] = None
        self._handlers: Dict[str, List[Callable]] = {}
        self._sites: List[tuple] = []
        self._core: Any = None
        self._thread: Optional[threading.Thread] = None
        self._ports: List[int] = []
        self._ready = threading.Event()
        if hooks is not None:
            for h in hooks if isinstance(hooks, (list, tuple)) else [hooks]:
                self.add_hooks(h)

    # --- users ---------------------------------------------------------------------------
    def add_user(self, name: str, password: str, home: Optional[str] = None, perm: str = ALL_PERMS,
                 overrides: Sequence[Tuple[str, str]] = (), max_sessions: int = 0) -> None:
        """A user of the built-in table; `password` is plaintext or a crypt(3) hash."""
        home = home or self.root
        if not home:
            raise ValueError("add_user(%r): no home and no root" % name)
        _check_perm(perm)
        self._users.append((name, password, os.path.abspath(home), perm, list(overrides), max_sessions))

    def add_anonymous(self, home: Optional[str] = None, perm: str = READ_PERMS) -> None:
        """Lets "anonymous" and "ftp" in with any password, read-only by default."""
        home = home or self.root
        if not home:
            raise ValueError("add_anonymous: no home and no root")
        _check_perm(perm)
        self._anonymous = (os.path.abspath(home), perm)

    # --- hooks ---------------------------------------------------------------------------
    def add_hooks(self, hooks: Any) -> Any:
        """Adds the hook methods an object defines (a Hooks subclass or any object)."""
        for name in EVENTS + DECISIONS:
            if _overridden(hooks, name, Hooks):
                self._handlers.setdefault(name, []).append(getattr(hooks, name))
        return hooks

    def hook(self, fn: Callable) -> Callable:
        """Decorator: a function named like a hook (on_file_received, check_upload, ...)."""
        return self.on(fn.__name__)(fn)

    def on(self, name: str) -> Callable[[Callable], Callable]:
        """Decorator: @server.on("file_received") or @server.on("on_file_received")."""
        full = name if name in EVENTS + DECISIONS else "on_" + name
        if full not in EVENTS + DECISIONS:
            raise ValueError("unknown hook %r (one of %s)" % (name, ", ".join(EVENTS + DECISIONS)))

        def register(fn: Callable) -> Callable:
            self._handlers.setdefault(full, []).append(fn)
            return fn
        return register

    def site(self, name: str, help: str = "") -> Callable[[Callable], Callable]:
        """Decorator for SITE <name>: fn(session, args) returns a str (200), (code, text) or None.
        Note: with a Python SITE command every command of the server runs on its thread pool."""
        def register(fn: Callable) -> Callable:
            self._sites.append((name, help or name, fn))
            return fn
        return register

    # --- serving -------------------------------------------------------------------------
    def _make_core(self, cluster: Any, index: int) -> Any:
        from . import _feitp
        core = _feitp.Server(self._options, cluster, index, self.callback_threads)
        if self.authenticator is not None:
            auth = self.authenticator
            core.set_authenticator(auth.authenticate if hasattr(auth, "authenticate") else auth)
        else:
            core.set_users(self._users, self._anonymous)
        st = self.storage
        if st is None:
            core.set_local_storage(self.atomic_uploads, False)
        elif st == "memory":
            core.set_memory_storage()
        elif hasattr(st, "open_write"):
            core.set_storage_factory(lambda name, home: st)
        elif callable(st):
            core.set_storage_factory(st)
        else:
            raise TypeError("storage must be None, 'memory', a feitp.Storage or a callable, not %r" % (st,))
        events = [n for n in EVENTS if self._handlers.get(n)]
        decisions = [n for n in DECISIONS if self._handlers.get(n)]
        if events or decisions:
            core.set_router(_Router(self._handlers), events, decisions)
        for name, help_text, fn in self._sites:
            core.add_site_command(name, help_text, _site_call(fn))
        self._core = core
        return core

    def _listening(self, ports: List[int]) -> None:
        self._ports = list(ports)
        self._ready.set()

    @property
    def ports(self) -> List[int]:
        """The bound control ports (after start() or once serve_forever() has bound)."""
        return list(self._ports)

    def serve_forever(self, workers: Optional[int] = None, handle_exit: bool = True) -> None:
        """Serves until Ctrl-C or SIGTERM (or stop() from another thread). workers > 1 forks that
        many processes, each with its own interpreter; limits hold across them."""
        n = self.workers if workers is None else workers
        _support.serve(self._make_core, self._options, n, self.grace, handle_exit, self._listening)

    def start(self) -> List[int]:
        """Serves on a background thread (one process); returns the bound ports."""
        from . import _feitp
        cluster = _feitp.Cluster(self._options, 1)
        self._listening(cluster.ports())
        core = self._make_core(cluster, 0)
        core.bind()
        self._thread = threading.Thread(target=core.run, name="feitp-server", daemon=True)
        self._thread.start()
        return self.ports

    def stop(self, grace: Optional[float] = None) -> None:
        """Stops a server started with start() (waits for it) or serving on another thread."""
        if self._core is not None:
            self._core.stop(int(self.grace if grace is None else grace))
        if self._thread is not None:
            self._thread.join()
            self._thread = None

    def stats(self) -> Dict[str, int]:
        return self._core.stats() if self._core is not None else {}

    def __enter__(self) -> "Server":
        self.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop(0)


def _site_call(fn: Callable) -> Callable:
    def call(t: tuple, args: str) -> Any:
        return fn(Session(t), args)
    return call


def _check_perm(perm: str) -> None:
    from . import _feitp
    problem = _feitp.validate_perm(perm)
    if problem:
        raise ValueError(problem)
