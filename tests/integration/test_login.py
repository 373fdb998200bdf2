"""Login: USER/PASS/ACCT/REIN/QUIT/HOST, no user enumeration, anonymous, commands before login."""
import ftplib
import time

import pytest

from feitp_harness import Raw


def test_greeting_is_220(server):
    with Raw(server) as r:
        assert r.greeting[0] == 220


def test_login_ok(server):
    with Raw(server) as r:
        assert r.cmd(f"USER {server.user}")[0] == 331
        code, text = r.cmd(f"PASS {server.password}")
        assert code == 230, text


def test_user_is_case_insensitive_verb(server):
    with Raw(server) as r:
        assert r.cmd(f"user {server.user}")[0] == 331
        assert r.cmd(f"pass {server.password}")[0] == 230


def test_unknown_user_gets_331_then_530(server):
    with Raw(server) as r:
        code, text = r.cmd("USER nobody-here")
        assert code == 331, text  # no user enumeration
        code, text = r.cmd("PASS whatever")
        assert code == 530, text


def test_wrong_password_530_and_delayed(server):
    with Raw(server) as r:
        assert r.cmd(f"USER {server.user}")[0] == 331
        t0 = time.monotonic()
        code, text = r.cmd("PASS wrong-password")
        elapsed = time.monotonic() - t0
        assert code == 530, text
        assert elapsed >= 0.3, f"failed login answered after {elapsed:.3f}s: not delayed"


def test_pass_without_user_is_503(server):
    with Raw(server) as r:
        code, text = r.cmd("PASS x")
        assert code == 503, text


@pytest.mark.parametrize("line", ["PWD", "CWD /", "LIST", "RETR x", "STOR x", "MKD d", "PASV",
                                  "EPSV", "SIZE x", "DELE x", "NLST", "MLSD", "TYPE I"])
def test_commands_before_login_are_530(server, line):
    with Raw(server) as r:
        code, text = r.cmd(line)
        assert code == 530, f"{line}: {text}"


@pytest.mark.parametrize("line,expected", [("SYST", 215), ("FEAT", 211), ("NOOP", 200)])
def test_commands_allowed_before_login(server, line, expected):
    with Raw(server) as r:
        code, text = r.cmd(line)
        assert code == expected, f"{line}: {text}"


def test_acct(ftp):
    resp = None
    try:
        resp = ftp.sendcmd("ACCT billing")
    except ftplib.error_perm as e:
        resp = str(e)
    assert resp[:3] in ("202", "502"), resp


def test_rein_logs_out(server):
    with Raw(server) as r:
        r.login()
        assert r.cmd("PWD")[0] == 257
        code, text = r.cmd("REIN")
        assert code == 220, text
        code, text = r.cmd("PWD")
        assert code == 530, text
        r.login()
        assert r.cmd("PWD")[0] == 257


def test_quit_221_and_close(server):
    with Raw(server) as r:
        r.login()
        code, text = r.cmd("QUIT")
        assert code == 221, text
        assert r.f.readline() == b""


def test_quit_before_login(server):
    with Raw(server) as r:
        assert r.cmd("QUIT")[0] == 221


def test_host_before_login(server):
    with Raw(server) as r:
        code, text = r.cmd("HOST 127.0.0.1")
        assert code == 220, text
        r.login()
        assert r.cmd("PWD")[0] == 257


def test_host_after_login_is_503(server):
    with Raw(server) as r:
        r.login()
        code, text = r.cmd("HOST 127.0.0.1")
        assert code == 503, text


def test_host_after_user_is_503(server):
    with Raw(server) as r:
        assert r.cmd(f"USER {server.user}")[0] == 331
        code, text = r.cmd("HOST 127.0.0.1")
        assert code == 503, text


def test_second_user_login_switch_refused_or_relogin(server):
    """USER while logged in either starts a new login (331) or is refused (503/530); the
    session must never end up logged in without a password."""
    with Raw(server) as r:
        r.login()
        code, _ = r.cmd("USER nobody-here")
        assert code in (331, 503, 530)
        if code == 331:
            assert r.cmd("PASS wrong")[0] == 530
            assert r.cmd("PWD")[0] == 530


def test_anonymous_login(start_server):
    srv = start_server(anonymous=True, write=False)
    (srv.root / "pub.txt").write_bytes(b"public\n")
    for name in ("anonymous", "ftp"):
        with Raw(srv) as r:
            assert r.cmd(f"USER {name}")[0] == 331
            code, text = r.cmd("PASS guest@example.com")
            assert code == 230, f"{name}: {text}"
    f = srv.connect(user="anonymous", password="guest@example.com")
    buf = bytearray()
    f.retrbinary("RETR pub.txt", buf.extend)
    assert bytes(buf) == b"public\n"
    f.quit()


def test_no_anonymous_without_flag(server):
    with Raw(server) as r:
        assert r.cmd("USER anonymous")[0] == 331
        assert r.cmd("PASS guest@example.com")[0] == 530


def test_user_without_argument_501(server):
    with Raw(server) as r:
        code, text = r.cmd("USER")
        assert code == 501, text


def test_several_users(start_server):
    srv = start_server(users={"u1": "pw-one", "u2": "pw-two"})
    srv.connect(user="u1", password="pw-one").quit()
    srv.connect(user="u2", password="pw-two").quit()
    with pytest.raises(ftplib.error_perm) as e:
        srv.connect(user="u1", password="pw-two")
    assert str(e.value).startswith("530")
