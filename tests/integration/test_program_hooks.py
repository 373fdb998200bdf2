"""External program hooks (the daemon's [hooks], src/ext) and the xferlog (src/obs/xferlog):
environment variables as documented in docs/embedding.md, a failing check_upload program
refuses the upload, a hanging one is killed (with what it started) at its timeout, a full queue
drops events without slowing transfers, no zombie is left behind.

They run the hooks inside tests/integration/hook_probe (--program-hooks FILE adds exactly what
feitpd's make_server adds for a config file); the last test runs feitpd itself."""
from __future__ import annotations

import ftplib
import os
import re
import time
from pathlib import Path

import pytest

from feitp_harness import crypt_hash, random_bytes, retr_bytes, stor_bytes
from test_hooks import PASSWORD, USER, Probe, probe_binary

ENV_DUMP = """#!/bin/sh
# writes its environment, one file per run
env > "{out}/.tmp.$$"
mv "{out}/.tmp.$$" "{out}/$FEITP_EVENT.$$.env"
"""


def script(path: Path, text: str) -> str:
    path.write_text(text)
    path.chmod(0o755)
    return str(path)


def read_envs(out: Path, event: str) -> list[dict[str, str]]:
    envs = []
    for p in sorted(out.glob(f"{event}.*.env")):
        env = {}
        for line in p.read_text().splitlines():
            k, _, v = line.partition("=")
            env[k] = v
        envs.append(env)
    return envs


def wait_for(pred, timeout: float = 10.0, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        v = pred()
        if v:
            return v
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def start(tmp_path: Path, hooks: dict[str, str], extra_toml: str = "") -> Probe:
    conf = tmp_path / "hooks.toml"
    lines = ["[hooks]"] + [f'{k} = "{v}"' if isinstance(v, str) else f"{k} = {v}"
                           for k, v in hooks.items()]
    # (the probe takes only [hooks] and [log] from it; a user keeps the file valid)
    users = f'[users.{USER}]\npassword_hash = "{crypt_hash(PASSWORD)}"\nhome = "{tmp_path}"\n'
    conf.write_text(extra_toml + "\n" + users + "\n".join(lines) + "\n")
    work = tmp_path / "probe"
    work.mkdir()
    return Probe(work, ["--program-hooks", str(conf)])


@pytest.fixture
def probes():
    if not probe_binary().exists():
        pytest.fail(f"{probe_binary()} not built")
    started: list[Probe] = []
    yield started
    for p in started:
        p.stop()
        print(f"--- hook_probe log:\n{p.log()[-5000:]}")


def no_zombies(pid: int) -> list[str]:
    """Children of `pid` that are zombies."""
    bad = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid and fields[0] == "Z":
            bad.append(stat.parent.name)
    return bad


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie still "exists": look at its state
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def test_notify_programs_get_the_documented_environment(tmp_path, probes):
    out = tmp_path / "env"
    out.mkdir()
    dump = script(tmp_path / "dump.sh", ENV_DUMP.format(out=out))
    events = ["on_connect", "on_login", "on_login_failed", "on_logout", "on_disconnect",
              "on_file_received", "on_file_sent", "on_incomplete_file_received", "on_mkdir",
              "on_remove", "on_rename"]
    p = start(tmp_path, {e: dump for e in events} | {"timeout": 10, "queue": 100})
    probes.append(p)
    data = random_bytes(12345, seed=21)
    f = p.connect(login=False)
    local_port = f.sock.getsockname()[1]
    with pytest.raises(ftplib.error_perm):
        f.login(USER, "wrong")
    f.login(USER, PASSWORD)
    f.mkd("up")
    stor_bytes(f, "up/one two.bin", data)
    assert retr_bytes(f, "up/one two.bin") == data
    f.rename("up/one two.bin", "up/renamed.bin")
    f.delete("up/renamed.bin")
    f.quit()
    wait_for(lambda: read_envs(out, "on_disconnect"), what="on_disconnect program")
    wait_for(lambda: all(read_envs(out, e) for e in events if e != "on_incomplete_file_received"),
             what="every event's program")

    for e in events:
        if e == "on_incomplete_file_received":
            assert read_envs(out, e) == []
            continue
        envs = read_envs(out, e)
        assert len(envs) == 1, (e, envs)
        env = envs[0]
        assert env["FEITP_EVENT"] == e
        assert env["FEITP_PEER_ADDRESS"] == "127.0.0.1"
        assert env["FEITP_PEER_PORT"] == str(local_port)
        assert env["FEITP_SESSION_ID"].isdigit()
        assert env["FEITP_TLS"] == "0"
        assert env["FEITP_PID"] == str(p.proc.pid)
        assert "PATH" in env
        # nothing but PATH and FEITP_* (the server's environment does not leak)
        assert {k for k in env if not k.startswith("FEITP_")} <= {"PATH", "PWD", "SHLVL", "_"}, env
    ids = {read_envs(out, e)[0]["FEITP_SESSION_ID"] for e in events if e != "on_incomplete_file_received"}
    assert len(ids) == 1  # one session

    assert read_envs(out, "on_connect")[0]["FEITP_USER"] == ""
    assert read_envs(out, "on_login_failed")[0]["FEITP_USER"] == USER
    assert read_envs(out, "on_login")[0]["FEITP_USER"] == USER
    assert read_envs(out, "on_login")[0]["FEITP_HOME"] == str(p.root)

    rx = read_envs(out, "on_file_received")[0]
    assert rx["FEITP_PATH"] == "/up/one two.bin"
    assert rx["FEITP_LOCAL_PATH"] == str(p.root / "up" / "one two.bin")
    assert rx["FEITP_BYTES"] == str(len(data))
    assert rx["FEITP_OFFSET"] == "0"
    assert rx["FEITP_OUTCOME"] == "complete"
    assert rx["FEITP_DIRECTION"] == "upload"
    assert re.fullmatch(r"\d+\.\d{3}", rx["FEITP_SECONDS"])
    tx = read_envs(out, "on_file_sent")[0]
    assert (tx["FEITP_PATH"], tx["FEITP_BYTES"], tx["FEITP_DIRECTION"], tx["FEITP_OUTCOME"]) == \
        ("/up/one two.bin", str(len(data)), "download", "complete")
    mv = read_envs(out, "on_rename")[0]
    assert (mv["FEITP_FROM"], mv["FEITP_TO"], mv["FEITP_PATH"]) == \
        ("/up/one two.bin", "/up/renamed.bin", "/up/renamed.bin")
    assert read_envs(out, "on_mkdir")[0]["FEITP_PATH"] == "/up"
    assert read_envs(out, "on_remove")[0]["FEITP_PATH"] == "/up/renamed.bin"
    assert no_zombies(p.proc.pid) == []


def test_failing_check_upload_program_refuses(tmp_path, probes):
    out = tmp_path / "env"
    out.mkdir()
    check = script(tmp_path / "check.sh", f"""#!/bin/sh
env > "{out}/check_upload.$$.env"
if head -c 2 "$FEITP_LOCAL_PATH" | grep -q MZ; then
  echo "Executables are not accepted."
  echo "scan: $FEITP_PATH is an executable" >&2
  exit 1
fi
exit 0
""")
    p = start(tmp_path, {"check_upload": check, "timeout": 10})
    probes.append(p)
    f = p.connect()
    with pytest.raises(ftplib.error_perm) as e:
        stor_bytes(f, "bad.exe", b"MZ\x90\x00" + random_bytes(5000))
    assert str(e.value).startswith("550") and "Executables are not accepted." in str(e.value)
    stor_bytes(f, "good.txt", b"plain text")
    f.quit()
    assert not (p.root / "bad.exe").exists()
    assert (p.root / "good.txt").read_bytes() == b"plain text"
    envs = read_envs(out, "check_upload")
    assert sorted(e["FEITP_PATH"] for e in envs) == ["/bad.exe", "/good.txt"]
    bad = next(e for e in envs if e["FEITP_PATH"] == "/bad.exe")
    assert bad["FEITP_BYTES"] == "5004" and bad["FEITP_OUTCOME"] == "complete"
    assert bad["FEITP_USER"] == USER
    # the program's stderr reaches the server log
    assert "is an executable" in p.log()
    assert no_zombies(p.proc.pid) == []


def test_hanging_check_upload_program_is_killed_at_its_timeout(tmp_path, probes):
    pids = tmp_path / "pids"
    check = script(tmp_path / "hang.sh", f"""#!/bin/sh
sleep 1000 &
echo $$ $! > "{pids}"
wait
""")
    p = start(tmp_path, {"check_upload": check, "timeout": 1})
    probes.append(p)
    f = p.connect()
    t0 = time.monotonic()
    with pytest.raises(ftplib.error_perm) as e:
        stor_bytes(f, "slow.bin", b"data")
    took = time.monotonic() - t0
    assert str(e.value).startswith("550") and "timed out" in str(e.value)
    assert 0.9 <= took < 5, took
    assert not (p.root / "slow.bin").exists()
    f.quit()
    shell, child = (int(x) for x in pids.read_text().split())
    # the whole process group was killed: the script and what it started
    wait_for(lambda: not alive(shell) and not alive(child), timeout=5, what="killed processes")
    assert no_zombies(p.proc.pid) == []
    assert "timed out" in p.log()


def test_full_queue_drops_events_and_does_not_slow_transfers(tmp_path, probes):
    runs = tmp_path / "runs"
    runs.mkdir()
    slow = script(tmp_path / "slow.sh", f"""#!/bin/sh
touch "{runs}/$$"
sleep 1
""")
    p = start(tmp_path, {"on_file_received": slow, "queue": 2, "timeout": 5})
    probes.append(p)
    f = p.connect()
    t0 = time.monotonic()
    for i in range(12):
        stor_bytes(f, f"f{i}.bin", b"x" * 100)
    took = time.monotonic() - t0
    f.quit()
    assert took < 3, f"uploads waited for the notify programs: {took:.2f}s"
    assert "queue full" in wait_for(lambda: "queue full" in p.log() and p.log(), what="drop log")
    # one running + two queued at most while the uploads raced ahead
    time.sleep(3.5)
    n = len(list(runs.iterdir()))
    assert 1 <= n <= 4, n
    assert no_zombies(p.proc.pid) == []


def test_decision_programs_before_command_upload_download(tmp_path, probes):
    deny = script(tmp_path / "deny.sh", """#!/bin/sh
case "$FEITP_EVENT:$FEITP_COMMAND:$FEITP_ARGUMENT:$FEITP_PATH" in
  before_command:PASS:\\*\\*\\*\\*:*) exit 0 ;;
  before_command:PASS:*) echo "password leaked"; exit 1 ;;
  before_command:SITE:*) echo "No SITE for you."; exit 1 ;;
  before_upload:*:*:/ro/*) echo "Read-only area."; exit 1 ;;
  before_download:*:*:/private*) exit 3 ;;
esac
exit 0
""")
    p = start(tmp_path, {"before_command": deny, "before_upload": deny, "before_download": deny})
    probes.append(p)
    (p.root / "ro").mkdir()
    (p.root / "private.txt").write_bytes(b"p")
    f = p.connect()
    with pytest.raises(ftplib.error_perm) as e:
        f.sendcmd("SITE HELP")
    assert str(e.value).startswith("550") and "No SITE for you." in str(e.value)
    with pytest.raises(ftplib.error_perm) as e:
        stor_bytes(f, "/ro/x", b"x")
    assert "Read-only area." in str(e.value)
    with pytest.raises(ftplib.error_perm) as e:
        retr_bytes(f, "/private.txt")
    assert str(e.value).startswith("550") and "Download refused." in str(e.value)
    stor_bytes(f, "/ok.txt", b"ok")
    assert retr_bytes(f, "/ok.txt") == b"ok"
    f.quit()
    assert not (p.root / "ro" / "x").exists()


def test_xferlog_lines(tmp_path, probes):
    xferlog = tmp_path / "xferlog"
    p = start(tmp_path, {}, extra_toml=f'[log]\nxferlog = "{xferlog}"\n')
    probes.append(p)
    data = random_bytes(4321, seed=4)
    f = p.connect()
    stor_bytes(f, "with space.bin", data)
    assert retr_bytes(f, "with space.bin") == data
    f.quit()
    lines = wait_for(lambda: xferlog.exists() and len(xferlog.read_text().splitlines()) >= 2 and
                     xferlog.read_text().splitlines(), what="two xferlog lines")
    assert len(lines) == 2
    pat = re.compile(r"^(Mon|Tue|Wed|Thu|Fri|Sat|Sun) (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) "
                     r"[ \d]\d \d\d:\d\d:\d\d \d{4} (\d+) (\S+) (\d+) (\S+) ([ab]) _ ([io]) ([ar]) (\S+) "
                     r"ftp 0 \* ([ci])$")
    fields = [pat.match(line) for line in lines]
    assert all(fields), lines
    up, down = fields
    assert up.group(4, 5, 6, 7, 8, 9, 10, 11) == ("127.0.0.1", "4321", "/with_space.bin", "b", "i",
                                                   "r", USER, "c")
    assert down.group(5, 8, 11) == ("4321", "o", "c")
    assert int(up.group(3)) >= 1  # whole seconds, at least 1


def test_feitpd_runs_hook_programs(tmp_path, start_server):
    """The daemon itself: [hooks] from its config file (needs make_server to add the hooks)."""
    out = tmp_path / "env"
    out.mkdir()
    dump = script(tmp_path / "dump.sh", ENV_DUMP.format(out=out))
    check = script(tmp_path / "check.sh", "#!/bin/sh\necho 'No.'\nexit 1\n")
    users = (f'[users.{USER}]\npassword_hash = "{crypt_hash(PASSWORD)}"\nhome = "{{root}}"\n'
             f'permissions = "elradfmwMT"\n')
    srv = start_server(users={USER: PASSWORD}, bare=True,
                       config_text=(users + f'[hooks]\non_file_received = "{dump}"\n'
                                    f'check_upload = "{check}"\ntimeout = 5\n'))
    f = srv.connect()
    with pytest.raises(ftplib.error_perm) as e:
        stor_bytes(f, "refused.bin", b"data")
    assert str(e.value).startswith("550") and "No." in str(e.value), e.value
    f.quit()
    assert not (srv.root / "refused.bin").exists()
