"""One patient's random numbers: the next uniform of each of its addressed streams.

Every number has an address (seed, replication, patient, process, index;
sim.kernel.vocabulary.STREAMS).  The compiled kernel computes number ``k`` of a
stream when it is used (sim.kernel.philox: well under a microsecond each,
about 50 per patient); the Python kernel takes the patient's pre-drawn block
(sim.engine.streams.PatientStreams) and draws on demand past its end.  A unit
test puts a stand-in in ``fixed`` (tests/unit/stubs.py: fixed uniforms by
stream) so a rule can be checked against a hand calculation.
"""

from __future__ import annotations

from typing import Any, Final

from sim.kernel.philox import COMPILED as _COMPILED
from sim.kernel.philox import key_words, uniform

COMPILED: Final = _COMPILED
LAZY_DRAWS: Final = COMPILED  # compiled: draw each number when used; Python: pre-drawn blocks


class PatientNumbers:
    """The streams of patient ``i`` of a run's :class:`~sim.engine.streams.PatientStreams`."""

    __slots__ = ("streams", "i", "pid", "buf", "pos", "end", "extra", "fixed", "k0", "k1", "rep")

    buf: Any
    extra: Any
    end: list[int]
    fixed: Any

    def __init__(self, streams: Any, i: int, pid: int) -> None:
        self.streams = streams
        self.i = i
        self.pid = pid
        self.fixed = None  # a stand-in for the streams (unit tests: fixed uniforms), None in a run
        self.pos: list[int] = []
        self.k0 = self.k1 = self.rep = 0

    def start(self) -> None:
        """At entry: every stream at its first number."""
        streams = self.streams
        if LAZY_DRAWS:  # draw k of process p when it is used: pos[p] is k, nothing is pre-drawn
            self.k0, self.k1 = key_words(streams.seed)
            self.rep = streams.replication
            self.pos = [0] * len(streams.sizes)
        else:
            self.buf = streams.take(self.i)
            self.pos = list(streams.offsets)
            self.end = [o + k for o, k in zip(streams.offsets, streams.sizes, strict=True)]
            self.extra = {}

    def next(self, process: int) -> float:
        """The next uniform of stream ``process``."""
        pos = self.pos[process]
        self.pos[process] = pos + 1
        if self.fixed is not None:  # unit tests: the stand-in's next number for this stream
            return float(self.fixed.next(process))
        if LAZY_DRAWS:  # the compiled kernel: draw number ``pos`` of this stream, computed now
            return uniform(self.k0, self.k1, self.rep, self.pid, process, pos)
        if pos < self.end[process]:
            return self.buf[pos]
        return self._more(process, pos)

    def _more(self, process: int, pos: int) -> float:
        """Past the pre-drawn block (Python kernel): the stream continues in a list drawn on demand."""
        streams = self.streams
        k = pos - streams.offsets[process]  # index of this draw within the process's stream
        extra = self.extra.get(process)
        if extra is None:
            extra = self.extra[process] = []
        first = streams.sizes[process]
        while k - first >= len(extra):
            extra.extend(streams.more(self.i, process, first + len(extra)))
        return extra[k - first]

    def release(self) -> None:
        """A finished course: drop the pre-drawn numbers."""
        self.buf = self.extra = None
