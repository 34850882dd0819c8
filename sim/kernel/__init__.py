"""The course kernel: the modules that run every patient's course, and their
optional compiled build.

``sim.kernel.course``, ``sim.kernel.care`` and ``sim.kernel.labs`` (the course), ``sim.kernel.constants``
(the scenario's run-time constants), ``sim.kernel.events`` (the recorder),
``sim.kernel.services`` (the service log and queues) and ``sim.kernel.philox`` (random
numbers one at a time) are plain, typed Python.  They can also be compiled
to C extension modules with mypyc (from the mypy project), which runs the
same code with the same floating-point arithmetic about three and a half
times as fast; results are byte-identical either way (the tests compare
both).  Build once after installing or after changing a kernel module::

    python run_sim.py kernel build     # compile (needs a C compiler and the Python headers)
    python run_sim.py kernel status    # which kernel runs, and why
    python run_sim.py kernel clean     # remove the compiled modules

The compiled modules sit beside the sources.  A stamp records the SHA-256 of
the sources they were built from; when a source has changed since (or the
Python version differs, or ``BMC_SIM_PURE=1`` is set) the package loads the
Python sources instead, so an edited kernel is never shadowed by a stale
build.  Without a build everything runs as plain Python.
"""

from __future__ import annotations

import hashlib
import importlib.abc
import importlib.machinery
import importlib.util
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

PACKAGE_DIR = Path(__file__).resolve().parent
# the compile set is this folder: every module in it but this selector
MODULES = tuple(sorted(p.stem for p in PACKAGE_DIR.glob("*.py") if p.stem != "__init__"))
STAMP = PACKAGE_DIR / "_kernel_stamp.json"
GROUP = "sim.kernel._kernel"  # mypyc's shared library: sim/kernel/_kernel__mypyc.*.so
PURE_ENV = "BMC_SIM_PURE"

_state: dict[str, Any] = {"kernel": "python", "reason": "not decided"}


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _abi() -> str:
    return f"{sys.implementation.cache_tag}-{sys.platform}"


def _built_files(package_dir: Path = PACKAGE_DIR) -> list[Path]:
    """Every compiled module in the package folder (of this build or an older one)."""
    suffixes = tuple(importlib.machinery.EXTENSION_SUFFIXES)
    return sorted(p for p in package_dir.iterdir() if p.name.endswith(suffixes))


def _module_of(path: Path) -> str:
    return path.name.split(".", 1)[0]


def decide(package_dir: Path = PACKAGE_DIR, environ: Any = None) -> tuple[str, str]:
    """Which kernel to load: ("compiled" | "python", why)."""
    environ = os.environ if environ is None else environ
    built = _built_files(package_dir)
    if not built:
        return "python", "no compiled build (python run_sim.py kernel build makes one)"
    if environ.get(PURE_ENV, "") not in ("", "0"):
        return "python", f"{PURE_ENV} is set"
    stamp_path = package_dir / STAMP.name
    try:
        stamp = json.loads(stamp_path.read_text())
    except (OSError, ValueError):
        return "python", "the compiled build has no readable stamp; rebuild with python run_sim.py kernel build"
    if stamp.get("abi") != _abi():
        return "python", f"the compiled build is for {stamp.get('abi')}, this is {_abi()}; rebuild"
    sources = stamp.get("sources", {})
    expected = {*MODULES, GROUP.rsplit(".", 1)[1] + "__mypyc"}
    if sorted(sources) != sorted(MODULES) or {_module_of(p) for p in built} != expected:
        return "python", "the compiled build is of other modules; rebuild with python run_sim.py kernel build"
    for mod in MODULES:
        if sources[mod] != _digest(package_dir / f"{mod}.py"):
            return "python", f"sim/kernel/{mod}.py changed since the build; rebuild with python run_sim.py kernel build"
    return "compiled", "built from the current sources"


class _SourcesFirst(importlib.abc.MetaPathFinder):
    """Imports ``sim.kernel.<module>`` from its ``.py`` file although a compiled
    module of that name sits beside it (a build that must not be used)."""

    def __init__(self, package: str, modules: set[str]):
        self.package = package
        self.modules = modules

    def find_spec(self, name: str, path: Any = None, target: Any = None) -> importlib.machinery.ModuleSpec | None:
        pkg, _, mod = name.rpartition(".")
        if pkg != self.package or mod not in self.modules:
            return None
        return importlib.util.spec_from_file_location(name, PACKAGE_DIR / f"{mod}.py")


def load() -> None:
    """Called once, when the kernel package is first imported: use a
    compiled build only if it is current, else the Python sources."""
    kernel, why = decide()
    _state.update(kernel=kernel, reason=why)
    built = {_module_of(p) for p in _built_files()} & {p.stem for p in PACKAGE_DIR.glob("*.py")}
    if kernel == "python" and built:
        sys.meta_path.insert(0, _SourcesFirst(__package__ or "sim.kernel", built))


def status() -> dict[str, Any]:
    """Which kernel this process runs and why (recorded in a results folder's timing.json and by the benchmark)."""
    course = sys.modules.get(f"{__package__ or 'sim.kernel'}.course")
    compiled = bool(
        course is not None and str(getattr(course, "__file__", "")).endswith(tuple(importlib.machinery.EXTENSION_SUFFIXES))
    )
    return {"kernel": "compiled (mypyc)" if compiled else "python", "reason": _state["reason"]}


def build(quiet: bool = False) -> int:
    """Compile the kernel modules in place; 0 on success.  On failure the
    package keeps running the Python sources, and the reason is printed."""
    try:
        import mypyc  # noqa: F401
        import setuptools  # noqa: F401
    except ImportError as exc:
        print(f"kernel: not compiled ({exc.name} is not installed); the Python kernel runs. pip install mypy setuptools")
        return 1
    root = PACKAGE_DIR.parent.parent
    script = (
        "import sys\n"
        "from mypyc.build import mypycify\n"
        "from setuptools import Distribution\n"
        "from setuptools.command.build_ext import build_ext\n"
        f"exts = mypycify({[f'sim/kernel/{m}.py' for m in MODULES]!r}, opt_level='3', group_name={GROUP!r}, target_dir=sys.argv[1])\n"
        "dist = Distribution({'name': 'bmc-sim-kernel', 'ext_modules': exts})\n"
        "cmd = build_ext(dist)\n"
        "cmd.inplace = True\n"
        "cmd.build_temp = sys.argv[1]\n"
        "cmd.ensure_finalized()\n"
        "cmd.run()\n"
    )
    sources = {m: _digest(PACKAGE_DIR / f"{m}.py") for m in MODULES}
    clean(quiet=True)
    with tempfile.TemporaryDirectory(prefix="bmc-kernel-") as tmp:
        proc = subprocess.run(
            [sys.executable, "-c", script, tmp],
            cwd=root,
            capture_output=True,
            text=True,
        )
    if proc.returncode != 0:
        clean(quiet=True)
        tail = "\n".join((proc.stdout + proc.stderr).strip().splitlines()[-15:])
        print(f"kernel: compiling failed; the Python kernel runs.\n{tail}")
        return 1
    # stamp last: a build is used only once complete
    tmp_stamp = STAMP.with_suffix(".tmp")
    tmp_stamp.write_text(json.dumps({"abi": _abi(), "sources": sources}, indent=1))
    os.replace(tmp_stamp, STAMP)
    if not quiet:
        print(f"kernel: compiled {', '.join(f'sim/kernel/{m}.py' for m in MODULES)} with mypyc")
    return 0


def clean(quiet: bool = False) -> None:
    """Remove the compiled modules and their stamp."""
    for p in _built_files():
        p.unlink()
    if STAMP.exists():
        STAMP.unlink()
    if not quiet:
        print("kernel: compiled modules removed; the Python kernel runs")


load()  # on first import of the kernel: compiled if a current build exists, else the Python sources
