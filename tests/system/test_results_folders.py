"""Results folders never lose anything: a target is claimed for the whole run
and looked at again before the results take its name; --force replaces only
this program's results; names, files in the way, read-only or deleted folders
and other file systems are refused up front (exit 2, nothing left behind);
folders get the usual mode.  Concurrent runs are real processes; every process
a test starts is killed in its teardown."""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import stat
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

import sim.outputs.folder as output
from sim.cli.main import main
from sim.outputs.claim import claim_path, clean_stale
from sim.outputs.folder import staged_output
from sim.outputs.paths import CLAIM_SUFFIX, MARKER, OutputError
from sim.outputs.results import read_results

from ..conftest import ROOT, SCENARIOS

RUN_SIM = str(ROOT / "run_sim.py")
ENV = {**os.environ, "PYTHONPATH": str(ROOT)}
WAIT = 180  # s: the longest any child may take before it counts as hung
BASE = str(SCENARIOS / "baseline.yaml")
PSA = str(SCENARIOS / "baseline_psa.yaml")


# ----------------------------------------------------------------------------- helpers


def start(procs: list[subprocess.Popen[bytes]], args: list[str], cwd: Path, **kw: object) -> subprocess.Popen[bytes]:
    p = subprocess.Popen([sys.executable, RUN_SIM, *args], cwd=cwd, env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE, **kw)  # type: ignore[call-overload]
    procs.append(p)
    return p


def finish(p: subprocess.Popen[bytes]) -> tuple[int, str]:
    _, err = p.communicate(timeout=WAIT)
    return p.returncode, err.decode("utf-8", "replace")


def cli(args: list[str], cwd: Path) -> tuple[int, str]:
    r = subprocess.run([sys.executable, RUN_SIM, *args], cwd=cwd, env=ENV, capture_output=True, text=True, timeout=WAIT)
    return r.returncode, r.stderr


def leftovers(*parents: Path) -> list[str]:
    """Hidden staging folders, moved-aside folders and claim files."""
    found = []
    for parent in parents:
        if parent.is_dir():
            found += [
                p.name for p in parent.iterdir() if ".partial-" in p.name or ".old-" in p.name or p.name.endswith(CLAIM_SUFFIX)
            ]
    return found


def kept(parent: Path) -> list[Path]:
    return sorted(p for p in parent.iterdir() if ".kept-" in p.name)


def wait_for_partial(parent: Path, p: subprocess.Popen[bytes]) -> None:
    t_end = time.monotonic() + WAIT
    while not any(".partial-" in q.name for q in parent.iterdir()):
        assert p.poll() is None, "the run ended before it started writing"
        assert time.monotonic() < t_end, "the run neither started writing nor ended"
        time.sleep(0.02)


def snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def no_traceback(err: str) -> None:
    assert "Traceback" not in err and err.startswith("error:"), err


def fake_results(tmp: Path, tag: str) -> None:
    (tmp / "payload.txt").write_text(tag)


# ----------------------------------------------------------------------------- concurrent runs (real processes)


def test_concurrent_runs_to_one_folder_exactly_one_wins(tmp_path: Path, procs: list[subprocess.Popen[bytes]]) -> None:
    """Three runs to the same --out at once: exactly one writes the folder, the
    others exit 2 (the folder is claimed, or already written); the folder is
    complete and readable; nothing is left beside it."""
    out = tmp_path / "same"
    runs = [
        start(
            procs,
            ["run", BASE, "--patients", "20000", "--seed", str(i), "--workers", "1", "--out", str(out), "--quiet"],
            tmp_path,
        )
        for i in (1, 2, 3)
    ]
    results = [finish(p) for p in runs]
    codes = sorted(c for c, _ in results)
    assert codes == [0, 2, 2], results
    for code, err in results:
        if code == 2:
            no_traceback(err)
            assert "another run" in err or "exists and is not empty" in err, err
    winner = [i for i, (c, _) in zip((1, 2, 3), results) if c == 0][0]
    r = read_results(out)
    assert r.summary["seed"] == winner and r.summary["patients"] == len(r.patients) == 20000
    assert (out / MARKER).is_file()
    assert not leftovers(tmp_path) and not kept(tmp_path)


def test_a_folder_made_at_the_target_during_a_run_survives(tmp_path: Path, procs: list[subprocess.Popen[bytes]]) -> None:
    """The user makes the --out folder (with a file) while the run writes: the
    file survives, the finished results are kept beside it, exit 2 says where."""
    out = tmp_path / "v"
    p = start(procs, ["run", BASE, "--patients", "60000", "--workers", "1", "--out", str(out), "--quiet"], tmp_path)
    wait_for_partial(tmp_path, p)
    out.mkdir()
    (out / "precious.txt").write_text("x")
    assert p.poll() is None, "the run ended before the folder was made"
    code, err = finish(p)
    assert code == 2, err
    no_traceback(err)
    assert (out / "precious.txt").read_text() == "x" and sorted(os.listdir(out)) == ["precious.txt"]
    [k] = kept(tmp_path)
    assert str(k) in err and "left untouched" in err
    assert read_results(k).summary["patients"] == 60000
    assert not leftovers(tmp_path)


def test_a_killed_run_leaves_a_claim_the_next_run_takes_over(tmp_path: Path, procs: list[subprocess.Popen[bytes]]) -> None:
    """SIGKILL while writing: nothing at --out; the next run to the same
    folder is not refused, and it removes the dead run's leftovers."""
    out = tmp_path / "k"
    p = start(procs, ["run", BASE, "--patients", "60000", "--workers", "1", "--out", str(out), "--quiet"], tmp_path)
    wait_for_partial(tmp_path, p)
    p.send_signal(signal.SIGKILL)
    p.wait(timeout=30)
    assert not out.exists()
    assert any(n.endswith(CLAIM_SUFFIX) for n in leftovers(tmp_path))  # the claim file of the killed run
    code, err = cli(["run", BASE, "--patients", "200", "--out", str(out), "--quiet"], tmp_path)
    assert code == 0, err
    assert read_results(out).summary["patients"] == 200
    assert not leftovers(tmp_path)


HOLD = textwrap.dedent(
    """
    import fcntl, os, sys, time
    fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT)
    fcntl.flock(fd, fcntl.LOCK_EX)
    os.write(fd, ('{"pid": %d, "host": "%s"}' % (os.getpid(), os.uname().nodename)).encode())
    print("held", flush=True)
    time.sleep(600)
    """
)


def hold_claim(procs: list[subprocess.Popen[bytes]], target: Path) -> subprocess.Popen[bytes]:
    """Another live process that holds the claim on ``target``."""
    p = subprocess.Popen([sys.executable, "-c", HOLD, str(claim_path(target))], stdout=subprocess.PIPE)
    procs.append(p)
    assert p.stdout is not None and p.stdout.readline() == b"held\n"
    return p


@pytest.mark.parametrize(
    "args",
    [
        ["run", BASE, "--patients", "50"],
        ["compare", BASE, BASE, "--patients", "50", "--replications", "1"],
        ["owsa", PSA, "--patients", "30"],
        ["psa", PSA, "--draws", "2", "--patients", "30", "--workers", "1"],
    ],
    ids=["run", "compare", "owsa", "psa"],
)
def test_every_command_refuses_a_folder_another_run_is_writing(
    tmp_path: Path, procs: list[subprocess.Popen[bytes]], args: list[str]
) -> None:
    out = tmp_path / "busy"
    holder = hold_claim(procs, out)
    code, err = cli([*args, "--out", str(out), "--quiet"], tmp_path)
    assert code == 2, err
    no_traceback(err)
    assert f"another run (pid {holder.pid}" in err
    assert not out.exists() and not [n for n in leftovers(tmp_path) if not n.endswith(CLAIM_SUFFIX)]
    holder.kill()
    holder.wait()
    code, err = cli([*args, "--out", str(out), "--quiet"], tmp_path)  # the claim of a dead process is taken over
    assert code == 0, err
    assert (out / MARKER).is_file() and not leftovers(tmp_path)


def test_clean_stale_removes_only_claims_nobody_holds(tmp_path: Path, procs: list[subprocess.Popen[bytes]]) -> None:
    held = tmp_path / "held"
    hold_claim(procs, held)
    dead = claim_path(tmp_path / "dead")
    dead.write_text('{"pid": 1, "host": "elsewhere"}')
    mine = tmp_path / ".notes.txt"
    mine.write_text("user's")
    cleaned = clean_stale(tmp_path)
    assert cleaned == [dead] and not dead.exists()
    assert claim_path(held).exists() and mine.read_text() == "user's"


# ----------------------------------------------------------------------------- the target checked again at the end


def test_second_claim_in_the_same_process_is_refused(tmp_path: Path) -> None:
    out = tmp_path / "o"
    with staged_output(out, False) as tmp:
        fake_results(tmp, "first")
        with pytest.raises(OutputError, match="another run"), staged_output(out, True):
            pass
    assert (out / "payload.txt").read_text() == "first" and not leftovers(tmp_path)


@pytest.mark.parametrize("start_state", ["absent", "empty"])
@pytest.mark.parametrize("what", ["folder with a file", "file", "file inside"])
def test_whatever_appears_at_the_target_is_left_untouched(tmp_path: Path, start_state: str, what: str) -> None:
    out = tmp_path / "o"
    if start_state == "empty":
        out.mkdir()
    with pytest.raises(OutputError) as err, staged_output(out, False) as tmp:
        fake_results(tmp, "new")
        if what == "file":
            if out.exists():
                out.rmdir()
            out.write_text("user's file")
        else:
            out.mkdir(exist_ok=True)
            (out / "precious.txt").write_text("user's file")
    if what == "file":
        assert out.read_text() == "user's file"
    else:
        assert sorted(os.listdir(out)) == ["precious.txt"] and (out / "precious.txt").read_text() == "user's file"
    [k] = kept(tmp_path)
    assert str(k) in str(err.value) and (k / "payload.txt").read_text() == "new" and (k / MARKER).is_file()
    assert not leftovers(tmp_path)


def test_an_empty_folder_or_a_removed_target_loses_nothing(tmp_path: Path) -> None:
    """An empty folder made at the target meanwhile, or an empty target removed,
    holds nothing to lose: the results take the name."""
    out = tmp_path / "o"
    with staged_output(out, False) as tmp:
        fake_results(tmp, "a")
        out.mkdir()
    assert (out / "payload.txt").read_text() == "a"
    other = tmp_path / "p"
    other.mkdir()
    with staged_output(other, False) as tmp:
        fake_results(tmp, "b")
        other.rmdir()
    assert (other / "payload.txt").read_text() == "b" and not leftovers(tmp_path) and not kept(tmp_path)


@pytest.mark.parametrize("exchange", [True, False], ids=["renameat2", "portable"])
def test_forced_replacement_of_results_changed_meanwhile_keeps_both(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, exchange: bool
) -> None:
    if not exchange:
        monkeypatch.setattr(output, "_exchange", lambda a, b: False)
    out = tmp_path / "o"
    with staged_output(out, False) as tmp:
        fake_results(tmp, "old")
    with pytest.raises(OutputError, match="left untouched"), staged_output(out, True) as tmp:
        fake_results(tmp, "new")
        (out / "notes.txt").write_text("added by the user while the run wrote")
    assert (out / "payload.txt").read_text() == "old" and (out / "notes.txt").exists()
    [k] = kept(tmp_path)
    assert (k / "payload.txt").read_text() == "new"
    assert not leftovers(tmp_path)
    shutil.rmtree(k)
    (out / "notes.txt").unlink()
    with staged_output(out, True) as tmp:  # unchanged results are replaced
        fake_results(tmp, "new")
    assert (out / "payload.txt").read_text() == "new" and not leftovers(tmp_path) and not kept(tmp_path)


def test_a_file_added_in_the_moment_before_the_swap_is_swapped_back(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    out = tmp_path / "o"
    with staged_output(out, False) as tmp:
        fake_results(tmp, "old")
    real = output._exchange

    def late(a: Path, b: Path) -> bool:
        if not (b / "late.txt").exists() and not (a / "late.txt").exists():
            (b / "late.txt").write_text("just in time")
        return real(a, b)

    monkeypatch.setattr(output, "_exchange", late)
    with pytest.raises(OutputError, match="left untouched"), staged_output(out, True) as tmp:
        fake_results(tmp, "new")
    assert (out / "late.txt").read_text() == "just in time" and (out / "payload.txt").read_text() == "old"
    [k] = kept(tmp_path)
    assert (k / "payload.txt").read_text() == "new" and not leftovers(tmp_path)


# ----------------------------------------------------------------------------- --force replaces only results


FORCED = {
    "run": ["run", BASE, "--patients", "50"],
    "compare": ["compare", BASE, BASE, "--patients", "50", "--replications", "1"],
    "owsa": ["owsa", PSA, "--patients", "30"],
    "psa": ["psa", PSA, "--draws", "2", "--patients", "30", "--workers", "1"],
}


@pytest.mark.parametrize("command", list(FORCED))
def test_force_never_removes_a_folder_that_is_not_results(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], command: str
) -> None:
    """`--out scenarios --force` used to wipe the shipped scenarios."""
    folder = tmp_path / "scenarios"
    shutil.copytree(SCENARIOS, folder)
    before = snapshot(folder)
    assert main([*FORCED[command], "--out", str(folder), "--force", "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "nothing was removed" in err and "baseline.yaml" in err, err
    assert snapshot(folder) == before and not leftovers(tmp_path)


@pytest.mark.parametrize("command", list(FORCED))
def test_force_replaces_results_but_not_files_added_to_them(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], command: str
) -> None:
    out = tmp_path / "r"
    assert main([*FORCED[command], "--out", str(out), "--quiet"]) == 0
    marker = json.loads((out / MARKER).read_text())
    assert marker["program"] == "bmc-sim" and marker["kind"] == command
    (out / "notes.md").write_text("my notes")
    assert main([*FORCED[command], "--out", str(out), "--force", "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "notes.md" in err and "nothing was removed" in err
    assert (out / "notes.md").read_text() == "my notes"
    (out / "notes.md").unlink()
    assert main([*FORCED[command], "--out", str(out), "--force", "--quiet"]) == 0
    assert (out / MARKER).is_file() and not leftovers(tmp_path)


def test_force_recognises_results_written_before_the_marker(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A results folder of the program's shape without the marker (written by
    an earlier version) is replaced; one with a file the program does not
    write, or a look-alike summary, is not."""
    out = tmp_path / "r"
    assert main(["run", BASE, "--patients", "50", "--out", str(out), "--quiet", "--report"]) == 0
    (out / MARKER).unlink()
    assert main(["run", BASE, "--patients", "60", "--out", str(out), "--quiet", "--force"]) == 0
    assert read_results(out).summary["patients"] == 60
    (out / MARKER).unlink()
    (out / "analysis.R").write_text("x")
    assert main(["run", BASE, "--patients", "70", "--out", str(out), "--quiet", "--force"]) == 2
    assert "analysis.R" in capsys.readouterr().err and (out / "analysis.R").exists()
    fake = tmp_path / "fake"
    fake.mkdir()
    (fake / "summary.json").write_text("{}")
    (fake / "scenario.resolved.yaml").write_text("name: x\n")
    assert main(["run", BASE, "--patients", "50", "--out", str(fake), "--quiet", "--force"]) == 2
    assert "nothing was removed" in capsys.readouterr().err and sorted(os.listdir(fake)) == [
        "scenario.resolved.yaml",
        "summary.json",
    ]


# ----------------------------------------------------------------------------- names, files in the way, read-only, deleted, other file systems


LONG_OUT = FORCED  # the same small run of each command that writes a folder


@pytest.mark.parametrize("command", list(LONG_OUT))
def test_an_out_name_too_long_for_the_file_system_is_refused(tmp_path: Path, command: str) -> None:
    out = tmp_path / ("a" * 300)
    code, err = cli([*LONG_OUT[command], "--out", str(out), "--quiet"], tmp_path)
    assert code == 2, err
    no_traceback(err)
    assert "300 bytes" in err and "shorter" in err
    assert os.listdir(tmp_path) == []


def test_a_long_multibyte_name_gets_a_bounded_staging_name(tmp_path: Path) -> None:
    """A 240-byte folder name (120 two-byte characters) fits the file system,
    but `.NAME.partial-PID-XXXX` would not: the staging names are cut and hashed."""
    out = tmp_path / ("é" * 120)
    code, err = cli(["run", BASE, "--patients", "50", "--out", str(out), "--quiet"], tmp_path)
    assert code == 0, err
    assert read_results(out).summary["patients"] == 50 and not leftovers(tmp_path)
    code, err = cli(["run", BASE, "--patients", "60", "--out", str(out), "--quiet", "--force"], tmp_path)
    assert code == 0, err
    assert read_results(out).summary["patients"] == 60 and os.listdir(tmp_path) == [out.name]


def test_a_scenario_name_too_long_for_the_default_folder(tmp_path: Path) -> None:
    """A valid 100-character scenario name of 300 bytes cannot be the name of
    results/<name>: refused before anything is made, with the fix (--out)."""
    scen = tmp_path / "long.yaml"
    scen.write_text(yaml.safe_dump({"name": "€" * 100}, allow_unicode=True), encoding="utf-8")
    for args in (["run", str(scen), "--patients", "50"], ["owsa", PSA, "--set", f"name={'€' * 100}", "--patients", "30"]):
        code, err = cli([*args, "--quiet"], tmp_path)
        assert code == 2, err
        no_traceback(err)
        assert ("300 bytes" in err or "305 bytes" in err) and "--out" in err  # the owsa folder is NAME-owsa
        assert sorted(os.listdir(tmp_path)) == ["long.yaml"]


@pytest.mark.parametrize(
    "args",
    [
        ["run", BASE, "--patients", "50"],
        ["owsa", PSA, "--patients", "30"],
        ["psa", PSA, "--draws", "2", "--patients", "30", "--workers", "1"],
    ],
    ids=["run", "owsa", "psa"],
)
def test_a_file_named_results_where_the_default_folder_goes(tmp_path: Path, args: list[str]) -> None:
    (tmp_path / "results").write_text("my file")
    code, err = cli([*args, "--quiet"], tmp_path)
    assert code == 2, err
    no_traceback(err)
    assert "is a file" in err and "--out" in err
    assert (tmp_path / "results").read_text() == "my file" and os.listdir(tmp_path) == ["results"]


def test_a_deleted_working_folder(tmp_path: Path) -> None:
    gone = tmp_path / "gone"
    gone.mkdir()
    for args in ([], ["--out", "rel"]):
        cmd = " ".join([f"cd {gone} && rmdir {gone} && exec {sys.executable} {RUN_SIM} run {BASE} --patients 50 --quiet", *args])
        r = subprocess.run(["bash", "-c", cmd], env=ENV, capture_output=True, text=True, timeout=WAIT)
        assert r.returncode == 2, r.stderr
        no_traceback(r.stderr)
        assert "current folder no longer exists" in r.stderr
        gone.mkdir()
    gone.rmdir()
    assert os.listdir(tmp_path) == []


@pytest.fixture
def read_only(tmp_path: Path) -> Iterator[Path]:
    """A folder nobody may write in: a read-only mount for root, else mode 0555."""
    folder = tmp_path / "ro"
    folder.mkdir()
    if os.geteuid() != 0:
        folder.chmod(0o555)
        yield folder
        folder.chmod(0o755)
        return
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "ro,size=1m", "tmpfs", str(folder)], capture_output=True)
    if r.returncode != 0:
        pytest.skip("cannot make a read-only folder here (root without mount)")
    try:
        yield folder
    finally:
        subprocess.run(["umount", str(folder)], check=True)


@pytest.mark.parametrize(
    "args",
    [
        ["run", BASE, "--patients", "50"],
        ["run", BASE, "--patients", "50", "--out", "x"],
        ["compare", BASE, BASE, "--patients", "50", "--replications", "1", "--out", "x"],
        ["owsa", PSA, "--patients", "30"],
        ["psa", PSA, "--draws", "2", "--patients", "30", "--workers", "1"],
        ["psa", PSA, "--draws", "2", "--patients", "30", "--workers", "1", "--out", "x"],
    ],
    ids=["run", "run-out", "compare-out", "owsa", "psa", "psa-out"],
)
def test_a_read_only_folder(read_only: Path, args: list[str]) -> None:
    code, err = cli([*args, "--quiet"], read_only)
    assert code == 2, err
    no_traceback(err)
    assert str(read_only) in err and ("Read-only" in err or "ermission" in err or "cannot write" in err), err
    assert os.listdir(read_only) == []


def test_out_linked_to_another_file_system_with_force(tmp_path: Path) -> None:
    """--out a symbolic link to a results folder on another file system: the
    results are staged beside the real folder, so the swap works (it used to
    fail after the whole run, leaving a complete partial folder)."""
    elsewhere = Path("/dev/shm")
    if not elsewhere.is_dir() or os.stat(elsewhere).st_dev == os.stat(tmp_path).st_dev:
        pytest.skip("no second file system at /dev/shm")
    real = elsewhere / f"bmc-sim-test-{os.getpid()}-{tmp_path.name}"
    try:
        code, err = cli(["run", BASE, "--patients", "50", "--out", str(real), "--quiet"], tmp_path)
        assert code == 0, err
        link = tmp_path / "link"
        link.symlink_to(real)
        code, err = cli(["run", BASE, "--patients", "60", "--out", str(link), "--quiet", "--force"], tmp_path)
        assert code == 0, err
        assert link.is_symlink() and read_results(link).summary["patients"] == 60
        assert not leftovers(tmp_path, elsewhere) and os.listdir(tmp_path) == ["link"]
        (tmp_path / "dangling").symlink_to(tmp_path / "nowhere")
        code, err = cli(["run", BASE, "--patients", "50", "--out", str(tmp_path / "dangling"), "--quiet"], tmp_path)
        assert code == 2 and "does not exist" in err, err
        assert not (tmp_path / "nowhere").exists()
    finally:
        shutil.rmtree(real, ignore_errors=True)


def test_a_mount_point_as_out_is_refused_up_front(tmp_path: Path) -> None:
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    if (
        os.geteuid() != 0
        or subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mnt)], capture_output=True).returncode
    ):
        pytest.skip("cannot mount a file system here")
    try:
        code, err = cli(["run", BASE, "--patients", "50", "--out", str(mnt), "--quiet"], tmp_path)
        assert code == 2, err
        no_traceback(err)
        assert "mount point" in err and os.listdir(mnt) == [] and os.listdir(tmp_path) == ["mnt"]
    finally:
        subprocess.run(["umount", str(mnt)], check=True)


# ----------------------------------------------------------------------------- modes


def test_results_folders_honour_the_umask(tmp_path: Path) -> None:
    """Folders are made 0777 less the umask, like any folder (they were 0700)."""
    umask = 0o027
    for command, args in FORCED.items():
        out = tmp_path / command
        r = subprocess.run(
            [sys.executable, RUN_SIM, *args, "--out", str(out), "--quiet"],
            cwd=tmp_path,
            env=ENV,
            capture_output=True,
            text=True,
            timeout=WAIT,
            preexec_fn=lambda: os.umask(umask),
        )
        assert r.returncode == 0, r.stderr
        assert stat.S_IMODE(out.stat().st_mode) == 0o777 & ~umask, (command, oct(out.stat().st_mode))
        for p in out.rglob("*"):
            want = 0o777 if p.is_dir() else 0o666
            assert stat.S_IMODE(p.stat().st_mode) == want & ~umask, (command, p.name, oct(p.stat().st_mode))


# ----------------------------------------------------------------------------- fuzzing the file system around a run

FUZZ_SEED = 20261202


def test_fuzz_interference_with_a_run(tmp_path: Path) -> None:
    """Random starting states of the target (absent, empty, results, with or
    without --force) and random things done to it while a run writes (made,
    filled, replaced by a file, removed, another run's claim): whatever the
    user made survives, the new results exist exactly once (at the target or
    kept beside it), old results are replaced only as --force allows, and no
    hidden file is left."""
    rng = random.Random(FUZZ_SEED)
    starts = ["absent", "empty", "results", "results-force"]
    moves = ["none", "mkdir", "mkdir+file", "file", "add file", "remove", "claim", "empty folder inside"]
    tried = 0
    for i in range(120):
        parent = tmp_path / f"c{i}"
        parent.mkdir()
        out = parent / "o"
        state, move = rng.choice(starts), rng.choice(moves)
        if state == "empty":
            out.mkdir()
        if state.startswith("results"):
            with staged_output(out, False) as tmp:
                fake_results(tmp, "old")
        force = state == "results-force"
        user: dict[str, bytes] = {}
        raised: Exception | None = None
        entered = False
        try:
            with staged_output(out, force) as tmp:
                entered = True
                fake_results(tmp, "new")
                if move in ("mkdir", "mkdir+file") and not out.exists():
                    out.mkdir()
                if move == "mkdir+file" or move == "add file":
                    if out.is_dir():
                        (out / "user.txt").write_text("u")
                        user["user.txt"] = b"u"
                elif move == "empty folder inside" and out.is_dir():
                    (out / "sub").mkdir()
                    user["sub"] = b""
                elif move == "file" and not out.exists():
                    out.write_text("user file")
                elif move == "remove" and out.is_dir():
                    shutil.rmtree(out)
                elif move == "claim":
                    with pytest.raises(OutputError, match="another run"), staged_output(out, True):
                        pass
        except OutputError as exc:
            raised = exc
        tried += 1
        where = [out] if out.is_dir() else []
        where += kept(parent)
        new_copies = [p for p in where if (p / "payload.txt").is_file() and (p / "payload.txt").read_text() == "new"]
        if not entered:  # refused at the start: a non-empty folder without --force
            assert state == "results" and raised is not None and not new_copies, (state, move)
        else:
            assert len(new_copies) == 1, (state, move, where)
            if new_copies[0] != out:
                assert raised is not None and str(new_copies[0]) in str(raised), (state, move, raised)
        for name, data in user.items():
            assert (out / name).is_dir() if name == "sub" else (out / name).read_bytes() == data, (state, move)
        if move == "file" and state == "absent":
            assert out.read_text() == "user file", (state, move)
        if state == "results" or (force and user):
            assert (out / "payload.txt").read_text() == "old", (state, move)
        assert not leftovers(parent), (state, move, leftovers(parent))
    assert tried == 120
