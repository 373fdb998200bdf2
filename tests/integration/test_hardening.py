"""Process hardening of the real feitpd: workers without privileges (F10), no password on the
command line (F13), the config file's owner and mode (F22), the open-files limit.

Every check reads what the kernel reports (/proc/PID/status, /proc/PID/cmdline,
/proc/PID/limits) or what a real client sees; every wait has a deadline.
"""
from __future__ import annotations

import ftplib
import os
import re
import resource
import signal
import socket
import subprocess
from pathlib import Path

import pytest

from feitp_harness import (SANITIZED, Server, build_argv, crypt_hash, feitpd_binary, free_port,
                           passive_range, random_bytes, retr_bytes, stor_bytes)
from runtime_helpers import children, comm, runtime_config, uid_of, wait_for, workers

pytestmark = pytest.mark.skipif(os.environ.get("FEITP_TEST_AGAINST") == "pyftpdlib",
                                reason="feitpd's own process model")
needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="the checks apply to a root start")

SECRET = "secretpw-F13-x9"


def status(pid: int) -> dict[str, str]:
    out = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        k, _, v = line.partition(":")
        out[k] = v.strip()
    return out


def thread_statuses(pid: int) -> list[dict[str, str]]:
    out = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        d = {}
        for line in (task / "status").read_text().splitlines():
            k, _, v = line.partition(":")
            d[k] = v.strip()
        out.append(d)
    return out


def sandboxed(pid: int) -> bool:
    s = status(pid)
    return s.get("NoNewPrivs") == "1" and s.get("Seccomp") == "2"


def feitpd_pids(master: int) -> list[int]:
    return [master] + [k for k in children(master) if comm(k).startswith("feitpd")]


def memory_holding(pid: int, needle: bytes) -> list[str]:
    """The readable mappings of `pid` that contain `needle` (reads /proc/PID/mem in chunks).
    Under a sanitizer (scripts/sanitize.sh), mappings above 1 GiB are the sanitizer's shadow
    and allocator reserves (terabytes of address space) and are not read; a normal build has
    none and every mapping is read."""
    hits = []
    chunk = 16 << 20
    with open(f"/proc/{pid}/maps") as maps, open(f"/proc/{pid}/mem", "rb", 0) as mem:
        for line in maps:
            parts = line.split()
            name = parts[5] if len(parts) > 5 else parts[0]
            if "r" not in parts[1] or name in ("[vvar]", "[vsyscall]"):
                continue
            lo, hi = (int(x, 16) for x in parts[0].split("-"))
            if SANITIZED and hi - lo > (1 << 30):
                continue
            tail = b""
            try:
                for at in range(lo, hi, chunk):
                    mem.seek(at)
                    block = tail + mem.read(min(chunk, hi - at))
                    if needle in block:
                        hits.append(name)
                        break
                    tail = block[-(len(needle) - 1):]
            except OSError:
                continue
    return hits


def assert_secret_nowhere(master: int, secret: str) -> None:
    """Neither the command line nor the memory of the master or a worker holds `secret`
    (checked before any client sent it in a PASS command)."""
    for pid in feitpd_pids(master):
        assert secret.encode() not in Path(f"/proc/{pid}/cmdline").read_bytes(), pid
        assert memory_holding(pid, secret.encode()) == [], (pid, comm(pid))


def wait_banner(host: str, port: int, proc: subprocess.Popen, timeout: float = 15) -> None:
    def up():
        if proc.poll() is not None:
            raise AssertionError(f"feitpd exited with {proc.returncode} at start")
        try:
            with socket.create_connection((host, port), timeout=2) as s:
                return s.recv(512).startswith(b"220")
        except OSError:
            return False
    wait_for(up, timeout, what="the banner")


def check_config(config: Path, timeout: float = 10) -> subprocess.CompletedProcess:
    return subprocess.run([str(feitpd_binary()), "--config", str(config), "--check"],
                          capture_output=True, text=True, timeout=timeout,
                          stdin=subprocess.DEVNULL)


def write_config(path: Path, root: Path, mode: int = 0o644) -> Path:
    path.write_text(f'[server]\nlisten = "127.0.0.1:{free_port()}"\n\n'
                    f'[users.alice]\npassword_hash = "{crypt_hash("pw-alice")}"\n'
                    f'home = "{root}"\n')
    path.chmod(mode)
    return path


# --- F13: secrets off the command line --------------------------------------------------------

def test_f13_password_not_in_any_cmdline(start_server):
    """F13: `--user NAME:PASSWORD` must not leave the password in /proc/PID/cmdline (mode 0444)
    of the master or of any worker, nor anywhere in their memory (it is hashed once, not kept
    for reloads); the password still logs in."""
    srv = start_server(users={"u": SECRET}, extra=["--workers", "2"])
    kids = workers(srv.proc.pid, 2)
    pids = feitpd_pids(srv.proc.pid)
    assert len(pids) == 1 + len(kids)
    for pid in pids:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        assert SECRET.encode() not in cmdline, (pid, cmdline)
        assert b"--user" in cmdline and b"u:" in cmdline, cmdline  # only the secret is gone
    assert_secret_nowhere(srv.proc.pid, SECRET)
    f = srv.connect(user="u", password=SECRET)
    assert f.pwd() == "/"
    f.quit()


def test_f13_password_file_logs_in(start_server, tmp_path):
    """F13: `--user NAME --password-file FILE` reads the password from a file; it never appears
    on the command line; a wrong password is still refused; the password file can go away
    before a reload (the hash is kept, the file is not read again)."""
    pw = tmp_path / "pw"
    pw.write_text(SECRET + "\n")
    pw.chmod(0o600)
    srv = start_server(users={}, extra=["--user", "bob", "--password-file", str(pw),
                                        "--workers", "2"])
    workers(srv.proc.pid, 2)
    assert_secret_nowhere(srv.proc.pid, SECRET)
    f = srv.connect(user="bob", password=SECRET)
    stor_bytes(f, "a.bin", b"hello")
    f.quit()
    with pytest.raises(ftplib.error_perm):
        srv.connect(user="bob", password=SECRET + "x")
    old = set(workers(srv.proc.pid, 2))
    pw.unlink()
    srv.proc.send_signal(signal.SIGHUP)
    workers(srv.proc.pid, 2, timeout=15, exclude=old)
    f = srv.connect(user="bob", password=SECRET)
    assert retr_bytes(f, "a.bin") == b"hello"
    f.quit()


def test_f13_password_stdin_logs_in(tmp_path):
    """F13: `--user NAME --password-stdin` reads the password from standard input (a pipe)."""
    root = tmp_path / "root"
    port = free_port()
    argv = [str(feitpd_binary()), "--listen", f"127.0.0.1:{port}", "--root", str(root),
            "--user", "carol", "--password-stdin", "--write", "--workers", "1"]
    log = open(tmp_path / "log", "wb")
    proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=log, stderr=subprocess.STDOUT,
                            start_new_session=True)
    try:
        proc.stdin.write((SECRET + "\n").encode())
        proc.stdin.close()
        wait_banner("127.0.0.1", port, proc)
        assert_secret_nowhere(proc.pid, SECRET)
        f = ftplib.FTP()
        f.connect("127.0.0.1", port, timeout=10)
        f.login("carol", SECRET)
        stor_bytes(f, "s.bin", b"x" * 1000)
        f.quit()
        assert (root / "s.bin").read_bytes() == b"x" * 1000
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(5)
        log.close()


def test_f13_user_without_password_is_a_clear_error(tmp_path):
    """`--user NAME` without a password source is refused with one line, not served."""
    r = subprocess.run([str(feitpd_binary()), "--root", str(tmp_path), "--user", "dave",
                        "--check"], capture_output=True, text=True, timeout=10,
                       stdin=subprocess.DEVNULL)
    assert r.returncode != 0
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "--password-file" in lines[0], r.stderr


# --- F22: config file owner and mode -----------------------------------------------------------

@needs_root
def test_f22_world_writable_config_refused(tmp_path):
    """F22: as root, a config file writable by others is refused by --check and at start."""
    cfg = write_config(tmp_path / "f.toml", tmp_path, 0o666)
    r = check_config(cfg)
    assert r.returncode != 0, r.stdout
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1, r.stderr
    assert str(cfg) in lines[0] and "writable" in lines[0], lines
    r = subprocess.run([str(feitpd_binary()), "--config", str(cfg)], capture_output=True,
                       text=True, timeout=10, stdin=subprocess.DEVNULL)
    assert r.returncode != 0 and "writable" in r.stderr, r.stderr
    cfg.chmod(0o620)  # group-writable: refused too
    r = check_config(cfg)
    assert r.returncode != 0 and "writable" in r.stderr, r.stderr


@needs_root
def test_f22_config_owned_by_another_user_refused(tmp_path):
    """F22: as root, a config file owned by another uid is refused (it could name any program
    as a hook)."""
    cfg = write_config(tmp_path / "f.toml", tmp_path, 0o644)
    os.chown(cfg, 65534, 65534)
    r = check_config(cfg)
    assert r.returncode != 0, r.stdout
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and str(cfg) in lines[0] and "owned by uid 65534" in lines[0], lines


@needs_root
def test_f22_config_not_a_regular_file_refused(tmp_path):
    """F22: a FIFO is not a config file: refused at once (not read, not hung on)."""
    fifo = tmp_path / "f.toml"
    os.mkfifo(fifo, 0o644)
    r = check_config(fifo)
    assert r.returncode != 0
    assert "not a regular file" in r.stderr and str(fifo) in r.stderr, r.stderr


@needs_root
def test_f22_root_owned_0644_config_accepted(tmp_path):
    cfg = write_config(tmp_path / "f.toml", tmp_path, 0o644)
    r = check_config(cfg)
    assert r.returncode == 0, r.stderr
    assert "configuration OK" in r.stdout


@needs_root
def test_f22_reload_refuses_a_config_made_writable(start_server):
    """F22: the check runs again at reload: a config turned world-writable is refused and the
    running configuration keeps serving."""
    srv = start_server(config_text=runtime_config(banner="before"))
    config = Path(srv.argv[srv.argv.index("--config") + 1])
    kids = set(workers(srv.proc.pid, 2))
    config.write_text(config.read_text().replace('"before"', '"after"'))
    config.chmod(0o666)
    srv.proc.send_signal(signal.SIGHUP)
    wait_for(lambda: "reload failed" in srv.log(), 10, what="the reload to fail")
    assert "writable" in srv.log()
    assert set(workers(srv.proc.pid, 2)) == kids
    f = srv.connect()
    assert "before" in f.getwelcome()
    f.quit()


# --- F10: worker privileges and sandbox ----------------------------------------------------------

# CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH and CAP_FOWNER: what root without run_as keeps.
FILE_ACCESS_CAPS = (1 << 1) | (1 << 2) | (1 << 3)


@needs_root
def test_f10_root_workers_keep_only_file_access_capabilities(start_server):
    """F10: started as root with the README's quick-start flags (no run_as), every worker
    thread has NoNewPrivs, a seccomp filter and only the file-access capabilities (no ptrace,
    chown, kill, setuid, mount...). Homes owned by another user (as a benchmark or another FTP
    server makes them) stay fully usable: uploads, overwrites, downloads, LIST and MKD."""
    srv = start_server(extra=["--workers", "2"])
    kids = workers(srv.proc.pid, 2)
    wait_for(lambda: all(sandboxed(k) for k in kids), 10, what="sandboxed workers")
    for k in kids:
        assert uid_of(k) == 0
        for s in thread_statuses(k):
            assert s["NoNewPrivs"] == "1" and s["Seccomp"] == "2", s
            for cap in ("CapPrm", "CapEff", "CapBnd"):
                assert int(s[cap], 16) == FILE_ACCESS_CAPS, (cap, s[cap])
            for cap in ("CapInh", "CapAmb"):
                assert int(s[cap], 16) == 0, (cap, s[cap])
    assert int(status(srv.proc.pid)["CapEff"], 16) != FILE_ACCESS_CAPS  # the master binds
    assert "root with file-access capabilities only" in srv.log()

    os.chown(srv.root, 65534, 65534)
    srv.root.chmod(0o755)
    other = srv.root / "other.txt"
    other.write_bytes(b"old")
    os.chown(other, 65534, 65534)
    other.chmod(0o644)
    data = random_bytes(300_000, seed=10)
    f = srv.connect()
    f.mkd("d")
    stor_bytes(f, "d/x.bin", data)
    assert retr_bytes(f, "d/x.bin") == data
    assert "x.bin" in " ".join(f.nlst("d"))
    stor_bytes(f, "other.txt", b"new")
    f.quit()
    assert other.read_bytes() == b"new"
    assert (srv.root / "d" / "x.bin").read_bytes() == data


@needs_root
def test_f10_single_process_is_sandboxed_after_bind(start_server):
    """F10: --workers 1 serves in the one process: it drops its capabilities after binding."""
    srv = start_server(extra=["--workers", "1"])
    wait_for(lambda: sandboxed(srv.proc.pid), 10, what="a sandboxed single process")
    for s in thread_statuses(srv.proc.pid):
        assert int(s["CapEff"], 16) == FILE_ACCESS_CAPS, s
        assert int(s["CapPrm"], 16) == FILE_ACCESS_CAPS, s
        assert s["NoNewPrivs"] == "1" and s["Seccomp"] == "2", s
    f = srv.connect()
    stor_bytes(f, "one.bin", b"1" * 5000)
    assert retr_bytes(f, "one.bin") == b"1" * 5000
    f.quit()


@needs_root
def test_f10_run_as_nobody_worker_is_nobody_and_sandboxed(start_server):
    text = runtime_config().replace("[server]\n", '[server]\nrun_as = "nobody"\n')
    srv = start_server(config_text=text)
    kids = workers(srv.proc.pid, 2)
    wait_for(lambda: all(sandboxed(k) and uid_of(k) == 65534 for k in kids), 10,
             what="workers as nobody in the sandbox")
    for k in kids:
        assert int(status(k)["CapEff"], 16) == 0


@needs_root
def test_f10_run_as_flag(start_server):
    """--run-as NAME is server.run_as from the command line (quick start without a file)."""
    srv = start_server(extra=["--run-as", "nobody", "--workers", "2"])
    kids = workers(srv.proc.pid, 2)
    wait_for(lambda: all(sandboxed(k) and uid_of(k) == 65534 for k in kids), 10,
             what="workers as nobody in the sandbox")


@needs_root
def test_f10_run_as_root_is_an_explicit_opt_in(start_server):
    """run_as = "root" keeps the capabilities (the operator asked), still with the filter."""
    text = runtime_config().replace("[server]\n", '[server]\nrun_as = "root"\n')
    srv = start_server(config_text=text)
    kids = workers(srv.proc.pid, 2)
    wait_for(lambda: all(sandboxed(k) for k in kids), 10, what="sandboxed workers")
    for k in kids:
        assert int(status(k)["CapEff"], 16) != 0


@needs_root
def test_f10_sandbox_false_turns_the_filter_off(start_server):
    text = runtime_config().replace("[server]\n", "[server]\nsandbox = false\n")
    srv = start_server(config_text=text)
    kids = workers(srv.proc.pid, 2)
    f = srv.connect()  # a worker that answers has finished its set-up
    f.quit()
    for k in kids:
        s = status(k)
        assert s["Seccomp"] == "0" and s["NoNewPrivs"] == "0", s
        # root without run_as still gives up all but the file-access capabilities
        assert int(s["CapEff"], 16) == FILE_ACCESS_CAPS


@needs_root
def test_f10_filter_denies_namespaces_and_hook_programs_inherit_it(start_server, tmp_path):
    """The filter answers EPERM (it does not kill) and hook programs inherit it with
    NoNewPrivs: a hook cannot unshare a user namespace or regain capabilities. (It reports
    inside the home: Landlock keeps it from writing anywhere else.)"""
    home = tmp_path / "home"
    out = home / "out"
    out.mkdir(parents=True)
    hook = tmp_path / "hook.sh"
    hook.write_text("#!/bin/sh\n"
                    f"grep -E '^(NoNewPrivs|Seccomp|CapEff):' /proc/self/status > {out}/status\n"
                    f"unshare --user true 2> {out}/unshare.err; echo $? > {out}/unshare.rc\n")
    hook.chmod(0o755)
    users = (f'[users.alice]\npassword_hash = "{crypt_hash("pw")}"\nhome = "{{root}}"\n'
             f'permissions = "elradfmwMT"\n')
    srv = start_server(users={"alice": "pw"}, bare=True, root=home,
                       config_text=users + f'[hooks]\non_file_received = "{hook}"\n')
    f = srv.connect()
    stor_bytes(f, "h.bin", b"hook me")
    f.quit()
    wait_for(lambda: (out / "unshare.rc").exists() and (out / "unshare.rc").read_text(), 10,
             what="the hook program")
    st = dict(line.split(":\t") for line in (out / "status").read_text().splitlines())
    assert st["NoNewPrivs"] == "1" and st["Seccomp"] == "2", st
    assert int(st["CapEff"], 16) == 0, st
    assert (out / "unshare.rc").read_text().strip() != "0"
    assert "Operation not permitted" in (out / "unshare.err").read_text()


def kernel_has_landlock() -> bool:
    """landlock_create_ruleset(NULL, 0, LANDLOCK_CREATE_RULESET_VERSION) answers the ABI."""
    import ctypes
    libc = ctypes.CDLL(None, use_errno=True)
    return libc.syscall(444, None, ctypes.c_size_t(0), ctypes.c_uint32(1)) >= 1  # x86_64, arm64


# What a hook program (a child of the worker: it inherits the worker's Landlock domain, so it is
# a fair stand-in for code running in a compromised worker) tries outside the homes. Each
# attempt runs in a subshell so a refused redirection does not end the script; the results go
# to a file inside the home, which must stay writable.
ESCAPE_HOOK = """#!/bin/sh
r="{home}/.escape-results"
(echo created > "{outside}/created") 2>/dev/null; echo "create=$?" > "$r.tmp"
(echo appended >> "{outside}/existing.txt") 2>/dev/null; echo "append=$?" >> "$r.tmp"
mkdir "{outside}/newdir" 2>/dev/null; echo "mkdir=$?" >> "$r.tmp"
rm -f "{outside}/victim" 2>/dev/null; echo "remove=$?" >> "$r.tmp"
ln -s /etc/passwd "{outside}/link" 2>/dev/null; echo "symlink=$?" >> "$r.tmp"
mv "{home}/moved-out.txt" "{outside}/moved-out.txt" 2>/dev/null; echo "move_out=$?" >> "$r.tmp"
(echo inside > "{home}/hook-wrote.txt") 2>/dev/null; echo "inside=$?" >> "$r.tmp"
mv "$r.tmp" "$r"
"""


def escape_attempt(start_server, tmp_path: Path, workers: str, server_toml: str = ""):
    """Starts feitpd with the quick-start flags as root (no run_as) plus an on_file_received
    hook running ESCAPE_HOOK, uploads one file, and returns (server, results, outside dir).
    The outside directory is root-owned 0755, like /etc: uid 0 owns it, so only Landlock can
    stop a uid-0 worker (which keeps CAP_DAC_OVERRIDE) from writing there."""
    home = tmp_path / "home"
    home.mkdir()
    (home / "moved-out.txt").write_bytes(b"stays home")
    outside = tmp_path / "outside"
    outside.mkdir()
    outside.chmod(0o755)
    assert outside.stat().st_uid == 0
    (outside / "existing.txt").write_bytes(b"original\n")
    (outside / "victim").write_bytes(b"keep me")
    hook = tmp_path / "escape.sh"
    hook.write_text(ESCAPE_HOOK.format(home=home, outside=outside))
    hook.chmod(0o755)
    srv = start_server(root=home, extra=["--workers", workers],
                       config_text=server_toml + f'[hooks]\non_file_received = "{hook}"\n')
    f = srv.connect()
    stor_bytes(f, "trigger.bin", b"run the hook")
    f.quit()
    done = home / ".escape-results"
    wait_for(lambda: done.exists(), 10, what="the hook's results")
    results = dict(line.split("=", 1) for line in done.read_text().split())
    return srv, results, outside


@needs_root
@pytest.mark.parametrize("workers", ["2", "1"])
def test_landlock_root_worker_cannot_write_outside_homes(start_server, tmp_path, workers):
    """Root without run_as (the quick start): uid 0 with the file-access capabilities can write every
    root-owned file (/etc/passwd, /usr/bin, /root/.ssh): Landlock confines the serving
    process's writes to the homes (and log directories, /dev/null). A hook program inherits
    the domain, so it stands for code running in a compromised worker: it cannot create,
    append, remove, symlink or move a file into a root-owned directory outside the home,
    while it and the FTP commands can still write inside it."""
    srv, results, outside = escape_attempt(start_server, tmp_path, workers)
    if not kernel_has_landlock():
        assert "no landlock (" in srv.log(), srv.log()[-3000:]
        pytest.fail("this kernel has no Landlock: the confinement cannot be shown here")
    assert results["inside"] == "0", results
    assert (srv.root / "hook-wrote.txt").read_text() == "inside\n"
    for attempt in ("create", "append", "mkdir", "remove", "symlink", "move_out"):
        assert results[attempt] != "0", (attempt, results)
    assert sorted(p.name for p in outside.iterdir()) == ["existing.txt", "victim"]
    assert (outside / "existing.txt").read_bytes() == b"original\n"
    assert (outside / "victim").read_bytes() == b"keep me"
    assert (srv.root / "moved-out.txt").read_bytes() == b"stays home"
    line = "privileges: " if workers == "1" else "serving: "
    m = re.search(rf"{line}root with file-access capabilities only; no_new_privs; "
                  r"landlock \(writes beneath (\d+) paths\); seccomp", srv.log())
    assert m, srv.log()
    # The home and /dev/null (the log goes to stderr); sanitizer builds add their report dir.
    assert int(m.group(1)) == 2 + ("FEITP_SANITIZER_LOG_DIR" in os.environ), m.group(0)

    # Inside the home every write command still works, renames between directories too.
    data = random_bytes(200_000, seed=77)
    f = srv.connect()
    f.mkd("a")
    f.mkd("b")
    stor_bytes(f, "a/x.bin", data)
    f.rename("a/x.bin", "b/y.bin")
    assert retr_bytes(f, "b/y.bin") == data
    f.sendcmd("TYPE I")
    with f.transfercmd("APPE b/y.bin") as conn:
        conn.sendall(b"tail")
    f.voidresp()
    f.delete("b/y.bin")
    f.rmd("a")
    f.quit()
    assert not (srv.root / "b" / "y.bin").exists() and not (srv.root / "a").exists()


@needs_root
def test_landlock_off_with_sandbox_false(start_server, tmp_path):
    """server.sandbox = false turns Landlock off with the rest: the same hook now writes
    outside the home (what the test above would see without Landlock)."""
    srv, results, outside = escape_attempt(start_server, tmp_path, "2",
                                           server_toml="[server]\nsandbox = false\n")
    assert "sandbox off" in srv.log()
    assert results["create"] == "0" and (outside / "created").read_text() == "created\n"
    assert results["remove"] == "0" and not (outside / "victim").exists()


@needs_root
def test_landlock_not_applied_with_run_as(start_server, tmp_path):
    """With run_as the worker's user decides what it can write (documented choice): no
    Landlock, so hook programs writing elsewhere as that user keep working."""
    text = runtime_config().replace("[server]\n", '[server]\nrun_as = "nobody"\n')
    srv = start_server(config_text=text)
    wait_for(lambda: "serving: user nobody" in srv.log(), 10, what="the workers' line")
    assert "landlock (writes beneath" not in srv.log()


# --- Open-files limit --------------------------------------------------------------------------

def limited_server(tmp_path: Path, name: str, nofile: str, extra: list[str]) -> Server:
    """A quick-start feitpd under `prlimit --nofile=SOFT:HARD` (prlimit execs it: same pid)."""
    work = tmp_path / name
    root = work / "root"
    root.mkdir(parents=True)
    port = free_port()
    pasv = passive_range(10)
    argv = build_argv(host="127.0.0.1", port=port, root=root, users={"alice": "pw"}, write=True,
                      anonymous=False, pasv=pasv, extra=extra, config=None)
    return Server(host="127.0.0.1", port=port, root=root, user="alice", password="pw",
                  pasv=pasv, log_path=work / "log", users={"alice": "pw"},
                  argv=["prlimit", f"--nofile={nofile}", "--"] + argv)


def nofile(pid: int) -> tuple[str, str]:
    for line in Path(f"/proc/{pid}/limits").read_text().splitlines():
        if line.startswith("Max open files"):
            return line.split()[3], line.split()[4]
    raise AssertionError(f"no open-files line for {pid}")


def test_open_files_soft_limit_raised_to_hard(tmp_path):
    """With max_open_files = 0 the soft RLIMIT_NOFILE goes up to the hard limit in the master
    and the workers, so thousands of sessions do not hit EMFILE at 1024."""
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    hard = 4096 if hard == resource.RLIM_INFINITY else min(hard, 4096)
    srv = limited_server(tmp_path, "a", f"256:{hard}", ["--workers", "2"])
    try:
        srv.start()
        pids = [srv.proc.pid] + workers(srv.proc.pid, 2)
        for pid in pids:
            assert nofile(pid) == (str(hard), str(hard)), pid
        f = srv.connect()
        f.quit()
    finally:
        srv.stop()


def test_open_files_hard_limit_too_low_is_logged(tmp_path):
    """A hard limit below what max_connections needs is said at start (one warning line)."""
    srv = limited_server(tmp_path, "b", "64:200", ["--workers", "1"])
    try:
        srv.start()
        assert nofile(srv.proc.pid) == ("200", "200")
        lines = [l for l in srv.log().splitlines() if "max_connections" in l]
        assert len(lines) == 1 and "open files" in lines[0] and "200" in lines[0], srv.log()
    finally:
        srv.stop()
