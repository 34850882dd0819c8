"""Operating-system errors as messages a user can act on, and files that are
written whole or not at all.

:func:`describe` turns an :class:`OSError` (disk full, read-only file system,
permission denied, a name too long, a folder that vanished, ...) into one line
that names the path, says what went wrong and what to do.  The command line
prints it as ``error: ...`` with exit status 2; the dashboard shows it.

:func:`atomic_file` and :func:`write_text` write a single file through a
hidden temporary file beside it (``.STEM.partial-PID-XXXXXXXX.SUFFIX``),
flushed to disk and renamed into place only when complete.  On any error or
interruption the temporary file is removed, so a failed write leaves neither
a truncated nor an empty file, and an existing file keeps its old content.
With ``exclusive=True`` the file is put in place only if no file of that name
exists (it never replaces one that appeared meanwhile).
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import secrets
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

__all__ = ["describe", "atomic_file", "write_text", "check_writable_folder", "error_number"]

_NAME_MAX = 255  # bytes in one file name on the usual Linux file systems
_PARTIAL = re.compile(r"^\.(?P<stem>.*)\.partial-(?P<pid>\d+)-[0-9a-f]{8}(?P<suffix>\.[^.]*)?$")

# errno -> (what happened, with {path}; what to do)
_MESSAGES: dict[int, tuple[str, str]] = {
    errno.ENOSPC: ("disk full while writing {path}", "free space there{or_elsewhere}"),
    errno.EDQUOT: ("disk quota exceeded while writing {path}", "free space within your quota{or_elsewhere}"),
    errno.EFBIG: ("file too large for the file system: {path}", "write to another file system{or_elsewhere}"),
    errno.EROFS: ("{path} is on a read-only file system", "make it writable{or_elsewhere}"),
    errno.EACCES: ("permission denied: {path}", "change the permissions{or_elsewhere}"),
    errno.EPERM: ("operation not permitted: {path}", "change the permissions{or_elsewhere}"),
    errno.ENAMETOOLONG: ("name too long for the file system: {path}", "choose a shorter name or a shorter folder path"),
    errno.ENOENT: (
        "{path} does not exist (removed while the command ran?)",
        "check the path, create what is missing and run again",
    ),
    errno.ENOTDIR: ("a part of {path} is not a folder", "check the path"),
    errno.EISDIR: ("{path} is a folder", "give a file name"),
    errno.EEXIST: ("{path} already exists", "choose another name"),
    errno.ENOTEMPTY: ("{path} is not empty", "choose another folder"),
    errno.EXDEV: (
        "{path} and {path2} are on different file systems",
        "choose a place on the same file system as its parent folder, not a link to another disk",
    ),
    errno.ELOOP: ("too many symbolic links in {path}", "check the path for a link that points to itself"),
    errno.EIO: ("input/output error on {path}", "check the disk (it may be failing or disconnected) and run again"),
    errno.EMFILE: ("too many open files (at {path})", "raise the limit (ulimit -n) or close other programs"),
    errno.ENFILE: ("too many open files on this system (at {path})", "close other programs and run again"),
    errno.EBUSY: ("{path} is busy", "close the program that uses it and run again"),
    errno.ETXTBSY: ("{path} is busy", "close the program that uses it and run again"),
    errno.ENOMEM: ("out of memory (at {path})", "use a smaller run or close other programs"),
}
_ERRNO_IN_TEXT = re.compile(r"\[?errno (\d+)\]?", re.IGNORECASE)


def error_number(exc: BaseException) -> int | None:
    """The errno of an OSError, also when a library (Arrow) gave it only in the text."""
    if isinstance(exc, OSError) and isinstance(exc.errno, int):
        return exc.errno
    m = _ERRNO_IN_TEXT.search(str(exc))
    return int(m.group(1)) if m else None


def describe(exc: OSError, *, path: str | Path | None = None, elsewhere: str | None = "choose another place") -> str:
    """One line: what went wrong at which path, and the fix.

    ``path`` is named when the error carries no file name; ``elsewhere`` is
    the alternative fix for this command (e.g. ``choose another --out``), or
    None where there is none.  Notes added to the exception (what was kept)
    follow, separated by ``;``."""
    code = error_number(exc)
    own = _shown(os.fsdecode(exc.filename)) if exc.filename not in (None, "") else None
    reason = os.strerror(code) if code is not None else (exc.strerror or str(exc) or type(exc).__name__)
    if code in _MESSAGES:
        shown = own or (os.fsdecode(path) if path is not None else "the output")
        second = os.fsdecode(exc.filename2) if exc.filename2 not in (None, "") else "the target"
        what, fix = _MESSAGES[code]
        what = what.format(path=shown, path2=second)
        fix = fix.format(or_elsewhere=f", or {elsewhere}" if elsewhere else "")
        text = f"{what} ({reason}): {fix}"
    else:  # not about a file as such (a connection, a device): the system's words, and where if known
        text = f"{reason}{f' at {own}' if own else ''}: check the path, the disk or the connection, then run again"
    notes = [n for n in getattr(exc, "__notes__", ()) if isinstance(n, str) and n]
    return "; ".join([text, *notes]).replace("\n", " ")


_STAGING = re.compile(r"/\.(?P<name>[^/]+)\.partial-\d+-[A-Za-z0-9_]+(?=/|$)")


def _shown(path: str) -> str:
    """A path as the user named it: a staged results folder (``.NAME.partial-PID-XXXX``)
    shown as the folder it becomes."""
    return _STAGING.sub(lambda m: "/" + m["name"], path)


def _temp_name(target: Path) -> str:
    """A hidden name beside ``target`` that fits in one file name and keeps its suffix."""
    suffix = target.suffix if len(os.fsencode(target.suffix)) <= 16 else ""
    stem = target.name[: len(target.name) - len(suffix)] if suffix else target.name
    tail = f".partial-{os.getpid()}-{secrets.token_hex(4)}{suffix}"
    room = _NAME_MAX - 1 - len(os.fsencode(tail))
    while len(os.fsencode(stem)) > room:
        stem = stem[:-1]
    return f".{stem}{tail}"


def _remove_stale(target: Path) -> None:
    """Remove temporary files of ``target`` left by processes that were killed."""
    with contextlib.suppress(OSError):
        for entry in target.parent.iterdir():
            m = _PARTIAL.match(entry.name)
            if m and target.name.startswith(m["stem"]) and owner_gone({"pid": int(m["pid"])}):
                with contextlib.suppress(OSError):
                    if entry.is_file() and not entry.is_symlink():
                        entry.unlink()


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _sync_folder(folder: Path) -> None:
    with contextlib.suppress(OSError):
        _fsync(folder)


@contextmanager
def atomic_file(path: str | Path, *, exclusive: bool = False) -> Iterator[Path]:
    """Yield a temporary path beside ``path`` to write the whole file to; on
    success it is flushed and renamed to ``path``, on any error or interruption
    it is removed (``path`` is then untouched).  An OSError names ``path``.

    ``exclusive``: raise FileExistsError instead of replacing an existing file."""
    target = Path(path)
    _remove_stale(target)
    tmp = target.parent / _temp_name(target)
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)  # the umask applies, as for any new file
    except OSError as exc:
        raise _naming(exc, tmp, target) from None
    os.close(fd)
    try:
        try:
            yield tmp
            _fsync(tmp)
            if exclusive:
                _link_new(tmp, target)
            else:
                os.replace(tmp, target)
        except OSError as exc:
            raise _naming(exc, tmp, target) from None
    finally:
        with contextlib.suppress(OSError):
            tmp.unlink()
    _sync_folder(target.parent)


def _naming(exc: OSError, tmp: Path, target: Path) -> OSError:
    """The error with the file the user asked for in place of the temporary name."""
    if exc.filename in (None, "", os.fspath(tmp)):
        exc.filename = os.fspath(target)
    if exc.filename2 is not None and os.fsdecode(exc.filename2) == os.fspath(target):
        exc.filename2 = None  # a rename names both; the user knows only the target
    return exc


def _link_new(tmp: Path, target: Path) -> None:
    """Give the complete file ``tmp`` the name ``target`` unless that name exists."""
    try:
        os.link(tmp, target)  # fails with EEXIST, never replaces
        return
    except FileExistsError:
        raise
    except OSError as exc:
        if exc.errno not in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EMLINK, errno.ENOSYS):
            raise
    # a file system without hard links: claim the name, then move the complete file over the empty claim
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    os.close(fd)
    try:
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            target.unlink()
        raise


def write_text(path: str | Path, text: str, *, exclusive: bool = False) -> None:
    """Write ``text`` (UTF-8) to ``path`` whole or not at all (see :func:`atomic_file`)."""
    with atomic_file(path, exclusive=exclusive) as tmp:
        tmp.write_text(text, encoding="utf-8")


def check_writable_folder(folder: str | Path) -> None:
    """Raise the OSError that writing a file in ``folder`` would meet (read-only,
    no permission, not a folder, missing), by creating and removing a file there.
    Unlike ``os.access`` this also holds for root and for read-only mounts."""
    probe = Path(folder) / f".bmc-sim-probe-{os.getpid()}-{secrets.token_hex(4)}"
    try:
        fd = os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except OSError as exc:
        if exc.filename in (None, "", os.fspath(probe)):
            exc.filename = os.fspath(folder)
        raise
    os.close(fd)
    with contextlib.suppress(OSError):
        probe.unlink()


# ----------------------------------------------------------------------------- processes that left files behind


def start_time(pid: int) -> str | None:
    """The kernel's start time of a process (tells a reused pid apart), or None."""
    try:
        stat_ = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat_[stat_.rfind(")") + 2 :].split()
    return fields[19] if len(fields) > 19 else None


def _state(pid: int) -> str | None:
    try:
        stat_ = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat_[stat_.rfind(")") + 2 :].split()[0]


def owner_gone(owner: dict[str, Any]) -> bool:
    """True only when the owning process is certainly gone (same host, no such
    process, a zombie, or the pid now belongs to a later process)."""
    pid = owner.get("pid")
    if not isinstance(pid, int) or pid <= 0 or pid == os.getpid():
        return False
    if owner.get("host", socket.gethostname()) != socket.gethostname():
        return False  # another machine's run on a shared folder: not ours to judge
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        pass  # alive, another user's
    except OSError:
        return False
    if _state(pid) in ("Z", "X"):
        return True
    start = owner.get("start")
    return start is not None and start_time(pid) not in (None, start)
