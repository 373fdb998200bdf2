#!/usr/bin/python3
"""The seed program for bench/compare.sh, on pyftpdlib or on feitp's pyftpdlib layer: one user,
one home, loopback only, logging off, and an FTPHandler subclass whose on_file_received appends
the path and size to a list (or does nothing: --callback none).

usage: py_server.py --impl feitp|pyftpdlib --port PORT --home DIR --user NAME --password PW
                    [--passive-ports MIN-MAX] [--workers N] [--callback list|none]

The feitp layer is imported from PYTHONPATH (bench/compare.sh sets it to build/python).
"""
import argparse
import logging
import os
import sys


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--impl", choices=("feitp", "pyftpdlib"), required=True)
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--home", required=True)
    ap.add_argument("--user", required=True)
    ap.add_argument("--password", required=True)
    ap.add_argument("--passive-ports", default="")
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--callback", choices=("list", "none"), default="list")
    a = ap.parse_args()

    logging.basicConfig(level=logging.ERROR)
    logging.getLogger("pyftpdlib").setLevel(logging.ERROR)
    if a.impl == "feitp":
        from feitp.pyftpdlib.authorizers import DummyAuthorizer
        from feitp.pyftpdlib.handlers import FTPHandler
        from feitp.pyftpdlib.servers import FTPServer
    else:
        from pyftpdlib.authorizers import DummyAuthorizer
        from pyftpdlib.handlers import FTPHandler
        from pyftpdlib.servers import FTPServer

    received = []

    if a.callback == "list":
        class Handler(FTPHandler):
            def on_file_received(self, file):
                received.append((file, os.path.getsize(file)))
    else:
        class Handler(FTPHandler):
            def on_file_received(self, file):
                pass

    auth = DummyAuthorizer()
    auth.add_user(a.user, a.password, a.home, perm="elradfmwMT")
    Handler.authorizer = auth
    Handler.banner = "seed ready."
    Handler.timeout = 600
    if a.passive_ports:
        lo, hi = (int(x) for x in a.passive_ports.split("-"))
        Handler.passive_ports = range(lo, hi + 1)
    server = FTPServer(("127.0.0.1", a.port), Handler)
    server.max_cons = 0
    server.max_cons_per_ip = 0
    if a.workers > 1:
        server.serve_forever(worker_processes=a.workers)
    else:
        server.serve_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main())
