"""The unit tests run in both kernels: here in the one loaded, and through
this test, in a fresh process, in the other (the compiled kernel when this
process runs the Python sources, and the other way round)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from sim import kernel

ROOT = Path(__file__).resolve().parents[2]
OTHER = "BMC_SIM_UNIT_OTHER_KERNEL"  # set in the fresh process: it does not start a third


def test_the_unit_tests_pass_in_the_other_kernel() -> None:
    if os.environ.get(OTHER):
        pytest.skip("this is the run in the other kernel")
    built, why = kernel.decide(environ={})
    if built != "compiled":
        if os.environ.get("CI"):
            pytest.fail(f"CI builds the compiled kernel but it cannot be used: {why}")
        pytest.skip(f"no current compiled kernel: {why}")
    here = kernel.status()["kernel"]
    env = {k: v for k, v in os.environ.items() if k != kernel.PURE_ENV}
    env[OTHER] = "1"
    if here != "python":
        env[kernel.PURE_ENV] = "1"
    code = (
        "import sys, pytest\n"
        "from sim import kernel\n"
        "from sim.kernel import course\n"
        "print('KERNEL', kernel.status()['kernel'])\n"
        "sys.exit(pytest.main(['-q', '-p', 'no:cacheprovider', 'tests/unit']))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-2000:]
    ran = next(line.split(" ", 1)[1] for line in out.stdout.splitlines() if line.startswith("KERNEL "))
    assert ran != here and ran in ("python", "compiled (mypyc)")
