"""pyftpdlib's documentation examples (tutorial: "A Base FTP server", "Anonymous read-only",
"Event callbacks"; demos tls_ftpd.py and throttled_ftpd.py), as written for pyftpdlib, run on
feitp by changing the import only. The test also moves the fixed port 2121 to a free one and
the home '.' to a temporary folder (and says where it changes anything else)."""
import ftplib
import hashlib
import io
import os
import socket
import ssl
import subprocess
import sys
import time

import pytest

from conftest import wait_for

BASIC = '''
import os

from pyftpdlib.authorizers import DummyAuthorizer
from pyftpdlib.handlers import FTPHandler
from pyftpdlib.servers import FTPServer


def main():
    # Instantiate a dummy authorizer for managing 'virtual' users
    authorizer = DummyAuthorizer()

    # Define a new user having full r/w permissions and a read-only
    # anonymous user
    authorizer.add_user('user', '12345', '.', perm='elradfmwMT')
    authorizer.add_anonymous(os.getcwd())

    # Instantiate FTP handler class
    handler = FTPHandler
    handler.authorizer = authorizer

    # Define a customized banner (string returned when client connects)
    handler.banner = "pyftpdlib based ftpd ready."

    # Specify a masquerade address and the range of ports to use for
    # passive connections.  Decomment in case you're behind a NAT.
    #handler.masquerade_address = '151.25.42.11'
    handler.passive_ports = range(60000, 65535)

    # Instantiate FTP server class and listen on 0.0.0.0:2121
    address = ('', 2121)
    server = FTPServer(address, handler)

    # set a limit for connections
    server.max_cons = 256
    server.max_cons_per_ip = 5

    # start ftp server
    server.serve_forever()

if __name__ == '__main__':
    main()
'''

ANONYMOUS = '''
from pyftpdlib.authorizers import DummyAuthorizer
from pyftpdlib.handlers import FTPHandler
from pyftpdlib.servers import FTPServer

authorizer = DummyAuthorizer()
authorizer.add_anonymous("/home/nobody")

handler = FTPHandler
handler.authorizer = authorizer

server = FTPServer(("127.0.0.1", 21), handler)
server.serve_forever()
'''

CALLBACKS = '''
from pyftpdlib.handlers import FTPHandler
from pyftpdlib.servers import FTPServer
from pyftpdlib.authorizers import DummyAuthorizer


class MyHandler(FTPHandler):

    def on_connect(self):
        print("%s:%s connected" % (self.remote_ip, self.remote_port))

    def on_disconnect(self):
        # do something when client disconnects
        pass

    def on_login(self, username):
        # do something when user login
        pass

    def on_logout(self, username):
        # do something when user logs out
        pass

    def on_file_sent(self, file):
        # do something when a file has been sent
        pass

    def on_file_received(self, file):
        # do something when a file has been received
        pass

    def on_incomplete_file_sent(self, file):
        # do something when a file is partially sent
        pass

    def on_incomplete_file_received(self, file):
        # remove partially uploaded files
        import os
        os.remove(file)


def main():
    authorizer = DummyAuthorizer()
    authorizer.add_user('user', '12345', homedir='.', perm='elradfmwMT')
    authorizer.add_anonymous(homedir='.')

    handler = MyHandler
    handler.authorizer = authorizer
    server = FTPServer(('', 2121), handler)
    server.serve_forever()

if __name__ == "__main__":
    main()
'''

# pyftpdlib's demo/tls_ftpd.py, verbatim.
TLS = '''#!/usr/bin/env python3

# Copyright (C) 2007 Giampaolo Rodola' <g.rodola@gmail.com>.
# Use of this source code is governed by MIT license that can be
# found in the LICENSE file.

"""
An RFC-4217 asynchronous FTPS server supporting both SSL and TLS.
Requires PyOpenSSL module (http://pypi.python.org/pypi/pyOpenSSL).
"""

import os

from pyftpdlib.authorizers import DummyAuthorizer
from pyftpdlib.handlers import TLS_FTPHandler
from pyftpdlib.servers import FTPServer


CERTFILE = os.path.abspath(os.path.join(os.path.dirname(__file__),
                                        "keycert.pem"))


def main():
    authorizer = DummyAuthorizer()
    authorizer.add_user('user', '12345', '.', perm='elradfmwMT')
    authorizer.add_anonymous('.')
    handler = TLS_FTPHandler
    handler.certfile = CERTFILE
    handler.authorizer = authorizer
    # requires SSL for both control and data channel
    # handler.tls_control_required = True
    # handler.tls_data_required = True
    server = FTPServer(('', 2121), handler)
    server.serve_forever()


if __name__ == '__main__':
    main()
'''

# pyftpdlib's demo/throttled_ftpd.py, verbatim.
THROTTLED = '''#!/usr/bin/env python3

# Copyright (C) 2007 Giampaolo Rodola' <g.rodola@gmail.com>.
# Use of this source code is governed by MIT license that can be
# found in the LICENSE file.

"""
An FTP server which uses the ThrottledDTPHandler class for limiting the
speed of downloads and uploads.
"""

import os

from pyftpdlib.authorizers import DummyAuthorizer
from pyftpdlib.handlers import FTPHandler
from pyftpdlib.handlers import ThrottledDTPHandler
from pyftpdlib.servers import FTPServer


def main():
    authorizer = DummyAuthorizer()
    authorizer.add_user('user', '12345', os.getcwd(), perm='elradfmwMT')
    authorizer.add_anonymous(os.getcwd())

    dtp_handler = ThrottledDTPHandler
    dtp_handler.read_limit = 30720  # 30 Kb/sec (30 * 1024)
    dtp_handler.write_limit = 30720  # 30 Kb/sec (30 * 1024)

    ftp_handler = FTPHandler
    ftp_handler.authorizer = authorizer
    # have the ftp handler use the alternative dtp handler class
    ftp_handler.dtp_handler = dtp_handler

    server = FTPServer(('', 2121), ftp_handler)
    server.serve_forever()


if __name__ == '__main__':
    main()
'''


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def example(tmp_path):
    procs = []

    def start(source, replacements=()):
        source = source.replace("from pyftpdlib.", "from feitp.pyftpdlib.")  # the only change
        port = free_port()
        # The port literals as the examples write them ("2121)" and ", 21)"); the whole literal
        # is matched, so a free port that itself ends in "21" is not rewritten again.
        for old, new in list(replacements) + [("2121)", "%d)" % port), (", 21)", ", %d)" % port)]:
            source = source.replace(old, new)
        script = tmp_path / "example.py"
        script.write_text(source)
        log = open(tmp_path / "example.log", "w")
        p = subprocess.Popen([sys.executable, str(script)], cwd=str(tmp_path), stdout=log,
                             stderr=subprocess.STDOUT, env=dict(os.environ, PYTHONUNBUFFERED="1"))
        procs.append(p)

        def up():
            assert p.poll() is None, (tmp_path / "example.log").read_text()
            try:
                socket.create_connection(("127.0.0.1", port), 1).close()
                return True
            except OSError:
                return False
        wait_for(up, what="the example to listen")
        return p, port
    yield start
    for p in procs:
        if p.poll() is None:
            p.send_signal(2)
            try:
                assert p.wait(20) == 0
            finally:
                if p.poll() is None:
                    p.kill()


def test_base_server(example, tmp_path):
    (tmp_path / "hello.txt").write_bytes(b"hello\n")
    p, port = example(BASIC)
    ftp = ftplib.FTP()
    assert ftp.connect("127.0.0.1", port, timeout=10).startswith("220 pyftpdlib based ftpd ready.")
    ftp.login("user", "12345")
    ftp.storbinary("STOR up.bin", io.BytesIO(b"x" * 5000))
    assert (tmp_path / "up.bin").read_bytes() == b"x" * 5000
    # Passive ports come from the example's range.
    assert 60000 <= int(ftp.sendcmd("EPSV").split("|")[3]) < 65535
    ftp.quit()
    anon = ftplib.FTP()
    anon.connect("127.0.0.1", port, timeout=10)
    anon.login()
    out = io.BytesIO()
    anon.retrbinary("RETR hello.txt", out.write)
    assert out.getvalue() == b"hello\n"
    with pytest.raises(ftplib.error_perm, match="^550"):
        anon.storbinary("STOR nope.txt", io.BytesIO(b"no"))
    anon.quit()
    assert not (tmp_path / "nope.txt").exists()


def test_anonymous_read_only(example, tmp_path):
    nobody = tmp_path / "nobody"
    nobody.mkdir()
    (nobody / "pub.txt").write_bytes(b"public\n")
    p, port = example(ANONYMOUS, [('"/home/nobody"', repr(str(nobody)))])
    ftp = ftplib.FTP()
    ftp.connect("127.0.0.1", port, timeout=10)
    ftp.login()
    assert ftp.nlst() == ["pub.txt"]
    for cmd in ("STOR x", "APPE pub.txt"):
        with pytest.raises(ftplib.error_perm, match="^550"):
            ftp.storbinary(cmd, io.BytesIO(b"no"))
    with pytest.raises(ftplib.error_perm, match="^550"):
        ftp.delete("pub.txt")
    with pytest.raises(ftplib.error_perm, match="^530"):
        _login(port, "user", "12345")
    ftp.quit()
    assert sorted(os.listdir(nobody)) == ["pub.txt"]


def _login(port, user, password):
    f = ftplib.FTP()
    f.connect("127.0.0.1", port, timeout=10)
    f.login(user, password)


def test_event_callbacks(example, tmp_path):
    p, port = example(CALLBACKS)
    ftp = ftplib.FTP()
    ftp.connect("127.0.0.1", port, timeout=10)
    local = ftp.sock.getsockname()
    ftp.login("user", "12345")
    ftp.storbinary("STOR cb.bin", io.BytesIO(b"y" * 100))
    ftp.quit()
    wait_for(lambda: "%s:%s connected" % local in (tmp_path / "example.log").read_text(),
             what="on_connect's line")
    assert (tmp_path / "cb.bin").read_bytes() == b"y" * 100


# --- FTPS -----------------------------------------------------------------------------------

def make_keycert(d):
    """keycert.pem as pyftpdlib's demo ships it: the private key, then the certificate."""
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "key.pem",
                    "-out", "cert.pem", "-days", "2", "-subj", "/CN=localhost"], cwd=str(d), check=True,
                   capture_output=True, timeout=60)
    (d / "keycert.pem").write_bytes((d / "key.pem").read_bytes() + (d / "cert.pem").read_bytes())
    os.unlink(d / "key.pem")
    os.unlink(d / "cert.pem")


def client_context():
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


def sha256(b):
    return hashlib.sha256(b).hexdigest()


def curl(*args):
    return subprocess.run(["curl", "-sS", "-k", "--max-time", "30"] + list(args), capture_output=True,
                          text=True, timeout=40)


def test_tls_example_required(example, tmp_path):
    make_keycert(tmp_path)
    # The demo's two commented lines, switched on (what its comment offers).
    p, port = example(TLS, [("    # handler.tls_", "    handler.tls_")])
    # Plain FTP cannot log in, and TLS without PROT P cannot move data.
    plain = ftplib.FTP()
    plain.connect("127.0.0.1", port, timeout=10)
    with pytest.raises(ftplib.error_perm, match="^530"):
        plain.login("user", "12345")
    plain.close()
    payload = os.urandom(300 * 1024)
    f = ftplib.FTP_TLS(context=client_context(), timeout=10)
    f.connect("127.0.0.1", port, timeout=10)
    f.login("user", "12345")
    with pytest.raises(ftplib.error_perm, match="^521"):
        f.storbinary("STOR clear.bin", io.BytesIO(b"no"))
    f.prot_p()
    with pytest.raises(ftplib.error_perm, match="^534"):
        f.prot_c()  # and the level stays P
    f.storbinary("STOR up.bin", io.BytesIO(payload))
    assert sha256((tmp_path / "up.bin").read_bytes()) == sha256(payload)
    out = io.BytesIO()
    f.retrbinary("RETR up.bin", out.write)
    assert sha256(out.getvalue()) == sha256(payload)
    f.quit()
    assert not (tmp_path / "clear.bin").exists()
    # curl --ssl-reqd: AUTH TLS, PROT P, an upload and a download.
    src = tmp_path / "curl-src.bin"
    src.write_bytes(os.urandom(200 * 1024))
    url = "ftp://user:12345@127.0.0.1:%d/" % port
    r = curl("--ssl-reqd", "-T", str(src), url + "curl.bin")
    assert r.returncode == 0, r.stderr
    assert sha256((tmp_path / "curl.bin").read_bytes()) == sha256(src.read_bytes())
    r = curl("--ssl-reqd", url + "up.bin", "-o", str(tmp_path / "curl-down.bin"))
    assert r.returncode == 0, r.stderr
    assert sha256((tmp_path / "curl-down.bin").read_bytes()) == sha256(payload)
    # curl without TLS is refused at login (67: login denied).
    r = curl(url + "up.bin", "-o", os.devnull)
    assert r.returncode == 67, (r.returncode, r.stderr)


def test_tls_example_optional(example, tmp_path):
    make_keycert(tmp_path)
    p, port = example(TLS)  # as shipped: TLS offered, not required
    plain = ftplib.FTP()
    plain.connect("127.0.0.1", port, timeout=10)
    plain.login("user", "12345")
    plain.storbinary("STOR plain.bin", io.BytesIO(b"p" * 1000))
    plain.quit()
    assert (tmp_path / "plain.bin").read_bytes() == b"p" * 1000
    f = ftplib.FTP_TLS(context=client_context(), timeout=10)
    f.connect("127.0.0.1", port, timeout=10)
    f.login("user", "12345")
    f.prot_p()
    out = io.BytesIO()
    f.retrbinary("RETR plain.bin", out.write)
    assert out.getvalue() == b"p" * 1000
    f.prot_c()  # allowed when TLS is not required
    f.storbinary("STOR clear.bin", io.BytesIO(b"c" * 10))
    f.quit()
    assert (tmp_path / "clear.bin").read_bytes() == b"c" * 10


def test_tls_handler_without_certificate(tmp_path):
    from feitp.pyftpdlib.authorizers import DummyAuthorizer
    from feitp.pyftpdlib.handlers import TLS_FTPHandler
    from feitp.pyftpdlib.servers import FTPServer

    class NoCert(TLS_FTPHandler):
        authorizer = DummyAuthorizer()

    server = FTPServer(("127.0.0.1", 0), NoCert)
    try:
        with pytest.raises(ValueError, match="certfile"):
            server.serve_forever()
        NoCert.ssl_context = object()  # a pyOpenSSL context cannot stand for the files
        with pytest.raises(ValueError, match="ssl_context.*certfile"):
            server.serve_forever()
        NoCert.ssl_context = None
        NoCert.certfile = str(tmp_path / "missing.pem")
        with pytest.raises(ValueError, match="no such file"):
            server.serve_forever()
        # A file that is no certificate fails in this process, before any worker is forked.
        (tmp_path / "bad.pem").write_text("not a certificate\n")
        NoCert.certfile = str(tmp_path / "bad.pem")
        with pytest.raises(RuntimeError, match="bad.pem"):
            server.serve_forever(worker_processes=2)
    finally:
        server.close_all()


# --- Bandwidth ------------------------------------------------------------------------------

# feitp's token bucket (src/session/server.cpp, src/session/transfer.cpp, include/feitp/limits.hpp):
# bytes are charged after they moved, in chunks of at most limit/20 bytes; a bucket lends at most
# 20 ms of credit, and a wait under 200 us is left to the next chunk. So the last chunk of a
# transfer of SIZE bytes cannot move before (SIZE - chunk) / limit - 20.2 ms after its first byte.
def throttled_lower_bound(size, limit):
    chunk = max(1024, limit // 20)
    return (size - chunk) / limit - 0.0202


def test_throttled_example(example, tmp_path):
    # The demo's 30 KiB/s made 128 KiB/s, so that a few hundred KiB take seconds, not minutes.
    limit = 128 * 1024
    p, port = example(THROTTLED, [("= 30720", "= %d" % limit)])
    size = 320 * 1024
    payload = os.urandom(size)
    ftp = ftplib.FTP()
    ftp.connect("127.0.0.1", port, timeout=20)
    ftp.login("user", "12345")
    start = time.monotonic()
    ftp.storbinary("STOR slow.bin", io.BytesIO(payload))
    up = time.monotonic() - start
    assert sha256((tmp_path / "slow.bin").read_bytes()) == sha256(payload)
    out = io.BytesIO()
    start = time.monotonic()
    ftp.retrbinary("RETR slow.bin", out.write)
    down = time.monotonic() - start
    assert sha256(out.getvalue()) == sha256(payload)
    ftp.quit()
    bound = throttled_lower_bound(size, limit)
    assert up >= bound, "upload of %d bytes at %d B/s took %.3f s (< %.3f s)" % (size, limit, up, bound)
    assert down >= bound, "download of %d bytes at %d B/s took %.3f s (< %.3f s)" % (size, limit, down, bound)


def test_throttled_limits_are_checked():
    from feitp.pyftpdlib.authorizers import DummyAuthorizer
    from feitp.pyftpdlib.handlers import FTPHandler, ThrottledDTPHandler
    from feitp.pyftpdlib.servers import FTPServer

    class Bad(ThrottledDTPHandler):
        read_limit = -5

    class H(FTPHandler):
        authorizer = DummyAuthorizer()
        dtp_handler = Bad

    server = FTPServer(("127.0.0.1", 0), H)
    try:
        with pytest.raises(ValueError, match="read_limit"):
            server.serve_forever()
    finally:
        server.close_all()


def test_tls_levels():
    """pyftpdlib's two switches on feitp's levels: data alone also protects the login."""
    from feitp.pyftpdlib.handlers import TLS_FTPHandler

    for control, data, level in ((False, False, "off"), (True, False, "login"), (True, True, "all"),
                                 (False, True, "all")):
        class H(TLS_FTPHandler):
            certfile = __file__  # any file: only the mapping is looked at here
            tls_control_required = control
            tls_data_required = data
        assert H._feitp_tls_options()["tls_required"] == level
