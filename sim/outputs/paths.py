"""Names and paths of results folders, and the few file helpers the results
folder modules share: the error every one of them raises
(:class:`OutputError`, with :func:`os_error` for an operating-system error
worded with its fix), the hidden names beside a target (cut to
:data:`NAME_PART` bytes by :func:`short_name`), the checks of a path the file
system must hold (:func:`check_lengths`, :func:`real_target`,
:func:`refuse_protected`), the default folder ``results/NAME`` and JSON
written and read back.

The lowest module of :mod:`sim.outputs`: :mod:`sim.outputs.marker`,
:mod:`sim.outputs.claim` and :mod:`sim.outputs.folder` build on it.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
from pathlib import Path
from typing import Any

from sim.oserrors import describe

COMPLETE_MARKER = "summary.json"
OWNER_FILE = ".bmc-sim-partial.json"
MARKER = ".bmc-sim-results.json"
MOVED_FILE = ".bmc-sim-moved.json"
CLAIM_SUFFIX = ".bmc-sim-claim"
PROGRAM = "bmc-sim"
NAME_PART = 100  # bytes of a target's name kept in the hidden names beside it


class OutputError(Exception):
    """The output folder cannot be used (message says why and what to do)."""


def os_error(label: str, exc: OSError, fix: str) -> OutputError:
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


def sample(names: list[str] | tuple[str, ...], k: int = 5) -> str:
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
        raise os_error(label, exc, "choose a writable place with free space; nothing was kept") from None


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
            raise os_error(label, exc, "give --out with a folder you can write to, or run from a writable folder") from None
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


def read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def write_json(path: Path, doc: Any) -> None:
    path.write_text(json.dumps(doc, indent=2, sort_keys=False, allow_nan=False) + "\n", encoding="utf-8")


def write_json_quiet(path: Path, doc: Any) -> None:
    with contextlib.suppress(OSError):
        write_json(path, doc)
