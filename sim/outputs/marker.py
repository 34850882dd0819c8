"""The marker of a results folder, and what a folder holds.

Every results folder holds ``.bmc-sim-results.json``: the program, the kind
of folder (run, compare, owsa, psa), the version and the files it wrote.
``--force`` replaces a folder only when the marker (or, for folders written
before the marker existed, the program's own ``summary.json``,
``comparison.json`` or PSA checkpoint together with nothing but the file
names the program writes) shows that it holds this program's results and
nothing else.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from sim.outputs.paths import MARKER, OWNER_FILE, PROGRAM, OutputError, os_error, read_json, sample, write_json

_REPORT = re.compile(r"^(report\.(html|xlsx)|\.report\.(html|xlsx)\.partial.*)$")  # written later by `report`

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
    marker = read_json(folder / MARKER)
    summary = read_json(folder / "summary.json")
    comparison = read_json(folder / "comparison.json")
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
        raise os_error(label, exc, "nothing was removed; check the folder's permissions") from None
    if kind is None:
        raise OutputError(
            f"--force: {label.removeprefix('--out ')} does not hold {what} (no {MARKER} marker; it holds {sample(foreign)}); "
            "nothing was removed. Choose a new --out folder"
        )
    if foreign:
        raise OutputError(
            f"--force: {label.removeprefix('--out ')} holds {kind} results of this program but also files it did not write "
            f"({sample(foreign)}); nothing was removed. Move those files out first, or choose a new --out folder"
        )
    return kind


def write_marker(folder: Path, kind: str, files: list[str] | None = None) -> None:
    """The marker of a results folder of this program: the kind of folder, the
    version and the files it holds (all of ``folder`` unless given)."""
    from sim import __version__

    names = sorted(n for n in os.listdir(folder) if n != OWNER_FILE) if files is None else list(files)
    doc = {"program": PROGRAM, "kind": kind, "model_version": __version__, "files": sorted({*names, MARKER})}
    write_json(folder / MARKER, doc)


def only_results(folder: Path) -> bool:
    """True when ``folder`` holds this program's results and nothing else."""
    try:
        kind, foreign = results_entries(folder)
    except OSError:
        return False
    return kind is not None and not foreign
