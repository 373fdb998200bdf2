#!/usr/bin/python3
"""Runs pyftpdlib for bench/compare.sh: one user, one home, loopback only, logging off.

usage: pyftpd_driver.py --port PORT --home DIR --user NAME --password PW
                        [--passive-ports MIN-MAX] [--workers N] [--crypt-hash HASH]
                        [--tls-cert FILE --tls-key FILE [--tls-no-resumption]]

With --workers N > 1 the listening socket is shared by N pre-forked processes
(pyftpdlib's serve_forever(worker_processes=N)). pyftpdlib's own authorizer compares
plaintext passwords; --crypt-hash makes it verify a crypt(3) hash instead, like the daemons.
--tls-cert/--tls-key serve explicit FTPS with pyftpdlib's TLS_FTPHandler (needs python3-openssl),
TLS optional for clients, as its defaults have it. --tls-no-resumption turns session tickets and
the session cache off (every handshake a full one), for testing clients that expect resumption.
"""
import argparse
import logging
import sys

from pyftpdlib.authorizers import AuthenticationFailed, DummyAuthorizer
from pyftpdlib.handlers import FTPHandler
from pyftpdlib.servers import FTPServer


class CryptAuthorizer(DummyAuthorizer):
    """Checks passwords against a crypt(3) hash (needs Python's crypt module)."""

    def __init__(self, hashes):
        super().__init__()
        import warnings
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            import crypt
        self._crypt = crypt.crypt
        self._hashes = hashes

    def validate_authentication(self, username, password, handler):
        want = self._hashes.get(username)
        if want is None or self._crypt(password, want) != want:
            raise AuthenticationFailed("Authentication failed.")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--home", required=True)
    ap.add_argument("--user", required=True)
    ap.add_argument("--password", required=True)
    ap.add_argument("--passive-ports", default="")
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--crypt-hash", default="")
    ap.add_argument("--tls-cert", default="")
    ap.add_argument("--tls-key", default="")
    ap.add_argument("--tls-no-resumption", action="store_true")
    a = ap.parse_args()

    logging.basicConfig(level=logging.ERROR)
    logging.getLogger("pyftpdlib").setLevel(logging.ERROR)

    if a.crypt_hash:
        auth = CryptAuthorizer({a.user: a.crypt_hash})
    else:
        auth = DummyAuthorizer()
    auth.add_user(a.user, a.password, a.home, perm="elradfmwMT")

    handler = FTPHandler
    if a.tls_cert:
        from pyftpdlib.handlers import TLS_FTPHandler
        handler = TLS_FTPHandler
        handler.certfile = a.tls_cert
        handler.keyfile = a.tls_key or None
        if a.tls_no_resumption:
            from OpenSSL import SSL
            ctx = SSL.Context(SSL.SSLv23_METHOD)
            ctx.set_options(TLS_FTPHandler.ssl_options | SSL.OP_NO_TICKET)
            ctx.set_session_cache_mode(SSL.SESS_CACHE_OFF)
            ctx.use_certificate_chain_file(a.tls_cert)
            ctx.use_privatekey_file(a.tls_key or a.tls_cert)
            handler.ssl_context = ctx
    handler.authorizer = auth
    handler.banner = "pyftpdlib ready."
    handler.timeout = 600
    if a.passive_ports:
        lo, hi = (int(x) for x in a.passive_ports.split("-"))
        handler.passive_ports = range(lo, hi + 1)

    server = FTPServer(("127.0.0.1", a.port), handler)
    server.max_cons = 0
    server.max_cons_per_ip = 0
    if a.workers > 1:
        server.serve_forever(worker_processes=a.workers)
    else:
        server.serve_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main())
