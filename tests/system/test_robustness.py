"""Robustness: no path outside the scenario or output folders comes from a
scenario value; run-away parameter combinations are refused; runs killed
with SIGKILL, SIGINT or SIGTERM leave no partial results; faults in parallel
workers.  Signals are real signals sent to real processes; every process a
test starts is killed in its teardown."""

from __future__ import annotations

import errno
import json
import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import psutil
import pytest
import yaml

from sim.outputs.claim import clean_stale
from sim.outputs.folder import staged_output
from sim.outputs.paths import OWNER_FILE
from sim.outputs.results import NotAResultsFolder, read_results
from sim.scenario.loader import SCENARIO_DIR, ScenarioError, load_scenario, validate

from ..conftest import ROOT, _children

RUN_SIM = str(ROOT / "run_sim.py")
ENV = {**os.environ, "PYTHONPATH": str(ROOT)}
WAIT = 120  # s: the longest any child may take before it counts as hung


# ----------------------------------------------------------------------------- helpers


def _pool_workers(pid: int) -> list[psutil.Process]:
    """The local worker processes of the run with this pid: spawned ones, or
    those a fork server (a child of the run) forked."""
    found = []
    for c in _children(pid):
        try:
            cmd = " ".join(c.cmdline())
            if "spawn_main" in cmd or ("forkserver" in cmd and c.ppid() != pid):
                found.append(c)
        except psutil.Error:
            pass
    return found


def _default_signals() -> None:
    """In the child: SIGINT and SIGTERM at their defaults, whatever the test run inherited
    (a run started in the background by a script ignores SIGINT, and so would its children)."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT, signal.SIGTERM})


def start(procs: list[subprocess.Popen[bytes]], args: list[str], cwd: Path) -> subprocess.Popen[bytes]:
    p = subprocess.Popen(
        [sys.executable, RUN_SIM, *args],
        cwd=cwd,
        env=ENV,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        preexec_fn=_default_signals,
    )
    procs.append(p)
    return p


def finish(p: subprocess.Popen[bytes], timeout: float = WAIT) -> tuple[int, str]:
    _, err = p.communicate(timeout=timeout)
    return p.returncode, err.decode("utf-8", "replace")


def plain(folder: Path, name: str = "plain", **extra: Any) -> Path:
    """A scenario of the defaults (independent of the shipped files)."""
    f = folder / f"{name}.yaml"
    f.write_text(yaml.safe_dump({"name": name, **extra}), encoding="utf-8")
    return f


def partials(parent: Path) -> list[Path]:
    return [p for p in parent.iterdir() if ".partial-" in p.name or ".old-" in p.name]


def wait_for_partial(parent: Path, p: subprocess.Popen[bytes], timeout: float = WAIT) -> bool:
    """Wait until the run has created its hidden partial folder (True) or ended (False)."""
    t_end = time.monotonic() + timeout
    while time.monotonic() < t_end:
        if partials(parent):
            return True
        if p.poll() is not None:
            return False
        time.sleep(0.02)
    raise AssertionError("the run neither started writing nor ended")


def assert_none_or_complete(out: Path) -> str:
    """The results folder is absent, or complete and accepted by read_results."""
    if not out.exists():
        return "absent"
    r = read_results(out)  # raises NotAResultsFolder for a partial folder
    assert r.summary["patients"] == len(r.patients)
    return "complete"


# ----------------------------------------------------------------------------- paths come only from the user


@pytest.fixture
def opened() -> Iterator[list[str]]:
    """Every file the process opens while the test body runs (audit hook)."""
    log: list[str] = []
    _AUDIT.append(log)
    yield log
    _AUDIT.remove(log)


_AUDIT: list[list[str]] = []


def _hook(event: str, args: tuple[Any, ...]) -> None:
    if event == "open" and _AUDIT and isinstance(args[0], (str, bytes, os.PathLike)):
        _AUDIT[-1].append(os.fsdecode(args[0]))


sys.addaudithook(_hook)


def _outside(paths: list[str], *roots: Path) -> list[str]:
    ok = [r.resolve() for r in roots]
    bad = []
    for p in paths:
        rp = Path(p).resolve() if os.path.isabs(p) else (Path.cwd() / p).resolve()
        if rp.suffix in (".py", ".pyc", ".so") or "site-packages" in rp.parts or "/proc/" in str(rp) and "self/stat" in str(rp):
            continue  # imports
        if not any(rp == r or r in rp.parents for r in ok):
            bad.append(str(rp))
    return bad


def test_extends_cannot_leave_the_scenario_folders(tmp_path: Path, opened: list[str]) -> None:
    inside = tmp_path / "scenarios"
    inside.mkdir()
    secret = tmp_path / "secret.yaml"
    secret.write_text("name: secret\n", encoding="utf-8")
    (inside / "link.yaml").symlink_to(secret)
    (inside / "loop.yaml").symlink_to(inside / "loop.yaml")
    (inside / "sub").mkdir()
    os.mkfifo(inside / "fifo.yaml")  # would block a reader for ever
    (inside / "chain.yaml").write_text("extends: ../secret.yaml\nname: chain\n", encoding="utf-8")
    targets = [
        str(secret),
        "/etc/passwd",
        "../secret.yaml",
        "sub/../../secret.yaml",
        "link.yaml",
        "loop.yaml",
        "sub",
        "fifo.yaml",
        "/dev/zero",
        "/dev/stdin",
        "/dev/urandom",
        "/proc/self/environ",
        "/proc/self/mem",
        "~/.ssh/id_rsa",
        "chain.yaml",
        "../" * 20 + "etc/passwd",
        "a\x00b",
        "x" * 5000,
        "",
        "   ",
        "\\\\server\\share\\x.yaml",
        "file:///etc/passwd",
    ]
    opened.clear()  # from here on only the loader opens files (and the test writes s.yaml inside)
    for target in targets:
        f = inside / "s.yaml"
        f.write_text(yaml.safe_dump({"name": "s", "extends": target}), encoding="utf-8")
        with pytest.raises(ScenarioError) as err:
            load_scenario(f)
        assert any(p.path == "extends" or "extends" in str(p) or "not a file" in str(p) for p in err.value.problems), (
            target,
            err.value,
        )
    assert not _outside(opened, inside, SCENARIO_DIR), _outside(opened, inside, SCENARIO_DIR)


def test_dashboard_upload_cannot_leave_the_scenario_folder(opened: list[str]) -> None:
    core = pytest.importorskip("dashboard.core")
    opened.clear()  # the import's own files
    for target in ("/etc/passwd", "../../../etc/passwd", "/dev/zero", "/proc/self/environ", "../pyproject.toml"):
        with pytest.raises(ScenarioError):
            core.build(core.read_upload("up.yaml", f"name: up\nextends: {json.dumps(target)}\n".encode()), {}, "up.yaml")
    bad = [p for p in _outside(opened, SCENARIO_DIR) if not p.startswith("/tmp")]  # the upload's own temporary folder
    assert not bad, bad


@pytest.mark.parametrize("name", ["../escape", "/tmp/escape", ".", "..", "a/b", "a\\b", ".hidden", "tab\there", " . "])
def test_the_scenario_name_cannot_choose_an_output_path(tmp_path: Path, name: str) -> None:
    """run without --out writes results/<name>: a name that is a path is refused."""
    with pytest.raises(ScenarioError) as err:
        validate({"name": name})
    assert "name" in str(err.value)


def test_no_scenario_value_reaches_the_output_path(tmp_path: Path) -> None:
    """Output paths come from --out (or results/<plain name>) only: a scenario
    full of path-like strings writes nothing outside --out."""
    from sim.cli.main import main

    work = tmp_path / "work"
    work.mkdir()
    scen = plain(work, "pathy", description="../../../tmp/x /etc/passwd results/../..")
    before = {p for p in tmp_path.rglob("*")}
    out = work / "out"
    assert main(["run", str(scen), "--patients", "50", "--out", str(out), "--quiet"]) == 0
    new = {p for p in tmp_path.rglob("*")} - before
    assert all(p == out or out in p.parents for p in new), sorted(map(str, new))


# ----------------------------------------------------------------------------- run-away combinations


def _watch(p: subprocess.Popen[bytes], timeout: float) -> tuple[int, str, int]:
    """Wait for a child, recording its peak memory; kill it at the timeout (a hang)."""
    peak = 0
    t_end = time.monotonic() + timeout
    while p.poll() is None:
        try:
            peak = max(peak, psutil.Process(p.pid).memory_info().rss)
        except psutil.Error:
            pass
        if time.monotonic() > t_end:
            p.kill()
            raise AssertionError(f"still running after {timeout} s")
        time.sleep(0.1)
    return p.returncode, p.stderr.read().decode("utf-8", "replace") if p.stderr else "", peak


RUNAWAY = [
    # (overrides, what the message must name, exit statuses allowed)
    (["sre.later_rate_per_month=50", "sre.first_rate_per_month.prostate=50"], "sre.max_events", {2}),
    (["sre.later_rate_per_month=50", "sre.first_rate_per_month.prostate=50", "sre.max_events=100000"], "recurrent events", {2}),
    (["pain.rate_per_month=20"], "pain.max_episodes", {2}),
    (["pain.rate_per_month=20", "pain.max_episodes=100000"], "recurrent events", {2}),
    (
        [
            "hypercalcemia.probability=1",
            "hypercalcemia.recurrence_probability=1",
            "hypercalcemia.fatal_probability=0",
            "hypercalcemia.recurrence_median_months=0.01",
        ],
        "hypercalcemia",
        {2},
    ),
    (["complications.max_episodes=1000000", "complications.infection_rate_per_month.grade_4=100"], "recurrent events", {2}),
    (["mode=population", "population.annual_incidence=10000000", "population.horizon_years=100"], "10,000,000", {2}),
    # zero-length service times and the shortest intervals: must simply finish
    (
        [
            "services.radiotherapy.capacity=1",
            "services.radiotherapy.duration_days=0",
            "services.beds.capacity=1",
            "services.beds.duration_days=0",
            "care.radionuclide.radium223.interval_days=1",
            "care.chemotherapy.interval_days=1",
        ],
        "",
        {0},
    ),
]


@pytest.mark.parametrize("overrides,names,codes", RUNAWAY, ids=[f"runaway{i}" for i in range(len(RUNAWAY))])
def test_runaway_combinations_are_refused(
    tmp_path: Path, procs: list[subprocess.Popen[bytes]], overrides: list[str], names: str, codes: set[int]
) -> None:
    scen = plain(tmp_path)
    args = ["run", str(scen), "--patients", "300", "--horizon-months", "1200", "--out", str(tmp_path / "out"), "--quiet"]
    for o in overrides:
        args += ["--set", o]
    p = start(procs, args, tmp_path)
    code, err, peak = _watch(p, WAIT)
    assert code in codes, (code, err)
    assert "Traceback" not in err
    if code == 2:
        assert err.startswith("error:") and names in err, err
        assert not (tmp_path / "out").exists() and not partials(tmp_path)
    assert peak < 2_000_000_000, f"peak memory {peak / 1e9:.1f} GB"


# ----------------------------------------------------------------------------- SIGKILL at random moments


KILL_SEED = 20261125


def _kill_at(
    procs: list[subprocess.Popen[bytes]], args: list[str], cwd: Path, delay: float, parent: Path, trigger: str = ""
) -> str:
    """Start a run; SIGKILL it ``delay`` s after its partial folder appears, or
    as soon as the file ``trigger`` appears in the partial folder (the write phase)."""
    p = start(procs, args, cwd)
    started = wait_for_partial(parent, p)
    if started and trigger:
        t_end = time.monotonic() + WAIT
        while p.poll() is None and time.monotonic() < t_end and not any((d / trigger).exists() for d in partials(parent)):
            time.sleep(0.002)
    if started:
        time.sleep(delay)
    if p.poll() is None:
        p.send_signal(signal.SIGKILL)
        p.wait(timeout=30)
        return "killed"
    return "finished"


def test_sigkill_leaves_no_partial_results(tmp_path: Path, procs: list[subprocess.Popen[bytes]]) -> None:
    """Kill `run` with SIGKILL at random moments from start-up to the last
    write: the folder is absent or complete, never a partial one that
    read_results (and so `report`) accepts; the next run cleans the leftovers."""
    scen = plain(tmp_path)
    rng = random.Random(KILL_SEED)
    outcomes = []
    left_behind = []  # partial folders present right after each kill (the next run cleans them)
    plan = [(0.0, ""), (0.05, "")] + [(rng.uniform(0.1, 4.0), "") for _ in range(4)]
    plan += [(0.0, "patients.parquet"), (0.0, "scenario.resolved.yaml"), (0.0, "timing.json")]  # while writing the tables
    for i, (delay, trigger) in enumerate(plan):
        out = tmp_path / f"k{i}"
        how = _kill_at(
            procs,
            ["run", str(scen), "--patients", "6000", "--seed", str(i), "--workers", "1", "--out", str(out), "--quiet"],
            tmp_path,
            delay,
            tmp_path,
            trigger,
        )
        state = assert_none_or_complete(out)
        outcomes.append((trigger or round(delay, 2), how, state))
        if how == "killed":
            left_behind.append(bool(partials(tmp_path)))
        if how == "killed" and state == "absent":
            with pytest.raises(NotAResultsFolder):
                read_results(out)
    assert any(how == "killed" for _, how, _ in outcomes), outcomes
    # a kill leaves a partial folder behind (a fast run may finish before most kills land, and each
    # run cleans the leftovers of earlier ones, so this is checked right after each kill) ...
    assert any(left_behind), outcomes
    # ... and the next run cleans every partial folder of the killed runs
    p = start(procs, ["run", str(scen), "--patients", "50", "--out", str(tmp_path / "after"), "--quiet"], tmp_path)
    assert finish(p)[0] == 0
    assert not partials(tmp_path), partials(tmp_path)
    read_results(tmp_path / "after")
    print("SIGKILL outcomes (delay s, process, folder):", outcomes)


def test_sigkill_of_a_forced_run_keeps_the_old_results(tmp_path: Path, procs: list[subprocess.Popen[bytes]]) -> None:
    scen = plain(tmp_path)
    out = tmp_path / "res"
    p = start(procs, ["run", str(scen), "--patients", "300", "--seed", "1", "--out", str(out), "--quiet"], tmp_path)
    assert finish(p)[0] == 0
    old = (out / "summary.json").read_text()
    rng = random.Random(KILL_SEED + 1)
    for delay in [0.0] + [rng.uniform(0.05, 3.0) for _ in range(3)]:
        how = _kill_at(
            procs,
            ["run", str(scen), "--patients", "6000", "--seed", "2", "--out", str(out), "--force", "--quiet"],
            tmp_path,
            delay,
            tmp_path,
        )
        clean_stale(tmp_path)  # what the next run does first
        assert assert_none_or_complete(out) == "complete"
        now = json.loads((out / "summary.json").read_text())
        assert now["seed"] in (1, 2)
        if how == "killed" and now["seed"] == 1:
            assert (out / "summary.json").read_text() == old
        if now["seed"] == 2:  # the forced run completed before the kill: start again from old results
            break
    assert not partials(tmp_path)


def test_clean_stale_only_removes_dead_owners(tmp_path: Path, procs: list[subprocess.Popen[bytes]]) -> None:
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    alive = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    procs.append(alive)  # type: ignore[arg-type]
    d1 = tmp_path / f".r.partial-{dead.pid}-abc"
    d1.mkdir()
    (d1 / OWNER_FILE).write_text(json.dumps({"pid": dead.pid, "host": os.uname().nodename, "start": None}))
    (d1 / "events.parquet").write_bytes(b"half")
    d2 = tmp_path / f".r.partial-{alive.pid}-def"
    d2.mkdir()
    (d2 / OWNER_FILE).write_text(json.dumps({"pid": alive.pid, "host": os.uname().nodename}))
    d3 = tmp_path / f".r.partial-{dead.pid}-ghi"  # owner file not yet written
    d3.mkdir()
    d4 = tmp_path / f".r.partial-{dead.pid}-jkl"  # another machine's run on a shared folder
    d4.mkdir()
    (d4 / OWNER_FILE).write_text(json.dumps({"pid": dead.pid, "host": "elsewhere"}))
    mine = tmp_path / ".my-own.partial-folder"
    mine.mkdir()
    old = tmp_path / f".res.old-{dead.pid}"  # a killed --force run had moved the old results aside
    old.mkdir()
    (old / "summary.json").write_text("{}")
    cleaned = clean_stale(tmp_path)
    assert not d1.exists() and not d3.exists() and d2.exists() and d4.exists() and mine.exists()
    assert (tmp_path / "res" / "summary.json").exists() and not old.exists()
    assert len(cleaned) == 3


def test_staged_output_removes_its_folder_on_error(tmp_path: Path) -> None:
    out = tmp_path / "o"
    with pytest.raises(RuntimeError), staged_output(out, False) as tmp:
        (tmp / "x").write_text("x")
        raise RuntimeError("boom")
    assert not out.exists() and not partials(tmp_path)


def test_staged_output_is_on_disk_before_it_takes_its_name(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every file and folder of a results folder is flushed (fsync) before the
    rename that gives it its name, so a crash cannot leave a named, 'complete'
    folder whose files were lost; the rename is flushed too."""
    import sim.outputs.folder as output

    synced: list[str] = []
    renamed: list[int] = []
    real_fsync, real_replace = os.fsync, os.replace

    def fsync(fd: int) -> None:
        synced.append(os.path.realpath(f"/proc/self/fd/{fd}"))
        real_fsync(fd)

    real_rename = os.rename

    def replace(a: Any, b: Any) -> None:
        renamed.append(len(synced))
        real_replace(a, b)

    def rename(a: Any, b: Any) -> None:
        renamed.append(len(synced))
        real_rename(a, b)

    monkeypatch.setattr(output.os, "fsync", fsync)
    monkeypatch.setattr(output.os, "replace", replace)
    monkeypatch.setattr(output.os, "rename", rename)
    monkeypatch.setattr(output, "_renameat2", lambda a, b, flags: errno.ENOSYS)  # the portable path, with os.rename
    out = tmp_path / "o"
    for force in (False, True):  # a new folder, then replacing it
        synced.clear()
        renamed.clear()
        with staged_output(out, force) as tmp:
            (tmp / "sub").mkdir()
            (tmp / "a.txt").write_text("a")
            (tmp / "sub" / "b.txt").write_text("b")
            names = {
                str(tmp.resolve() / "a.txt"),
                str(tmp.resolve() / "sub" / "b.txt"),
                str(tmp.resolve() / "sub"),
                str(tmp.resolve()),
            }
        assert names <= set(synced[: renamed[-1]]), (names, synced)
        assert synced[-1] == str(tmp_path.resolve())  # the parent, after the rename
        assert (out / "sub" / "b.txt").read_text() == "b"


def test_output_cannot_replace_the_working_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from sim.outputs.folder import check_target
    from sim.outputs.paths import OutputError

    (tmp_path / "keep").write_text("x")
    monkeypatch.chdir(tmp_path)
    for target in (Path("."), Path(".."), tmp_path):
        with pytest.raises(OutputError):
            check_target(target, force=True)


# ----------------------------------------------------------------------------- SIGINT / SIGTERM


@pytest.mark.parametrize("sig,code,word", [(signal.SIGINT, 130, "interrupted"), (signal.SIGTERM, 143, "terminated")])
@pytest.mark.parametrize(
    "how",
    [["--patients", "200000", "--workers", "1"], ["--patients", "1500", "--replications", "6", "--workers", "2"]],
    ids=["cohort", "replications-2-workers"],
)
def test_signal_stops_cleanly(
    tmp_path: Path, procs: list[subprocess.Popen[bytes]], sig: int, code: int, word: str, how: list[str]
) -> None:
    """SIGINT / SIGTERM: exit 130 / 143, partial folder removed, how to resume
    printed, no worker process left behind."""
    scen = plain(tmp_path)
    out = tmp_path / "o"
    p = start(procs, ["run", str(scen), *how, "--out", str(out), "--quiet"], tmp_path)
    assert wait_for_partial(tmp_path, p), "the run ended before it could be interrupted"
    time.sleep(0.5)
    workers = _children(p.pid)
    p.send_signal(sig)
    rc, err = finish(p)
    assert rc == code, (rc, err)
    assert word in err and "run the same command again" in err, err
    assert "Traceback" not in err
    assert not out.exists() and not partials(tmp_path)
    time.sleep(0.5)
    assert not [w for w in workers if w.is_running() and w.status() != psutil.STATUS_ZOMBIE], "worker processes left running"


def _psa_scenario(folder: Path) -> Path | None:
    f = SCENARIO_DIR / "baseline_psa.yaml"
    if not f.exists():
        return None
    try:
        load_scenario(f)
    except ScenarioError:
        return None
    return f


def test_sigterm_keeps_completed_psa_draws(tmp_path: Path, procs: list[subprocess.Popen[bytes]]) -> None:
    scen = _psa_scenario(tmp_path)
    if scen is None:
        pytest.skip("no valid scenarios/baseline_psa.yaml (PSA scenario) in this checkout")
    out = tmp_path / "psa"
    args = ["psa", str(scen), "--draws", "30", "--patients", "100", "--workers", "1", "--out", str(out), "--quiet"]
    p = start(procs, args, tmp_path)
    ck = out / ".checkpoint"
    t_end = time.monotonic() + WAIT
    while p.poll() is None and len(list(ck.glob("draw-*.parquet"))) < 2 and time.monotonic() < t_end:
        time.sleep(0.05)
    assert p.poll() is None, finish(p)
    p.send_signal(signal.SIGTERM)
    rc, err = finish(p)
    kept = len(list(ck.glob("draw-*.parquet")))
    assert rc == 143, (rc, err)
    assert kept >= 2 and "--resume" in err and "Traceback" not in err, err
    assert not (out / "summary.json").exists()
    p = start(procs, [*args, "--resume"], tmp_path)  # and the resumed run completes
    rc, err = finish(p, timeout=600)
    assert rc == 0, err
    assert json.loads((out / "summary.json").read_text())["resumed_draws"] >= kept


# ----------------------------------------------------------------------------- faults in parallel workers


def crashing_task(spec: tuple[int, bool]) -> int:
    """Test-only task: task ``i`` returns i*i; the one marked crashes its process."""
    i, crash = spec
    if crash:
        time.sleep(0.3)  # let some other tasks finish first
        os._exit(3)
    time.sleep(0.05)
    return i * i


def test_local_worker_crash_is_an_error_and_completed_work_is_kept() -> None:
    """A worker process dying (os._exit) stops the map with an exception, not
    a hang, and every task finished before it has reached on_result."""
    parallel = pytest.importorskip("sim.runtime.parallel")
    kept: dict[int, int] = {}
    with pytest.raises(Exception) as err:
        parallel.map_tasks(
            crashing_task, [(i, i == 6) for i in range(12)], workers=2, on_result=lambda i, r: kept.__setitem__(i, r)
        )
    assert kept and all(r == i * i for i, r in kept.items())
    assert 6 not in kept
    print("local worker crash:", type(err.value).__name__, err.value, "; tasks kept:", sorted(kept))


def test_local_worker_crash_names_the_task() -> None:
    parallel = pytest.importorskip("sim.runtime.parallel")
    with pytest.raises(Exception, match=r"\b6\b"):
        parallel.map_tasks(crashing_task, [(i, i == 6) for i in range(12)], workers=2, on_result=lambda i, r: None)


def _rows(results: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{k: v for k, v in r["row"].items() if k != "wall_seconds"} for r in results]


def test_dask_worker_killed_mid_run_gives_identical_results(tmp_path: Path) -> None:
    """Kill one worker process of a Dask cluster (processes=True) while
    replications run: the run finishes with exactly the undisturbed results."""
    parallel = pytest.importorskip("sim.runtime.parallel")
    distributed = pytest.importorskip("dask.distributed")
    from sim.experiments import runner
    from sim.scenario.model import Scenario

    data = Scenario(name="faults").model_dump(mode="json")
    data["run"]["patients"] = 300
    specs = [(data, k, False) for k in range(8)]
    expected = _rows(parallel.map_tasks(runner.replication_task, specs, workers=1))
    cluster = distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1", dashboard_address="127.0.0.1:0", silence_logs=40
    )
    try:
        client = distributed.Client(cluster, set_as_default=False)
        pids = client.run(os.getpid)
        victim = sorted(pids.values())[0]
        killed: list[int] = []

        def on_result(i: int, r: Any) -> None:
            if not killed:  # after the first result: the other worker is mid-task
                os.kill(victim, signal.SIGKILL)
                killed.append(victim)

        got = parallel.map_tasks(runner.replication_task, specs, scheduler=cluster.scheduler_address, on_result=on_result)
        client.close()
    finally:
        cluster.close()
    assert killed and (not psutil.pid_exists(victim) or psutil.Process(victim).status() == psutil.STATUS_ZOMBIE)
    a, b = pd.DataFrame(_rows(got)), pd.DataFrame(expected)
    assert a.equals(b), [c for c in b.columns if not a[c].equals(b[c])]  # NaN-aware, exact


def test_killed_local_worker_is_a_clear_error_on_the_command_line(tmp_path: Path, procs: list[subprocess.Popen[bytes]]) -> None:
    """SIGKILL to one worker process of `run --replications --workers 2`:
    exit 1 with a message (no traceback), no partial results left."""
    scen = plain(tmp_path)
    out = tmp_path / "o"
    p = start(
        procs,
        ["run", str(scen), "--patients", "1500", "--replications", "6", "--workers", "2", "--out", str(out), "--quiet"],
        tmp_path,
    )
    assert wait_for_partial(tmp_path, p)
    t_end = time.monotonic() + WAIT
    workers: list[psutil.Process] = []
    while p.poll() is None and time.monotonic() < t_end:
        workers = _pool_workers(p.pid)
        if workers:
            break
        time.sleep(0.05)
    if not workers:
        pytest.skip("the run finished before a worker process could be killed")
    time.sleep(0.3)
    workers[0].kill()
    rc, err = finish(p)
    assert rc == 1, (rc, err)
    assert "worker process stopped unexpectedly" in err and "Traceback" not in err, err
    assert not out.exists() and not partials(tmp_path)
