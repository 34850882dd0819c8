"""Failures of the operating system end cleanly: a full disk, a read-only file
system, a name too long for the file system.  Each command is run as a real
process into a real, small file system (a 2 MB tmpfs mounted for the test and
unmounted after it; mounting needs root, and the tests are skipped, saying so,
where it is not permitted) and must end with exit status 2, a one-line
``error:`` naming the path, no traceback, and nothing left behind: no partial
or hidden folder, no empty or truncated file, existing files unchanged.
A PSA keeps the draws it finished, each complete, and ``--resume`` continues
from them to the result of a run that never failed."""

from __future__ import annotations

import errno
import hashlib
import json
import os
import random
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest

from sim import oserrors
from sim.oserrors import atomic_file, describe, write_text
from sim.outputs.paths import MARKER

from ..conftest import fuzz_count

ROOT = Path(__file__).resolve().parents[2]
SCEN = ROOT / "scenarios"
BASELINE = str(SCEN / "baseline.yaml")
PSA = str(SCEN / "baseline_psa.yaml")
OTHER = str(SCEN / "high_carcinosis.yaml")
FILLER = "filler"


# ----------------------------------------------------------------------------- a small real file system


class Tmpfs:
    """A mounted tmpfs that can be filled up and made read-only."""

    def __init__(self, path: Path):
        self.path = path

    def fill(self, leave: int = 0) -> None:
        """Fill the file system, leaving about ``leave`` bytes free."""
        f = self.path / FILLER
        fd = os.open(f, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        try:
            chunk = b"\0" * 65536
            while True:
                try:
                    if os.write(fd, chunk) < len(chunk):
                        chunk = chunk[:4096]
                except OSError as exc:
                    assert exc.errno == errno.ENOSPC, exc
                    if len(chunk) <= 4096:
                        break
                    chunk = chunk[:4096]
            size = os.fstat(fd).st_size
            os.ftruncate(fd, max(0, size - leave))
        finally:
            os.close(fd)

    def free(self) -> None:
        (self.path / FILLER).unlink(missing_ok=True)

    def remount(self, mode: str) -> None:
        subprocess.run(["mount", "-o", f"remount,{mode}", str(self.path)], check=True, capture_output=True)


@pytest.fixture
def tmpfs(tmp_path: Path) -> Iterator[Tmpfs]:
    if shutil.which("mount") is None or shutil.which("umount") is None:
        pytest.skip("no mount/umount program: the file-system tests need to mount a tmpfs")
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m,mode=0755", "tmpfs", str(mnt)], capture_output=True, text=True)
    if r.returncode != 0:
        pytest.skip(f"mounting a tmpfs is not permitted here (needs root): {r.stderr.strip() or r.returncode}")
    try:
        yield Tmpfs(mnt)
    finally:
        if subprocess.run(["umount", str(mnt)], capture_output=True).returncode != 0:
            subprocess.run(["umount", "-l", str(mnt)], capture_output=True)


def cli(*args: str | Path, cwd: Path = ROOT, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(ROOT / "run_sim.py"), *map(str, args)], cwd=cwd, capture_output=True, text=True, timeout=timeout
    )


def snapshot(root: Path) -> dict[str, tuple[object, ...]]:
    """Every folder and file below ``root`` (hidden ones too) with its size and content digest."""
    out: dict[str, tuple[object, ...]] = {}
    for folder, dirs, files in os.walk(root):
        for d in dirs:
            out[os.path.relpath(os.path.join(folder, d), root)] = ("folder",)
        for f in files:
            p = Path(folder) / f
            if p == root / FILLER:
                continue
            out[os.path.relpath(p, root)] = ("file", p.stat().st_size, hashlib.sha256(p.read_bytes()).hexdigest())
    return out


def assert_clean_error(r: subprocess.CompletedProcess[str], names: str | Path) -> str:
    """Exit 2, one line ``error: ...`` naming ``names``, no traceback; returns the line."""
    assert "Traceback" not in r.stderr + r.stdout, r.stderr
    assert r.returncode == 2, (r.returncode, r.stderr)
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), r.stderr
    assert str(names) in lines[0], (str(names), lines[0])
    return lines[0]


def results_folder(where: Path, patients: int = 300) -> Path:
    out = where / "r"
    r = cli("run", BASELINE, "--patients", patients, "--out", out, "--quiet")
    assert r.returncode == 0, r.stderr
    return out


# ----------------------------------------------------------------------------- disk full

# command line for a mount point M -> (arguments, the path the message must name, bytes to leave free
# for the disk to fill while the output is being written: about half of what the command writes)
DISK_FULL = {
    "run": lambda m: (["run", BASELINE, "--patients", "2000", "--out", m / "out", "--quiet"], m / "out", 250_000),
    "run-replications": lambda m: (
        ["run", BASELINE, "--patients", "500", "--replications", "3", "--out", m / "out", "--quiet"],
        m / "out",
        200_000,
    ),
    "compare": lambda m: (
        ["compare", BASELINE, OTHER, "--patients", "300", "--replications", "2", "--out", m / "out", "--quiet"],
        m / "out",
        36_000,
    ),
    "owsa": lambda m: (["owsa", PSA, "--patients", "100", "--out", m / "out", "--quiet"], m / "out", 48_000),
    "new": lambda m: (["new", "early_detection", "--dir", m / "d"], m / "d" / "early_detection.yaml", None),  # one page
    "schema": lambda m: (["schema", "--out", m / "scenario.schema.json"], m / "scenario.schema.json", 90_000),
}


@pytest.mark.parametrize(
    "command,moment",
    [(c, "full") for c in DISK_FULL]
    + [(c, "fills-while-writing") for c, make in DISK_FULL.items() if make(Path("/m"))[2] is not None],
)
def test_disk_full_fails_cleanly_and_leaves_nothing(tmpfs: Tmpfs, command: str, moment: str) -> None:
    m = tmpfs.path
    (m / "d").mkdir()
    (m / "keep.txt").write_text("a file of the user's\n")
    args, named, partly = DISK_FULL[command](m)
    tmpfs.fill(0 if moment == "full" else partly)
    before = snapshot(m)
    r = cli(*args)
    line = assert_clean_error(r, named)
    assert "disk full" in line and "free space" in line, line
    assert snapshot(m) == before, "files were left or changed"


def test_disk_full_report_leaves_the_results_folder_as_it_was(tmpfs: Tmpfs) -> None:
    folder = results_folder(tmpfs.path)
    for leave in (0, 100_000):  # no room at all; room for part of report.html
        tmpfs.free()
        tmpfs.fill(leave)
        before = snapshot(tmpfs.path)
        r = cli("report", folder, "--quiet")
        line = assert_clean_error(r, folder / "report.html")
        assert "disk full" in line and "no report was written" in line, line
        assert snapshot(tmpfs.path) == before, "a partial report was left"
    tmpfs.free()
    assert cli("report", folder, "--quiet").returncode == 0
    assert (folder / "report.html").stat().st_size > 0 and (folder / "report.xlsx").stat().st_size > 0


def test_disk_full_new_scenario_leaves_no_empty_file_that_blocks_the_name(tmpfs: Tmpfs) -> None:
    d = tmpfs.path / "d"
    d.mkdir()
    tmpfs.fill(0)
    assert_clean_error(cli("new", "early_detection", "--dir", d), d / "early_detection.yaml")
    assert list(d.iterdir()) == []
    tmpfs.free()
    r = cli("new", "early_detection", "--dir", d)
    assert r.returncode == 0, r.stderr
    assert "extends: baseline" in (d / "early_detection.yaml").read_text()


def test_disk_full_schema_force_keeps_the_old_file(tmpfs: Tmpfs) -> None:
    out = tmpfs.path / "scenario.schema.json"
    out.write_text("the old schema\n")
    tmpfs.fill(0)
    before = snapshot(tmpfs.path)
    assert_clean_error(cli("schema", "--out", out, "--force"), out)
    assert snapshot(tmpfs.path) == before


def _psa_args(out: Path, *more: str) -> list[str | Path]:
    return ["psa", PSA, "--draws", "4", "--patients", "100", "--workers", "1", "--out", out, "--quiet", *more]


@pytest.mark.parametrize("leave", [0, 30_000, 80_000, 140_000])
def test_disk_full_psa_keeps_only_whole_draws_and_resumes(tmpfs: Tmpfs, tmp_path: Path, leave: int) -> None:
    """Whatever the disk-full moment: nothing truncated, nothing hidden but the
    checkpoint of whole draws, and --resume (or a fresh run when nothing was
    kept) gives the table of a run that never failed."""
    reference = tmp_path / "reference"
    assert cli(*_psa_args(reference)).returncode == 0
    out = tmpfs.path / "p"
    tmpfs.fill(leave)
    r = cli(*_psa_args(out))
    line = assert_clean_error(r, out)
    assert "disk full" in line, line
    assert not (out / "summary.json").exists(), "a folder marked complete"
    for f in out.rglob("*") if out.exists() else []:
        assert f.is_dir() or f.stat().st_size > 0, f"empty file {f}"
        assert f.name in (".checkpoint", MARKER) or not f.name.startswith("."), f"temporary file left: {f}"
        if f.suffix == ".parquet":
            pq.read_table(f)  # complete: a truncated Parquet file cannot be read
    tmpfs.free()
    if out.exists():
        assert "--resume" in line, line
        assert cli(*_psa_args(out, "--resume")).returncode == 0
    else:
        assert "nothing was kept" in line, line
        assert cli(*_psa_args(out)).returncode == 0
    pd.testing.assert_frame_equal(pd.read_parquet(out / "psa.parquet"), pd.read_parquet(reference / "psa.parquet"))


# ----------------------------------------------------------------------------- read-only file system

READ_ONLY = {
    "run": lambda m: (["run", BASELINE, "--patients", "200", "--out", m / "new"], m / "new"),
    "psa": lambda m: (["psa", PSA, "--draws", "2", "--patients", "50", "--out", m / "new", "--quiet"], m / "new"),
    "compare": lambda m: (["compare", BASELINE, OTHER, "--patients", "200", "--out", m / "new", "--quiet"], m / "new"),
    "owsa": lambda m: (["owsa", PSA, "--patients", "50", "--out", m / "new", "--quiet"], m / "new"),
    "new": lambda m: (["new", "early_detection", "--dir", m / "d"], m / "d"),
    "schema": lambda m: (["schema", "--out", m / "s.json"], m / "s.json"),
    "report": lambda m: (["report", m / "r", "--quiet"], m / "r"),
    "bench": lambda m: (["bench", "--quick", "--out", m / "bench"], m / "bench"),
}


@pytest.mark.parametrize("command", list(READ_ONLY))
def test_read_only_file_system_fails_cleanly(tmpfs: Tmpfs, command: str) -> None:
    """A read-only mount (root ignores permission bits, not a read-only file system)."""
    m = tmpfs.path
    (m / "d").mkdir()
    if command == "report":
        results_folder(m)
    tmpfs.remount("ro")
    before = snapshot(m)
    args, named = READ_ONLY[command](m)
    r = cli(*args)
    line = assert_clean_error(r, named)
    assert "read-only" in line or "cannot write" in line, line
    assert "[0/" not in r.stderr, "the benchmark ran before its output was checked"
    assert snapshot(m) == before
    tmpfs.remount("rw")


@pytest.mark.parametrize(
    "args",
    [["run", BASELINE, "--patients", "100", "--quiet"], ["psa", PSA, "--draws", "2", "--patients", "50", "--quiet"]],
    ids=["run", "psa"],
)
def test_default_results_folder_in_a_read_only_folder(tmpfs: Tmpfs, args: list[str]) -> None:
    """Without --out the results go to results/ under the current folder: read-only there too."""
    (tmpfs.path / "work").mkdir()
    tmpfs.remount("ro")
    before = snapshot(tmpfs.path)
    line = assert_clean_error(cli(*args, cwd=tmpfs.path / "work"), "results")
    assert "read-only" in line and "removed" not in line, line
    assert snapshot(tmpfs.path) == before
    tmpfs.remount("rw")


# ----------------------------------------------------------------------------- names too long, bad outputs


@pytest.mark.parametrize(
    "make",
    [
        lambda m: ["schema", "--out", m / ("s" * 300 + ".json")],
        lambda m: ["psa", PSA, "--draws", "2", "--patients", "50", "--out", m / ("p" * 300), "--quiet"],
        lambda m: ["bench", "--quick", "--out", m / ("b" * 300)],
    ],
    ids=["schema", "psa", "bench"],
)
def test_a_name_too_long_for_the_file_system_fails_cleanly(tmpfs: Tmpfs, make) -> None:  # type: ignore[no-untyped-def]
    before = snapshot(tmpfs.path)
    r = cli(*make(tmpfs.path))
    line = assert_clean_error(r, tmpfs.path)
    assert "too long" in line, line
    assert "[0/" not in r.stderr
    assert snapshot(tmpfs.path) == before


def test_a_file_name_of_the_longest_length_is_written(tmpfs: Tmpfs) -> None:
    """The temporary file beside a 255-byte name must itself fit in a file name."""
    out = tmpfs.path / ("s" * 250 + ".json")
    r = cli("schema", "--out", out)
    assert r.returncode == 0, r.stderr
    assert out.read_text() == cli("schema").stdout
    assert [p.name for p in tmpfs.path.iterdir()] == [out.name]


def test_bench_refuses_a_file_as_its_folder_before_running(tmp_path: Path) -> None:
    f = tmp_path / "results.json"
    f.write_text("mine\n")
    for out in (f, f / "sub"):
        r = cli("bench", "--quick", "--out", out)
        assert_clean_error(r, f)
        assert "[0/" not in r.stderr, "the benchmark ran before its output was checked"
    assert f.read_text() == "mine\n"


# ----------------------------------------------------------------------------- interrupted report


def test_interrupted_report_says_what_is_true_and_leaves_the_folder(tmp_path: Path) -> None:
    """A real SIGINT while the report's files are being written: the message
    must not claim a results folder was removed, and nothing changes."""
    folder = results_folder(tmp_path)
    before = snapshot(folder)
    code = (
        "import os, signal, sys\n"
        f"sys.path.insert(0, {str(ROOT)!r})\n"
        "import sim.present.report as report\n"
        "real = report.build_workbook\n"
        "def workbook_then_ctrl_c(*a, **k):\n"
        "    real(*a, **k)\n"
        "    os.kill(os.getpid(), signal.SIGINT)\n"
        "report.build_workbook = workbook_then_ctrl_c\n"
        "from sim.cli.main import main\n"
        f"sys.exit(main(['report', {str(folder)!r}]))\n"
    )
    r = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert r.returncode == 128 + signal.SIGINT, r.stderr
    assert "Traceback" not in r.stderr
    assert "removed" not in r.stderr and "no report was written" in r.stderr, r.stderr
    assert snapshot(folder) == before


# ----------------------------------------------------------------------------- the messages and the writer


@pytest.mark.parametrize(
    "code,words",
    [
        (errno.ENOSPC, "disk full"),
        (errno.EDQUOT, "quota"),
        (errno.EROFS, "read-only"),
        (errno.EACCES, "permission denied"),
        (errno.EPERM, "not permitted"),
        (errno.ENAMETOOLONG, "too long"),
        (errno.ENOENT, "does not exist"),
        (errno.EXDEV, "different file systems"),
        (errno.EIO, "input/output"),
        (errno.EMFILE, "too many open files"),
    ],
)
def test_each_error_names_the_path_and_a_fix(code: int, words: str) -> None:
    exc = OSError(code, os.strerror(code), "/data/results/x/patients.parquet")
    text = describe(exc, elsewhere="choose another --out")
    assert words in text and "/data/results/x/patients.parquet" in text and "\n" not in text
    assert text.split(": ", 1)[1].strip(), text  # a fix follows the reason
    exc.add_note("3 finished draws are checkpointed in /data/p")
    assert describe(exc).endswith("; 3 finished draws are checkpointed in /data/p")


def test_a_staged_folder_is_named_as_the_folder_it_becomes() -> None:
    exc = OSError(errno.ENOSPC, "No space left on device", "/data/.r.partial-123-ab_9/patients.parquet")
    assert "/data/r/patients.parquet" in describe(exc)
    arrow = OSError("Error writing bytes to file. Detail: [errno 28] No space left on device")
    assert oserrors.error_number(arrow) == errno.ENOSPC
    assert "disk full while writing /data/out" in describe(arrow, path="/data/out")


def test_atomic_file_leaves_the_old_file_on_any_error(tmp_path: Path) -> None:
    target = tmp_path / "a.json"
    target.write_text("old")
    with pytest.raises(OSError) as err, atomic_file(target) as tmp:
        tmp.write_text("half")
        raise OSError(errno.ENOSPC, "No space left on device")
    assert err.value.filename == str(target)
    with pytest.raises(KeyboardInterrupt), atomic_file(target) as tmp:
        tmp.write_text("half")
        raise KeyboardInterrupt
    assert target.read_text() == "old" and [p.name for p in tmp_path.iterdir()] == ["a.json"]
    with pytest.raises(FileExistsError):
        write_text(target, "new", exclusive=True)
    write_text(target, "new")
    assert target.read_text() == "new" and [p.name for p in tmp_path.iterdir()] == ["a.json"]
    assert (target.stat().st_mode & 0o777) == (0o666 & ~_umask())


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def test_the_dashboard_shows_the_same_message(monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("streamlit")
    sys.path.insert(0, str(ROOT))
    from dashboard import core

    shown: list[str] = []
    monkeypatch.setattr(core.st, "error", lambda text, *a, **k: shown.append(str(text)))
    with core.guard("Saving the scenario"):
        raise OSError(errno.ENOSPC, "No space left on device", "/data/scenarios/x.yaml")
    assert len(shown) == 1 and "disk full while writing /data/scenarios/x.yaml" in shown[0], shown


def test_resume_recomputes_a_checkpointed_draw_cut_short(tmp_path: Path) -> None:
    """A draw file cut short (the machine crashed before it reached the disk) is
    not trusted by --resume: the draw is computed again, and the result is that
    of a run never interrupted."""
    reference, out = tmp_path / "reference", tmp_path / "p"
    assert cli(*_psa_args(reference)).returncode == 0
    assert cli(*_psa_args(out)).returncode == 0
    (out / "summary.json").unlink()
    for draw, size in ((1, 0), (2, 100)):
        f = out / ".checkpoint" / f"draw-{draw:06d}.parquet"
        f.write_bytes(f.read_bytes()[:size])
    r = cli(*_psa_args(out, "--resume"))
    assert r.returncode == 0, r.stderr
    pd.testing.assert_frame_equal(pd.read_parquet(out / "psa.parquet"), pd.read_parquet(reference / "psa.parquet"))


# ----------------------------------------------------------------------------- the disk filling at random moments

# (command, bytes it writes about, how to tell its output is complete)
RANDOM_MOMENTS = [
    ("run", 600_000, lambda m: json.loads((m / "out" / "summary.json").read_text())["patients"] == 2000),
    ("compare", 80_000, lambda m: json.loads((m / "out" / "comparison.json").read_text()) is not None),
    ("schema", 190_000, lambda m: json.loads((m / "scenario.schema.json").read_text()) is not None),
    ("report", 700_000, lambda m: (m / "r" / "report.html").read_text().rstrip().endswith("</html>")),
]


@pytest.mark.parametrize("command,size,complete", RANDOM_MOMENTS, ids=[c for c, _, _ in RANDOM_MOMENTS])
def test_disk_full_at_random_moments(tmpfs: Tmpfs, command: str, size: int, complete) -> None:  # type: ignore[no-untyped-def]
    """Free space drawn at random (seeded) from none to more than the command
    needs: each run either succeeds with complete output or fails cleanly with
    nothing changed; never anything in between."""
    rng = random.Random(f"disk-full-{command}")
    m = tmpfs.path
    outcomes = set()
    for _ in range(4):
        fuzz_count(f"file system: {command} with the disk filling")
        tmpfs.free()
        for entry in m.iterdir():
            if entry.name != "r":
                shutil.rmtree(entry) if entry.is_dir() else entry.unlink()
        if command == "report" and not (m / "r").exists():
            results_folder(m)
        for f in ("report.html", "report.xlsx"):
            (m / "r" / f).unlink(missing_ok=True)
        if command == "run":
            args = DISK_FULL["run"](m)[0]
        elif command == "compare":
            args = DISK_FULL["compare"](m)[0]
        elif command == "schema":
            args = DISK_FULL["schema"](m)[0]
        else:
            args = ["report", m / "r", "--quiet"]
        tmpfs.fill(rng.randrange(0, 2 * size))
        before = snapshot(m)
        r = cli(*args)
        assert "Traceback" not in r.stderr, r.stderr
        if r.returncode == 0:
            assert complete(m)
        else:
            assert_clean_error(r, m)
            assert snapshot(m) == before
        outcomes.add(r.returncode)
    assert outcomes <= {0, 2}
