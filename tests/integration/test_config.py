"""feitpd --check, --config, --hash-password: exit codes, one-line errors naming file and key,
and a server run from a file. Keys as in docs/configuration.md / packaging/feitpd.toml."""
import os
import subprocess

import pytest

from feitp_harness import Raw, crypt_hash, feitpd_binary, retr_bytes, run, stor_bytes


def good_config(tmp_path, **over):
    home = tmp_path / "home"
    home.mkdir(exist_ok=True)
    h = over.get("hash", crypt_hash("pw-good"))
    return f'''
[server]
listen = ["127.0.0.1:2121"]
workers = 1

[passive]
ports = "40000-40010"

[limits]
max_per_ip = 5

[users.carol]
password_hash = "{h}"
home = "{home}"
permissions = "elr"
'''


def check(path):
    return run([str(feitpd_binary()), "--check", "--config", str(path)], timeout=30)


def test_check_good_file(tmp_path):
    p = tmp_path / "good.toml"
    p.write_text(good_config(tmp_path))
    r = check(p)
    assert r.returncode == 0, r.stdout + r.stderr


def sample_for_here(text: str, tmp_path) -> tuple[str, int]:
    """The sample with only what cannot exist on this machine moved: active home, log and pid
    file paths go under tmp_path, a run_as user this machine lacks becomes "nobody"/root.
    Returns the text and how many lines were changed."""
    import pwd
    import re
    out, changed = [], 0
    for n, line in enumerate(text.splitlines()):
        m = re.match(r'^(\s*)(home|file|xferlog|pid_file)(\s*=\s*)"(/[^"]*)"(.*)$', line)
        u = re.match(r'^(\s*run_as\s*=\s*)"([^"]*)"(.*)$', line)
        if m:
            target = tmp_path / f"sample-{m.group(2)}-{n}"
            if m.group(2) == "home":
                target.mkdir()
            line = f'{m.group(1)}{m.group(2)}{m.group(3)}"{target}"{m.group(5)}'
            changed += 1
        elif u:
            try:
                pwd.getpwnam(u.group(2))
            except KeyError:
                line = f'{u.group(1)}"{pwd.getpwuid(os.getuid()).pw_name}"{u.group(3)}'
                changed += 1
        out.append(line)
    return "\n".join(out) + "\n", changed


def test_check_sample_config_parses(tmp_path):
    """The shipped sample is a valid configuration: `--check` accepts it (exit 0, one line),
    with only the paths that cannot exist here moved under tmp_path."""
    from feitp_harness import REPO
    sample = REPO / "packaging" / "feitpd.toml"
    text, changed = sample_for_here(sample.read_text(), tmp_path)
    assert changed >= 1, "the sample's anonymous home was expected among the moved paths"
    p = tmp_path / "feitpd.toml"
    p.write_text(text)
    p.chmod(0o644)  # started as root, --check refuses a config others may write (F22)
    r = check(p)
    out = (r.stdout + r.stderr).strip()
    assert r.returncode == 0, out
    assert out == f"{p}: configuration OK", out


@pytest.mark.parametrize("mutation,key", [
    (("max_per_ip = 5", 'max_per_ip = "lots"'), "limits.max_per_ip"),
    (("max_per_ip = 5", "max_per_ip = -3"), "limits.max_per_ip"),
    (('ports = "40000-40010"', 'ports = "50000-40000"'), "passive.ports"),
    (('permissions = "elr"', 'permissions = "elrZ"'), "users.carol.permissions"),
    (("workers = 1", "workers = 1\nno_such_option = true"), "server.no_such_option"),
    (('listen = ["127.0.0.1:2121"]', 'listen = ["localhost:notaport"]'), "server.listen"),
])
def test_check_bad_value_names_file_and_key(tmp_path, mutation, key):
    p = tmp_path / "bad.toml"
    text = good_config(tmp_path)
    assert mutation[0] in text
    p.write_text(text.replace(mutation[0], mutation[1]))
    r = check(p)
    out = (r.stdout + r.stderr).strip()
    assert r.returncode != 0, out
    lines = [x for x in out.splitlines() if x.strip()]
    assert len(lines) == 1, f"expected a one-line error, got:\n{out}"
    assert str(p) in lines[0] or p.name in lines[0], lines[0]
    assert key in lines[0], lines[0]


def test_check_plaintext_password_refused(tmp_path):
    p = tmp_path / "plain.toml"
    text = good_config(tmp_path)
    text = text.replace(text[text.index("password_hash"):text.index("\nhome")],
                        'password = "hunter2"')
    p.write_text(text)
    r = check(p)
    out = (r.stdout + r.stderr).strip()
    assert r.returncode != 0
    assert len(out.splitlines()) == 1, out
    assert "users.carol.password" in out, out


def test_check_not_a_hash(tmp_path):
    p = tmp_path / "nohash.toml"
    p.write_text(good_config(tmp_path, hash="hunter2"))
    r = check(p)
    out = (r.stdout + r.stderr).strip()
    assert r.returncode != 0
    assert "users.carol.password_hash" in out, out


def test_check_syntax_error(tmp_path):
    p = tmp_path / "syntax.toml"
    p.write_text("[server\nlisten = 3\n")
    r = check(p)
    out = (r.stdout + r.stderr).strip()
    assert r.returncode != 0
    assert len(out.splitlines()) == 1, out
    assert p.name in out, out


def test_check_missing_file(tmp_path):
    r = check(tmp_path / "absent.toml")
    out = (r.stdout + r.stderr).strip()
    assert r.returncode != 0
    assert "absent.toml" in out, out


def test_hash_password_helper(tmp_path):
    r = subprocess.run([str(feitpd_binary()), "--hash-password"], input="pw-from-helper\n",
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    h = r.stdout.strip().splitlines()[-1]
    assert h.startswith("$") and "pw-from-helper" not in h, h
    p = tmp_path / "h.toml"
    p.write_text(good_config(tmp_path, hash=h))
    assert check(p).returncode == 0


def test_unknown_flag_fails(tmp_path):
    r = run([str(feitpd_binary()), "--no-such-flag"], timeout=30)
    assert r.returncode != 0


CONFIG_SERVER = '''
[server]
workers = 1

[passive]
ports = "{pasv_min}-{pasv_max}"

[limits]
max_login_attempts = 2
login_failure_delay_ms = 10

[users.dave]
password_hash = "HASH"
home = "{root}"
permissions = "elradfmwMT"
'''


def test_server_from_config_file(start_server):
    text = CONFIG_SERVER.replace("HASH", crypt_hash("dave-pw"))
    srv = start_server(users={"dave": "dave-pw"}, config_text=text, bare=True)
    f = srv.connect()
    stor_bytes(f, "cfg.txt", b"from config")
    assert retr_bytes(f, "cfg.txt") == b"from config"
    f.quit()
    assert (srv.root / "cfg.txt").read_bytes() == b"from config"
    # max_login_attempts = 2 and a short delay: the second failure ends the connection
    with Raw(srv) as r:
        for attempt in range(2):
            assert r.cmd("USER dave")[0] == 331
            code, text = r.cmd("PASS nope")
            assert code == 530, text
        assert "closing control connection" in text, text
        with pytest.raises(EOFError):
            r.reply()  # the server closed after the second 530


def test_flags_override_file(start_server):
    """--max-per-ip on the command line wins over the file's [limits] max_per_ip."""
    text = CONFIG_SERVER.replace("HASH", crypt_hash("dave-pw")).replace(
        "max_login_attempts = 2", "max_login_attempts = 2\nmax_per_ip = 50")
    srv = start_server(users={"dave": "dave-pw"}, config_text=text, bare=True,
                       extra=["--max-per-ip", "1"])
    a = srv.connect()
    import socket
    s = socket.create_connection((srv.host, srv.port), timeout=5)
    line = s.makefile("rb").readline().decode()
    s.close()
    a.quit()
    assert line[:3] in ("421", "530") and "too many connections" in line.lower(), line


def test_users_may_come_from_the_command_line(tmp_path):
    """A file without [users] is refused alone, and accepted when --user supplies one."""
    path = tmp_path / "no-users.toml"
    path.write_text('[server]\nbanner = "from the file"\n')
    alone = run([str(feitpd_binary()), "--check", "--config", str(path)], timeout=30)
    assert alone.returncode == 1
    assert "users: no one can log in" in alone.stdout + alone.stderr
    root = tmp_path / "root"
    root.mkdir()
    with_user = run([str(feitpd_binary()), "--check", "--config", str(path),
                     "--user", "cli:cli-pw", "--root", str(root)], timeout=30)
    assert with_user.returncode == 0, with_user.stdout + with_user.stderr
