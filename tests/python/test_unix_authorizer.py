"""feitp.pyftpdlib's UnixAuthorizer: system accounts made for the test (useradd + chpasswd,
removed at the end), checked by PAM's real stack: the service "feitpd" (/etc/pam.d/feitpd when
feitp's package is installed, else PAM's "other": common-auth and common-account, pam_unix).
Needs root, as pyftpdlib's UnixAuthorizer and feitpd's PAM store do."""
import ftplib
import io
import os
import signal
import subprocess

import pytest

PROGRAM = '''
import sys

from feitp.pyftpdlib.authorizers import UnixAuthorizer
from feitp.pyftpdlib.handlers import FTPHandler
from feitp.pyftpdlib.servers import FTPServer

shell_user, nologin_user, variant = sys.argv[1:4]
if variant == "default":
    authorizer = UnixAuthorizer(rejected_users=["root"], require_valid_shell=True,
                                anonymous_user=nologin_user)
    authorizer.override_user(shell_user, perm="elrw")
else:
    authorizer = UnixAuthorizer(global_perm="elr", allowed_users=[nologin_user],
                                require_valid_shell=False)
handler = FTPHandler
handler.authorizer = authorizer
handler.auth_failed_timeout = 0
server = FTPServer(("127.0.0.1", 0), handler)
print("PORT %d" % server.address[1], flush=True)
server.serve_forever(worker_processes=int(sys.argv[4]))
'''


def _userdel(name):
    subprocess.run(["userdel", name], capture_output=True, timeout=30)


@pytest.fixture
def system_users(tmp_path):
    """Two system users with passwords: one with a login shell, one with /usr/sbin/nologin
    (not in /etc/shells); their homes are in tmp_path."""
    if os.geteuid() != 0:
        pytest.fail("the UnixAuthorizer test needs root (useradd, and the PAM helper keeps root)")
    base = "fpy%d" % (os.getpid() % 100000)
    made = []
    try:
        for suffix, shell in (("s", "/bin/sh"), ("n", "/usr/sbin/nologin")):
            name = base + suffix
            _userdel(name)
            home = tmp_path / name
            r = subprocess.run(["useradd", "--home-dir", str(home), "--create-home", "--shell", shell, name],
                               capture_output=True, text=True, timeout=30)
            assert r.returncode == 0, r.stderr
            made.append(name)
            r = subprocess.run(["chpasswd"], input="%s:pw-%s-1\n" % (name, suffix), capture_output=True,
                               text=True, timeout=30)
            assert r.returncode == 0, r.stderr
        yield (made[0], tmp_path / made[0]), (made[1], tmp_path / made[1])
    finally:
        for name in made:
            _userdel(name)


def login(port, user, password):
    """The reply code of a login (230, 530, 421 ...)."""
    f = ftplib.FTP()
    f.connect("127.0.0.1", port, timeout=20)
    try:
        return int(f.login(user, password)[:3])
    except (ftplib.error_perm, ftplib.error_temp) as e:
        return int(str(e)[:3])
    finally:
        f.close()


def test_unix_authorizer_system_accounts(run_script, system_users):
    (shell_user, shell_home), (nologin_user, nologin_home) = system_users
    srv = run_script(PROGRAM, [shell_user, nologin_user, "default", "2"])
    # The system password, checked by PAM.
    f = ftplib.FTP()
    f.connect("127.0.0.1", srv.port, timeout=20)
    f.login(shell_user, "pw-s-1")
    assert f.pwd() == "/"
    f.storbinary("STOR hello.txt", io.BytesIO(b"from the system user\n"))
    with pytest.raises(ftplib.error_perm, match="^550"):
        f.delete("hello.txt")  # override_user(perm="elrw"): no d
    f.quit()
    assert (shell_home / "hello.txt").read_bytes() == b"from the system user\n"
    assert login(srv.port, shell_user, "wrong") == 530
    assert login(srv.port, "nosuchuser%d" % os.getpid(), "x") == 530
    # require_valid_shell: the right password does not let a nologin user in.
    assert login(srv.port, nologin_user, "pw-n-1") == 530
    # rejected_users (and root never logs in anyway).
    assert login(srv.port, "root", "whatever") == 530
    # A password changed on the system counts at the next login (PAM is asked every time).
    subprocess.run(["chpasswd"], input="%s:pw-s-2\n" % shell_user, text=True, check=True, timeout=30)
    assert login(srv.port, shell_user, "pw-s-1") == 530
    assert login(srv.port, shell_user, "pw-s-2") == 230
    # A locked account is refused by pam_unix's account check.
    subprocess.run(["usermod", "-L", shell_user], check=True, timeout=30)
    assert login(srv.port, shell_user, "pw-s-2") == 530
    # anonymous_user: anonymous sessions get that user's home, read-only.
    (nologin_home / "pub.txt").write_bytes(b"public\n")
    a = ftplib.FTP()
    a.connect("127.0.0.1", srv.port, timeout=20)
    a.login()
    out = io.BytesIO()
    a.retrbinary("RETR pub.txt", out.write)
    assert out.getvalue() == b"public\n"
    with pytest.raises(ftplib.error_perm, match="^550"):
        a.storbinary("STOR x.txt", io.BytesIO(b"no"))
    a.quit()
    assert srv.stop() == 0
    log = srv.output()
    assert "Traceback" not in log
    # Why each was refused is in the log (never in the reply).
    assert "failed login for '%s' from 127.0.0.1: refused by the Python authenticator: User %s doesn't " \
        "have a valid shell." % (nologin_user, nologin_user) in log
    assert "failed login for 'root' from 127.0.0.1: refused by the Python authenticator: User root is not " \
        "allowed to login." in log


def test_unix_authorizer_allowed_users_and_global_perm(run_script, system_users):
    (shell_user, _), (nologin_user, nologin_home) = system_users
    srv = run_script(PROGRAM, [shell_user, nologin_user, "allowed", "1"])
    # allowed_users: only the nologin user, let in since require_valid_shell=False.
    assert login(srv.port, shell_user, "pw-s-1") == 530
    f = ftplib.FTP()
    f.connect("127.0.0.1", srv.port, timeout=20)
    f.login(nologin_user, "pw-n-1")
    with pytest.raises(ftplib.error_perm, match="^550"):
        f.storbinary("STOR x.txt", io.BytesIO(b"no"))  # global_perm="elr"
    f.quit()
    assert not (nologin_home / "x.txt").exists()
    # No anonymous_user: anonymous is refused.
    assert login(srv.port, "anonymous", "guest@") == 530
    # The PAM helper gone: logins get 421 (try later), not a 530 counted against the client.
    helpers = pam_helpers(srv.proc.pid)
    assert len(helpers) == 1, helpers
    os.kill(helpers[0], signal.SIGKILL)
    assert login(srv.port, nologin_user, "pw-n-1") == 421
    assert "PAM helper gone" in srv.output()
    assert srv.stop() == 0


def pam_helpers(parent):
    """The PAM helper processes (named feitpd-pam) that `parent` forked."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % entry) as f:
                stat = f.read()
        except OSError:
            continue
        comm = stat[stat.index("(") + 1:stat.rindex(")")]
        ppid = int(stat[stat.rindex(")") + 2:].split()[1])
        if ppid == parent and comm == "feitpd-pam":
            found.append(int(entry))
    return found


def test_unix_authorizer_arguments(system_users):
    from feitp.pyftpdlib.authorizers import AuthorizerError, UnixAuthorizer
    (shell_user, _), (nologin_user, _) = system_users
    with pytest.raises(AuthorizerError, match="mutually exclusive"):
        UnixAuthorizer(allowed_users=[shell_user], rejected_users=[nologin_user])
    with pytest.raises(AuthorizerError, match="unknown user"):
        UnixAuthorizer(allowed_users=["nosuchuser%d" % os.getpid()])
    with pytest.raises(AuthorizerError, match="valid shell"):
        UnixAuthorizer(allowed_users=[nologin_user])
    with pytest.raises(ValueError, match="permission"):
        UnixAuthorizer(global_perm="elrX")
    a = UnixAuthorizer(global_perm="elr", msg_login="Hi.", anonymous_user=nologin_user)
    assert a.get_perms(shell_user) == "elr" and a.get_perms("anonymous") == "elr"
    assert a.get_msg_login(shell_user) == "Hi."
    assert a.has_user(shell_user) and a.has_user("anonymous")
    a.override_user(shell_user, perm="elradfmw", msg_login="Welcome.")
    assert a.get_perms(shell_user) == "elradfmw" and a.get_msg_login(shell_user) == "Welcome."
