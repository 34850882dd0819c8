"""One addressed uniform at a time: the Philox4x32-10 of :mod:`sim.engine.streams`,
written for the compiled course kernel.

:func:`sim.engine.streams.uniforms` evaluates Philox over NumPy arrays, which is the
fast way to draw many numbers at once in Python but costs tens of
microseconds per call whatever its length.  Compiled with the rest of the
kernel (``python run_sim.py kernel build``), :func:`uniform` computes one
number in well under a microsecond, so a compiled course draws only the
numbers it uses, when it uses them (about 50 per baseline patient) instead
of pre-drawing a block of a few hundred.  The numbers are the same, bit for
bit: the same counter layout, the same 32-bit arithmetic (each 32 x 32-bit
product split into 16-bit halves so that no intermediate exceeds 2**63),
and the same conversion to a double (tested against :func:`sim.engine.streams.uniforms`).

In the Python kernel this module is plain Python and far slower than
NumPy's batches, so there the course keeps its pre-drawn blocks
(:data:`sim.kernel.numbers.LAZY_DRAWS`).
"""

from __future__ import annotations

from typing import Final

try:
    from mypy_extensions import i64
except ImportError:  # mypy is not installed: the Python kernel, where i64 is an int
    i64 = int  # type: ignore[misc,assignment]

_M0_HI: Final = 0xD251  # 0xD2511F53 in 16-bit halves
_M0_LO: Final = 0x1F53
_M1_HI: Final = 0xCD9E  # 0xCD9E8D57
_M1_LO: Final = 0x8D57
_W0: Final = 0x9E3779B9  # key schedule increments
_W1: Final = 0xBB67AE85
_MASK: Final = 0xFFFFFFFF
_SCALE: Final = 1.0 / 9007199254740992.0  # 2**-53


def key_words(seed: int) -> tuple[int, int]:
    """The two 32-bit key words of a seed (0 <= seed < 2**64)."""
    return seed & 0xFFFFFFFF, seed >> 32


def uniform(k0: i64, k1: i64, replication: i64, patient: i64, process: i64, k: i64) -> float:
    """Draw ``k`` (0, 1, ...) of the stream (seed, replication, patient,
    process), strictly inside (0, 1): element ``k`` of
    ``sim.engine.streams.uniforms(seed, replication, [patient], process, 0, k // 2 + 1)[0]``.
    ``k0``, ``k1``: the seed's key words (:func:`key_words`)."""
    c0: i64 = k >> 1  # the Philox block; each block gives two numbers
    c1: i64 = process & _MASK
    c2: i64 = patient & _MASK
    c3: i64 = replication & _MASK
    r: i64 = 0
    while r < 10:
        key0: i64 = (k0 + r * _W0) & _MASK
        key1: i64 = (k1 + r * _W1) & _MASK
        # c0 * M0 = hi0 * 2**32 + lo0, without leaving 63 bits
        y: i64 = c0 * _M0_HI
        x: i64 = c0 * _M0_LO + ((y & 0xFFFF) << 16)
        hi0: i64 = (y >> 16) + (x >> 32)
        lo0: i64 = x & _MASK
        y = c2 * _M1_HI
        x = c2 * _M1_LO + ((y & 0xFFFF) << 16)
        hi1: i64 = (y >> 16) + (x >> 32)
        lo1: i64 = x & _MASK
        c0, c1, c2, c3 = hi1 ^ c1 ^ key0, lo1, hi0 ^ c3 ^ key1, lo0
        r += 1
    if k & 1:
        bits: i64 = ((c2 >> 5) << 26) | (c3 >> 6)  # 53 bits
    else:
        bits = ((c0 >> 5) << 26) | (c1 >> 6)
    return (float(bits) + 0.5) * _SCALE


# True when the kernel runs compiled: a mypyc function has no Python code object.  The kernel
# modules are built together and loaded all or none (sim.kernel), so this holds for all of them.
COMPILED: Final = not hasattr(uniform, "__code__")
