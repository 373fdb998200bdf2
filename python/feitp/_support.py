"""Internals shared by feitp.Server and feitp.pyftpdlib: error reporting, the serving loop
(Ctrl-C, SIGTERM) and the fork of worker processes."""
from __future__ import annotations

import logging
import os
import signal
import sys
import threading
import time
from typing import Any, Callable, Optional

logger = logging.getLogger("feitp")


class LoginRefused(Exception):
    """Raised by an authenticator to refuse a login without logging a traceback."""


class LoginUnavailable(Exception):
    """Raised by an authenticator whose account store cannot answer now: the client gets 421
    (and may try again) and the attempt is not counted as a failed login."""


def report(where: str, exc: BaseException) -> None:
    """Logs an exception raised by Python code the server called, with its traceback."""
    logger.error("%s raised %s: %s", where, type(exc).__name__, exc, exc_info=exc)


def report_text(what: str) -> None:
    logger.error("%s", what)


def run_core(core: Any, grace: float) -> None:
    """Serves `core` (a feitp._feitp.Server, bound) until it stops. The server runs on a thread of
    its own so that this thread (the main one) still takes Ctrl-C and SIGTERM: the first stops
    accepting and gives transfers `grace` seconds, the second closes everything at once."""
    done = threading.Event()
    failure: list = []

    def serve() -> None:
        try:
            core.run()
        except BaseException as e:  # noqa: BLE001 - handed to the caller's thread
            failure.append(e)
        finally:
            done.set()

    t = threading.Thread(target=serve, name="feitp-server", daemon=True)
    t.start()
    stops = 0
    while not done.is_set():
        try:
            done.wait(0.5)
        except KeyboardInterrupt:
            stops += 1
            core.stop(int(grace) if stops == 1 else 0)
    t.join()
    if failure:
        raise failure[0]


def _terminate(signo: int, frame: Any) -> None:
    raise KeyboardInterrupt


def serve(make_core: Callable[..., Any], options: dict, workers: int, grace: float,
          handle_exit: bool = True, on_listening: Optional[Callable[[list], None]] = None,
          listener: Any = None) -> None:
    """Binds, then serves in this process (workers == 1) or forks `workers` worker processes that
    share the listening ports and the connection limits (feitp._feitp.Cluster); this process then
    only supervises them: a worker that dies is replaced, Ctrl-C or SIGTERM stops them all.
    make_core(cluster, index) builds one process's server. `listener`, a socket already listening
    (pyftpdlib's FTPServer opens it in its constructor), is worker 0's, so that no connection
    queued on it before serve_forever is lost; the other workers get sockets of their own."""
    from . import _feitp

    workers = max(1, int(workers))
    _feitp.check_options(options)  # a bad certificate fails here, not in each forked worker
    cluster = _feitp.Cluster(options, workers, [listener.fileno()] if listener is not None else [])
    ports = cluster.ports()
    if on_listening is not None:
        on_listening(ports)
    old_term = signal.signal(signal.SIGTERM, _terminate) if handle_exit else None
    try:
        if workers == 1:
            core = make_core(cluster, 0)
            core.bind()
            del cluster
            if handle_exit:
                run_core(core, grace)
            else:
                core.run()
            return
        _supervise(cluster, make_core, workers, grace)
    finally:
        if old_term is not None:
            signal.signal(signal.SIGTERM, old_term)


def _worker(cluster: Any, make_core: Callable[..., Any], index: int, grace: float) -> None:
    code = 0
    try:
        signal.signal(signal.SIGTERM, _terminate)
        signal.signal(signal.SIGINT, signal.default_int_handler)
        core = make_core(cluster, index)
        core.bind()
        run_core(core, grace)
    except KeyboardInterrupt:
        pass
    except BaseException as e:  # noqa: BLE001 - a worker reports and exits
        report("worker %d" % index, e)
        code = 3
    finally:
        try:
            sys.stdout.flush()
            sys.stderr.flush()
        finally:
            os._exit(code)


def _stop_children(children: dict, grace: float) -> float:
    """SIGTERM to every worker (a second one is their fast stop); returns when to SIGKILL them."""
    for p in children:
        try:
            os.kill(p, signal.SIGTERM)
        except ProcessLookupError:
            pass
    return time.monotonic() + grace + 5


def _supervise(cluster: Any, make_core: Callable[..., Any], workers: int, grace: float) -> None:
    children: dict = {}  # pid -> (index, start time)
    quick_deaths = [0] * workers

    def spawn(index: int) -> None:
        pid = os.fork()
        if pid == 0:
            _worker(cluster, make_core, index, grace)
        children[pid] = (index, time.monotonic())

    for i in range(workers):
        spawn(i)
    logger.info("serving with %d worker processes (pids %s)", workers, " ".join(map(str, children)))
    stopping = 0
    deadline = None
    try:
        while children:
            try:
                if deadline is not None:
                    pid, status = os.waitpid(-1, os.WNOHANG)
                    if pid == 0:
                        if time.monotonic() > deadline:
                            for p in children:
                                os.kill(p, signal.SIGKILL)
                            deadline = time.monotonic() + 5
                        time.sleep(0.1)
                        continue
                else:
                    pid, status = os.wait()
            except ChildProcessError:
                break
            except KeyboardInterrupt:
                stopping += 1
                deadline = _stop_children(children, grace if stopping == 1 else 0)
                continue
            if pid not in children:
                continue
            index, started = children.pop(pid)
            for _ in range(50):
                if cluster.release_worker(index):
                    break
                time.sleep(0.02)
            if stopping:
                continue
            lived = time.monotonic() - started
            quick_deaths[index] = quick_deaths[index] + 1 if lived < 5 else 0
            delay = min(30.0, 0.5 * 2 ** (quick_deaths[index] - 1)) if quick_deaths[index] > 1 else 0.0
            logger.error("worker %d (pid %d) ended (status %d) after %.1f s; starting it again%s", index, pid,
                         status, lived, " in %.1f s" % delay if delay else "")
            try:
                if delay:
                    time.sleep(delay)
                spawn(index)
            except KeyboardInterrupt:
                stopping += 1
                deadline = _stop_children(children, grace)
    finally:
        for p in list(children):
            try:
                os.kill(p, signal.SIGKILL)
                os.waitpid(p, 0)
            except (ProcessLookupError, ChildProcessError):
                pass
