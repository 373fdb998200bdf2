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
    """ACCT is superfluous here: 202 (RFC 959), as docs/protocol.md says."""
    resp = ftp.sendcmd("ACCT billing")
    assert resp[:4] == "202 ", resp


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
    """USER while logged in is refused with 530 (docs/protocol.md) and the session stays logged
    in as before; a PASS then is not checked, only answered "230 Already logged in"."""
    with Raw(server) as r:
        r.login()
        code, text = r.cmd("USER nobody-here")
        assert code == 530, text
        code, text = r.cmd("PWD")
        assert code == 257, text
        code, text = r.cmd("PASS wrong")
        assert code == 230 and "already logged in" in text.lower(), text
        assert r.cmd("PWD")[0] == 257


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


# --- Brute force: throttled, never a lock-out of the right password (F11, F12) ------------------

from concurrent.futures import ThreadPoolExecutor  # noqa: E402

BAN_CONFIG = """
[limits]
ban_after_failures = {ban_after}
ban_window = 60
ban_time = 60
max_login_attempts = {attempts}
login_failure_delay_ms = {delay_ms}
"""


def _ban_config(ban_after: int, attempts: int = 3, delay_ms: int = 1000, extra: str = "") -> str:
    return BAN_CONFIG.format(ban_after=ban_after, attempts=attempts, delay_ms=delay_ms) + extra


def _fail_once(server, source: str | None = None) -> int:
    """One connection, one wrong password; returns the PASS reply code."""
    with Raw(server, timeout=30, source=source) as r:
        assert r.cmd(f"USER {server.user}")[0] == 331
        return r.cmd("PASS definitely-wrong")[0]


def _right_password_works(server, source: str | None = None) -> None:
    with Raw(server, timeout=30, source=source) as r:
        assert r.greeting[0] == 220, r.greeting
        assert r.cmd(f"USER {server.user}")[0] == 331
        code, text = r.cmd(f"PASS {server.password}")
        assert code == 230, f"right password refused after failures: {code} {text}"


def test_failed_logins_never_lock_out_right_password_by_default(server):
    """30 failed logins from 127.0.0.1 (default flags: no bans), then the right password works."""
    with ThreadPoolExecutor(max_workers=30) as pool:
        codes = list(pool.map(lambda _: _fail_once(server), range(30)))
    assert codes == [530] * 30, codes
    _right_password_works(server)


def test_bans_on_do_not_shut_out_an_address_that_logged_in(start_server):
    """ban_after_failures = 5 and a successful login first: 30 failures only slow the address
    down (throttle), the right password still works and nothing is banned."""
    srv = start_server(config_text=_ban_config(5))
    _right_password_works(srv)
    with ThreadPoolExecutor(max_workers=30) as pool:
        codes = list(pool.map(lambda _: _fail_once(srv), range(30)))
    assert codes == [530] * 30, codes
    _right_password_works(srv)
    assert "banning" not in srv.log()


def test_bans_still_ban_an_address_that_never_logged_in(start_server):
    """The opt-in still works: 5 failures from a fresh address ban it (421 at connect)."""
    srv = start_server(config_text=_ban_config(5, attempts=1, delay_ms=0))
    for _ in range(5):
        assert _fail_once(srv) == 530
    with Raw(srv, timeout=30) as r:
        assert r.greeting[0] == 421, r.greeting


def test_parallel_pipelined_pass_cannot_exceed_ban_threshold(start_server):
    """F11: 32 parallel connections x 3 pipelined PASS against a threshold of 10 made 35 password
    checks. Failures and checks in flight now count together: at most 10 checks (no slack: one
    lock orders all attempts), the rest are answered 530 (or 421 once banned) unchecked."""
    srv = start_server(config_text=_ban_config(10))

    def pipelined(_: int) -> list[int]:
        with Raw(srv, timeout=60) as r:
            r.send(b"".join(f"USER {srv.user}\r\nPASS guess-{k}\r\n".encode() for k in range(3)))
            codes = []
            for _ in range(6):
                try:
                    code, _text = r.reply()
                except (OSError, ValueError, EOFError):
                    break
                if code == 0:
                    break
                codes.append(code)
                if code == 421:
                    break
            return codes

    with ThreadPoolExecutor(max_workers=32) as pool:
        results = list(pool.map(pipelined, range(32)))
    pass_codes = [c for codes in results for c in codes if c != 331]
    assert pass_codes and all(c in (530, 421) for c in pass_codes), results
    assert 230 not in pass_codes
    checks = srv.log().count(": failed login for '")
    # Every check counted in flight ends as a failure, so the threshold is met exactly.
    assert checks == 10, f"{checks} password checks against a threshold of 10"
    # The 10 failures banned the address.
    with Raw(srv, timeout=30) as r:
        assert r.greeting[0] == 421, r.greeting


def test_full_ban_table_still_admits_new_addresses(start_server):
    """F12: with a per-address cap on, a table full of banned addresses refused every new
    address. Now the oldest ban is evicted (or the address admitted uncounted): a fresh address
    gets in and logs in."""
    srv = start_server(config_text=_ban_config(
        1, attempts=1, delay_ms=0, extra="max_per_ip = 8\naddress_table_size = 64\n"))
    sources = [f"127.0.0.{x}" for x in range(2, 102)]
    with ThreadPoolExecutor(max_workers=20) as pool:
        codes = list(pool.map(lambda s: _fail_once(srv, source=s), sources))
    assert codes == [530] * len(sources), codes
    # Bans still work in a full table: the newest one is live.
    assert _fail_once(srv, source="127.0.0.200") == 530
    with Raw(srv, timeout=30, source="127.0.0.200") as r:
        assert r.greeting[0] == 421, r.greeting
    _right_password_works(srv, source="127.0.1.7")
    assert srv.alive()
