"""The daemon's log lines (docs/operations.md, "Logs"), --check of every path, --help.

Logins at info with user, address and session; the writing process's pid in every text line;
each worker's own pid and thread id in JSON lines; the protocol log (PASS masked, control
characters escaped); --check naming each unusable path without creating anything.
"""
from __future__ import annotations

import json
import os
import re
import time

from feitp_harness import Raw, crypt_hash, feitpd_binary, run

USER = "alice"
PASSWORD = "s3cret-Pass"

TEXT_LINE = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3} \[(\w+)\] \[(\d+)\] (.*)$")


def users_toml(home: str = "{root}") -> str:
    return (f'[users.{USER}]\npassword_hash = "{crypt_hash(PASSWORD)}"\nhome = "{home}"\n'
            'permissions = "elradfmwMT"\n')


def wait_for(fn, what: str, timeout: float = 5.0):
    deadline = time.monotonic() + timeout
    while True:
        v = fn()
        if v:
            return v
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def master_and_workers(pid: int) -> tuple[int, set[int]]:
    kids = set()
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                with open(f"/proc/{d}/stat") as f:
                    fields = f.read().rsplit(")", 1)[1].split()
                if int(fields[1]) == pid:
                    kids.add(int(d))
            except OSError:
                pass
    return pid, kids


def test_text_lines_carry_the_worker_pid_and_the_login(start_server):
    srv = start_server(users={USER: PASSWORD}, extra=["--workers", "2"])
    f = srv.connect()
    f.quit()
    log = wait_for(lambda: re.search(rf"session \d+: logged in as '{USER}' from 127\.0\.0\.1$", srv.log(), re.M)
                   and srv.log(), "the login line")
    _, workers = master_and_workers(srv.proc.pid)
    # Every logger line (not the start-up line printed to standard output) has the pid.
    lines = [l for l in log.splitlines() if re.match(r"^\d{4}-\d\d-\d\d ", l)]
    assert lines and all(TEXT_LINE.match(l) for l in lines), lines
    pids = {int(TEXT_LINE.match(l).group(2)) for l in lines}
    assert srv.proc.pid in pids and workers <= pids, (pids, workers)
    login = next(TEXT_LINE.match(l) for l in lines if "logged in as" in l)
    assert login.group(1) == "info"
    assert int(login.group(2)) in workers, (login.group(0), workers)


def test_json_lines_carry_each_workers_own_pid_and_thread(start_server, tmp_path):
    logfile = tmp_path / "feitpd.json"
    srv = start_server(users={USER: PASSWORD}, extra=["--workers", "2"],
                       config_text=f'[log]\nformat = "json"\nfile = "{logfile}"\n')
    for _ in range(4):
        f = srv.connect()
        f.quit()
    _, workers = master_and_workers(srv.proc.pid)

    def logins():
        if not logfile.exists():
            return None
        rows = [json.loads(l) for l in logfile.read_text().splitlines() if l.strip()]
        got = [r for r in rows if "logged in as" in r["msg"]]
        return got if len(got) >= 4 else None

    rows = wait_for(logins, "four JSON login lines")
    for r in rows:
        assert r["level"] == "info"
        assert r["pid"] in workers, (r, workers)
        # The login is logged on the worker's event loop: its main thread, whose id is the pid.
        # (spdlog's own cached id gave every worker the master's thread id.)
        assert r["thread"] == r["pid"], r
        assert r["thread"] != srv.proc.pid


def test_protocol_log_masks_the_password_and_escapes_controls(start_server):
    srv = start_server(users={USER: PASSWORD}, extra=["--protocol-log"])
    c = Raw(srv)
    assert c.greeting[0] == 220
    c.login(USER, PASSWORD)
    c.cmd("MKD evil\x1b[2Jname")  # whatever the reply, the line is logged escaped
    assert c.cmd("QUIT")[0] == 221
    c.sock.close()
    log = wait_for(lambda: "> QUIT" in srv.log() and srv.log(), "the protocol log")
    assert PASSWORD not in log
    assert re.search(r"session \d+: > PASS \*\*\*\*$", log, re.M), log
    assert re.search(rf"session \d+: > USER {USER}$", log, re.M)
    assert re.search(r"session \d+: < 230 ", log, re.M)
    assert re.search(r"session \d+: > MKD evil\\x1b\[2Jname$", log, re.M), log
    assert "\x1b" not in log


def test_no_protocol_log_by_default(start_server):
    srv = start_server(users={USER: PASSWORD})
    f = srv.connect()
    f.quit()
    log = wait_for(lambda: "logged in as" in srv.log() and srv.log(), "the login line")
    assert "> USER" not in log and "< 230" not in log


def test_check_names_every_unusable_path_and_creates_nothing(tmp_path):
    missing_dir = tmp_path / "no-such-dir"
    not_exec = tmp_path / "hook.sh"
    not_exec.write_text("#!/bin/sh\nexit 0\n")
    not_exec.chmod(0o644)
    home = tmp_path / "home"
    home.mkdir()
    cfg = tmp_path / "feitpd.toml"
    cfg.write_text(
        users_toml(str(home)).replace("{root}", str(home)) +
        f'[log]\nfile = "{missing_dir}/feitpd.log"\nxferlog = "{home}"\n'
        f'[server]\npid_file = "{missing_dir}/feitpd.pid"\n'
        f'[hooks]\non_login = "{tmp_path}/missing-hook"\non_logout = "{not_exec}"\n')
    cfg.chmod(0o644)
    r = run([str(feitpd_binary()), "--check", "--config", str(cfg)], timeout=30)
    assert r.returncode == 1, r.stdout + r.stderr
    lines = r.stderr.strip().splitlines()
    expect = {
        "log.file": f"{missing_dir}/feitpd.log: directory {missing_dir} does not exist",
        "log.xferlog": f"{home}: is a directory",
        "server.pid_file": f"{missing_dir}/feitpd.pid: directory {missing_dir} does not exist",
        "hooks.on_login": f"{tmp_path}/missing-hook: program No such file or directory",
        "hooks.on_logout": f"{not_exec}: not executable",
    }
    for key, text in expect.items():
        assert any(l.startswith(f"{cfg}: {key}: {text}") for l in lines), (key, lines)
    assert len(lines) == len(expect), lines
    assert not missing_dir.exists()


def test_check_does_not_create_the_root(tmp_path):
    root = tmp_path / "not-yet"
    r = run([str(feitpd_binary()), "--check", "--user", "u:pw-1234", "--root", str(root)], timeout=30)
    assert r.returncode == 1
    assert f"--root: {root} does not exist" in r.stderr
    assert not root.exists()


def test_start_refuses_a_log_file_in_a_missing_directory(tmp_path):
    missing = tmp_path / "nope"
    cfg = tmp_path / "f.toml"
    cfg.write_text(f'[log]\nfile = "{missing}/x.log"\n')
    cfg.chmod(0o644)
    r = run([str(feitpd_binary()), "--config", str(cfg), "--user", "u:pw-1234", "--root", str(tmp_path),
             "--listen", "127.0.0.1:0", "--workers", "1"], timeout=30)
    assert r.returncode == 1
    assert f"cannot open log file {missing}/x.log: directory {missing} does not exist" in r.stderr
    assert not missing.exists()


def test_help_shows_defaults_and_points_to_the_docs():
    r = run([str(feitpd_binary()), "--help"], timeout=30)
    assert r.returncode == 0
    out = r.stdout
    for text in ("default 0.0.0.0:2121", "default 300", "default info", "--proxy-protocol-from",
                 "--protocol-log", "docs/configuration.md", "feitpd(8)"):
        assert text in out, text
