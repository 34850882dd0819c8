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
import math
from typing import TYPE_CHECKING, Any, Final

from simpy import Interrupt

from sim.errors import RunawayCourse
from sim.kernel.codes import (
    _CARC_CAUSE as _CARC_CAUSE,
)
from sim.kernel.codes import (
    _CARC_DETAIL as _CARC_DETAIL,
)
from sim.kernel.codes import (
    A_BIOPSY as A_BIOPSY,
)
from sim.kernel.codes import (
    A_CARE as A_CARE,
)
from sim.kernel.codes import (
    A_CHEMO_CYCLE as A_CHEMO_CYCLE,
)
from sim.kernel.codes import (
    A_DIAGNOSIS as A_DIAGNOSIS,
)
from sim.kernel.codes import (
    A_FEBRILE as A_FEBRILE,
)
from sim.kernel.codes import (
    A_HYPER_CRISIS as A_HYPER_CRISIS,
)
from sim.kernel.codes import (
    A_HYPER_RECUR as A_HYPER_RECUR,
)
from sim.kernel.codes import (
    A_NADIR_END as A_NADIR_END,
)
from sim.kernel.codes import (
    A_NADIR_START as A_NADIR_START,
)
from sim.kernel.codes import (
    A_ONSET_BY_OTHER as A_ONSET_BY_OTHER,
)
from sim.kernel.codes import (
    A_RADIUM as A_RADIUM,
)
from sim.kernel.codes import (
    A_RELAPSE as A_RELAPSE,
)
from sim.kernel.codes import (
    A_RT_RESPONSE as A_RT_RESPONSE,
)
from sim.kernel.codes import (
    A_RT_RETREAT as A_RT_RETREAT,
)
from sim.kernel.codes import (
    A_SCAN as A_SCAN,
)
from sim.kernel.codes import (
    A_SRSM as A_SRSM,
)
from sim.kernel.codes import (
    A_VISIT as A_VISIT,
)
from sim.kernel.codes import (
    ANEMIA as ANEMIA,
)
from sim.kernel.codes import (
    C_BLEEDING as C_BLEEDING,
)
from sim.kernel.codes import (
    C_DIC as C_DIC,
)
from sim.kernel.codes import (
    C_INFECTION as C_INFECTION,
)
from sim.kernel.codes import (
    C_OTHER as C_OTHER,
)
from sim.kernel.codes import (
    C_PROGRESSION as C_PROGRESSION,
)
from sim.kernel.codes import (
    E_ADMISSION as E_ADMISSION,
)
from sim.kernel.codes import (
    E_ANALGESIA as E_ANALGESIA,
)
from sim.kernel.codes import (
    E_BIOPSY as E_BIOPSY,
)
from sim.kernel.codes import (
    E_BLEEDING as E_BLEEDING,
)
from sim.kernel.codes import (
    E_CARCINOSIS_DIAGNOSIS as E_CARCINOSIS_DIAGNOSIS,
)
from sim.kernel.codes import (
    E_CARCINOSIS_ONSET as E_CARCINOSIS_ONSET,
)
from sim.kernel.codes import (
    E_CENSORED as E_CENSORED,
)
from sim.kernel.codes import (
    E_CHEMOTHERAPY_CYCLE as E_CHEMOTHERAPY_CYCLE,
)
from sim.kernel.codes import (
    E_CORD_COMPRESSION as E_CORD_COMPRESSION,
)
from sim.kernel.codes import (
    E_CYTOPENIA as E_CYTOPENIA,
)
from sim.kernel.codes import (
    E_DEATH as E_DEATH,
)
from sim.kernel.codes import (
    E_DIC as E_DIC,
)
from sim.kernel.codes import (
    E_ENTRY as E_ENTRY,
)
from sim.kernel.codes import (
    E_FEBRILE_NEUTROPENIA as E_FEBRILE_NEUTROPENIA,
)
from sim.kernel.codes import (
    E_HYPERCALCEMIA as E_HYPERCALCEMIA,
)
from sim.kernel.codes import (
    E_INFECTION as E_INFECTION,
)
from sim.kernel.codes import (
    E_LEUKOERYTHROBLASTIC as E_LEUKOERYTHROBLASTIC,
)
from sim.kernel.codes import (
    E_PAIN as E_PAIN,
)
from sim.kernel.codes import (
    E_PAIN_RESPONSE as E_PAIN_RESPONSE,
)
from sim.kernel.codes import (
    E_PARALYSIS as E_PARALYSIS,
)
from sim.kernel.codes import (
    E_RADIONUCLIDE as E_RADIONUCLIDE,
)
from sim.kernel.codes import (
    E_RADIOTHERAPY as E_RADIOTHERAPY,
)
from sim.kernel.codes import (
    E_RELAPSE as E_RELAPSE,
)
from sim.kernel.codes import (
    E_REMISSION as E_REMISSION,
)
from sim.kernel.codes import (
    E_SCINTIGRAPHY as E_SCINTIGRAPHY,
)
from sim.kernel.codes import (
    E_SRE as E_SRE,
)
from sim.kernel.codes import (
    E_SURGERY as E_SURGERY,
)
from sim.kernel.codes import (
    E_SUSPICION as E_SUSPICION,
)
from sim.kernel.codes import (
    E_TERMINAL_MYELOSUPPRESSION as E_TERMINAL_MYELOSUPPRESSION,
)
from sim.kernel.codes import (
    E_TRANSFUSION_PLATELETS as E_TRANSFUSION_PLATELETS,
)
from sim.kernel.codes import (
    E_TRANSFUSION_RBC as E_TRANSFUSION_RBC,
)
from sim.kernel.codes import (  # re-exported: care and the tests read the codes here
    INF as INF,
)
from sim.kernel.codes import (
    LEUKO as LEUKO,
)
from sim.kernel.codes import (
    LINEAGE_NAMES as LINEAGE_NAMES,
)
from sim.kernel.codes import (
    LN2 as LN2,
)
from sim.kernel.codes import (
    P_CARC as P_CARC,
)
from sim.kernel.codes import (
    P_CHEMO as P_CHEMO,
)
from sim.kernel.codes import (
    P_COMPL as P_COMPL,
)
from sim.kernel.codes import (
    P_DETECT as P_DETECT,
)
from sim.kernel.codes import (
    P_ENTRY as P_ENTRY,
)
from sim.kernel.codes import (
    P_HYPER as P_HYPER,
)
from sim.kernel.codes import (
    P_OTHER as P_OTHER,
)
from sim.kernel.codes import (
    P_PAIN as P_PAIN,
)
from sim.kernel.codes import (
    P_PROG as P_PROG,
)
from sim.kernel.codes import (
    P_RN as P_RN,
)
from sim.kernel.codes import (
    P_RT as P_RT,
)
from sim.kernel.codes import (
    P_SRE as P_SRE,
)
from sim.kernel.codes import (
    P_TRANSF as P_TRANSF,
)
from sim.kernel.codes import (
    S_BLEED as S_BLEED,
)
from sim.kernel.codes import (
    S_CDEATH as S_CDEATH,
)
from sim.kernel.codes import (
    S_INFECT as S_INFECT,
)
from sim.kernel.codes import (
    S_OTHER as S_OTHER,
)
from sim.kernel.codes import (
    S_PAIN as S_PAIN,
)
from sim.kernel.codes import (
    S_PROG as S_PROG,
)
from sim.kernel.codes import (
    S_SRE as S_SRE,
)
from sim.kernel.codes import (
    S_WORSEN0 as S_WORSEN0,
)
from sim.kernel.codes import (
    S_WORSEN1 as S_WORSEN1,
)
from sim.kernel.codes import (
    S_WORSEN2 as S_WORSEN2,
)
from sim.kernel.codes import (
    THROMBO as THROMBO,
)
from sim.kernel.constants import DAYS_PER_MONTH, Compiled
from sim.kernel.draws import exp_median as _exp_median
from sim.kernel.draws import pick as _pick
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
        "prog",
        # counters and outcome times
        "n_sre",
        "n_pain",
        "n_hyper",
        "first_sre",
        "first_scc",
        "first_hyper",
        "paralysis",
        # carcinosis state
        "carc",
        "carc_onset",
        "carc_diag",
        "grade",
        "grade_old",
        "ngrade",
        "nvals",
        "traj",
        "worst",
        "worst_val",
        "why",
        "rate_mult",
        "visit_now",
        "ca0",
        "ca_peaks",
        "vals",
        "dic",
        "leuko_eb",
        "suspected",
        "diagnosed",
        "on_chemo",
        "chemo",
        "remission",
        "deaths",
        "infE",
        "bleedE",
        "n_compl",
        "terminal_on",
        "_v",
        "_w",
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
    ca_peaks: list[tuple[float, float]]
    # set at entry (sim.kernel.entry)
    primary: int
    age: float
    agent: int
    visceral: bool
    seq: int
    n_sre: int
    n_pain: int
    n_hyper: int
    n_compl: int
    at_onset: int
    ca0: float
    rate_mult: float
    traj: list[Trajectory]
    vals: list[float]
    nvals: list[float]
    ngrade: list[int]
    worst: list[int]
    worst_val: list[float]
    why: list[str]
    received: CareReceived
    transfusion: TransfusionState
    carc_onset: float
    carc_diag: float
    first_scc: float
    paralysis: bool
    grade: list[int]
    grade_old: list[int]
    on_chemo: bool
    terminal_on: bool
    prog: ProgressionClock
    _v: float
    _w: float
    first_sre: float
    first_hyper: float
    t_prog: float
    t_other: float
    t_sre: float
    t_pain: float

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

    # ------------------------------------------------------------------ 1. entry
    # ------------------------------------------------------------------ 2. progression clock
    def multiply_progression(self, factor: float) -> None:
        """Multiply the progression hazard from now on (re-times the clock)."""
        advance_progression(self)
        self.prog.multiplier *= factor
        time_progression(self)

    # ------------------------------------------------------------------ other causes
    # ------------------------------------------------------------------ 3. SREs
    # ------------------------------------------------------------------ 4. pain
    # ------------------------------------------------------------------ 5. hypercalcemia
    # ------------------------------------------------------------------ 6. carcinosis
    def _carcinosis_onset(self, relapse: bool) -> None:
        m = self.m
        c = m.carcinosis
        self.carc = True
        self.remission = False
        if self.carc_onset == INF:
            self.carc_onset = self.now
        self.log(E_RELAPSE if relapse else E_CARCINOSIS_ONSET, "diffuse marrow infiltration")
        # the progression clock stops: the course is now the carcinosis course
        advance_progression(self)
        self.prog.running = False
        self.t_prog = INF
        hyper_pending = self.prog.hypercalcemia_at < INF
        at_onset = c.at_onset
        step = c.worsening_median_fraction * LN2 / m.carc_rate_bsc[self.primary]  # months per grade step
        hr = m.chemotherapy.death_hazard_ratio if self.on_chemo else 1.0
        for lin, p in enumerate(at_onset):
            present = self.u(P_CARC) < p
            g = _pick(m.grade_cum, self.u(P_CARC)) + 1
            v_in_band = self.u(P_CARC)
            traj = self.traj[lin]
            rate = m.decline_log[lin] / step * self.rate_mult * hr
            if present:
                # the count has already fallen into the band of its initial grade
                thr = m.thresholds[lin]
                upper = thr[g - 1]
                lower = thr[g] if g < 4 else thr[3] * 0.6
                value = min(upper * (lower / upper) ** v_in_band, traj.native(self.now))
                traj.set_native(self.now, value, rate)
                self.at_onset |= 1 << lin
            else:
                traj.set_native(self.now, None, rate)  # spared so far: falls from where it is
        if not relapse:
            if self.u(P_CARC) < c.dic_probability:
                self.dic = True
                self.log(E_DIC)
            if self.u(P_CARC) < c.leukoerythroblastic_probability:
                self.leuko_eb = True
                self.log(E_LEUKOERYTHROBLASTIC)
        # death after onset: one threshold per cause
        self.deaths = CauseOfDeathClocks([-math.log(self.u(P_CARC)) for _ in range(5)], self.now)
        self.infE = -math.log(self.u(P_COMPL))
        self.bleedE = -math.log(self.u(P_COMPL))
        if relapse:
            self.diagnosed = False
            self.suspected = False
        self._next_visit()  # the blood picture is seen at the next visit (at once with an interval of 0)
        self.counts_changed()
        if hyper_pending:
            # a hypercalcemia still due keeps its place in the course: the same
            # share of the way from onset to the expected end of the carcinosis course
            frac = (self.prog.hypercalcemia_at - self.prog.accumulated) / max(self.prog.threshold - self.prog.accumulated, 1e-12)
            self.prog.hypercalcemia_at = INF
            self.schedule(self.now + frac * (self.t_cdeath - self.now), A_HYPER_RECUR)

    def _carc_rates(self) -> list[float]:
        m = self.m
        c = m.carcinosis
        r = m.carc_rate_bsc[self.primary]
        if self.on_chemo:
            r *= m.chemotherapy.death_hazard_ratio
        sh = m.cause_share
        ghr = c.grade_hazard_ratio
        g_plt = self.grade[THROMBO]
        g_wbc = self.grade[LEUKO]
        dic_p = c.dic_probability
        dic = r * sh[C_DIC] / dic_p if (self.dic and dic_p > 0) else 0.0
        prog = r * sh[C_PROGRESSION]
        if self.terminal_on:
            # marrow failure: the progression hazard becomes the terminal one (slowed by treatment)
            term = LN2 / (c.terminal_median_days / DAYS_PER_MONTH)
            if self.on_chemo:
                term *= m.chemotherapy.death_hazard_ratio
            prog = max(prog, term)
        return [prog, r * sh[C_BLEEDING] * ghr[g_plt], r * sh[C_INFECTION] * ghr[g_wbc], dic, r * sh[C_OTHER]]

    def _time_carc_death(self) -> None:
        """Accumulate each cause's hazard to now and re-time the earliest death."""
        if not self.carc or self.remission:
            self.t_cdeath = INF
            return
        self.t_cdeath = self.deaths.retime(self.now, self._carc_rates())

    def _on_carc_death(self) -> None:
        c = self.deaths.cause_now(self.now)
        if c == C_PROGRESSION and self.terminal_on:
            self.die("terminal_myelosuppression", "marrow failure")
        else:
            self.die(_CARC_CAUSE[c], _CARC_DETAIL[c])

    def _time_lineage(self, lin: int, v: float, nv: float) -> None:
        """When this lineage's count next falls through a threshold that
        matters (a grade boundary or a transfusion trigger), by total value
        ``v`` and by native value ``nv`` (now); re-asked at every change of
        its trajectory."""
        traj = self.traj[lin]
        now = self.now
        until = traj.next_change(now)
        best = INF
        for value, native_only in ((v, False), (nv, True)):
            for w in self.m.watch[lin]:
                if w <= value:
                    t = traj.crossing(now, w, until, native_only)
                    if t < best:
                        best = t
                    break
            if not traj.boosts:
                break  # total and native are the same
        t = best if best > now else now + 1e-9
        if lin == ANEMIA:
            self.t_worsen0 = t
        elif lin == THROMBO:
            self.t_worsen1 = t
        else:
            self.t_worsen2 = t

    def counts_changed(self, lins: tuple[int, ...] = (0, 1, 2)) -> None:
        """Everything that depends on the blood counts: grades (of the values
        and of the marrow's own output), worst values, suspicion, terminal
        phase, complication and death hazards, transfusion triggers.
        ``lins``: the lineages whose trajectory changed (their next crossing is re-timed)."""
        m = self.m
        now = self.now
        old = self.grade
        grade = self.grade_old  # the list of the grades before those (rewritten: nothing is allocated per call)
        ngrade = self.ngrade
        vals = self.vals
        nvals = self.nvals
        for lin in range(3):
            traj = self.traj[lin]
            v = vals[lin] = traj.value(now)
            nv = nvals[lin] = traj.value(now, True) if traj.boosts else v
            if v < self.worst_val[lin]:
                self.worst_val[lin] = v
            thr = m.thresholds[lin]
            grade[lin] = g = (v < thr[0]) + (v < thr[1]) + (v < thr[2]) + (v < thr[3])
            ngrade[lin] = (nv < thr[0]) + (nv < thr[1]) + (nv < thr[2]) + (nv < thr[3])
            if g != old[lin]:
                if g > self.worst[lin]:
                    self.worst[lin] = g
                if g > old[lin]:
                    self.log(E_CYTOPENIA, f"{LINEAGE_NAMES[lin]} grade {g}{self.why[lin]}")
        self.grade = grade
        self.grade_old = old
        ng0, ng1, ng2 = ngrade[0], ngrade[1], ngrade[2]
        if self.carc and not self.remission:
            ng_max = ng0 if ng0 >= ng1 and ng0 >= ng2 else (ng1 if ng1 >= ng2 else ng2)
            if not self.suspected and not self.diagnosed and self.visit_now and ng_max >= m.detection.suspicion_min_grade:
                self.suspected = True
                self.log(E_SUSPICION, "blood picture")
                delay = _exp_median(self.u(P_DETECT), m.detection.suspicion_median_days / DAYS_PER_MONTH)
                self.schedule(now + delay, A_SCAN)
            ng_min = ng0 if ng0 <= ng1 and ng0 <= ng2 else (ng1 if ng1 <= ng2 else ng2)
            terminal = not self.terminal_on and ng_min >= m.carcinosis.terminal_min_grade
            if terminal:
                self.terminal_on = True
                self.log(E_TERMINAL_MYELOSUPPRESSION, "marrow failure")
            # bleeding and infection hazards depend on platelets and neutrophils only
            hazards_changed = grade[THROMBO] != old[THROMBO] or grade[LEUKO] != old[LEUKO] or self.deaths.rates is None
            if hazards_changed:
                self._time_complications(grade)
            if hazards_changed or terminal:
                self._time_carc_death()
        for lin in lins:
            self._time_lineage(lin, vals[lin], nvals[lin])
        self.care.transfusion_triggers(self)

    def _next_visit(self) -> None:
        """Blood tests at monitoring visits (every interval from entry); with
        an interval of 0 the blood picture is seen as it changes."""
        interval = self.m.labs.monitoring_interval_days / DAYS_PER_MONTH
        if interval <= 0:
            self.visit_now = True
            return
        self.visit_now = False
        k = math.floor(self.now / interval + 1e-9) + 1  # the next visit strictly after now
        self.schedule(max(k * interval, self.now + 1e-9), A_VISIT)

    def _on_visit(self) -> None:
        if not self.carc or self.remission or self.diagnosed or self.suspected:
            return
        self.visit_now = True
        self.counts_changed(())
        self.visit_now = False
        if not self.suspected:
            self._next_visit()

    def _time_complications(self, eff: list[int]) -> None:
        m = self.m
        ri = m.infection_rate[eff[LEUKO]]
        rb = m.bleeding_rate[eff[THROMBO]]
        self.t_infect = self.now + -math.log(self.u(P_COMPL)) / ri if ri > 0 else INF
        self.t_bleed = self.now + -math.log(self.u(P_COMPL)) / rb if rb > 0 else INF

    def _on_complication(self, bleed: bool) -> None:
        comp = self.m.complications
        self.n_compl += 1
        if self.n_compl >= comp.max_episodes:
            raise RunawayCourse(
                f"complications: patient {self.pid} reached complications.max_episodes={comp.max_episodes}; "
                "lower complications.infection_rate_per_month or complications.bleeding_rate_per_month"
            )
        if bleed:
            severe = self.u(P_COMPL) < comp.severe_bleeding_probability
            self.log(E_BLEEDING, "severe" if severe else "minor")
            if severe:
                self.care.admit(self, "bleeding", comp.bleeding_admission_days)
                self.care.transfuse_platelets(self, "bleeding")
        else:
            severe = self.u(P_COMPL) < comp.severe_infection_probability
            self.log(E_INFECTION, "severe" if severe else "minor")
            if severe:
                self.care.admit(self, "severe infection", comp.infection_admission_days)
        self._time_complications(self.grade)

    def _on_scan(self) -> None:
        self.care.scintigraphy(self, self._scan_result)

    def _scan_result(self) -> None:
        d = self.m.detection
        negative = self.u(P_DETECT) < d.scintigraphy_negative_probability
        delay = d.biopsy_delay_days + (d.delay_after_negative_scan_days if negative else 0.0)
        self.log(E_SCINTIGRAPHY, "negative" if negative else "diffuse uptake")
        self.schedule(self.now + delay / DAYS_PER_MONTH, A_BIOPSY)

    def _on_biopsy(self) -> None:
        self.care.marrow_biopsy(self, self._biopsy_result)

    def _biopsy_result(self) -> None:
        self.schedule(self.now + self.m.detection.biopsy_result_days / DAYS_PER_MONTH, A_DIAGNOSIS)

    def _on_diagnosis(self) -> None:
        self.diagnosed = True
        if self.carc_diag == INF:
            self.carc_diag = self.now
        self.log(E_CARCINOSIS_DIAGNOSIS, "marrow biopsy positive")
        if self.u(P_CHEMO) < self.m.chemotherapy.uptake:
            self.care.start_chemotherapy(self)

    def start_treatment_effect(self) -> None:
        """Systemic treatment slows the carcinosis course from now on."""
        if self.on_chemo:
            return
        self.on_chemo = True
        self.chemo = True
        hr = self.m.chemotherapy.death_hazard_ratio
        for traj in self.traj:  # the counts fall more slowly by the same ratio
            traj.set_native(self.now, None, traj.seg_g[-1] * hr)
        self._time_carc_death()
        self.counts_changed()

    def end_treatment(self) -> None:
        """After the last cycle: rare remission, else the treatment effect persists."""
        c = self.m.carcinosis
        if self.carc and not self.remission and self.u(P_CHEMO) < c.remission_probability:
            self.remission = True
            self.log(E_REMISSION, "after systemic treatment")
            for traj in self.traj:  # the marrow recovers its own output
                traj.set_native(self.now, traj.seg_v[0], 0.0)
            self.t_cdeath = self.t_infect = self.t_bleed = INF
            self.terminal_on = False
            self.deaths.rates = None
            self.on_chemo = False
            self.prog.running = True
            self.prog.since = self.now
            time_progression(self)
            self.schedule(self.now + _exp_median(self.u(P_CHEMO), c.relapse_median_months), A_RELAPSE)
            self.counts_changed()

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
                self._on_carc_death()
            elif slot <= S_WORSEN2:
                self.counts_changed((slot - S_WORSEN0,))  # a count fell through a threshold
            elif slot == S_INFECT:
                self._on_complication(bleed=False)
            else:
                self._on_complication(bleed=True)
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
            if self.carc and not self.remission:
                self._on_scan()
        elif kind == A_BIOPSY:
            if self.carc and not self.remission:
                self._on_biopsy()
        elif kind == A_DIAGNOSIS:
            if self.carc and not self.remission:
                self._on_diagnosis()
        elif kind == A_CHEMO_CYCLE:
            care.chemotherapy_cycle(self, arg)
        elif kind == A_FEBRILE:
            care.febrile_neutropenia(self)
        elif kind == A_NADIR_START:
            care.nadir_start(self, arg)
        elif kind == A_NADIR_END:
            self.why[arg] = ""
            self.counts_changed(tuple(range(3)) if arg == LEUKO else (arg,))
        elif kind == A_VISIT:
            self._on_visit()
        elif kind == A_ONSET_BY_OTHER:
            if arg == 0 and self.prog.carcinosis_at < INF and self.prog.running:
                advance_progression(self)
                self.prog.carcinosis_at = INF
                self._carcinosis_onset(relapse=False)
            elif arg == 1 and self.prog.hypercalcemia_at < INF:
                advance_progression(self)
                self.prog.hypercalcemia_at = INF
                on_hypercalcemia(self)
                time_progression(self)
        elif kind == A_RELAPSE:
            if self.remission:
                self._carcinosis_onset(relapse=True)

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
