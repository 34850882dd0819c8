"""The folder of a probabilistic sensitivity analysis while it runs: claimed,
prepared and checkpointed.

:func:`prepare_folder` claims the folder given to ``run_psa(out=...)`` (a
second run to the same folder is refused) and makes it new, continues it
(``resume``: the same set-up, as its manifest says) or starts it again
(``force``, only over this program's results).  :class:`Checkpoint` keeps
one small Parquet file per finished draw under ``DIR/.checkpoint``, each
whole or absent, so that an interrupted PSA continues without recomputing a
draw.  The results themselves are written by :mod:`sim.experiments.psa`.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

CHECKPOINT = ".checkpoint"
MANIFEST = "manifest.json"


class Checkpoint:
    """One small Parquet file per finished draw under DIR/.checkpoint."""

    def __init__(self, folder: Path):
        self.dir = folder / CHECKPOINT
        self.made: list[Path] = []  # folders created by start(), removed again if no draw is finished

    def path(self, draw: int) -> Path:
        return self.dir / f"draw-{draw:06d}.parquet"

    def done(self) -> set[int]:
        if not self.dir.is_dir():
            return set()
        out = set()
        for f in self.dir.glob("draw-*.parquet"):
            try:
                draw = int(f.stem.split("-")[1])
            except ValueError:
                continue
            try:
                pq.read_metadata(f)  # a file cut short (a crash of the machine before it reached the disk) is not a draw
            except pa.ArrowInvalid:
                f.unlink(missing_ok=True)  # computed again
                continue
            out.add(draw)
        return out

    def start(self, identity: dict[str, Any]) -> None:
        """Create the checkpoint folder and its manifest (whole or not at all); on
        failure nothing this call created is left."""
        from sim.oserrors import write_text

        self.made = [f for f in (self.dir.parent, self.dir) if not f.exists()]
        try:
            self.dir.mkdir(parents=True, exist_ok=True)
            write_text(self.dir / MANIFEST, json.dumps(identity, indent=2) + "\n")
        except BaseException as exc:
            self.unmake(manifest=False)
            if isinstance(exc, OSError):
                exc.add_note("nothing was kept")
            raise

    def unmake(self, manifest: bool = True) -> None:
        """Remove the folders :meth:`start` created (with its manifest and the
        folder's results marker), while no draw is in them."""
        from sim.outputs.paths import MARKER

        if manifest and self.made:
            (self.dir / MANIFEST).unlink(missing_ok=True)
        if self.dir.parent in self.made:
            (self.dir.parent / MARKER).unlink(missing_ok=True)
        for f in reversed(self.made):
            with contextlib.suppress(OSError):
                f.rmdir()  # only if empty
        self.made = []

    def write(self, draw: int, rows: list[dict[str, Any]]) -> None:
        tmp = self.dir / f".draw-{draw:06d}.{os.getpid()}.tmp"
        try:
            pq.write_table(pa.Table.from_pylist(rows), tmp)
            os.replace(tmp, self.path(draw))  # atomic: a draw is either complete or absent
        except BaseException as exc:
            tmp.unlink(missing_ok=True)
            if isinstance(exc, OSError):
                if exc.filename in (None, "", str(tmp)):
                    exc.filename = str(self.path(draw))
                exc.add_note(self.kept())
            raise

    def kept(self) -> str:
        """What a failed run leaves, for the message (a new folder with no finished draw is removed)."""
        n = len(self.done())
        if n == 0 and self.made:
            self.unmake()
            return "no draw was finished; nothing was kept"
        return (
            f"{n} finished draw{'s are' if n != 1 else ' is'} checkpointed in {self.dir.parent}; "
            "once the cause is fixed, continue with the same command and --resume"
        )

    def read(self, draws: int) -> pd.DataFrame:
        frames = [pq.read_table(self.path(d)).to_pandas() for d in range(draws)]
        return pd.concat(frames, ignore_index=True)

    def clean_partial(self) -> None:
        for f in self.dir.glob(".draw-*.tmp"):
            f.unlink(missing_ok=True)


def prepare_folder(out: Path, identity: dict[str, Any], resume: bool, force: bool) -> Checkpoint:
    """Claim and prepare the PSA folder ``out``: new, continued (``resume``) or
    started again (``force``, only over a folder that holds a PSA or other
    results of this program and nothing else).  The claim (a second run to
    the same folder is refused) is held while the returned checkpoint is in
    use, and ends with the process at the latest."""
    import weakref

    from sim.outputs.claim import claim
    from sim.outputs.paths import OutputError, real_target

    label = f"--out {out}"
    real = real_target(out, label)
    held = claim(real, label)
    try:
        ck = Checkpoint(out)
        _prepare(out, real, ck, identity, resume, force, label)
    except OSError as exc:
        held.release()
        raise OutputError(
            f"{label}: {exc.strerror or exc} ({exc.filename or out}); choose a writable place with free space"
        ) from None
    except BaseException:
        held.release()
        raise
    weakref.finalize(ck, held.release)
    return ck


def _prepare(out: Path, real: Path, ck: Checkpoint, identity: dict[str, Any], resume: bool, force: bool, label: str) -> None:
    from sim.outputs.claim import clean_stale
    from sim.outputs.marker import check_replaceable, write_marker
    from sim.outputs.paths import OutputError, check_lengths, refuse_protected

    manifest = ck.dir / MANIFEST
    check_lengths(real / CHECKPOINT / MANIFEST, label)
    if os.path.lexists(real) and not real.is_dir():
        raise OutputError(f"--out {out} is a file; give a folder path")
    refuse_protected(out)
    parent = real.parent
    if not parent.is_dir():
        raise OutputError(f"--out {out}: parent folder {parent} does not exist; create it first")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise OutputError(f"--out {out}: cannot write in {parent}; choose a writable place")
    clean_stale(parent)
    non_empty = real.is_dir() and any(real.iterdir())
    if non_empty and resume:
        if not manifest.is_file():
            raise OutputError(
                f"--resume: {out} holds no PSA checkpoint ({CHECKPOINT}/{MANIFEST}); give the folder of an interrupted psa run"
            )
        try:
            old = json.loads(manifest.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            raise OutputError(f"--resume: {manifest} cannot be read; start again with --force") from None
        diff = [k for k in identity if old.get(k) != identity[k]]
        if diff:
            shown = ", ".join(f"{k} {old.get(k)!r} there, {identity[k]!r} here" for k in diff)
            raise OutputError(
                f"--resume: {out} holds a PSA of another set-up ({shown}); nothing was changed. "
                "Give the same scenario(s), seed, patients and luck, or a new --out folder"
            )
        ck.clean_partial()
        return
    if non_empty and not force:
        raise OutputError(
            f"--out {out} exists and is not empty; add --resume to continue a PSA there, --force to replace it, or choose a new folder"
        )
    if non_empty and force:  # only this program's results are replaced: --force never removes other files
        check_replaceable(real, label, f"a PSA ({CHECKPOINT}/{MANIFEST}) or other results of this program")
        shutil.rmtree(real)
    ck.start(identity)  # the folder, its checkpoint folder and manifest: whole or not at all
    try:
        write_marker(real, "psa", [])
    except BaseException:
        ck.unmake()
        raise
