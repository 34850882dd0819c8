"""Addressed random numbers: every uniform is a pure function of
(seed, replication, patient, process, draw index).

The generator is Philox4x32-10, the counter-based generator of Salmon et al.
("Parallel random numbers: as easy as 1, 2, 3", SC 2011; the Random123
library), evaluated with NumPy over whole arrays of counters.  Counter-based
generation is what makes the simulator's luck *addressed* rather than
*consumed*: a patient's course does not depend on how many patients run beside
it, on the chunking, on the worker count, or on which other processes a
scenario switches on.  That is what makes scenario comparisons paired (common
random numbers) and runs reproducible.

Layout of one Philox call (4 x 32-bit counter words, 2 x 32-bit key words):

* key     = (seed & 0xFFFFFFFF, seed >> 32)
* counter = (block index, process, patient id, replication)

Each call yields four 32-bit words, turned into two doubles with 53 random
bits each, strictly inside (0, 1).
"""

from __future__ import annotations

from array import array

import numpy as np

_M0 = np.uint64(0xD2511F53)
_M1 = np.uint64(0xCD9E8D57)
_W0 = 0x9E3779B9
_W1 = 0xBB67AE85
_MASK32 = np.uint64(0xFFFFFFFF)
_SHIFT32 = np.uint64(32)

MAX_SEED = 2**64 - 1


def philox4x32(c0, c1, c2, c3, k0: int, k1: int, rounds: int = 10):
    """Philox4x32 on arrays of 32-bit counter words (any broadcastable shape).

    Returns four uint64 arrays holding the 32-bit output words.
    """
    c0, c1, c2, c3 = (np.asarray(c, dtype=np.uint64) & _MASK32 for c in (c0, c1, c2, c3))
    c0, c1, c2, c3 = np.broadcast_arrays(c0, c1, c2, c3)
    for r in range(rounds):
        key0 = np.uint64((k0 + r * _W0) & 0xFFFFFFFF)
        key1 = np.uint64((k1 + r * _W1) & 0xFFFFFFFF)
        p0 = _M0 * c0
        p1 = _M1 * c2
        hi0, lo0 = p0 >> _SHIFT32, p0 & _MASK32
        hi1, lo1 = p1 >> _SHIFT32, p1 & _MASK32
        c0, c1, c2, c3 = hi1 ^ c1 ^ key0, lo1, hi0 ^ c3 ^ key1, lo0
    return c0, c1, c2, c3


def _to_unit(a, b):
    """Two 32-bit words -> a double in the open interval (0, 1)."""
    x = ((a >> np.uint64(5)) << np.uint64(26)) | (b >> np.uint64(6))  # 53 bits
    return (x.astype(np.float64) + 0.5) * (1.0 / 9007199254740992.0)


def uniforms(
    seed: int,
    replication: int,
    patients: np.ndarray,
    process: int,
    first_block: int,
    n_blocks: int,
) -> np.ndarray:
    """Uniforms for many patients of one process: shape (len(patients), 2 * n_blocks).

    Draw j of a (patient, process) stream is always the same number whatever
    else is computed: it depends only on the address.
    """
    if not 0 <= seed <= MAX_SEED:
        raise ValueError("seed must be an integer between 0 and 2**64 - 1")
    pats = np.asarray(patients, dtype=np.uint64)[:, None]
    blocks = np.arange(first_block, first_block + n_blocks, dtype=np.uint64)[None, :]
    o0, o1, o2, o3 = philox4x32(blocks, np.uint64(process), pats, np.uint64(replication), seed & 0xFFFFFFFF, seed >> 32)
    u = np.empty((pats.shape[0], 2 * n_blocks), dtype=np.float64)
    u[:, 0::2] = _to_unit(o0, o1)
    u[:, 1::2] = _to_unit(o2, o3)
    return u


class PatientStreams:
    """The random streams of a group of patients.

    For a batch of patients at a time (drawn when the first of the batch
    starts), the first ``sizes[p]`` uniforms of every process ``p`` are
    drawn at once and handed to each patient as one ``array('d')`` buffer
    (reading an element gives a plain Python float, with no per-number
    conversion up front).  A process that needs more continues in a list
    drawn on demand (:meth:`more`), with the same addressed numbers.
    """

    __slots__ = ("seed", "replication", "ids", "sizes", "offsets", "batch", "_ready")

    def __init__(self, seed: int, replication: int, ids: np.ndarray, sizes: tuple[int, ...], batch: int = 2048):
        self.seed = seed
        self.replication = replication
        self.ids = np.asarray(ids, dtype=np.int64)
        self.sizes = tuple(2 * ((k + 1) // 2) for k in sizes)  # whole Philox blocks
        self.offsets = tuple(int(x) for x in np.concatenate([[0], np.cumsum(self.sizes)[:-1]]))
        self.batch = batch
        self._ready: dict[int, array] = {}

    def _draw_batch(self, b: int) -> None:
        ids = self.ids[b * self.batch : (b + 1) * self.batch]
        cols = [uniforms(self.seed, self.replication, ids, p, 0, k // 2) for p, k in enumerate(self.sizes) if k]
        block = np.ascontiguousarray(np.concatenate(cols, axis=1)) if cols else np.empty((len(ids), 0))
        for j in range(len(ids)):
            self._ready[b * self.batch + j] = array("d", block[j].tobytes())

    def take(self, i: int) -> array:
        """The pre-drawn uniforms of the group's i-th patient, process after
        process (``offsets[p]`` is where process p starts)."""
        if i not in self._ready:
            self._draw_batch(i // self.batch)
        return self._ready.pop(i)

    def more(self, i: int, p: int, have: int) -> list[float]:
        """Draws ``have``, ``have + 1`` ... of (patient i, process p): a block twice as long as
        ``have`` (at least 128: one call costs about 90 microseconds whatever its length up to a
        few hundred numbers, so a patient who needs more needs it only once or twice)."""
        n = max(128, 2 * have)
        return uniforms(self.seed, self.replication, self.ids[i : i + 1], p, have // 2, n // 2)[0].tolist()
