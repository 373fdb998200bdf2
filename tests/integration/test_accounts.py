"""Account stores (docs/accounts.md): `feitpd user` on a real SQLite file and a real PostgreSQL
(postgresql-15 started in a temporary folder), then logins through ftplib against feitpd with
two workers: password changes, disable/enable, delete, allowed networks, expiry, a corrupted
file, a newer schema, PostgreSQL stopped (421 and a log line) and restarted (logins work again
without restarting feitpd)."""
import ftplib
import os
import signal
import sqlite3
import subprocess
import time

import pytest

from feitp_harness import feitpd_binary, run
from pg_fixture import Postgres, pg_bin


def user_cmd(store: str, *args: str, password: str | None = None, config: str | None = None):
    argv = [str(feitpd_binary())]
    argv += ["--config", config] if config else ["--accounts", store]
    argv += ["user", *args]
    return subprocess.run(argv, input=(password + "\n") if password is not None else "",
                          capture_output=True, text=True, timeout=60)


def login(srv, user: str, password: str, source: str = "127.0.0.1") -> int:
    """The reply code of PASS (230, 530, 421...)."""
    ftp = ftplib.FTP(timeout=10, source_address=(source, 0))
    ftp.connect(srv.host, srv.port, timeout=10)
    try:
        code = int(ftp.login(user, password)[:3])
    except ftplib.error_perm as e:
        code = int(str(e)[:3])
    except ftplib.error_temp as e:
        code = int(str(e)[:3])
    with_quit = code == 230
    if with_quit:
        ftp.quit()
    else:
        ftp.close()
    return code


def start_store_server(start_server, tmp_path, store: str, workers: int = 2):
    homes = tmp_path / "homes"
    homes.mkdir(exist_ok=True)
    text = f'''
[server]
workers = {workers}
[passive]
ports = "{{pasv_min}}-{{pasv_max}}"
[limits]
login_failure_delay_ms = 0
[accounts]
store = "{store}"
homes = ["{homes}"]
'''
    return start_server(users={}, config_text=text, bare=True), homes


@pytest.fixture
def sqlite_db(tmp_path):
    return tmp_path / "users.db"


def test_user_commands_and_logins_sqlite(start_server, tmp_path, sqlite_db):
    store = f"sqlite:{sqlite_db}"
    homes = tmp_path / "homes"
    r = user_cmd(store, "add", "alice", "--home", str(homes / "alice"), "--permissions", "elrw",
                 "--quota-bytes", "1000000", password="first-pw")
    assert r.returncode == 0, r.stderr
    assert sqlite_db.exists()  # user add created the database
    r = user_cmd(store, "add", "alice", "--home", str(homes / "alice"), password="x")
    assert r.returncode == 1 and 'user "alice" exists already' in r.stderr
    r = user_cmd(store, "passwd", "nobody-here", password="x")
    assert r.returncode == 1 and 'no user "nobody-here"' in r.stderr
    # Hostile names never reach SQL as text.
    for bad in ["a'; DROP TABLE feitp_users; --", 'q"uote', "nul\x01x"]:
        r = user_cmd(store, "add", bad, "--home", str(homes / "x"), password="x")
        assert r.returncode == 1 and "user name" in r.stderr, r.stderr
    r = user_cmd(store, "show", "alice")
    assert r.returncode == 0 and "quota_bytes: 1000000" in r.stdout and "first-pw" not in r.stdout
    with sqlite3.connect(sqlite_db) as db:
        assert db.execute("SELECT count(*) FROM feitp_users").fetchone()[0] == 1

    srv, _ = start_store_server(start_server, tmp_path, store)
    assert login(srv, "alice", "first-pw") == 230
    assert login(srv, "alice", "wrong") == 530
    ftp = srv.connect(user="alice", password="first-pw")
    ftp.storbinary("STOR up.txt", __import__("io").BytesIO(b"hello"))
    ftp.quit()
    assert (homes / "alice" / "up.txt").read_bytes() == b"hello"

    # Each change takes effect at the next login, on every worker (several logins: both
    # workers answer some of them).
    assert user_cmd(store, "passwd", "alice", password="second-pw").returncode == 0
    for _ in range(4):
        assert login(srv, "alice", "first-pw") == 530
        assert login(srv, "alice", "second-pw") == 230
    assert user_cmd(store, "disable", "alice").returncode == 0
    for _ in range(4):
        assert login(srv, "alice", "second-pw") == 530
    assert "account disabled" in srv.log()
    assert user_cmd(store, "enable", "alice").returncode == 0
    for _ in range(4):
        assert login(srv, "alice", "second-pw") == 230
    assert user_cmd(store, "del", "alice").returncode == 0
    for _ in range(4):
        assert login(srv, "alice", "second-pw") == 530
    r = user_cmd(store, "list")
    assert r.returncode == 0 and r.stdout == ""


def test_allowed_networks_and_expiry(start_server, tmp_path, sqlite_db):
    store = f"sqlite:{sqlite_db}"
    homes = tmp_path / "homes"
    assert user_cmd(store, "add", "netuser", "--home", str(homes / "n"),
                    "--allow-network", "127.0.0.1/32", password="pw-n").returncode == 0
    assert user_cmd(store, "add", "old", "--home", str(homes / "o"), "--expires", "2020-01-01",
                    password="pw-o").returncode == 0
    assert user_cmd(store, "add", "later", "--home", str(homes / "l"), "--expires", "2999-01-01",
                    password="pw-l").returncode == 0
    srv, _ = start_store_server(start_server, tmp_path, store)
    assert login(srv, "netuser", "pw-n", source="127.0.0.1") == 230
    assert login(srv, "netuser", "pw-n", source="127.0.0.2") == 530
    assert "not in the account's allowed networks" in srv.log()
    assert login(srv, "old", "pw-o") == 530
    assert "account expired" in srv.log()
    assert login(srv, "later", "pw-l") == 230
    # Moving the expiry into the past and widening the networks: seen at the next login.
    assert user_cmd(store, "mod", "later", "--expires", "2021-06-01T12:00:00Z").returncode == 0
    assert login(srv, "later", "pw-l") == 530
    assert user_cmd(store, "mod", "netuser", "--any-network").returncode == 0
    assert login(srv, "netuser", "pw-n", source="127.0.0.2") == 230


def test_corrupted_sqlite_and_newer_schema(start_server, tmp_path, sqlite_db):
    store = f"sqlite:{sqlite_db}"
    assert user_cmd(store, "add", "carol", "--home", str(tmp_path / "homes" / "c"),
                    password="pw-c").returncode == 0
    good = sqlite_db.read_bytes()
    srv, _ = start_store_server(start_server, tmp_path, store)
    assert login(srv, "carol", "pw-c") == 230
    # Corrupted while serving: 421 and a log line, no crash; repaired: logins work again.
    sqlite_db.write_bytes(os.urandom(8192))
    assert login(srv, "carol", "pw-c") == 421
    assert "account store unavailable" in srv.log() and "not a database" in srv.log()
    assert srv.alive()
    sqlite_db.write_bytes(good)
    assert login(srv, "carol", "pw-c") == 230
    srv.stop()

    # At start and --check: one clear line, exit 1.
    sqlite_db.write_bytes(b"this is not a database at all" * 100)
    for extra in (["--check"], []):
        r = run([str(feitpd_binary()), "--accounts", store, "--listen", "127.0.0.1:0", *extra],
                timeout=30)
        assert r.returncode == 1, r.stdout + r.stderr
        assert r.stderr.count("\n") == 1 and "not a database" in r.stderr, r.stderr
    r = user_cmd(store, "list")
    assert r.returncode == 1 and "not a database" in r.stderr

    sqlite_db.write_bytes(good)
    with sqlite3.connect(sqlite_db) as db:
        db.execute("UPDATE feitp_schema_version SET version = 99")
    for argv in (["--check"], []):
        r = run([str(feitpd_binary()), "--accounts", store, "--listen", "127.0.0.1:0", *argv], timeout=30)
        assert r.returncode == 1
        assert "schema version 99 is newer than this feitpd knows" in r.stderr, r.stderr
    r = user_cmd(store, "show", "carol")
    assert r.returncode == 1 and "schema version 99" in r.stderr


def test_config_store_and_bad_store_names(tmp_path):
    cfg = tmp_path / "f.toml"
    cfg.write_text(f'[server]\nlisten = ["127.0.0.1:0"]\n[anonymous]\nhome = "{tmp_path}"\n')
    r = user_cmd("", "list", config=str(cfg))
    assert r.returncode == 1 and "config-file users are edited in the file" in r.stderr
    r = run([str(feitpd_binary()), "--accounts", "mysql://x", "--listen", "127.0.0.1:0", "--check"])
    assert r.returncode == 1 and "unknown account store" in r.stderr
    # No password on argv: `user add` reads standard input, and an empty one is refused.
    r = user_cmd(f"sqlite:{tmp_path / 'u.db'}", "add", "dave", "--home", str(tmp_path / "d"),
                 password="")
    assert r.returncode == 1 and "no password" in r.stderr
    # Config-file users gain the account keys.
    from feitp_harness import crypt_hash
    cfg.write_text(f'''[server]
listen = ["127.0.0.1:0"]
[users.erin]
password_hash = "{crypt_hash("pw")}"
home = "{tmp_path}"
enabled = false
expires = 2030-01-31
allowed_networks = ["10.0.0.0/8", "127.0.0.1"]
quota_bytes = 5
require_tls = true
host = "ftp.example.com"
[[hosts]]
name = "ftp.example.com"
''')
    r = run([str(feitpd_binary()), "--config", str(cfg), "--check"])
    assert r.returncode == 0, r.stderr
    cfg.write_text(cfg.read_text().replace('"127.0.0.1"]', '"127.0.0.1/99"]'))
    r = run([str(feitpd_binary()), "--config", str(cfg), "--check"])
    assert r.returncode == 1 and "users.erin.allowed_networks" in r.stderr


def test_config_users_disabled_and_networks(start_server, tmp_path):
    from feitp_harness import crypt_hash
    text = f'''
[limits]
login_failure_delay_ms = 0
[users.off]
password_hash = "{crypt_hash("pw-off")}"
home = "{{root}}"
enabled = false
[users.lan]
password_hash = "{crypt_hash("pw-lan")}"
home = "{{root}}"
allowed_networks = ["127.0.0.2"]
'''
    srv = start_server(users={"plain": "pw-plain"}, config_text=text)
    assert login(srv, "plain", "pw-plain") == 230
    assert login(srv, "off", "pw-off") == 530
    assert login(srv, "lan", "pw-lan", source="127.0.0.1") == 530
    assert login(srv, "lan", "pw-lan", source="127.0.0.2") == 230
    # The verified-login cache does not bypass the rules.
    assert login(srv, "lan", "pw-lan", source="127.0.0.1") == 530


@pytest.fixture(scope="module")
def postgres():
    if pg_bin() is None:
        pytest.fail("PostgreSQL is not installed: scripts/setup.sh installs postgresql")
    pg = Postgres()
    try:
        pg.init()
        pg.start()
        yield pg
    finally:
        pg.remove()


def test_postgresql_store(start_server, tmp_path, postgres):
    store = postgres.conninfo
    homes = tmp_path / "homes"
    r = user_cmd(store, "add", "pgu", "--home", str(homes / "pgu"), "--permissions", "elrw",
                 password="pg-pw-1")
    assert r.returncode == 0, r.stderr
    r = user_cmd(store, "add", "pgu", "--home", str(homes / "pgu"), password="x")
    assert r.returncode == 1 and "exists already" in r.stderr
    srv, _ = start_store_server(start_server, tmp_path, store)
    assert login(srv, "pgu", "pg-pw-1") == 230
    assert login(srv, "pgu", "nope") == 530
    assert user_cmd(store, "passwd", "pgu", password="pg-pw-2").returncode == 0
    for _ in range(4):
        assert login(srv, "pgu", "pg-pw-1") == 530
        assert login(srv, "pgu", "pg-pw-2") == 230
    assert user_cmd(store, "disable", "pgu").returncode == 0
    for _ in range(3):
        assert login(srv, "pgu", "pg-pw-2") == 530
    assert user_cmd(store, "enable", "pgu").returncode == 0
    assert login(srv, "pgu", "pg-pw-2") == 230

    # PostgreSQL stops: 421 at once (not a hang) and a log line; `feitpd user` fails clearly.
    postgres.stop()
    for _ in range(3):
        t0 = time.monotonic()
        assert login(srv, "pgu", "pg-pw-2") == 421
        assert time.monotonic() - t0 < 9  # bounded by accounts.connect_timeout, not a hang
    assert "account store unavailable" in srv.log() and "cannot connect" in srv.log()
    r = user_cmd(store, "list")
    assert r.returncode == 1 and "cannot connect" in r.stderr
    # Restarted: logins work again without restarting feitpd (every pooled connection was
    # made before the restart and is reconnected).
    postgres.start()
    for _ in range(6):
        assert login(srv, "pgu", "pg-pw-2") == 230
    assert srv.alive()
    # The stored user with a quote in the home survives the round trip (parameters, not SQL).
    assert user_cmd(store, "mod", "pgu", "--home", str(homes / "it's")).returncode == 0
    r = user_cmd(store, "show", "pgu")
    assert f"home: {homes}/it's" in r.stdout
    assert user_cmd(store, "del", "pgu").returncode == 0
    assert login(srv, "pgu", "pg-pw-2") == 530


def test_postgresql_cache_follows_changes_made_by_hand(start_server, tmp_path, postgres):
    """Logins are answered from each worker's account cache (no round trip to PostgreSQL, see
    docs/accounts.md): a change made with plain SQL, not through `feitpd user`, must still take
    effect at the next login on every worker (the table's trigger notifies the listening
    workers). Cached on both workers first: several logins over 2 workers."""
    store = postgres.conninfo
    homes = tmp_path / "homes"
    assert user_cmd(store, "add", "hand", "--home", str(homes / "hand"), password="hand-pw-1").returncode == 0
    assert user_cmd(store, "add", "other", "--home", str(homes / "other"), password="other-pw").returncode == 0
    srv, _ = start_store_server(start_server, tmp_path, store)

    def logins_give(expected: dict[tuple[str, str], int], rounds: int = 6) -> None:
        for _ in range(rounds):
            for (user, password), code in expected.items():
                assert login(srv, user, password) == code, (user, password)

    logins_give({("hand", "hand-pw-1"): 230, ("other", "other-pw"): 230})
    postgres.sql("UPDATE feitp_users SET enabled = false WHERE name = 'hand'")
    logins_give({("hand", "hand-pw-1"): 530, ("other", "other-pw"): 230})
    new_hash = subprocess.run([str(feitpd_binary()), "--hash-password", "--hash-method", "sha512"],
                              input="hand-pw-2\n", capture_output=True, text=True,
                              timeout=30).stdout.strip().splitlines()[-1]
    postgres.sql(f"UPDATE feitp_users SET enabled = true, password_hash = '{new_hash}' WHERE name = 'hand'")
    logins_give({("hand", "hand-pw-1"): 530, ("hand", "hand-pw-2"): 230})
    # A TRUNCATE names no row: every cached account goes.
    postgres.sql("TRUNCATE feitp_users")
    logins_give({("other", "other-pw"): 530, ("hand", "hand-pw-2"): 530}, rounds=4)
    assert srv.alive()


def test_postgresql_cached_login_needs_no_round_trip(start_server, tmp_path, postgres):
    """A repeated login is answered from the worker's cache while nothing changed: with every
    PostgreSQL process stopped (SIGSTOP: no answer, no closed connection), it still gets 230 at
    once. (Before the cache, every login read the account and waited out the timeout here.)"""
    store = postgres.conninfo
    homes = tmp_path / "homes"
    assert user_cmd(store, "add", "fast", "--home", str(homes / "fast"), password="fast-pw").returncode == 0
    srv, _ = start_store_server(start_server, tmp_path, store, workers=1)
    for _ in range(3):
        assert login(srv, "fast", "fast-pw") == 230
    master = int((postgres.data / "postmaster.pid").read_text().split()[0])
    children = [int(p) for p in subprocess.run(["pgrep", "-P", str(master)], capture_output=True,
                                                text=True).stdout.split()]
    procs = [master, *children]
    try:
        for p in procs:
            os.kill(p, signal.SIGSTOP)
        for _ in range(3):
            t0 = time.monotonic()
            assert login(srv, "fast", "fast-pw") == 230
            assert time.monotonic() - t0 < 2
    finally:
        for p in procs:
            os.kill(p, signal.SIGCONT)
    assert login(srv, "fast", "fast-pw") == 230


@pytest.fixture
def system_user(tmp_path):
    """A real system user with a password (useradd + chpasswd) and a PAM service file for it;
    both removed at the end. Needs root, as feitpd's PAM store does."""
    if os.geteuid() != 0:
        pytest.fail("the PAM test needs root (useradd, and feitpd's PAM helper keeps root)")
    name = f"feitppam{os.getpid() % 100000}"
    home = tmp_path / "syshome"
    service = f"feitpd-test-{os.getpid()}"
    pam_file = f"/etc/pam.d/{service}"
    subprocess.run(["userdel", "-r", name], capture_output=True)
    r = subprocess.run(["useradd", "--home-dir", str(home), "--create-home", "--shell",
                        "/usr/sbin/nologin", name], capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    r = subprocess.run(["chpasswd"], input=f"{name}:sys-pw-1\n", capture_output=True, text=True,
                       timeout=30)
    assert r.returncode == 0, r.stderr
    with open(pam_file, "w") as f:
        f.write("auth required pam_unix.so\naccount required pam_unix.so\n")
    try:
        yield name, home, service
    finally:
        os.unlink(pam_file)
        subprocess.run(["userdel", name], capture_output=True, timeout=30)


def test_pam_system_accounts(start_server, tmp_path, system_user):
    name, home, service = system_user
    srv, _ = start_store_server(start_server, tmp_path, f"pam:{service}")
    # The workers serve as root without capabilities: they could not read /etc/shadow, the
    # helper does.
    assert "PAM helper" not in srv.log()
    assert login(srv, name, "sys-pw-1") == 230
    assert login(srv, name, "wrong") == 530
    ftp = srv.connect(user=name, password="sys-pw-1")
    assert ftp.pwd() == "/"
    ftp.quit()
    # A password changed on the system counts at the next login; a locked account is refused.
    subprocess.run(["chpasswd"], input=f"{name}:sys-pw-2\n", text=True, check=True, timeout=30)
    assert login(srv, name, "sys-pw-1") == 530
    assert login(srv, name, "sys-pw-2") == 230
    subprocess.run(["usermod", "-L", name], check=True, timeout=30)
    assert login(srv, name, "sys-pw-2") == 530
    assert login(srv, "root", "whatever") == 530
    assert "PAM refused the login" in srv.log()
    # feitpd user has nothing to manage there.
    r = user_cmd(f"pam:{service}", "list")
    assert r.returncode == 1
