"""feitp: a fast FTP server (C++) with Python hooks, authenticators and storages.

    import feitp
    server = feitp.Server(listen="127.0.0.1:2121", root="/srv/ftp")
    server.add_user("alice", "secret")

    @server.hook
    def on_file_received(session, event):
        print(session.username, "stored", event.path, event.bytes)

    server.serve_forever(workers=4)

feitp.pyftpdlib mirrors pyftpdlib's API (servers, handlers, authorizers, filesystems).
"""
from ._server import (ALL_PERMS, READ_PERMS, Authenticator, Disconnect, FileInfo, Hooks, LoginFailed,
                      LoginUnavailable, Refuse, Server, Session, Storage, TransferEvent, User)

__version__ = "0.1.0"


def hash_password(password: str, method: str = "yescrypt") -> str:
    """A crypt(3) hash (yescrypt, sha512 or bcrypt) that add_user() accepts instead of plaintext."""
    from . import _feitp
    return _feitp.hash_password(password, method)


__all__ = ["ALL_PERMS", "READ_PERMS", "Authenticator", "Disconnect", "FileInfo", "Hooks", "LoginFailed",
           "LoginUnavailable", "Refuse", "Server", "Session", "Storage", "TransferEvent", "User", "hash_password"]
