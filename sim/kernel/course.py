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
from typing import TYPE_CHECKING, Any, Final

from simpy import Interrupt

from sim.kernel.carcinosis import carcinosis_onset
from sim.kernel.carcinosis_deaths import on_carcinosis_death
from sim.kernel.codes import (
    A_BIOPSY,
    A_CARE,
    A_CHEMO_CYCLE,
    A_DIAGNOSIS,
    A_FEBRILE,
    A_HYPER_CRISIS,
    A_HYPER_RECUR,
    A_NADIR_END,
    A_NADIR_START,
    A_ONSET_BY_OTHER,
    A_RADIUM,
    A_RELAPSE,
    A_RT_RESPONSE,
    A_RT_RETREAT,
    A_SCAN,
    A_SRSM,
    A_VISIT,
    E_PAIN_RESPONSE,
    INF,
    LEUKO,
    S_BLEED,
    S_CDEATH,
    S_INFECT,
    S_OTHER,
    S_PAIN,
    S_PROG,
    S_SRE,
    S_WORSEN0,
    S_WORSEN1,
    S_WORSEN2,
)
from sim.kernel.complications import on_complication
from sim.kernel.constants import Compiled
from sim.kernel.cytopenias import counts_changed as _counts_changed
from sim.kernel.cytopenias import on_visit
from sim.kernel.detection import on_biopsy, on_diagnosis, on_scan
from sim.kernel.entry import enter
from sim.kernel.finish import finish
from sim.kernel.hypercalcemia import on_hypercalcemia
from sim.kernel.labs import Trajectory
from sim.kernel.other_mortality import start_other_mortality
from sim.kernel.pain import on_pain, time_pain
from sim.kernel.philox import COMPILED as _COMPILED
from sim.kernel.philox import key_words, uniform
from sim.kernel.progression import advance_progression, on_progression, start_progression, time_progression
from sim.kernel.sre import on_sre, time_sre
from sim.kernel.state import CareReceived, CauseOfDeathClocks, ProgressionClock, TransfusionState
from sim.kernel.treatment import end_treatment as _end_treatment
from sim.kernel.treatment import start_treatment_effect as _start_treatment_effect
from sim.kernel.vocabulary import STREAM_SIZES as _STREAM_SIZES

if TYPE_CHECKING:
    from sim.kernel.care import Care
    from sim.kernel.events import Recorder

# pre-drawn per patient by the Python kernel (sizes in sim.kernel.vocabulary.STREAMS)
STREAM_SIZES = _STREAM_SIZES
# the compiled kernel draws each number when it is used (sim.kernel.philox: well under a microsecond
# each, about 50 per patient) instead of pre-drawing the blocks above through NumPy
COMPILED: Final = _COMPILED
LAZY_DRAWS: Final = COMPILED


class Patient:
    """One patient's state and course (a SimPy process: :meth:`course`)."""

    __slots__ = (
        "env",
        "m",
        "care",
        "rec",
        "streams",
        "i",
        "pid",
        "u_buf",
        "u_pos",
        "u_end",
        "u_extra",
        "fixed",
        "k0",
        "k1",
        "rep",
        "primary",
        "age",
        "agent",
        "visceral",
        "alive",
        "now",
        # the clocks: when each competing process next acts (course months; INF when it does not)
        "t_prog",
        "t_other",
        "t_sre",
        "t_pain",
        "t_cdeath",
        "t_worsen0",
        "t_worsen1",
        "t_worsen2",
        "t_infect",
        "t_bleed",
        "agenda",
        "seq",
        "death_cause",
        "death_detail",
        # progression clock (sim.kernel.state.ProgressionClock)
        "progression_clock",
        # counters and outcome times
        "n_sre",
        "n_pain",
        "n_hyper",
        "first_sre",
        "first_scc",
        "first_hyper",
        "paralysis",
        # carcinosis state
        "has_carcinosis",
        "carc_onset",
        "carc_diag",
        "grade",
        "grade_before",
        "native_grade",
        "native_counts",
        "trajectories",
        "worst",
        "worst_val",
        "cause_of_fall",
        "infiltration_rate",
        "visit_today",
        "calcium_baseline",
        "calcium_peaks",
        "counts",
        "dic",
        "leuko_eb",
        "suspected",
        "diagnosed",
        "on_chemo",
        "chemo",
        "remission",
        "deaths",
        "infection_threshold",
        "bleeding_threshold",
        "n_complications",
        "terminal_phase",
        "carcinosis_fraction",
        "hypercalcemia_fraction",
        "at_onset",
        # care received, and transfusion (sim.kernel.state)
        "received",
        "transfusion",
        "entry",
        "horizon",
        "proc",
        "wait_until",
        "sleeping",
        "died_ev",
        "done",
    )

    # types of the state that starts empty (for the type checker; __slots__ hold the values)
    alive: bool
    agenda: list[tuple[float, int, int, Any]]
    death_cause: str | None
    died_ev: Any
    proc: Any
    u_buf: Any
    u_extra: Any
    u_pos: list[int]
    u_end: list[int]
    fixed: Any
    wait_until: float
    calcium_peaks: list[tuple[float, float]]
    # set at entry (sim.kernel.entry)
    primary: int
    age: float
    agent: int
    visceral: bool
    seq: int
    n_sre: int
    n_pain: int
    n_hyper: int
    n_complications: int
    at_onset: int
    calcium_baseline: float
    infiltration_rate: float
    trajectories: list[Trajectory]
    counts: list[float]
    native_counts: list[float]
    native_grade: list[int]
    worst: list[int]
    worst_val: list[float]
    cause_of_fall: list[str]
    received: CareReceived
    transfusion: TransfusionState
    carc_onset: float
    carc_diag: float
    first_scc: float
    paralysis: bool
    grade: list[int]
    grade_before: list[int]
    on_chemo: bool
    terminal_phase: bool
    progression_clock: ProgressionClock
    carcinosis_fraction: float
    hypercalcemia_fraction: float
    first_sre: float
    first_hyper: float
    t_prog: float
    t_other: float
    t_sre: float
    t_pain: float
    t_cdeath: float
    t_worsen0: float
    t_worsen1: float
    t_worsen2: float
    t_infect: float
    t_bleed: float
    has_carcinosis: bool
    remission: bool
    diagnosed: bool
    suspected: bool
    chemo: bool
    dic: bool
    leuko_eb: bool
    visit_today: bool
    infection_threshold: float
    bleeding_threshold: float
    deaths: CauseOfDeathClocks

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
        self.i = i
        self.pid = int(streams.ids[i])
        self.streams = streams
        self.entry = entry  # calendar months
        self.horizon = min(m.horizon, end - entry)  # course months
        self.sleeping = False
        self.died_ev = None
        self.proc = None
        self.done = False
        self.wait_until = -1.0  # the end of the wait in progress (course months), -1.0 when none
        self.fixed = None  # a stand-in for the streams (unit tests: fixed uniforms), None in a run

    # ------------------------------------------------------------------ helpers
    def u(self, process: int) -> float:
        """Next uniform of one of this patient's streams."""
        pos = self.u_pos[process]
        self.u_pos[process] = pos + 1
        if self.fixed is not None:  # unit tests: the stand-in's next number for this stream
            return float(self.fixed.next(process))
        if LAZY_DRAWS:  # the compiled kernel: draw number ``pos`` of this stream, computed now
            return uniform(self.k0, self.k1, self.rep, self.pid, process, pos)
        if pos < self.u_end[process]:
            return self.u_buf[pos]
        return self._u_more(process, pos)

    def _u_more(self, process: int, pos: int) -> float:
        """Past the pre-drawn block (Python kernel): the stream continues in a list drawn on demand."""
        streams = self.streams
        k = pos - streams.offsets[process]  # index of this draw within the process's stream
        extra = self.u_extra.get(process)
        if extra is None:
            extra = self.u_extra[process] = []
        first = streams.sizes[process]
        while k - first >= len(extra):
            extra.extend(streams.more(self.i, process, first + len(extra)))
        return extra[k - first]

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
        return self.trajectories[lin].value(self.now)

    def native_count_now(self, lin: int) -> float:
        """The marrow's own output of a lineage now (without transfusions)."""
        return self.trajectories[lin].value(self.now, native_only=True)

    def count_seen(self, lin: int) -> float:
        """The count of a lineage when last looked at (by counts_changed)."""
        return self.counts[lin]

    def grade_of(self, lin: int) -> int:
        """The current cytopenia grade of a lineage."""
        return self.grade[lin]

    def add_dip(self, lin: int, start: float, end: float, factor: float, cause: str) -> None:
        """A treatment-related fall of a lineage's native count by factor from start, recovering by end."""
        self.trajectories[lin].add_dip(start, end, factor)
        self.cause_of_fall[lin] = cause

    def add_boost(self, lin: int, increment: float, half_life: float) -> None:
        """A transfusion raises a lineage's count by increment now, decaying with half_life (months)."""
        self.trajectories[lin].add_boost(self.now, increment, half_life)

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
        streams = self.streams
        if LAZY_DRAWS:  # draw k of process p when it is used: u_pos[p] is k, nothing is pre-drawn
            self.k0, self.k1 = key_words(streams.seed)
            self.rep = streams.replication
            self.u_pos = [0] * len(streams.sizes)
        else:
            self.u_buf = streams.take(self.i)
            self.u_pos = list(streams.offsets)
            self.u_end = [o + k for o, k in zip(streams.offsets, streams.sizes, strict=True)]
            self.u_extra = {}
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
        while self.alive:
            slot = S_PROG  # the earliest clock (the first of equal ones, in slot order)
            t = self.t_prog
            if self.t_other < t:
                t = self.t_other
                slot = S_OTHER
            if self.t_sre < t:
                t = self.t_sre
                slot = S_SRE
            if self.t_pain < t:
                t = self.t_pain
                slot = S_PAIN
            if self.t_cdeath < t:
                t = self.t_cdeath
                slot = S_CDEATH
            if self.t_worsen0 < t:
                t = self.t_worsen0
                slot = S_WORSEN0
            if self.t_worsen1 < t:
                t = self.t_worsen1
                slot = S_WORSEN1
            if self.t_worsen2 < t:
                t = self.t_worsen2
                slot = S_WORSEN2
            if self.t_infect < t:
                t = self.t_infect
                slot = S_INFECT
            if self.t_bleed < t:
                t = self.t_bleed
                slot = S_BLEED
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
                self._on_agenda(kind, arg)
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

    def _on_agenda(self, kind: int, arg: Any) -> None:
        care = self.care
        if kind == A_CARE:
            care.resume(self, arg)
        elif kind == A_RT_RESPONSE:
            self.log(E_PAIN_RESPONSE, arg)
        elif kind == A_RT_RETREAT:
            care.refer_radiotherapy(self, "re-treatment", emergency=False)
        elif kind == A_RADIUM:
            care.radium_injection(self, arg)
        elif kind == A_SRSM:
            self.log(E_PAIN_RESPONSE, arg)
        elif kind == A_HYPER_RECUR:
            on_hypercalcemia(self)
        elif kind == A_HYPER_CRISIS:
            self.die("hypercalcemic_crisis", f"episode {self.n_hyper}")
        elif kind == A_SCAN:
            if self.has_carcinosis and not self.remission:
                on_scan(self)
        elif kind == A_BIOPSY:
            if self.has_carcinosis and not self.remission:
                on_biopsy(self)
        elif kind == A_DIAGNOSIS:
            if self.has_carcinosis and not self.remission:
                on_diagnosis(self)
        elif kind == A_CHEMO_CYCLE:
            care.chemotherapy_cycle(self, arg)
        elif kind == A_FEBRILE:
            care.febrile_neutropenia(self)
        elif kind == A_NADIR_START:
            care.nadir_start(self, arg)
        elif kind == A_NADIR_END:
            self.cause_of_fall[arg] = ""
            _counts_changed(self, tuple(range(3)) if arg == LEUKO else (arg,))
        elif kind == A_VISIT:
            on_visit(self)
        elif kind == A_ONSET_BY_OTHER:
            if arg == 0 and self.progression_clock.carcinosis_at < INF and self.progression_clock.running:
                advance_progression(self)
                self.progression_clock.carcinosis_at = INF
                carcinosis_onset(self, relapse=False)
            elif arg == 1 and self.progression_clock.hypercalcemia_at < INF:
                advance_progression(self)
                self.progression_clock.hypercalcemia_at = INF
                on_hypercalcemia(self)
                time_progression(self)
        elif kind == A_RELAPSE:
            if self.remission:
                carcinosis_onset(self, relapse=True)

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
