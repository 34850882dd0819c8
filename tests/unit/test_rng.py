"""Random streams: the published generator, uniform output, addressing."""

import numpy as np
import pytest

from sim.engine.streams import PatientStreams, philox4x32, uniforms


def test_philox_known_answers():
    # Random123 known-answer vectors for Philox4x32-10
    assert [int(x) for x in philox4x32(0, 0, 0, 0, 0, 0)] == [0x6627E8D5, 0xE169C58D, 0xBC57AC4C, 0x9B00DBD8]
    got = philox4x32(0x243F6A88, 0x85A308D3, 0x13198A2E, 0x03707344, 0xA4093822, 0x299F31D0)
    assert [int(x) for x in got] == [0xD16CFE09, 0x94FDCCEB, 0x5001E420, 0x24126EA1]
    ff = 0xFFFFFFFF
    assert [int(x) for x in philox4x32(ff, ff, ff, ff, ff, ff)] == [0x408F276D, 0x41C83B0E, 0xA20BC7C6, 0x6D5451FD]


def test_uniforms_are_uniform_and_open():
    u = uniforms(123, 0, np.arange(20_000), 3, 0, 25).ravel()  # 1,000,000 draws
    assert u.min() > 0.0 and u.max() < 1.0
    # mean 1/2 and variance 1/12 within 5 standard errors
    assert abs(u.mean() - 0.5) < 5 * np.sqrt(1 / 12 / u.size)
    assert abs(u.var() - 1 / 12) < 5 * np.sqrt(1 / 180 / u.size)
    counts = np.histogram(u, bins=20, range=(0, 1))[0]
    expected = u.size / 20
    chi2 = ((counts - expected) ** 2 / expected).sum()
    assert chi2 < 43.8  # 99.9th percentile of chi-square with 19 df


def test_address_not_position():
    a = uniforms(5, 0, np.array([10, 11, 12]), 2, 0, 4)
    b = uniforms(5, 0, np.array([12]), 2, 0, 4)
    assert np.array_equal(a[2], b[0])
    # later blocks continue the same stream
    c = uniforms(5, 0, np.array([12]), 2, 2, 2)
    assert np.array_equal(a[2, 4:], c[0])
    # seed, process, replication and patient each change the numbers
    for other in (
        uniforms(6, 0, np.array([12]), 2, 0, 4),
        uniforms(5, 1, np.array([12]), 2, 0, 4),
        uniforms(5, 0, np.array([12]), 3, 0, 4),
        uniforms(5, 0, np.array([13]), 2, 0, 4),
    ):
        assert not np.array_equal(other[0], b[0])


def test_streams_continue_past_the_pre_drawn_block_with_the_same_numbers():
    s = PatientStreams(9, 0, np.array([3, 4]), (2, 4), batch=1)
    buf = s.take(1)
    assert s.offsets == (0, 2) and s.sizes == (2, 4) and len(buf) == 6
    whole = uniforms(9, 0, np.array([4]), 0, 0, 200)[0].tolist()
    assert list(buf[:2]) == whole[:2]
    first = s.more(1, 0, 2)  # at least 128 numbers, so a patient rarely needs a second extension
    assert first == whole[2 : 2 + len(first)] and len(first) >= 128
    have = 2 + len(first)
    assert s.more(1, 0, have)[:4] == whole[have : have + 4]
    # a patient's streams are the same whichever batch size draws them
    assert list(PatientStreams(9, 0, np.array([3, 4]), (2, 4), batch=2048).take(1)) == list(buf)


def test_patient_draws_past_the_block_match_the_address(monkeypatch):
    """A course that needs more draws than pre-drawn gets exactly the addressed numbers."""
    import sim.kernel.course as course
    from tests.conftest import run

    full = run(patients=300, seed=4, keep_events=False).patients
    monkeypatch.setattr(course, "STREAM_SIZES", (2,) * len(course.STREAM_SIZES))
    import sim.engine.simulate as engine

    monkeypatch.setattr(engine, "STREAM_SIZES", course.STREAM_SIZES)
    small = run(patients=300, seed=4, keep_events=False).patients
    import pandas as pd

    pd.testing.assert_frame_equal(full, small)


def _philox_modules() -> list[object]:
    """sim.kernel.philox as imported (compiled when a current kernel build exists) and from its source."""
    import importlib.util

    import sim.kernel.philox
    from sim.kernel import PACKAGE_DIR

    spec = importlib.util.spec_from_file_location("philox_source", PACKAGE_DIR / "philox.py")
    assert spec is not None and spec.loader is not None
    source = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(source)
    return [sim.kernel.philox, source]


@pytest.mark.parametrize("which", [0, 1], ids=["as-imported", "source"])
def test_one_at_a_time_philox_gives_the_addressed_numbers(which: int) -> None:
    """The compiled kernel's scalar Philox (sim.kernel.philox) draws exactly what sim.engine.streams.uniforms draws,
    at the edges of every counter word and of the seed."""
    px = _philox_modules()[which]
    rng = np.random.default_rng(11)
    addresses = [(0, 0, 0, 0), (2**64 - 1, 2**32 - 1, 2**32 - 1, 31), (12345, 0, 2**31, 13)]
    addresses += [
        (int(rng.integers(0, 2**63)) * 2 + 1, int(rng.integers(0, 2**32)), int(rng.integers(0, 2**32)), int(rng.integers(0, 32)))
        for _ in range(40)
    ]
    for seed, rep, pid, proc in addresses:
        want = uniforms(seed, rep, np.array([pid]), proc, 0, 40)[0]
        k0, k1 = px.key_words(seed)  # type: ignore[attr-defined]
        got = [px.uniform(k0, k1, rep, pid, proc, k) for k in range(80)]  # type: ignore[attr-defined]
        assert got == want.tolist(), (seed, rep, pid, proc)
