"""python3 -m feitp: serves the current folder like `python3 -m pyftpdlib`, with its flags.

    -i ADDRESS   interface to listen on (default all)
    -p PORT      port (default 2121)
    -w           write access for the anonymous user (or the -u user)
    -d FOLDER    folder to serve (default: the current one)
    -n ADDRESS   the NAT address put in PASV replies
    -r FROM-TO   passive port range
    -D           debug logging
    -u, -P       a user and password instead of anonymous access
    -W N         worker processes (feitp's own flag; default 1)
"""
from __future__ import annotations

import argparse
import logging
import os
import sys

from . import __version__


def main(argv: list | None = None) -> int:
    p = argparse.ArgumentParser(prog="python3 -m feitp",
                                description="Start a stand alone anonymous FTP server (feitp).")
    p.add_argument("-i", "--interface", default=None, metavar="ADDRESS",
                   help="specify the interface to run on (default all interfaces)")
    p.add_argument("-p", "--port", type=int, default=2121, metavar="PORT",
                   help="specify port number to run on (default 2121)")
    p.add_argument("-w", "--write", action="store_true", default=False,
                   help="grants write access for logged in user (default read-only)")
    p.add_argument("-d", "--directory", default=os.getcwd(), metavar="FOLDER",
                   help="specify the directory to share (default current directory)")
    p.add_argument("-n", "--nat-address", default=None, metavar="ADDRESS",
                   help="the NAT address to use for passive connections")
    p.add_argument("-r", "--range", default=None, metavar="FROM-TO",
                   help="the range of TCP ports to use for passive connections (e.g. -r 8000-9000)")
    p.add_argument("-D", "--debug", action="store_true", help="enable DEBUG logging level")
    p.add_argument("-v", "--version", action="store_true", help="print feitp version and exit")
    p.add_argument("-V", "--verbose", action="store_true", help="activate a more verbose logging")
    p.add_argument("-u", "--username", type=str, default=None,
                   help="specify username to login with (anonymous login will be disabled and password "
                        "required if supplied)")
    p.add_argument("-P", "--password", type=str, default=None,
                   help="specify a password to login with (username required to be supplied too)")
    p.add_argument("-W", "--workers", type=int, default=1, metavar="N",
                   help="worker processes (default 1)")
    a = p.parse_args(argv)
    if a.version:
        print("feitp %s" % __version__)
        return 0
    level = logging.DEBUG if a.debug else logging.INFO
    logging.basicConfig(level=level, format="[%(levelname)1.1s %(asctime)s] %(message)s")

    from .pyftpdlib.authorizers import DummyAuthorizer
    from .pyftpdlib.handlers import FTPHandler
    from .pyftpdlib.servers import FTPServer

    perm = "elradfmwMT" if a.write else "elr"
    auth = DummyAuthorizer()
    if a.username:
        if not a.password:
            p.error("if username (-u) is supplied, password (-P) is required")
        auth.add_user(a.username, a.password, a.directory, perm=perm)
    else:
        import warnings
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            auth.add_anonymous(a.directory, perm=perm)

    class Handler(FTPHandler):
        pass
    Handler.authorizer = auth
    Handler.masquerade_address = a.nat_address
    if a.range:
        try:
            lo, hi = (int(x) for x in a.range.split("-"))
        except ValueError:
            p.error("invalid range (expected FROM-TO, e.g. 8000-9000)")
        Handler.passive_ports = range(lo, hi + 1)
    try:
        server = FTPServer((a.interface or "", a.port), Handler)
    except OSError as e:
        print("python3 -m feitp: cannot listen on %s:%d: %s" % (a.interface or "0.0.0.0", a.port, e.strerror),
              file=sys.stderr)
        return 1
    print("feitp serving %s on %s:%d" % (a.directory, server.address[0], server.address[1]), flush=True)
    server.serve_forever(workers=a.workers)
    return 0


if __name__ == "__main__":
    sys.exit(main())
