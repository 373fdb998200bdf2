"""feitp's native Python API: a storage and an authenticator written in Python, hooks as a class
and as decorated functions, decisions, SITE commands, exceptions and slow callbacks."""
import errno
import ftplib
import io
import logging
import threading
import time

import pytest

import feitp
from conftest import wait_for


class DictStorage(feitp.Storage):
    """Files in a dict: path -> bytes; directories in a set."""

    def __init__(self):
        self.files = {}
        self.dirs = {"/"}
        self.lock = threading.Lock()

    def stat(self, path):
        with self.lock:
            if path in self.dirs:
                return feitp.FileInfo(name=path.rsplit("/", 1)[-1], type="dir")
            if path in self.files:
                return feitp.FileInfo(name=path.rsplit("/", 1)[-1], size=len(self.files[path]), mtime=1700000000)
        raise FileNotFoundError(errno.ENOENT, "no such file", path)

    def list(self, path):
        if path not in self.dirs:
            raise FileNotFoundError(errno.ENOENT, "no such directory", path)
        prefix = path.rstrip("/") + "/"
        with self.lock:
            names = [p for p in list(self.files) + list(self.dirs)
                     if p.startswith(prefix) and p != path and "/" not in p[len(prefix):]]
        return [self.stat(p) for p in names]

    def open_read(self, path, offset):
        with self.lock:
            if path not in self.files:
                raise FileNotFoundError(errno.ENOENT, "no such file", path)
            f = io.BytesIO(self.files[path])
        f.seek(offset)
        return f

    def open_write(self, path, mode, offset):
        storage = self

        class Writer:
            def __init__(self):
                self.buf = io.BytesIO()

            def write(self, data):
                self.buf.write(data)

            def commit(self):
                with storage.lock:
                    old = storage.files.get(path, b"") if mode == "append" else b""
                    storage.files[path] = old + self.buf.getvalue()

            def abort(self, keep_partial):
                pass
        return Writer()

    def mkdir(self, path):
        with self.lock:
            self.dirs.add(path)

    def remove(self, path):
        with self.lock:
            if self.files.pop(path, None) is None:
                raise FileNotFoundError(errno.ENOENT, "no such file", path)


class WebAuth(feitp.Authenticator):
    """Stands for a login check against a web service: it may block."""

    def __init__(self):
        self.calls = []

    def authenticate(self, username, password, remote_ip, remote_port, tls):
        self.calls.append((username, remote_ip))
        time.sleep(0.05)
        if username == "bob" and password == "pw":
            return feitp.User(name="bob", home="/", perm="elradfmw")
        if username == "boom":
            raise RuntimeError("the web service is down")
        return None


@pytest.fixture
def server():
    servers = []

    def make(**kw):
        kw.setdefault("listen", "127.0.0.1:0")
        s = feitp.Server(**kw)
        servers.append(s)
        return s
    yield make
    for s in servers:
        s.stop(0)


def connect(port, user="bob", password="pw"):
    f = ftplib.FTP()
    f.connect("127.0.0.1", port, timeout=15)
    if user:
        f.login(user, password)
    return f


def test_python_storage_and_authenticator(server):
    store, auth = DictStorage(), WebAuth()
    srv = server(storage=store, authenticator=auth)
    port = srv.start()[0]
    f = connect(port)
    f.storbinary("STOR a.txt", io.BytesIO(b"alpha"))
    f.storbinary("APPE a.txt", io.BytesIO(b"-beta"))
    f.mkd("sub")
    f.storbinary("STOR sub/b.txt", io.BytesIO(b"bb"))
    assert store.files == {"/a.txt": b"alpha-beta", "/sub/b.txt": b"bb"}
    assert sorted(f.nlst()) == ["a.txt", "sub"]
    assert f.size("a.txt") == 10
    out = io.BytesIO()
    f.retrbinary("RETR a.txt", out.write)
    assert out.getvalue() == b"alpha-beta"
    with pytest.raises(ftplib.error_perm, match="^550"):
        f.retrbinary("RETR missing", out.write)
    f.delete("a.txt")
    assert "/a.txt" not in store.files
    f.quit()
    with pytest.raises(ftplib.error_perm, match="^530"):
        connect(port, "bob", "wrong")
    assert ("bob", "127.0.0.1") in auth.calls


def test_authenticator_exception_refuses_and_is_logged(server, caplog):
    srv = server(storage=DictStorage(), authenticator=WebAuth(), login_failure_delay=0)
    port = srv.start()[0]
    with caplog.at_level(logging.ERROR, logger="feitp"):
        with pytest.raises(ftplib.error_perm, match="^530"):
            connect(port, "boom", "x")
        connect(port).quit()  # the server goes on
    assert any("the web service is down" in r.getMessage() and r.exc_info for r in caplog.records)


def test_storage_returning_wrong_types_gets_a_clear_error(server, caplog):
    class Broken(DictStorage):
        def stat(self, path):
            if path == "/bad":
                return 42
            return super().stat(path)

        def list(self, path):
            return "not a list"
    srv = server(storage=Broken(), authenticator=WebAuth())
    port = srv.start()[0]
    f = connect(port)
    with caplog.at_level(logging.ERROR, logger="feitp"):
        with pytest.raises(ftplib.Error):
            f.size("bad")
        with pytest.raises(ftplib.Error):
            f.nlst()
        f.storbinary("STOR ok.txt", io.BytesIO(b"fine"))  # the session goes on
    f.quit()
    text = "\n".join(r.getMessage() for r in caplog.records)
    assert "Storage.stat('/bad'): expected a feitp.FileInfo, got int" in text
    assert "Storage.list('/'): expected a list of feitp.FileInfo, got str" in text


def test_hooks_class_and_decorators(server, tmp_path):
    seen = []
    done = threading.Event()

    class Audit(feitp.Hooks):
        def on_login(self, session):
            session.data["logged"] = True
            seen.append(("login", session.username))

        def on_file_received(self, session, event):
            seen.append(("received", event.path, event.bytes, event.outcome, session.data.get("logged")))

    srv = server(root=str(tmp_path), hooks=Audit())
    srv.add_user("alice", "secret")

    @srv.hook
    def on_logout(session):
        seen.append(("logout", session.username))
        done.set()

    @srv.on("mkdir")
    def made(session, path):
        seen.append(("mkdir", path))

    port = srv.start()[0]
    f = connect(port, "alice", "secret")
    f.mkd("d")
    f.storbinary("STOR d/x.bin", io.BytesIO(b"z" * 321))
    f.quit()
    assert done.wait(15)
    assert seen == [("login", "alice"), ("mkdir", "/d"), ("received", "/d/x.bin", 321, "complete", True),
                    ("logout", "alice")]
    assert (tmp_path / "d" / "x.bin").read_bytes() == b"z" * 321


def test_decisions_refuse_and_exceptions_answer_451(server, tmp_path, caplog):
    srv = server(root=str(tmp_path))
    srv.add_user("alice", "secret")

    @srv.hook
    def check_upload(session, event):
        return "No executables." if open(event.local_path, "rb").read(2) == b"MZ" else None

    @srv.hook
    def before_upload(session, path):
        if path.endswith(".boom"):
            raise ValueError("bug in a decision")
        if path.endswith(".tmp"):
            raise feitp.Refuse("No temporary files.", 553)

    @srv.hook
    def before_command(session, verb, arg):
        return (502, "No renames here.") if verb == "RNFR" else None

    port = srv.start()[0]
    f = connect(port, "alice", "secret")
    with pytest.raises(ftplib.error_perm, match="^550 No executables."):
        f.storbinary("STOR evil.exe", io.BytesIO(b"MZ\x90\x00"))
    assert not (tmp_path / "evil.exe").exists()
    with pytest.raises(ftplib.error_perm, match="^553 No temporary files."):
        f.storbinary("STOR x.tmp", io.BytesIO(b"t"))
    with caplog.at_level(logging.ERROR, logger="feitp"):
        with pytest.raises(ftplib.error_temp, match="^451"):
            f.storbinary("STOR x.boom", io.BytesIO(b"t"))
    assert any("bug in a decision" in r.getMessage() and r.exc_info for r in caplog.records)
    with pytest.raises(ftplib.error_perm, match="^502 No renames here."):
        f.sendcmd("RNFR x")
    f.storbinary("STOR fine.txt", io.BytesIO(b"ok"))
    f.quit()
    assert (tmp_path / "fine.txt").read_bytes() == b"ok"


def test_exception_in_event_is_logged_and_session_goes_on(server, tmp_path, caplog):
    srv = server(root=str(tmp_path))
    srv.add_user("alice", "secret")
    got = threading.Event()

    @srv.hook
    def on_file_received(session, event):
        if event.path == "/1.txt":
            raise KeyError("oops in a callback")
        got.set()

    port = srv.start()[0]
    with caplog.at_level(logging.ERROR, logger="feitp"):
        f = connect(port, "alice", "secret")
        f.storbinary("STOR 1.txt", io.BytesIO(b"1"))
        f.storbinary("STOR 2.txt", io.BytesIO(b"2"))
        f.quit()
        assert got.wait(15)
    rec = [r for r in caplog.records if "oops in a callback" in r.getMessage()]
    assert rec and rec[0].exc_info and "on_file_received" in rec[0].getMessage()


def test_blocked_callback_and_decision_delay_only_their_session(server, tmp_path):
    """One session's on_login and another's before_upload block until a third session has
    uploaded: that upload must get through while both are blocked."""
    srv = server(root=str(tmp_path))
    srv.add_user("slow", "pw")
    srv.add_user("slowup", "pw")
    srv.add_user("fast", "pw")
    release = threading.Event()
    blocked = []

    @srv.hook
    def on_login(session):
        if session.username == "slow":
            blocked.append("login")
            release.wait(30)

    @srv.hook
    def before_upload(session, path):
        if session.username == "slowup":
            blocked.append("upload")
            release.wait(30)

    @srv.hook
    def on_file_received(session, event):
        if session.username == "fast":
            release.set()

    port = srv.start()[0]
    slow = connect(port, "slow", "pw")
    slowup = connect(port, "slowup", "pw")
    t = threading.Thread(target=lambda: slowup.storbinary("STOR s.txt", io.BytesIO(b"s")))
    t.start()
    wait_for(lambda: sorted(blocked) == ["login", "upload"], what="both callbacks to block")
    fast = connect(port, "fast", "pw")
    fast.storbinary("STOR f.txt", io.BytesIO(b"f"))
    fast.quit()
    assert release.wait(15), "the fast session's callback did not run while the others were blocked"
    t.join(15)
    assert (tmp_path / "s.txt").read_bytes() == b"s"
    slow.quit()
    slowup.quit()


def test_site_command(server, tmp_path):
    srv = server(root=str(tmp_path))
    srv.add_user("alice", "secret")

    @srv.site("WHOAMI", help="WHOAMI: who you are")
    def whoami(session, args):
        return "You are %s from %s %s" % (session.username, session.remote_ip, args)

    @srv.site("FAIL")
    def fail(session, args):
        raise RuntimeError("site failure")

    port = srv.start()[0]
    f = connect(port, "alice", "secret")
    assert f.sendcmd("SITE WHOAMI now") == "200 You are alice from 127.0.0.1 now"
    with pytest.raises(ftplib.error_temp, match="^451"):
        f.sendcmd("SITE FAIL")
    assert "WHOAMI" in f.sendcmd("SITE HELP")
    f.quit()


def test_memory_storage_and_options(server):
    srv = server(storage="memory", banner="Hello from Python.", max_per_ip=1)
    srv.add_user("u", "p", home="/")
    port = srv.start()[0]
    f = ftplib.FTP()
    assert f.connect("127.0.0.1", port, timeout=10).startswith("220 Hello from Python.")
    f.login("u", "p")
    with pytest.raises(ftplib.error_temp, match="^421"):
        connect(port, "u", "p")  # max_per_ip=1
    f.storbinary("STOR m.txt", io.BytesIO(b"mem"))
    assert f.nlst() == ["m.txt"]
    f.quit()


def test_bad_options_are_named():
    with pytest.raises(ValueError, match="no such permission|letter"):
        feitp.Server(root="/tmp").add_user("x", "y", perm="elrZ")
    srv = feitp.Server(listen="127.0.0.1:0", no_such_option=1)
    with pytest.raises(ValueError, match="unknown server option 'no_such_option'"):
        srv.start()
    for bad, match in (({"tls_required": "sometimes"}, "tls_required must be"),
                       ({"tls_required": "all"}, "needs a certificate"),
                       ({"tls_key": "/nonexistent.key"}, "tls_key is set but tls_cert is not")):
        with pytest.raises(ValueError, match=match):
            feitp.Server(listen="127.0.0.1:0", **bad).start()


def test_tls_and_rate_options(server, tmp_path):
    import hashlib
    import ssl
    import subprocess
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "k.pem", "-out",
                    "c.pem", "-days", "2", "-subj", "/CN=localhost"], cwd=str(tmp_path), check=True,
                   capture_output=True, timeout=60)
    home = tmp_path / "home"
    home.mkdir()
    limit = 64 * 1024
    srv = server(tls_cert=str(tmp_path / "c.pem"), tls_key=str(tmp_path / "k.pem"), tls_required="login",
                 session_download_rate=limit)
    srv.add_user("u", "p", home=str(home))
    port = srv.start()[0]
    with pytest.raises(ftplib.error_perm, match="^530"):
        connect(port, "u", "p")  # plain login refused with tls_required="login"
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    f = ftplib.FTP_TLS(context=ctx, timeout=15)
    f.connect("127.0.0.1", port, timeout=15)
    f.login("u", "p")
    f.prot_p()
    payload = bytes(range(256)) * 512  # 128 KiB
    f.storbinary("STOR t.bin", io.BytesIO(payload))
    out = io.BytesIO()
    start = time.monotonic()
    f.retrbinary("RETR t.bin", out.write)
    took = time.monotonic() - start
    f.quit()
    assert hashlib.sha256(out.getvalue()).digest() == hashlib.sha256(payload).digest()
    assert (home / "t.bin").read_bytes() == payload
    # The bucket's bound (see test_examples.throttled_lower_bound): chunks of limit/20, 20 ms credit.
    assert took >= (len(payload) - limit // 20) / limit - 0.0202


def test_authenticator_unavailable_is_421(server):
    class Down(feitp.Authenticator):
        def authenticate(self, username, password, remote_ip, remote_port, tls):
            raise feitp.LoginUnavailable("the account service is down")

    srv = server(authenticator=Down(), storage="memory")
    port = srv.start()[0]
    with pytest.raises(ftplib.error_temp, match="^421"):
        connect(port, "bob", "pw")
