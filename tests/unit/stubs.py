"""A patient outside a run, for unit tests of the course's rules: built on a
scenario, optionally drawing fixed uniforms (:class:`FixedUniforms`) instead
of its Philox streams, in whichever kernel is loaded (compiled or sources)."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from sim.engine.streams import PatientStreams
from sim.kernel.care import Care
from sim.kernel.constants import compile_scenario
from sim.kernel.course import STREAM_SIZES, DirectClock, Patient
from sim.kernel.events import Recorder
from sim.kernel.services import ServiceLog
from sim.kernel.vocabulary import STREAM_ID
from tests.conftest import make


class FixedUniforms:
    """Stands in for a patient's streams: per stream name, the uniforms it
    gives in turn; ``default`` once a stream's list is used up (or for a
    stream not named).  ``drawn`` counts the numbers taken per stream name."""

    def __init__(self, default: float = 0.5, **by_stream: list[float]) -> None:
        unknown = set(by_stream) - set(STREAM_ID)
        assert not unknown, f"no such stream: {unknown}"
        self.default = default
        self.queues = {STREAM_ID[name]: list(values) for name, values in by_stream.items()}
        self.names = {i: name for name, i in STREAM_ID.items()}
        self.drawn: dict[str, int] = {}

    def next(self, process: int) -> float:
        name = self.names[process]
        self.drawn[name] = self.drawn.get(name, 0) + 1
        q = self.queues.get(process)
        return q.pop(0) if q else self.default


def exp_u(e: float) -> float:
    """The uniform whose -log is ``e`` (an Exp(1) threshold of ``e``)."""
    return math.exp(-e)


def patient(
    overrides: dict[str, Any] | None = None, seed: int = 7, fixed: FixedUniforms | None = None
) -> tuple[Patient, Recorder]:
    """A patient (id 0) of the default scenario with ``overrides``, not yet entered."""
    m = compile_scenario(make(overrides, patients=1, seed=seed))
    rec = Recorder()
    care = Care(m, None, ServiceLog())
    streams = PatientStreams(seed, 0, np.array([0], dtype=np.int64), STREAM_SIZES)
    p = Patient(DirectClock(), m, care, rec, streams, 0, 0.0, math.inf)
    p.numbers.fixed = fixed
    return p, rec


def entered(overrides: dict[str, Any] | None = None, fixed: FixedUniforms | None = None, seed: int = 7) -> Patient:
    """A patient just after entry: every clock started, nothing yet happened."""
    p, _ = patient(overrides, seed, fixed)
    p.begin()
    return p


def finished_patient(
    seed: int = 7, overrides: dict[str, Any] | None = None, fixed: FixedUniforms | None = None
) -> tuple[Patient, tuple[Any, ...]]:
    """A patient whose whole course has run, and the row it recorded."""
    p, rec = patient(overrides, seed, fixed)
    p.begin()
    while p.advance() >= 0.0:
        pass
    return p, rec.rows[-1]
