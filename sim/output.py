"""Writing results safely: into a temporary folder beside the target, moved
into place only when complete.  An existing non-empty folder is never
overwritten without ``force``."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

COMPLETE_MARKER = "summary.json"


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


@contextmanager
def staged_output(out: Path, force: bool) -> Iterator[Path]:
    """Yield a temporary folder; on success it replaces ``out`` atomically,
    on any error it is removed and ``out`` is untouched."""
    check_target(out, force)
    parent = out.resolve().parent
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.partial-", dir=parent))
    try:
        yield tmp
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    old = None
    if out.exists():
        old = parent / f".{out.name}.old-{os.getpid()}"
        os.replace(out, old)
    os.replace(tmp, out)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def write_json(path: Path, doc: Any) -> None:
    path.write_text(json.dumps(doc, indent=2, sort_keys=False, allow_nan=False) + "\n", encoding="utf-8")
