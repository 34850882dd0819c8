"""Writing results safely: into a temporary folder beside the target, moved
into place only when complete.  An existing non-empty folder is never
overwritten without ``force``, and ``force`` only replaces a folder this
program wrote (see :func:`results_entries`).

Claim.  A run first claims its target: it takes an exclusive lock (``flock``)
on a hidden file ``.NAME.bmc-sim-claim`` beside the target, held until the
folder is in place.  A second run to the same target is refused (exit 2)
while the first is alive; the kernel drops the lock of a process that dies
(even by SIGKILL), so a stale claim never blocks the next run, and the next
run into the same parent folder removes the claim files nobody holds.

Staging.  The temporary folder is hidden and named ``.NAME.partial-PID-XXXX``
(``NAME`` cut to at most 100 bytes, with a hash of the whole name when cut,
so long names still fit the file system); it holds an owner file with the
process id, host and process start time.  A run that is killed (even with
SIGKILL) leaves at most such a hidden folder and its claim file, never a
half-written ``NAME``; the next run into the same parent folder removes the
partial folders whose owning process is gone.  Folders are made with the
usual mode (``0777`` less the umask), like any folder the user makes.

Placing.  The target is looked at again when the results are complete: a
folder that was absent (or empty) at the start is taken only if it still is
(an atomic rename that fails when something is there), and a folder being
replaced with ``force`` only if it still holds exactly what it held at the
start.  If anything else appeared there meanwhile it is left untouched: the
finished results are kept beside it as ``NAME.kept-PID`` and the run ends
with an :class:`OutputError` that says so.  With ``force`` the old folder is
swapped for the new one in one atomic step where the system allows it (Linux
``renameat2`` with ``RENAME_EXCHANGE``); elsewhere the old folder is first
renamed to ``.NAME.old-PID`` and, if the run dies before the new one is in
place, put back by the next run.

Marker.  Every results folder holds ``.bmc-sim-results.json``: the program,
the kind of folder (run, compare, owsa, psa), the version and the files it
wrote.  ``--force`` replaces a folder only when the marker (or, for folders
written before the marker existed, the program's own ``summary.json``,
``comparison.json`` or PSA checkpoint together with nothing but the file
names the program writes) shows that it holds this program's results and
nothing else.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import errno
import fcntl
import hashlib
import json
import os
import re
import secrets
import shutil
import signal
import socket
import stat
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sim.oserrors import describe
from sim.oserrors import owner_gone as _is_dead
from sim.oserrors import start_time as _start_time

COMPLETE_MARKER = "summary.json"
OWNER_FILE = ".bmc-sim-partial.json"
MARKER = ".bmc-sim-results.json"
MOVED_FILE = ".bmc-sim-moved.json"
CLAIM_SUFFIX = ".bmc-sim-claim"
PROGRAM = "bmc-sim"
NAME_PART = 100  # bytes of a target's name kept in the hidden names beside it
_PARTIAL = re.compile(r"^\.(?P<name>.+)\.partial-(?P<pid>\d+)-[A-Za-z0-9_]+$")
_OLD = re.compile(r"^\.(?P<name>.+)\.old-(?P<pid>\d+)$")
_CLAIM = re.compile(r"^\.(?P<name>.+)" + re.escape(CLAIM_SUFFIX) + "$")
_REPORT = re.compile(r"^(report\.(html|xlsx)|\.report\.(html|xlsx)\.partial.*)$")  # written later by `report`
CLAIM_WAIT = 3.0  # s: how long a claim being cleaned up by another process is waited for

# what folders written before the marker existed may hold (besides the report files)
_TABLES = ("patients", "events", "services", "labs")
LEGACY_FILES: dict[str, frozenset[str]] = {
    "run": frozenset(
        [f"{t}.{x}" for t in _TABLES for x in ("parquet", "csv")]
        + ["summary.json", "scenario.resolved.yaml", "timing.json", "replications.parquet"]
    ),
    "compare": frozenset(["comparison.parquet", "comparison_replications.parquet", "comparison.json"]),
    "owsa": frozenset(["owsa.parquet", "tornado.png", "summary.json", "scenario.resolved.yaml"]),
    "psa": frozenset(
        [
            ".checkpoint",
            "psa.parquet",
            ".psa.parquet.tmp",
            "summary.json",
            "scenario.resolved.yaml",
            "comparator.resolved.yaml",
            "outcomes.png",
            "ce_plane.png",
            "ceac.png",
        ]
    ),
}
PSA_MANIFEST = (".checkpoint", "manifest.json")


class OutputError(Exception):
    """The output folder cannot be used (message says why and what to do)."""


# ----------------------------------------------------------------------------- paths and names


def _os_error(label: str, exc: OSError, fix: str) -> OutputError:
    """An operating-system error met while preparing ``label``: the general
    message of :func:`sim.oserrors.describe`, then this step's own fix."""
    return OutputError(f"{label}: {describe(exc, elsewhere=None)}; {fix}")


def _cwd(label: str) -> Path:
    try:
        return Path(os.getcwd())
    except OSError:
        raise OutputError(
            f"{label}: the current folder no longer exists (it was deleted or moved); change to an existing folder and run again"
        ) from None


def _absolute(out: Path, label: str) -> Path:
    return out if out.is_absolute() else _cwd(label) / out


def short_name(name: str) -> str:
    """``name`` for the hidden names beside a target: at most :data:`NAME_PART`
    bytes, cut at a character and ended by a hash of the whole name when cut."""
    raw = os.fsencode(name)
    if len(raw) <= NAME_PART:
        return name
    digest = hashlib.sha256(raw).hexdigest()[:12]
    return raw[: NAME_PART - 13].decode("utf-8", "ignore") + "~" + digest


def _limit(path: Path, name: str, default: int) -> int:
    """A file-system limit (pathconf) of the nearest existing folder of ``path``."""
    p = path
    while True:
        try:
            value = os.pathconf(p, name)
            return value if value and value > 0 else default
        except (OSError, ValueError):
            if p.parent == p:
                return default
            p = p.parent


def _shown(name: str) -> str:
    return name if len(name) <= 40 else name[:37] + "..."


def check_lengths(path: Path, label: str) -> None:
    """Refuse a path the file system cannot hold: a name longer than NAME_MAX
    bytes, or the whole path longer than PATH_MAX."""
    name_max = _limit(path, "PC_NAME_MAX", 255)
    for part in path.parts[1:]:
        n = len(os.fsencode(part))
        if n > name_max:
            raise OutputError(
                f"{label}: the name {_shown(part)!r} is {n} bytes long, too long for the file system (at most {name_max} bytes); "
                "give a shorter name"
            )
    path_max = _limit(path, "PC_PATH_MAX", 4096)
    n = len(os.fsencode(str(path)))
    if n >= path_max:
        raise OutputError(
            f"{label}: the path is {n} bytes long, too long for the file system (at most {path_max - 1} bytes); give a shorter path"
        )


def real_target(out: Path, label: str | None = None) -> Path:
    """The folder ``out`` names, with every symbolic link resolved (results
    are written next to the real folder, on its file system); a link to
    nothing is refused."""
    label = label or f"--out {out}"
    a = _absolute(Path(out), label)
    check_lengths(a, label)
    real = Path(os.path.realpath(a))
    if os.path.islink(a) and not os.path.exists(real):
        raise OutputError(f"{label} is a symbolic link to {real}, which does not exist; create that folder or give another --out")
    check_lengths(real, label)
    return real


def _stat(p: Path, label: str) -> os.stat_result | None:
    try:
        return os.stat(p)
    except (FileNotFoundError, NotADirectoryError):
        return None
    except OSError as exc:
        raise _os_error(label, exc, "check the path and its permissions, or choose another --out") from None


def _names(folder: Path, label: str) -> tuple[str, ...]:
    try:
        return tuple(sorted(os.listdir(folder)))
    except OSError as exc:
        raise _os_error(label, exc, "check the folder's permissions, or choose another --out") from None


def _names_now(folder: Path) -> tuple[str, ...] | None:
    """The folder's entries, or None when it is not (or no longer) a folder."""
    try:
        if not stat.S_ISDIR(os.lstat(folder).st_mode):
            return None
        return tuple(sorted(os.listdir(folder)))
    except OSError:
        return None


def _sample(names: list[str] | tuple[str, ...], k: int = 5) -> str:
    shown = ", ".join(_shown(n) for n in names[:k])
    more = f" and {len(names) - k} more" if len(names) > k else ""
    return f"{len(names)} entr{'y' if len(names) == 1 else 'ies'}: {shown}{more}"


def make_folder(path: Path, label: str) -> None:
    """``mkdir`` with the usual mode (0777 less the umask); an operating-system
    error is an :class:`OutputError` naming the path."""
    try:
        os.mkdir(path, 0o777)
    except FileExistsError:
        raise
    except OSError as exc:
        raise _os_error(label, exc, "choose a writable place with free space; nothing was kept") from None


def default_folder(name: str) -> Path:
    """``results/NAME``, a command's results folder when no --out is given; the
    folder ``results`` is made when missing.  A name the file system cannot
    hold, a file named ``results``, an unwritable or deleted current folder
    are refused (:class:`OutputError`) before anything is made."""
    out = Path("results") / name
    label = f"the default results folder {out}"
    here = _cwd(label)
    check_lengths(here / out, f"{label} (named after the scenario; give --out with a shorter folder name)")
    results = here / "results"
    if not os.path.isdir(results):
        if os.path.lexists(results):
            raise OutputError(f"{label}: {results} is a file, not a folder; give --out, or move that file")
        try:
            os.mkdir(results, 0o777)
        except FileExistsError:
            pass
        except OSError as exc:
            raise _os_error(label, exc, "give --out with a folder you can write to, or run from a writable folder") from None
    return out


def refuse_protected(out: Path) -> None:
    """Refuse the current folder, its parents and the home folder as an output folder."""
    try:
        real = Path(out).resolve()
    except OSError:
        return  # a relative path in a deleted current folder: refused where it is used
    if real in _protected():
        raise OutputError(f"--out {out} is the current folder, one of its parents or the home folder; give a folder of its own")


def _protected() -> set[Path]:
    """Folders a results folder must never replace: the current folder, its parents, home."""
    out: set[Path] = set()
    with contextlib.suppress(OSError):
        here = Path.cwd().resolve()
        out |= {here, *here.parents}
    with contextlib.suppress(RuntimeError, KeyError, OSError):
        out.add(Path.home().resolve())
    return out


# ----------------------------------------------------------------------------- what a folder holds


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def results_entries(folder: Path) -> tuple[str | None, list[str]]:
    """What an existing folder holds: ``(kind, foreign)`` where ``kind`` is the
    kind of results of this program it holds (``run``, ``compare``, ``owsa``,
    ``psa``), or None when it holds none, and ``foreign`` the entries the
    program did not write there (all of them when ``kind`` is None).

    A folder is recognised by its marker; one written before the marker
    existed by the program's own ``summary.json`` (a run's: model version,
    scenario and outcomes, with ``scenario.resolved.yaml``; an OWSA's:
    ``kind: owsa``), ``comparison.json`` or PSA checkpoint manifest."""
    names = sorted(os.listdir(folder))
    marker = _read_json(folder / MARKER)
    summary = _read_json(folder / "summary.json")
    comparison = _read_json(folder / "comparison.json")
    kind: str | None = None
    allowed: set[str] = set()
    if isinstance(marker, dict) and marker.get("program") == PROGRAM and isinstance(marker.get("kind"), str):
        kind = marker["kind"]
        files = marker.get("files")
        allowed = {str(f) for f in files} if isinstance(files, list) else set(LEGACY_FILES.get(str(kind), ()))
        allowed |= {MARKER} | (LEGACY_FILES["psa"] if kind == "psa" else set())
    elif (folder / PSA_MANIFEST[0] / PSA_MANIFEST[1]).is_file():
        kind, allowed = "psa", set(LEGACY_FILES["psa"])
    elif isinstance(summary, dict) and summary.get("kind") == "owsa" and "model_version" in summary:
        kind, allowed = "owsa", set(LEGACY_FILES["owsa"])
    elif (
        isinstance(summary, dict)
        and {"model_version", "scenario", "outcomes"} <= summary.keys()
        and (folder / "scenario.resolved.yaml").is_file()
    ):
        kind, allowed = "run", set(LEGACY_FILES["run"])
    elif isinstance(comparison, dict) and {"random_numbers", "scenarios", "differences"} <= comparison.keys():
        kind, allowed = "compare", set(LEGACY_FILES["compare"])
    if kind is None:
        return None, names
    return kind, [n for n in names if n not in allowed and not _REPORT.match(n)]


def check_replaceable(folder: Path, label: str, what: str = "results of this program") -> str:
    """Refuse (nothing removed) to replace a folder that does not hold only this
    program's results; returns the kind of results it holds."""
    try:
        kind, foreign = results_entries(folder)
    except OSError as exc:
        raise _os_error(label, exc, "nothing was removed; check the folder's permissions") from None
    if kind is None:
        raise OutputError(
            f"--force: {label.removeprefix('--out ')} does not hold {what} (no {MARKER} marker; it holds {_sample(foreign)}); "
            "nothing was removed. Choose a new --out folder"
        )
    if foreign:
        raise OutputError(
            f"--force: {label.removeprefix('--out ')} holds {kind} results of this program but also files it did not write "
            f"({_sample(foreign)}); nothing was removed. Move those files out first, or choose a new --out folder"
        )
    return kind


def write_marker(folder: Path, kind: str, files: list[str] | None = None) -> None:
    """The marker of a results folder of this program: the kind of folder, the
    version and the files it holds (all of ``folder`` unless given)."""
    from sim import __version__

    names = sorted(n for n in os.listdir(folder) if n != OWNER_FILE) if files is None else list(files)
    doc = {"program": PROGRAM, "kind": kind, "model_version": __version__, "files": sorted({*names, MARKER})}
    write_json(folder / MARKER, doc)


# ----------------------------------------------------------------------------- owners of partial folders and claims


def _owner() -> dict[str, Any]:
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
    doc = _read_json(path)
    return doc if isinstance(doc, dict) and isinstance(doc.get("pid"), int) else None


def _busy(label: str, holder: dict[str, Any] | None) -> OutputError:
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
                raise _busy(label, holder) from None
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
            data = json.dumps({**_owner(), "target": str(real)}).encode()
            os.ftruncate(fd, 0)
            os.pwrite(fd, data, 0)
        except OSError as exc:
            Claim(path, fd).release()
            raise _os_error(label, exc, "choose a writable place with free space; nothing was kept") from None
        return Claim(path, fd)


def _claimed(real: Path) -> dict[str, Any] | None:
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
            owner = _read_owner(entry, int(m["pid"]))
            if owner is not None and _is_dead(owner):
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
            moved = _read_json(entry / MOVED_FILE)
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


# ----------------------------------------------------------------------------- atomic renames


_RENAME_NOREPLACE = 1
_RENAME_EXCHANGE = 2
_AT_FDCWD = -100


def _renameat2(a: Path, b: Path, flags: int) -> int:
    """renameat2(2): 0, or the errno (ENOSYS where the C library has none)."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        fn = libc.renameat2
    except (OSError, AttributeError):
        return errno.ENOSYS
    fn.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    rc = fn(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), flags)
    return 0 if rc == 0 else ctypes.get_errno()


def _exchange(a: Path, b: Path) -> bool:
    """Swap two paths atomically (Linux renameat2); False where unsupported."""
    return _renameat2(a, b, _RENAME_EXCHANGE) == 0


def _rename_noreplace(a: Path, b: Path) -> None:
    """Rename ``a`` to ``b`` only if ``b`` does not exist (FileExistsError otherwise)."""
    err = _renameat2(a, b, _RENAME_NOREPLACE)
    if err == 0:
        return
    if err not in (errno.ENOSYS, errno.EINVAL, errno.ENOTSUP):
        raise OSError(err, os.strerror(err), str(b))
    if os.path.lexists(b):  # no atomic test here; a plain rename still replaces nothing but an empty folder
        raise FileExistsError(errno.EEXIST, os.strerror(errno.EEXIST), str(b))
    os.rename(a, b)


@contextmanager
def _signals_held() -> Iterator[None]:
    """SIGINT and SIGTERM wait until the block is done (main thread only), so
    the few renames that place a folder are never cut in the middle."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    got: list[int] = []
    sigs = (signal.SIGINT, signal.SIGTERM)
    old = {s: signal.signal(s, lambda n, _f: got.append(n)) for s in sigs}
    try:
        yield
    finally:
        for s, h in old.items():
            signal.signal(s, h)
        for n in got:
            signal.raise_signal(n)


# ----------------------------------------------------------------------------- staged output


def _check(real: Path, force: bool, label: str) -> tuple[str, ...] | None:
    """Checks of the target before anything is written: its entries (an empty
    tuple for an empty folder), or None when it does not exist."""
    st = _stat(real, label)
    if st is not None and not stat.S_ISDIR(st.st_mode):
        raise OutputError(f"{label} is a file; give a folder path")
    refuse_protected(real)
    parent = real.parent
    pst = _stat(parent, label)
    if pst is None or not stat.S_ISDIR(pst.st_mode):
        raise OutputError(f"{label}: parent folder {parent} does not exist; create it first")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise OutputError(f"{label}: cannot write in {parent}; choose a writable place")
    if st is None:
        return None
    if st.st_dev != pst.st_dev:
        raise OutputError(
            f"{label} is the top of another file system (a mount point), which cannot be replaced; give a folder inside it"
        )
    names = _names(real, label)
    if names and not force:
        raise OutputError(f"{label} exists and is not empty; choose a new folder or add --force to replace it")
    if names:
        check_replaceable(real, label)
    return names


def check_target(out: Path, force: bool) -> None:
    """Refuse a target that cannot be written: a file, a non-empty folder
    without ``force``, a folder that is not this program's results with it, a
    folder another run is writing, a path the file system cannot hold."""
    label = f"--out {out}"
    real = real_target(Path(out), label)
    holder = _claimed(real)
    if holder is not None:
        raise _busy(label, holder or None)
    _check(real, force, label)


def _staging(parent: Path, real: Path, label: str) -> Path:
    prefix = f".{short_name(real.name)}.partial-{os.getpid()}-"
    while True:
        tmp = parent / f"{prefix}{secrets.token_hex(4)}"
        try:
            make_folder(tmp, label)
            return tmp
        except FileExistsError:
            continue


def _what(real: Path, before: tuple[str, ...] | None) -> str:
    """What happened to the target since the start, for the message."""
    now = _names_now(real)
    if now is None:
        return "a file appeared at its place" if os.path.lexists(real) else "the folder was removed"
    if before is None:
        return f"a folder appeared there (holding {_sample(now)})" if now else "an empty folder appeared there"
    if not before:
        return f"files appeared in the empty folder ({_sample(now)})"
    return f"the folder changed (it now holds {_sample(now)})"


def _keep(tmp: Path, real: Path, label: str, what: str) -> OutputError:
    """Keep finished results beside a target that something else took meanwhile."""
    base = real.parent / f"{short_name(real.name)}.kept-{os.getpid()}"
    for i in range(1000):
        kept = base if i == 0 else base.with_name(f"{base.name}-{i}")
        try:
            _rename_noreplace(tmp, kept)
        except FileExistsError:
            continue
        except OSError as exc:
            return OutputError(
                f"{label}: {what} while this run was writing, and it was left untouched; the finished results "
                f"could not be kept ({exc.strerror}) and were removed; run again with another --out"
            )
        sync_folder(real.parent)
        return OutputError(
            f"{label}: {what} while this run was writing; it was left untouched. "
            f"The finished results are in {kept} instead; move them where you want them"
        )
    return OutputError(f"{label}: {what} while this run was writing; run again with another --out")


def _place(tmp: Path, real: Path, before: tuple[str, ...] | None, label: str) -> None:
    """Give the finished folder ``tmp`` the target's name, if the target still
    is what it was at the start; otherwise keep it beside (OutputError)."""
    parent = real.parent
    now = _names_now(real)
    if not before or now is None:  # absent or empty at the start, or removed since
        try:
            if now is None and not os.path.lexists(real):
                _rename_noreplace(tmp, real)
            else:
                os.rename(tmp, real)  # only onto a folder that is still empty
        except OSError:
            raise _keep(tmp, real, label, _what(real, before)) from None
        sync_folder(parent)  # the rename itself
        return
    if now != before:
        raise _keep(tmp, real, label, _what(real, before))
    if _exchange(tmp, real):
        sync_folder(parent)  # the exchange itself
        if _names_now(tmp) != before:  # something was added in the moment before the swap: swap back
            if not _exchange(tmp, real):
                raise _keep(tmp, real, label, "files were added to the folder being replaced (kept with them)")
            sync_folder(parent)
            raise _keep(tmp, real, label, _what(real, before))
        # tmp now holds the old results under the partial name: if this
        # process dies before removing them, the next run does
        write_json_quiet(tmp / OWNER_FILE, _owner())
        shutil.rmtree(tmp, ignore_errors=True)
        return
    old = parent / f".{short_name(real.name)}.old-{os.getpid()}"
    write_json_quiet(real / MOVED_FILE, {"name": real.name})  # the next run puts it back if this one dies
    os.replace(real, old)
    if tuple(n for n in (_names_now(old) or ()) if n != MOVED_FILE) != before:
        with contextlib.suppress(OSError):
            _rename_noreplace(old, real)
            os.unlink(real / MOVED_FILE)
        raise _keep(tmp, real, label, _what(real, before))
    try:
        _rename_noreplace(tmp, real)
    except OSError:
        error = _keep(tmp, real, label, _what(real, before))
        shutil.rmtree(old, ignore_errors=True)  # the old results, which --force replaces
        raise error from None
    sync_folder(parent)
    shutil.rmtree(old, ignore_errors=True)


def _only_results(folder: Path) -> bool:
    """True when ``folder`` holds this program's results and nothing else."""
    try:
        kind, foreign = results_entries(folder)
    except OSError:
        return False
    return kind is not None and not foreign


@contextmanager
def staged_output(out: Path, force: bool, kind: str = "run", *, label: str | None = None) -> Iterator[Path]:
    """Yield a temporary folder; on success it replaces ``out`` atomically,
    on any error (or interruption) it is removed and ``out`` is untouched.

    The target is claimed for the whole block (a second run to it is refused),
    checked at the start and again before the folder is put in place; the
    folder gets the marker of ``kind``."""
    label = label or f"--out {out}"
    real = real_target(Path(out), label)
    held = claim(real, label)
    try:
        before = _check(real, force, label)
        parent = real.parent
        clean_stale(parent)
        tmp = _staging(parent, real, label)
        placing = False
        try:
            write_json(tmp / OWNER_FILE, _owner())
            yield tmp
            write_marker(tmp, kind)
            (tmp / OWNER_FILE).unlink()
            sync_tree(tmp)  # on disk before it takes the name: a crash never leaves a named folder with lost data
            with _signals_held():
                placing = True
                _place(tmp, real, before, label)
        except BaseException:
            if not placing or _only_results(tmp):  # never a folder that holds anything else
                shutil.rmtree(tmp, ignore_errors=True)
            raise
    finally:
        held.release()


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
