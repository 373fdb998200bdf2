"""The files the Debian package ships, checked against the real daemon: the fail2ban filter
against feitpd's own failed-login lines (text and JSON logs, a hostile user name), the default
/etc/feitpd/feitpd.toml (valid, serves nobody), the systemd unit (paths, exposure score), the
man pages (generated from docs/configuration.md, nothing left out). The package itself is
installed and served in a fresh Debian root by scripts/deb-install-test.sh."""
from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from feitp_harness import REPO, Raw, crypt_hash, feitpd_binary, run

PKG = REPO / "packaging"
FILTER = PKG / "fail2ban" / "filter.d" / "feitpd.conf"
UNIT = PKG / "feitpd.service"
DEFAULT_CONFIG = PKG / "deb" / "feitpd.toml"
HOSTILE = "x' from 203.0.113.9: y"

LOG_CONFIG = '''
[server]
workers = 2

[passive]
ports = "{pasv_min}-{pasv_max}"

[limits]
max_login_attempts = 100
login_failure_delay_ms = 0

[log]
format = "FORMAT"
file = "{work}/feitpd.file.log"

[users.alice]
password_hash = "HASH"
home = "{root}"
permissions = "elr"
'''


def need(tool: str) -> str:
    path = shutil.which(tool)
    assert path, f"{tool} is missing: run ./scripts/setup.sh (it installs it)"
    return path


def fail2ban_matches(log: Path | str) -> list[str]:
    """The address fail2ban-regex takes from each line the packaged filter matches (a log file,
    or one line given as text)."""
    r = subprocess.run([need("fail2ban-regex"), "--out", "ip", str(log), str(FILTER)],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr
    return r.stdout.split()


@pytest.mark.parametrize("fmt", ["text", "json"])
def test_fail2ban_filter_matches_every_failed_login_and_only_the_real_address(start_server, fmt):
    text = LOG_CONFIG.replace("HASH", crypt_hash("alice-pw")).replace("FORMAT", fmt)
    srv = start_server(users={"alice": "alice-pw"}, config_text=text, bare=True)
    failures = 0
    with Raw(srv) as r:
        for user, password in [("alice", "wrong-1"), ("nobody", "x"), (HOSTILE, "x"),
                                ("alice", "wrong-2")]:
            assert r.cmd(f"USER {user}")[0] == 331
            code, reply = r.cmd(f"PASS {password}")
            assert code == 530, reply
            failures += 1
        assert r.cmd("USER alice")[0] == 331
        assert r.cmd("PASS alice-pw")[0] == 230
    log = Path(srv.argv[srv.argv.index("--config") + 1]).parent / "feitpd.file.log"
    srv.stop()
    content = log.read_text()
    assert content.count("failed login") == failures, content
    ips = fail2ban_matches(log)
    assert len(ips) == failures, content
    # the hostile name cannot make fail2ban ban another address
    assert set(ips) == {"127.0.0.1"}, ips


@pytest.mark.parametrize("line", [
    "2026-12-03 08:01:57.762 [info] session 12: failed login for 'alice' from 192.0.2.7: wrong password",
    "2026-12-03 08:01:57.762 [info] [pid 4242] session 12: failed login for 'alice' from 192.0.2.7: wrong password",
    "2026-12-03 08:01:57.762 [info] [4242] session 12: failed login for 'alice' from 192.0.2.7: unknown user",
    "2026-12-03 08:01:57.762 [info] session 12: login refused for 'alice' from 192.0.2.7: not checked: too many failed logins from this address",
    "2026-12-03 08:01:57.762 [info] session 3: failed login for 'a' from 2001:db8::7: wrong password",
    '{"time":"2026-12-03T08:01:57.762Z","level":"info","pid":4242,"thread":4243,"msg":"session 12: failed login for \'alice\' from 192.0.2.7: wrong password"}',
])
def test_fail2ban_filter_tolerates_pid_fields_and_ipv6(line):
    """Log lines as feitpd writes them, also with a pid field after the level."""
    ips = fail2ban_matches(line)
    assert len(ips) == 1, line
    assert ips[0] in ("192.0.2.7", "2001:db8::7"), ips


@pytest.mark.parametrize("line", [
    "2026-12-03 08:01:57.762 [info] session 12: alice logged in from 192.0.2.7",
    "2026-12-03 08:01:57.762 [info] session 12: failed login for 'x' from 203.0.113.9: y' from 192.0.2.7: wrong password",
])
def test_fail2ban_filter_ignores_logins_and_forged_names(line):
    ips = fail2ban_matches(line)
    assert "203.0.113.9" not in ips
    if "logged in" in line:
        assert ips == []


def test_default_config_serves_nobody_until_a_user_is_added(start_server, tmp_path):
    """/etc/feitpd/feitpd.toml as shipped (paths moved into a temporary folder): --check says in
    one line that no one can log in (the package's postinst then leaves the service stopped);
    with a [users.NAME] table added, as the file's comments say, it serves that user only."""
    text = DEFAULT_CONFIG.read_text()
    assert re.search(r'^listen = \["0\.0\.0\.0:21"\]$', text, re.M), "the package listens on port 21"
    assert not re.search(r"^\[users\.", text, re.M), "no user is enabled by default"
    assert not re.search(r"^\[anonymous\]", text, re.M), "no anonymous login by default"
    assert "{" not in text and "}" not in text  # config_text is str.format()ed
    moved = (text.replace("/var/log/feitpd", "{work}").replace("/srv/feitpd", "{root}")
             .replace('ports = "20000-29999"', 'ports = "{pasv_min}-{pasv_max}"'))
    shipped = tmp_path / "shipped.toml"
    shipped.write_text(moved.format(work=tmp_path, root=tmp_path, pasv_min=40000, pasv_max=40099))
    shipped.chmod(0o640)
    r = run([str(feitpd_binary()), "--config", str(shipped), "--check"], timeout=30)
    assert r.returncode == 1, r.stdout + r.stderr
    assert "no one can log in" in r.stderr, r.stderr
    # The documented way: a hash from feitpd --hash-password, a table at the end of the file.
    h = subprocess.run([str(feitpd_binary()), "--hash-password"], input="op-Pass-1\n",
                       capture_output=True, text=True, timeout=30)
    assert h.returncode == 0, h.stderr
    added = moved + ('\n[users.op]\npassword_hash = "%s"\nhome = "{root}/op"\npermissions = "elr"\n'
                     % h.stdout.strip())
    srv = start_server(users={"op": "op-Pass-1"}, config_text=added, bare=True)
    with Raw(srv) as raw:
        raw.login("op", "op-Pass-1")
    for user in ("anonymous", "ftp", "root", "feitpd"):
        with Raw(srv) as raw:
            raw.cmd(f"USER {user}")
            code, reply = raw.cmd("PASS guest@example.com")
            assert code == 530, (user, reply)


def test_unit_runs_the_installed_binary_with_least_privilege():
    unit = UNIT.read_text()
    keys = dict(re.findall(r"^(\w+)=(.*)$", unit, re.M))
    assert re.search(r"^ExecStart=/usr/sbin/feitpd --config /etc/feitpd/feitpd.toml$", unit, re.M)
    assert re.search(r"^ExecStartPre=/usr/sbin/feitpd --config /etc/feitpd/feitpd.toml --check$", unit, re.M)
    assert keys["Type"] == "notify"
    assert keys["User"] == "feitpd"
    assert keys["CapabilityBoundingSet"] == "CAP_NET_BIND_SERVICE"
    assert keys["AmbientCapabilities"] == "CAP_NET_BIND_SERVICE"
    assert keys["ExecReload"] == "/bin/kill -HUP $MAINPID"
    for k in ("NoNewPrivileges", "PrivateTmp", "ProtectHome", "ProtectKernelTunables"):
        assert keys[k] == "yes", k
    assert keys["ProtectSystem"] == "strict"
    # the workers install their own seccomp filter under systemd's
    assert "seccomp" in re.findall(r"^SystemCallFilter=(.*)$", unit, re.M)[0].split()


def test_unit_exposure_score_is_at_most_2():
    out = subprocess.run([need("systemd-analyze"), "security", "--offline=true", str(UNIT)],
                         capture_output=True, text=True, timeout=60)
    m = re.search(r"Overall exposure level for \S+: ([\d.]+)", out.stdout + out.stderr)
    assert m, out.stdout + out.stderr
    assert float(m.group(1)) <= 2.0, out.stdout


def test_man_pages_are_generated_from_the_docs(tmp_path):
    """Every section of docs/configuration.md is in feitpd.toml(5) (less the command line,
    which is feitpd(8)'s OPTIONS), and every flag of its command-line table in feitpd(8)."""
    tool = need("go-md2man")
    gen = REPO / "docs" / "man" / "make-man.py"
    pages = {}
    for name, src in (("feitpd.8", "feitpd.8.md"), ("feitpd.toml.5", "feitpd.toml.5.md")):
        out = tmp_path / name
        r = subprocess.run(["/usr/bin/python3", str(gen), tool, str(out), "9.9.9",
                            str(REPO / "docs" / "man" / src)], capture_output=True, text=True, timeout=60)
        assert r.returncode == 0, r.stdout + r.stderr
        pages[name] = out.read_text()
    assert pages["feitpd.8"].startswith(".nh\n.TH FEITPD 8 \"\" \"feitp 9.9.9\"")
    assert '.TH FEITPD.TOML 5 "" "feitp 9.9.9"' in pages["feitpd.toml.5"]
    conf = (REPO / "docs" / "configuration.md").read_text()
    toml5 = pages["feitpd.toml.5"].replace("\\-", "-").replace("\\&", "")
    man8 = pages["feitpd.8"].replace("\\-", "-").replace("\\&", "")
    before, section = conf.split("\n## Command line", 1)
    section = section.split("\n## ", 1)[0]
    assert ".SH OPTIONS" in man8
    for heading in re.findall(r"^## (.+)$", conf, re.M):
        if heading != "Command line":
            assert f".SH {heading.strip('`')}" in toml5, heading
    keys = re.findall(r"^\| `([^`]+)` \|", before, re.M)
    assert len(keys) > 40, keys
    for key in keys:
        assert key in toml5, key
    flags = re.findall(r"^\| `(--[a-z0-9-]+)", section, re.M)
    assert len(flags) > 10, flags
    for flag in flags:
        assert flag in man8, flag
    # tables become definition lists: an 80-column terminal cannot show them
    assert ".TS" not in toml5 and ".TS" not in man8


def test_man_pages_render_without_warnings(tmp_path):
    """man -l shows both pages on an 80-column terminal without a groff warning."""
    tool = need("go-md2man")
    man = need("man")
    gen = REPO / "docs" / "man" / "make-man.py"
    for src, title in (("feitpd.8.md", "FEITPD(8)"), ("feitpd.toml.5.md", "FEITPD.TOML(5)")):
        out = tmp_path / (src[:-3] + ".gz")
        r = subprocess.run(["/usr/bin/python3", str(gen), tool, str(out), "9.9.9",
                            str(REPO / "docs" / "man" / src)], capture_output=True, text=True, timeout=60)
        assert r.returncode == 0, r.stdout + r.stderr
        shown = subprocess.run([man, "--warnings", "-l", str(out)], capture_output=True, text=True,
                               timeout=60, env={"MANWIDTH": "80", "PATH": "/usr/bin:/bin",
                                                "LANG": "C.UTF-8"})
        assert shown.returncode == 0, shown.stderr
        assert shown.stderr == "", shown.stderr
        plain = re.sub(".\x08", "", shown.stdout)  # overstrike bold and underline
        assert plain.startswith(title), plain[:200]
        assert "\nNAME\n" in plain and "\nSEE ALSO\n" in plain, plain
