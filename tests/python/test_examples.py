"""pyftpdlib's documentation examples (tutorial: "A Base FTP server", "Anonymous read-only",
"Event callbacks"), as written for pyftpdlib, run on feitp by changing the import only. The
test also moves the fixed port 2121 to a free one and the home '.' to a temporary folder."""
import ftplib
import io
import os
import socket
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
        for old, new in list(replacements) + [("2121", str(port)), ("21)", "%d)" % port)]:
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
