"""Claims on a target folder, and the clean-up of what killed runs left.

A run first claims its target: it takes an exclusive lock (``flock``) on a
hidden file ``.NAME.bmc-sim-claim`` beside the target, held until the folder
is in place.  A second run to the same target is refused (exit 2) while the
first is alive; the kernel drops the lock of a process that dies (even by
SIGKILL), so a stale claim never blocks the next run, and the next run into
the same parent folder removes the claim files nobody holds
(:func:`clean_stale`), with the partial folders of runs that are gone and
the old folders a killed ``--force`` run had moved aside (put back).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import re
import shutil
import socket
import time
from pathlib import Path
from typing import Any

from sim.oserrors import owner_gone as _is_dead
from sim.oserrors import start_time as _start_time
from sim.outputs.paths import CLAIM_SUFFIX, MOVED_FILE, OWNER_FILE, OutputError, os_error, read_json, short_name

_PARTIAL = re.compile(r"^\.(?P<name>.+)\.partial-(?P<pid>\d+)-[A-Za-z0-9_]+$")
_OLD = re.compile(r"^\.(?P<name>.+)\.old-(?P<pid>\d+)$")
_CLAIM = re.compile(r"^\.(?P<name>.+)" + re.escape(CLAIM_SUFFIX) + "$")
CLAIM_WAIT = 3.0  # s: how long a claim being cleaned up by another process is waited for


def owner() -> dict[str, Any]:
    """This process, as the owner of a partial folder or a claim: pid, host, start time."""
    return {"pid": os.getpid(), "host": socket.gethostname(), "start": _start_time(os.getpid())}


def _read_owner(folder: Path, pid_in_name: int) -> dict[str, Any] | None:
    try:
        doc = json.loads((folder / OWNER_FILE).read_text(encoding="utf-8"))
        return doc if isinstance(doc, dict) else None
    except FileNotFoundError:
        # killed just before the owner file was written or just after it was
        # removed: the pid in the name is all there is
        return {"pid": pid_in_name}
    except (OSError, ValueError):
        return None


def claim_path(real: Path) -> Path:
    return real.parent / f".{short_name(real.name)}{CLAIM_SUFFIX}"


class Claim:
    """An exclusive claim on a target folder, held (an ``flock`` on the claim
    file) until :meth:`release` or the end of the process."""

    def __init__(self, path: Path, fd: int | None):
        self.path = path
        self.fd = fd

    def release(self) -> None:
        fd, self.fd = self.fd, None
        if fd is None:
            return
        try:
            if _same_file(fd, self.path):
                os.unlink(self.path)  # while still locked: nobody else can be holding this file
        except OSError:
            pass
        finally:
            os.close(fd)


def _same_file(fd: int, path: Path) -> bool:
    try:
        a, b = os.fstat(fd), os.lstat(path)
    except OSError:
        return False
    return (a.st_dev, a.st_ino) == (b.st_dev, b.st_ino)


def _holder(path: Path) -> dict[str, Any] | None:
    doc = read_json(path)
    return doc if isinstance(doc, dict) and isinstance(doc.get("pid"), int) else None


def busy(label: str, holder: dict[str, Any] | None) -> OutputError:
    who = f"pid {holder['pid']} on {holder.get('host', '?')}" if holder else "another process"
    return OutputError(f"{label}: another run ({who}) is writing this folder; wait for it to finish, or choose another --out")


def claim(real: Path, label: str) -> Claim:
    """Claim the target folder ``real`` for this process, or refuse (another live
    run holds it).  A claim left by a dead process is taken over."""
    path = claim_path(real)
    deadline = time.monotonic() + CLAIM_WAIT
    while True:
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o666)
        except OSError as exc:
            raise OutputError(f"{label}: cannot write in {path.parent} ({exc.strerror}); choose a writable place") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            holder = _holder(path)
            # held by a live run: refuse; otherwise someone is cleaning up a dead run's claim: wait a moment
            if (holder is not None and not _is_dead(holder)) or time.monotonic() > deadline:
                raise busy(label, holder) from None
            time.sleep(0.05)
            continue
        except OSError:  # no locks on this file system: the checks at the end still protect the target
            with contextlib.suppress(OSError):
                if os.fstat(fd).st_size == 0:
                    os.unlink(path)
            os.close(fd)
            return Claim(path, None)
        if not _same_file(fd, path):  # removed by its last holder meanwhile: claim the new file
            os.close(fd)
            continue
        try:
            data = json.dumps({**owner(), "target": str(real)}).encode()
            os.ftruncate(fd, 0)
            os.pwrite(fd, data, 0)
        except OSError as exc:
            Claim(path, fd).release()
            raise os_error(label, exc, "choose a writable place with free space; nothing was kept") from None
        return Claim(path, fd)


def claimed(real: Path) -> dict[str, Any] | None:
    """The holder of a live claim on ``real`` (``{}`` when unknown), or None."""
    path = claim_path(real)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    except OSError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return _holder(path) or {}
    except OSError:
        return None
    finally:
        os.close(fd)
    return None


def _clean_claim(entry: Path) -> bool:
    """Remove a claim file that no process holds."""
    try:
        fd = os.open(entry, os.O_RDWR | os.O_NOFOLLOW)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        if _same_file(fd, entry):
            os.unlink(entry)
            return True
    except OSError:
        pass
    finally:
        os.close(fd)
    return False


def clean_stale(parent: Path) -> list[Path]:
    """Remove the partial folders in ``parent`` left by runs that were killed,
    and the claim files no run holds, and put back an old results folder a
    killed ``--force`` run had moved aside.  Folders of live runs, other
    hosts' runs and anything not made by :func:`staged_output` are left
    alone.  Returns what was cleaned."""
    cleaned: list[Path] = []
    try:
        entries = list(parent.iterdir())
    except OSError:
        return cleaned
    for entry in entries:
        m = _PARTIAL.match(entry.name)
        if m and entry.is_dir() and not entry.is_symlink():
            found = _read_owner(entry, int(m["pid"]))
            if found is not None and _is_dead(found):
                shutil.rmtree(entry, ignore_errors=True)
                cleaned.append(entry)
            continue
        m = _CLAIM.match(entry.name)
        if m and entry.is_file() and not entry.is_symlink():
            if _clean_claim(entry):
                cleaned.append(entry)
            continue
        m = _OLD.match(entry.name)
        if m and entry.is_dir() and not entry.is_symlink() and _is_dead({"pid": int(m["pid"])}):
            moved = read_json(entry / MOVED_FILE)
            name = moved.get("name") if isinstance(moved, dict) else None
            target = parent / (name if isinstance(name, str) and "/" not in name else m["name"])
            if not os.path.lexists(target):
                with contextlib.suppress(OSError):
                    os.replace(entry, target)  # the killed run had not put the new folder in place
                    with contextlib.suppress(OSError):
                        os.unlink(target / MOVED_FILE)
                    cleaned.append(entry)
                    continue
            shutil.rmtree(entry, ignore_errors=True)
            cleaned.append(entry)
    return cleaned
