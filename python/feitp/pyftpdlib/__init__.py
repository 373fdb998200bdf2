"""pyftpdlib's API on feitp: change `from pyftpdlib.X import Y` to `from feitp.pyftpdlib.X import Y`.

Modules: servers (FTPServer), handlers (FTPHandler, TLS_FTPHandler, ThrottledDTPHandler),
authorizers (DummyAuthorizer, UnixAuthorizer, AuthenticationFailed), filesystems (AbstractedFS).
docs/python.md lists what differs.
"""
__ver__ = "1.5.7"
