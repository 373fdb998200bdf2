"""Fixtures that run the real feitpd on loopback.

`start_server(...)` starts a feitpd with a fresh root on a free port and waits until it greets;
every server a test started is stopped after the test (SIGTERM, then SIGKILL), and its log is
attached to the report of a failing test. The binary is build/bin/feitpd unless FEITPD says
otherwise. FEITP_TEST_AGAINST=pyftpdlib runs the harness against pyftpdlib (a self-check of the
tests' own plumbing; feitp-specific assertions are expected to fail there).
"""
from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from feitp_harness import (  # noqa: E402
    Server, build_argv, feitpd_binary, free_port, passive_range, sanitizer_log_reports,
    sanitizer_report,
)

DEFAULT_USER = "alice"
DEFAULT_PASSWORD = "s3cret-Pass"


def pytest_configure(config):
    config.addinivalue_line("markers", "slow: takes more than a few seconds")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    servers = getattr(item, "_feitpd_servers", [])
    if rep.failed and servers:
        for i, srv in enumerate(servers):
            text = srv.log()
            if len(text) > 20000:
                text = "...\n" + text[-20000:]
            rep.sections.append((f"feitpd log #{i} ({' '.join(srv.argv)})", text))


@pytest.fixture
def start_server(request, tmp_path_factory):
    """Factory: start_server(users=..., write=True, anonymous=False, extra=[...],
    config_text=None, root=None, host='127.0.0.1', env=None, bare=False, pasv_ports=40,
    pasv_ephemeral=False, port=None) -> Server.

    config_text is formatted with {root}, {work}, {pasv_min}, {pasv_max} (so literal braces in
    TOML must be doubled); bare=True passes only --listen and --config."""
    binary = feitpd_binary()
    if os.environ.get("FEITP_TEST_AGAINST") != "pyftpdlib" and not binary.exists():
        pytest.fail(f"feitpd not built: {binary} does not exist (run scripts/build.sh "
                    f"or set FEITPD)")
    started: list[Server] = []
    request.node._feitpd_servers = started

    def _start(users: dict[str, str] | None = None, write: bool = True, anonymous: bool = False,
               extra: list[str] | None = None, config_text: str | None = None,
               root: Path | None = None, host: str = "127.0.0.1",
               env: dict | None = None, bare: bool = False, pasv_ports: int = 40,
               pasv_ephemeral: bool = False, port: int | None = None) -> Server:
        work = tmp_path_factory.mktemp("feitpd")
        if root is None:
            root = work / "root"
            root.mkdir()
        users = users if users is not None else {DEFAULT_USER: DEFAULT_PASSWORD}
        config = None
        pasv = passive_range(pasv_ports, ephemeral=pasv_ephemeral)
        if config_text is not None:
            config = work / "feitpd.toml"
            config.write_text(config_text.format(root=root, work=work, pasv_min=pasv[0],
                                                 pasv_max=pasv[1]))
        port = port or free_port(host)
        argv = build_argv(host=host, port=port, root=root, users=users, write=write,
                          anonymous=anonymous, pasv=pasv, extra=list(extra or []),
                          config=config, bare=bare)
        first_user = next(iter(users), "anonymous")
        srv = Server(host=host, port=port, root=root, user=first_user,
                     password=users.get(first_user, "guest@example.com"), pasv=pasv,
                     log_path=work / "feitpd.log", argv=argv, users=dict(users))
        started.append(srv)
        srv.start(env=env)
        return srv

    yield _start
    reports = []
    for srv in started:
        srv.stop()
        # A sanitizer report (builds of scripts/sanitize.sh) is a failure even when every reply
        # was right: the memory error or race is there all the same.
        report = sanitizer_report(srv.log())
        if report:
            reports.append(f"feitpd ({' '.join(srv.argv)}):\n{report}")
    if reports:
        pytest.fail("sanitizer report:\n" + "\n".join(reports), pytrace=False)


_SEEN_SANITIZER_LOGS: set[str] = set()


@pytest.fixture(autouse=True)
def no_sanitizer_log_reports():
    """Fails the test during which a sanitized program wrote a report file (see
    feitp_harness.sanitizer_log_reports); autouse fixtures are torn down after the fixtures that
    stop the programs, so reports written at exit (leaks) are seen too."""
    sanitizer_log_reports(_SEEN_SANITIZER_LOGS)  # older ones belong to someone else
    yield
    reports = sanitizer_log_reports(_SEEN_SANITIZER_LOGS)
    if reports:
        pytest.fail("sanitizer report:\n" + "\n".join(reports), pytrace=False)


@pytest.fixture
def server(start_server) -> Server:
    """A feitpd with one user that has every permission (--write)."""
    return start_server()


@pytest.fixture
def ftp(server):
    """A logged-in ftplib session on `server` (passive mode)."""
    f = server.connect()
    yield f
    try:
        f.quit()
    except Exception:
        f.close()
