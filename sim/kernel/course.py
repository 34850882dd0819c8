"""The course of one patient with bone metastases, told in the order of the
conceptual model (docs/model.md):

1. entry: primary tumour, age, bone-targeted agent, visceral disease;
2. progression to death on a Weibull clock whose hazard is raised after an
   SRE, cord compression and hypercalcemia (and lowered by radium-223);
3. skeletal-related events, recurrent;
4. bone pain episodes, recurrent;
5. hypercalcemia episodes;
6. bone marrow carcinosis: cytopenias and their grades, DIC, detection,
   complications, treatment, terminal myelosuppression, remission, relapse;
7. death with a cause, or censoring at the horizon.

Care (radiotherapy, radionuclides, chemotherapy, transfusion, surgery,
admission) is requested through :mod:`sim.kernel.care`, which sits beside the course.

Time is in months from entry.  Every competing process is a clock: a
threshold drawn once from the patient's own stream (Exp(1) on the cumulative
hazard) that the process reaches when its accumulated hazard does.  Changing a
hazard re-times the clock without a new draw, so a patient meets the same luck
in every scenario.

Timing of carcinosis and hypercalcemia.  Whether a patient develops them
during the course is decided at entry with the scenario's
``carcinosis.probability`` / ``hypercalcemia.probability`` (spread over
primaries by relative risk).  Onset comes when the patient's progression
clock reaches a fraction (Beta-distributed) of its death threshold, so it
always falls inside the patient's course: onset precedes death from
progression whatever the hazard multipliers are; only another cause of death
or the horizon can come first.
"""

from __future__ import annotations

import heapq
from typing import TYPE_CHECKING, Any

from simpy import Interrupt

from sim.kernel.agenda import on_agenda
from sim.kernel.carcinosis_deaths import on_carcinosis_death
from sim.kernel.codes import INF
from sim.kernel.complications import on_complication
from sim.kernel.constants import Compiled
from sim.kernel.cytopenias import counts_changed as _counts_changed
from sim.kernel.entry import enter
from sim.kernel.finish import finish
from sim.kernel.numbers import PatientNumbers
from sim.kernel.other_mortality import start_other_mortality
from sim.kernel.pain import on_pain, time_pain
from sim.kernel.progression import advance_progression, on_progression, start_progression, time_progression
from sim.kernel.sre import on_sre, time_sre
from sim.kernel.state import (
    S_CDEATH,
    S_INFECT,
    S_OTHER,
    S_PAIN,
    S_PROG,
    S_SRE,
    S_WORSEN0,
    S_WORSEN2,
    BloodCounts,
    CarcinosisState,
    CareReceived,
    CauseOfDeathClocks,
    Clocks,
    Detection,
    ProgressionClock,
    TransfusionState,
)
from sim.kernel.treatment import end_treatment as _end_treatment
from sim.kernel.treatment import start_treatment_effect as _start_treatment_effect
from sim.kernel.vocabulary import STREAM_SIZES as _STREAM_SIZES

if TYPE_CHECKING:
    from sim.kernel.care import Care
    from sim.kernel.events import Recorder

# pre-drawn per patient by the Python kernel (sizes in sim.kernel.vocabulary.STREAMS)
STREAM_SIZES = _STREAM_SIZES


class Patient:
    """One patient's state and course (a SimPy process: :meth:`course`)."""

    __slots__ = (
        # the run's context, the patient's id and random numbers
        "env",
        "m",
        "care",
        "rec",
        "pid",
        "numbers",
        # who the patient is (step 1)
        "primary",
        "age",
        "agent",
        "visceral",
        # the course: its clocks, agenda and end
        "alive",
        "now",
        "clocks",
        "agenda",
        "seq",
        "death_cause",
        "death_detail",
        "entry",
        "horizon",
        "proc",
        "wait_until",
        "sleeping",
        "died_ev",
        "done",
        # counters and outcome times
        "n_sre",
        "n_pain",
        "n_hyper",
        "first_sre",
        "first_scc",
        "first_hyper",
        "paralysis",
        "has_carcinosis",
        "remission",
        "carcinosis_fraction",
        "hypercalcemia_fraction",
        # the named parts of the state (sim.kernel.state)
        "progression_clock",
        "deaths",
        "blood",
        "carcinosis",
        "detection",
        "received",
        "transfusion",
    )

    # types of the state set after construction (for the type checker; __slots__ hold the values)
    proc: Any
    died_ev: Any
    wait_until: float
    primary: int
    age: float
    agent: int
    visceral: bool
    alive: bool
    clocks: Clocks
    agenda: list[tuple[float, int, int, Any]]
    seq: int
    death_cause: str | None
    n_sre: int
    n_pain: int
    n_hyper: int
    first_sre: float
    first_scc: float
    first_hyper: float
    paralysis: bool
    has_carcinosis: bool
    remission: bool
    carcinosis_fraction: float
    hypercalcemia_fraction: float
    progression_clock: ProgressionClock
    deaths: CauseOfDeathClocks
    blood: BloodCounts
    carcinosis: CarcinosisState
    detection: Detection
    received: CareReceived
    transfusion: TransfusionState

    def __init__(
        self,
        env: Any,
        m: Compiled,
        care: Care,
        rec: Recorder,
        streams: Any,
        i: int,
        entry: float = 0.0,
        end: float = INF,
    ):
        self.env = env
        self.m = m
        self.care = care
        self.rec = rec
        self.pid = int(streams.ids[i])
        self.numbers = PatientNumbers(streams, i, self.pid)
        self.entry = entry  # calendar months
        self.horizon = min(m.horizon, end - entry)  # course months
        self.sleeping = False
        self.died_ev = None
        self.proc = None
        self.done = False
        self.wait_until = -1.0  # the end of the wait in progress (course months), -1.0 when none

    # ------------------------------------------------------------------ helpers
    def u(self, process: int) -> float:
        """Next uniform of one of this patient's streams (sim.kernel.numbers)."""
        return self.numbers.next(process)

    def log(self, ev: int, detail: str = "") -> None:
        rec = self.rec
        code = 0
        if detail:
            c = rec.detail_codes.get(detail)  # interned: a dictionary look-up, a call only for a new string
            code = rec.code(detail) if c is None else c
        rec.event(self.pid, self.entry + self.now, ev, code)

    def schedule(self, t: float, kind: int, arg: Any = None) -> None:
        """Put a one-off item on this patient's agenda."""
        self.seq += 1
        heapq.heappush(self.agenda, (t, self.seq, kind, arg))

    def die(self, cause: str, detail: str = "") -> None:
        if not self.alive:
            return
        self.alive = False
        self.death_cause = cause
        self.death_detail = detail
        if self.died_ev is not None:
            self.died_ev.succeed()

    @property
    def died(self) -> Any:
        """A SimPy event that fires at death (for requests waiting on services)."""
        if self.died_ev is None:
            self.died_ev = self.env.event()
            if not self.alive:
                self.died_ev.succeed()
        return self.died_ev

    def wake(self) -> None:
        """Re-plan now: care delivered by a service process changed this course."""
        if self.sleeping and self.proc is not None:
            self.sleeping = False
            self.proc.interrupt()

    # ------------------------------------------------------------------ the named interface care uses (sim.kernel.care)
    def progression_running(self) -> bool:
        """Whether the progression clock runs (it stops at carcinosis onset)."""
        return self.progression_clock.running

    def carcinosis_active(self) -> bool:
        """Carcinosis has begun and is not in remission."""
        return self.has_carcinosis and not self.remission

    def count_now(self, lin: int) -> float:
        """The blood count of a lineage now (with transfusions)."""
        return self.blood.trajectories[lin].value(self.now)

    def native_count_now(self, lin: int) -> float:
        """The marrow's own output of a lineage now (without transfusions)."""
        return self.blood.trajectories[lin].value(self.now, native_only=True)

    def count_seen(self, lin: int) -> float:
        """The count of a lineage when last looked at (by counts_changed)."""
        return self.blood.counts[lin]

    def grade_of(self, lin: int) -> int:
        """The current cytopenia grade of a lineage."""
        return self.blood.grade[lin]

    def add_dip(self, lin: int, start: float, end: float, factor: float, cause: str) -> None:
        """A treatment-related fall of a lineage's native count by factor from start, recovering by end."""
        self.blood.trajectories[lin].add_dip(start, end, factor)
        self.blood.cause_of_fall[lin] = cause

    def add_boost(self, lin: int, increment: float, half_life: float) -> None:
        """A transfusion raises a lineage's count by increment now, decaying with half_life (months)."""
        self.blood.trajectories[lin].add_boost(self.now, increment, half_life)

    def resume_at(self, env_time: float) -> None:
        """A service started at env_time (run months): the course's clock moves there."""
        self.now = env_time - self.entry

    def multiply_progression(self, factor: float) -> None:
        """Multiply the progression hazard from now on (re-times the clock)."""
        advance_progression(self)
        self.progression_clock.multiplier *= factor
        time_progression(self)

    # the named interface care uses (sim.kernel.care)
    def counts_changed(self, lins: tuple[int, ...] = (0, 1, 2)) -> None:
        """Everything that depends on the blood counts (sim.kernel.cytopenias.counts_changed)."""
        _counts_changed(self, lins)

    def start_treatment_effect(self) -> None:
        """Systemic treatment slows the carcinosis course from now on (sim.kernel.treatment)."""
        _start_treatment_effect(self)

    def end_treatment(self) -> None:
        """After the last cycle: rare remission, else the effect persists (sim.kernel.treatment)."""
        _end_treatment(self)

    # ------------------------------------------------------------------ the course
    def course(self):  # type: ignore[no-untyped-def]
        """The SimPy process: entry, then the course from wait to wait (:meth:`advance`)."""
        env = self.env
        if self.entry > env.now:
            yield env.timeout(self.entry - env.now)
        self.begin()
        queued_care = self.care.pools is not None
        while True:
            d = self.advance()
            if d < 0.0:
                return
            if not queued_care:  # nothing outside this course can change it
                yield env.timeout(d)
                continue
            self.sleeping = True
            interrupted = False
            try:
                yield env.timeout(d)
            except Interrupt:
                interrupted = True  # care delivered elsewhere changed this course: re-plan
            self.sleeping = False
            if interrupted:
                self.wait_until = -1.0
                self.now = env.now - self.entry

    def begin(self) -> None:
        """Entry (at the patient's entry time): who the patient is, and every clock started."""
        self.numbers.start()
        enter(self)
        start_progression(self)
        start_other_mortality(self)
        time_sre(self)
        time_pain(self)

    def advance(self) -> float:
        """Run the course up to its next wait; return the wait in months (the
        course resumes at the end of it with the next call), or -1.0 once the
        course has ended and been recorded (death or horizon)."""
        if self.wait_until >= 0.0:  # back from a wait
            self.now = self.wait_until
            self.wait_until = -1.0
        horizon = self.horizon
        agenda = self.agenda
        clocks = self.clocks
        while self.alive:
            t, slot = clocks.earliest()
            use_agenda = bool(agenda) and agenda[0][0] <= t
            if use_agenda:
                t = agenda[0][0]
            if t >= horizon:
                # with queues, care still on its way may change the course: wait for the horizon
                if self.care.pools is None or self.now >= horizon:
                    break
                t = horizon
            if t > self.now:
                self.rec.n_timeouts += 1
                self.wait_until = t
                return t - self.now
            if use_agenda:
                _, _, kind, arg = heapq.heappop(agenda)
                on_agenda(self, kind, arg)
                continue
            if slot == S_PROG:
                on_progression(self)
            elif slot == S_OTHER:
                self.die("other", "other causes")
            elif slot == S_SRE:
                on_sre(self)
            elif slot == S_PAIN:
                on_pain(self)
            elif slot == S_CDEATH:
                on_carcinosis_death(self)
            elif slot <= S_WORSEN2:
                _counts_changed(self, (slot - S_WORSEN0,))  # a count fell through a threshold
            elif slot == S_INFECT:
                on_complication(self, bleed=False)
            else:
                on_complication(self, bleed=True)
        finish(self, horizon)
        return -1.0

    # ------------------------------------------------------------------ 7. death or censoring
    def close_at_horizon(self) -> None:
        """End a course still open when the run stops (censored at its horizon)."""
        if self.alive:
            finish(self, self.horizon)


class DirectClock:
    """Stands in for the SimPy environment of a course that waits on nothing
    but its own clock: ``timeout(d)`` is just the delay ``d``."""

    def __init__(self) -> None:
        self.now = 0.0

    def timeout(self, delay: float) -> float:
        return delay


def run_direct(m: Compiled, care: Care, rec: Recorder, streams: Any, n: int, end: float) -> None:
    """Run the courses of ``n`` cohort patients (all entering at time 0, no
    finite service) without SimPy's scheduler, one course after another.

    Patients do not interact here, so each course only needs its own clock,
    and running a course from entry to its end keeps its state close at hand.
    The events and service requests come out in the canonical order (patient
    id, then time, then the order recorded within the patient), the order a
    shared SimPy environment's are sorted into (:meth:`Recorder.canonical`).
    """
    clock = DirectClock()
    for i in range(n):
        p = Patient(clock, m, care, rec, streams, i, 0.0, end)
        p.begin()
        while p.advance() >= 0.0:
            pass
