"""Writing results safely: into a temporary folder beside the target, moved
into place only when complete.  An existing non-empty folder is never
overwritten without ``force``.

The temporary folder is hidden and named ``.NAME.partial-PID-XXXX``; it holds
an owner file with the process id, host and process start time.  A run that
is killed (even with SIGKILL) leaves at most such a hidden folder, never a
half-written ``NAME``; the next run into the same parent folder removes the
partial folders whose owning process is gone.  With ``force`` the old folder
is swapped for the new one in one atomic step where the system allows it
(Linux ``renameat2`` with ``RENAME_EXCHANGE``); elsewhere the old folder is
first renamed to ``.NAME.old-PID`` and, if the run dies before the new one
is in place, put back by the next run.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import json
import os
import re
import shutil
import socket
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

COMPLETE_MARKER = "summary.json"
OWNER_FILE = ".bmc-sim-partial.json"
_PARTIAL = re.compile(r"^\.(?P<name>.+)\.partial-(?P<pid>\d+)-[A-Za-z0-9_]+$")
_OLD = re.compile(r"^\.(?P<name>.+)\.old-(?P<pid>\d+)$")


class OutputError(Exception):
    """The output folder cannot be used (message says why and what to do)."""


def check_target(out: Path, force: bool) -> None:
    """Refuse a non-empty existing folder unless forced; refuse a file."""
    if out.exists() and not out.is_dir():
        raise OutputError(f"--out {out} is a file; give a folder path")
    if out.is_dir() and any(out.iterdir()) and not force:
        raise OutputError(f"--out {out} exists and is not empty; choose a new folder or add --force to replace it")
    parent = out.resolve().parent
    if not parent.exists():
        raise OutputError(f"--out {out}: parent folder {parent} does not exist; create it first")
    if not os.access(parent, os.W_OK):
        raise OutputError(f"--out {out}: cannot write in {parent}; choose a writable place")
    refuse_protected(out)


def refuse_protected(out: Path) -> None:
    """Refuse the current folder, its parents and the home folder as an output folder."""
    if out.resolve() in _protected():
        raise OutputError(f"--out {out} is the current folder, one of its parents or the home folder; give a folder of its own")


def _protected() -> set[Path]:
    """Folders a results folder must never replace: the current folder, its parents, home."""
    here = Path.cwd().resolve()
    out = {here, *here.parents}
    with contextlib.suppress(RuntimeError, KeyError):
        out.add(Path.home().resolve())
    return out


# ----------------------------------------------------------------------------- owners of partial folders


def _start_time(pid: int) -> str | None:
    """The kernel's start time of a process (tells a reused pid apart), or None."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat[stat.rfind(")") + 2 :].split()
    return fields[19] if len(fields) > 19 else None


def _state(pid: int) -> str | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat[stat.rfind(")") + 2 :].split()[0]


def _owner() -> dict[str, Any]:
    return {"pid": os.getpid(), "host": socket.gethostname(), "start": _start_time(os.getpid())}


def _is_dead(owner: dict[str, Any]) -> bool:
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
    return start is not None and _start_time(pid) not in (None, start)


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


def clean_stale(parent: Path) -> list[Path]:
    """Remove the partial folders in ``parent`` left by runs that were killed,
    and put back an old results folder a killed ``--force`` run had moved
    aside.  Folders of live runs, other hosts' runs and anything not made by
    :func:`staged_output` are left alone.  Returns what was cleaned."""
    cleaned: list[Path] = []
    try:
        entries = list(parent.iterdir())
    except OSError:
        return cleaned
    for entry in entries:
        m = _PARTIAL.match(entry.name)
        if m and entry.is_dir() and not entry.is_symlink():
            owner = _read_owner(entry, int(m["pid"]))
            if owner is not None and _is_dead(owner):
                shutil.rmtree(entry, ignore_errors=True)
                cleaned.append(entry)
            continue
        m = _OLD.match(entry.name)
        if m and entry.is_dir() and not entry.is_symlink() and _is_dead({"pid": int(m["pid"])}):
            target = parent / m["name"]
            if not target.exists():
                with contextlib.suppress(OSError):
                    os.replace(entry, target)  # the killed run had not put the new folder in place
                    cleaned.append(entry)
                    continue
            shutil.rmtree(entry, ignore_errors=True)
            cleaned.append(entry)
    return cleaned


# ----------------------------------------------------------------------------- atomic swap


_RENAME_EXCHANGE = 2
_AT_FDCWD = -100


def _exchange(a: Path, b: Path) -> bool:
    """Swap two paths atomically (Linux renameat2); False where unsupported."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        fn = libc.renameat2
    except (OSError, AttributeError):
        return False
    fn.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    rc = fn(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE)
    return rc == 0


@contextmanager
def staged_output(out: Path, force: bool) -> Iterator[Path]:
    """Yield a temporary folder; on success it replaces ``out`` atomically,
    on any error (or interruption) it is removed and ``out`` is untouched."""
    check_target(out, force)
    parent = out.resolve().parent
    clean_stale(parent)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.partial-{os.getpid()}-", dir=parent))
    try:
        write_json(tmp / OWNER_FILE, _owner())
        yield tmp
        (tmp / OWNER_FILE).unlink()
        sync_tree(tmp)  # on disk before it takes the name: a crash never leaves a named folder with lost data
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    target = out
    if target.exists() or target.is_symlink():
        if target.is_dir() and not target.is_symlink() and _exchange(tmp, target):
            sync_folder(parent)  # the exchange itself
            # tmp now holds the old results under the partial name: if this
            # process dies before removing them, the next run does
            write_json_quiet(tmp / OWNER_FILE, _owner())
            shutil.rmtree(tmp, ignore_errors=True)
            return
        old = parent / f".{out.name}.old-{os.getpid()}"
        os.replace(target, old)
        os.replace(tmp, target)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.replace(tmp, target)
    sync_folder(parent)  # the rename itself


def sync_tree(folder: Path) -> None:
    """Flush every file below ``folder``, then the folders themselves, to disk."""
    for root, _dirs, files in os.walk(folder):
        for f in files:
            fsync_file(Path(root) / f)
        sync_folder(Path(root))


def fsync_file(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def sync_folder(folder: Path) -> None:
    """Flush a folder's entries (file names) to disk, where the system allows opening a folder."""
    with contextlib.suppress(OSError):
        fsync_file(folder)


def write_json(path: Path, doc: Any) -> None:
    path.write_text(json.dumps(doc, indent=2, sort_keys=False, allow_nan=False) + "\n", encoding="utf-8")


def write_json_quiet(path: Path, doc: Any) -> None:
    with contextlib.suppress(OSError):
        write_json(path, doc)
