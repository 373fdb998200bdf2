"""pyftpdlib.filesystems on feitp: AbstractedFS, the view of a user's home that callbacks get as
`self.fs` (root = the home on disk, cwd = the session's FTP directory). The server itself does
not go through it: feitp's storage serves the files (see docs/python.md)."""
from __future__ import annotations

import os
from typing import Any, List

__all__ = ["FilesystemError", "AbstractedFS"]


class FilesystemError(Exception):
    """Raised by filesystem methods to send a custom error string to the client (pyftpdlib)."""


class AbstractedFS(object):
    def __init__(self, root: str, cmd_channel: Any) -> None:
        self._cwd = "/"
        self._root = root
        self.cmd_channel = cmd_channel

    @property
    def root(self) -> str:
        return self._root

    @root.setter
    def root(self, path: str) -> None:
        self._root = path

    @property
    def cwd(self) -> str:
        return self._cwd

    @cwd.setter
    def cwd(self, path: str) -> None:
        self._cwd = path

    def ftpnorm(self, ftppath: str) -> str:
        if os.path.isabs(ftppath):
            p = os.path.normpath(ftppath)
        else:
            p = os.path.normpath(os.path.join(self.cwd, ftppath))
        if os.sep == "\\":
            p = p.replace("\\", "/")
        while p[:2] == "//":
            p = p[1:]
        if not os.path.isabs(p):
            p = "/"
        return p

    def ftp2fs(self, ftppath: str) -> str:
        if os.path.normpath(self.root) == os.sep:
            return os.path.normpath(self.ftpnorm(ftppath))
        p = self.ftpnorm(ftppath)[1:]
        return os.path.normpath(os.path.join(self.root, p))

    def fs2ftp(self, fspath: str) -> str:
        if os.path.isabs(fspath):
            p = os.path.normpath(fspath)
        else:
            p = os.path.normpath(os.path.join(self.root, fspath))
        if not self.validpath(p):
            return "/"
        p = p.replace(os.sep, "/")
        p = p[len(self.root):]
        if not p.startswith("/"):
            p = "/" + p
        return p

    def validpath(self, path: str) -> bool:
        root = self.realpath(self.root)
        path = self.realpath(path)
        if not root.endswith(os.sep):
            root = root + os.sep
        if not path.endswith(os.sep):
            path = path + os.sep
        return path[0:len(root)] == root

    def open(self, filename: str, mode: str) -> Any:
        return open(filename, mode)

    def chdir(self, path: str) -> None:
        os.stat(path)
        self.cwd = self.fs2ftp(path)

    def mkdir(self, path: str) -> None:
        os.mkdir(path)

    def listdir(self, path: str) -> List[str]:
        return os.listdir(path)

    def rmdir(self, path: str) -> None:
        os.rmdir(path)

    def remove(self, path: str) -> None:
        os.remove(path)

    def rename(self, src: str, dst: str) -> None:
        os.rename(src, dst)

    def chmod(self, path: str, mode: int) -> None:
        os.chmod(path, mode)

    def stat(self, path: str) -> os.stat_result:
        return os.stat(path)

    def lstat(self, path: str) -> os.stat_result:
        return os.lstat(path)

    def utime(self, path: str, timeval: float) -> None:
        os.utime(path, (timeval, timeval))

    def readlink(self, path: str) -> str:
        return os.readlink(path)

    def isfile(self, path: str) -> bool:
        return os.path.isfile(path)

    def islink(self, path: str) -> bool:
        return os.path.islink(path)

    def isdir(self, path: str) -> bool:
        return os.path.isdir(path)

    def getsize(self, path: str) -> int:
        return os.path.getsize(path)

    def getmtime(self, path: str) -> float:
        return os.path.getmtime(path)

    def realpath(self, path: str) -> str:
        return os.path.realpath(path)

    def lexists(self, path: str) -> bool:
        return os.path.lexists(path)


UnixFilesystem = None  # not provided: feitp's storage always roots users in their home
