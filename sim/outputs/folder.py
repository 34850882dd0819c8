"""Writing results safely: into a temporary folder beside the target, moved
into place only when complete.  An existing non-empty folder is never
overwritten without ``force``, and ``force`` only replaces a folder this
program wrote (see :func:`sim.outputs.marker.results_entries`).

The target is claimed first, for the whole run (:mod:`sim.outputs.claim`:
a second run to it is refused, and what killed runs left is cleaned up), and
the finished folder gets its marker (:mod:`sim.outputs.marker`); names,
paths and :class:`OutputError` are in :mod:`sim.outputs.paths`.

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
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import errno
import os
import secrets
import shutil
import signal
import stat
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sim.outputs.claim import busy, claim, claimed, clean_stale, owner
from sim.outputs.marker import check_replaceable, only_results, write_marker
from sim.outputs.paths import (
    MOVED_FILE,
    OWNER_FILE,
    OutputError,
    make_folder,
    os_error,
    real_target,
    refuse_protected,
    sample,
    short_name,
    write_json,
    write_json_quiet,
)


def _stat(p: Path, label: str) -> os.stat_result | None:
    try:
        return os.stat(p)
    except (FileNotFoundError, NotADirectoryError):
        return None
    except OSError as exc:
        raise os_error(label, exc, "check the path and its permissions, or choose another --out") from None


def _names(folder: Path, label: str) -> tuple[str, ...]:
    try:
        return tuple(sorted(os.listdir(folder)))
    except OSError as exc:
        raise os_error(label, exc, "check the folder's permissions, or choose another --out") from None


def _names_now(folder: Path) -> tuple[str, ...] | None:
    """The folder's entries, or None when it is not (or no longer) a folder."""
    try:
        if not stat.S_ISDIR(os.lstat(folder).st_mode):
            return None
        return tuple(sorted(os.listdir(folder)))
    except OSError:
        return None


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
    holder = claimed(real)
    if holder is not None:
        raise busy(label, holder or None)
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
        return f"a folder appeared there (holding {sample(now)})" if now else "an empty folder appeared there"
    if not before:
        return f"files appeared in the empty folder ({sample(now)})"
    return f"the folder changed (it now holds {sample(now)})"


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
        write_json_quiet(tmp / OWNER_FILE, owner())
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
            write_json(tmp / OWNER_FILE, owner())
            yield tmp
            write_marker(tmp, kind)
            (tmp / OWNER_FILE).unlink()
            sync_tree(tmp)  # on disk before it takes the name: a crash never leaves a named folder with lost data
            with _signals_held():
                placing = True
                _place(tmp, real, before, label)
        except BaseException:
            if not placing or only_results(tmp):  # never a folder that holds anything else
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
