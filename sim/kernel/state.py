"""Named parts of a patient's state, each owned by one side of the model.

:class:`Clocks` holds when each competing process next acts (the course's
hazard clocks); :class:`ProgressionClock` is step 2's clock and
:class:`CauseOfDeathClocks` step 6's causes of death after onset.
:class:`BloodCounts` is the blood counts and calcium (their trajectories,
grades and the worst seen), :class:`CarcinosisState` the carcinosis course
(onset, DIC, treatment, terminal phase, complications) and
:class:`Detection` how far its detection has come.

:class:`CareReceived` is what care (sim.kernel.care) has given, counted for
the patients table; :class:`TransfusionState` is whether the patient takes
transfusions and whether one is on its way.  Care writes those two and no other
state of the course directly; everything else it changes goes through the
Patient's named methods (``counts_changed``, ``multiply_progression``,
``start_treatment_effect``, ``end_treatment``, ``schedule``, ``log``, ``die``).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:
    from sim.kernel.labs import Trajectory

INF: Final = math.inf

# the clocks' slots in the order ties between them are broken (sim.kernel.codes.S_*)
S_PROG: Final = 0
S_OTHER: Final = 1
S_SRE: Final = 2
S_PAIN: Final = 3
S_CDEATH: Final = 4
S_WORSEN0: Final = 5
S_WORSEN1: Final = 6
S_WORSEN2: Final = 7
S_INFECT: Final = 8
S_BLEED: Final = 9


class Clocks:
    """When each competing process of the course next acts (course months; INF
    when it does not): progression (step 2), other causes, SREs (3), pain (4),
    death after carcinosis onset (6), a blood count crossing a threshold (one
    per lineage), infection and bleeding."""

    __slots__ = ("prog", "other", "sre", "pain", "cdeath", "worsen0", "worsen1", "worsen2", "infect", "bleed")

    def __init__(self) -> None:
        self.prog = self.other = self.sre = self.pain = self.cdeath = INF
        self.worsen0 = self.worsen1 = self.worsen2 = self.infect = self.bleed = INF

    def earliest(self) -> tuple[float, int]:
        """The earliest clock and its slot (the first of equal ones, in slot order)."""
        slot = S_PROG
        t = self.prog
        if self.other < t:
            t = self.other
            slot = S_OTHER
        if self.sre < t:
            t = self.sre
            slot = S_SRE
        if self.pain < t:
            t = self.pain
            slot = S_PAIN
        if self.cdeath < t:
            t = self.cdeath
            slot = S_CDEATH
        if self.worsen0 < t:
            t = self.worsen0
            slot = S_WORSEN0
        if self.worsen1 < t:
            t = self.worsen1
            slot = S_WORSEN1
        if self.worsen2 < t:
            t = self.worsen2
            slot = S_WORSEN2
        if self.infect < t:
            t = self.infect
            slot = S_INFECT
        if self.bleed < t:
            t = self.bleed
            slot = S_BLEED
        return t, slot

    def set_worsen(self, lin: int, t: float) -> None:
        """When the count of lineage ``lin`` (0 anaemia, 1 platelets, 2 neutrophils) next crosses a threshold."""
        if lin == 0:
            self.worsen0 = t
        elif lin == 1:
            self.worsen1 = t
        else:
            self.worsen2 = t


class BloodCounts:
    """Step 6's blood counts (haemoglobin, platelets, neutrophils: lineages 0, 1, 2)
    and the calcium: each count's trajectory, the counts and grades when last
    looked at (``counts_changed``), the grades of the marrow's own output
    (without transfusions), the worst grade and value seen, why a count is
    falling (a chemotherapy nadir), and the calcium's baseline and peaks."""

    __slots__ = (
        "trajectories",
        "counts",
        "native_counts",
        "grade",
        "grade_before",
        "native_grade",
        "worst",
        "worst_val",
        "cause_of_fall",
        "calcium_baseline",
        "calcium_peaks",
    )

    def __init__(self, trajectories: list[Trajectory], baseline: list[float], calcium: float) -> None:
        self.trajectories = trajectories
        self.counts = list(baseline)  # the counts when last looked at
        self.native_counts = [0.0, 0.0, 0.0]
        self.grade = [0, 0, 0]
        self.grade_before = [0, 0, 0]
        self.native_grade = [0, 0, 0]
        self.worst = [0, 0, 0]
        self.worst_val = list(baseline)
        self.cause_of_fall = ["", "", ""]
        self.calcium_baseline = calcium
        self.calcium_peaks: list[tuple[float, float]] = []


class CarcinosisState:
    """Step 6's carcinosis course: onset (INF before), the number of onsets and
    relapses, DIC and the leukoerythroblastic picture, systemic treatment
    (``on_chemo`` while it acts, ``chemo`` once given), the terminal phase, and
    the complications; ``infiltration_rate`` is the patient's speed of marrow
    infiltration (drawn at entry)."""

    __slots__ = (
        "onset",
        "at_onset",
        "dic",
        "leuko_eb",
        "on_chemo",
        "chemo",
        "terminal_phase",
        "n_complications",
        "infection_threshold",
        "bleeding_threshold",
        "infiltration_rate",
    )

    def __init__(self, infiltration_rate: float) -> None:
        self.onset = INF
        self.at_onset = 0
        self.dic = False
        self.leuko_eb = False
        self.on_chemo = False
        self.chemo = False
        self.terminal_phase = False
        self.n_complications = 0
        self.infection_threshold = 0.0
        self.bleeding_threshold = 0.0
        self.infiltration_rate = infiltration_rate


class Detection:
    """Step 6's detection of carcinosis: whether today's blood picture is seen
    (a monitoring visit), suspicion, diagnosis and when it was made (INF before)."""

    __slots__ = ("visit_today", "suspected", "diagnosed", "diagnosed_at")

    def __init__(self) -> None:
        self.visit_today = True
        self.suspected = False
        self.diagnosed = False
        self.diagnosed_at = INF


class CareReceived:
    """Counts of the care a patient received (the patients table's ``n_*`` care columns)."""

    __slots__ = (
        "radiotherapy_courses",
        "radiotherapy_fractions",
        "radionuclide",
        "chemo_cycles",
        "rbc_units",
        "platelet_units",
        "surgery",
        "admissions",
        "bed_days",
        "scintigraphy",
        "biopsy",
        "wait_days",
        "had_radium",
    )

    def __init__(self) -> None:
        self.radiotherapy_courses = 0
        self.radiotherapy_fractions = 0
        self.radionuclide = 0
        self.chemo_cycles = 0
        self.rbc_units = 0
        self.platelet_units = 0
        self.surgery = 0
        self.admissions = 0
        self.bed_days = 0.0
        self.scintigraphy = 0
        self.biopsy = 0
        self.wait_days = 0.0  # days waited for services with a queue
        self.had_radium = False  # radium-223 is given once


class TransfusionState:
    """Whether the patient takes red cells / platelets (drawn when first due:
    None until then) and whether a transfusion has been asked for and not yet given."""

    __slots__ = ("rbc_ok", "platelets_ok", "rbc_due", "platelets_due")

    def __init__(self) -> None:
        self.rbc_ok: bool | None = None
        self.platelets_ok: bool | None = None
        self.rbc_due = False
        self.platelets_due = False


class ProgressionClock:
    """Step 2's clock: the Weibull cumulative hazard H(t) = (t/scale)^shape,
    times ``multiplier`` from when it was last changed, accumulated up to
    ``since``; death from progression when it reaches ``threshold`` (E ~ Exp(1),
    drawn at entry).  Carcinosis and hypercalcemia start when it reaches
    ``carcinosis_at`` / ``hypercalcemia_at`` (fractions of the threshold;
    infinity: not in this course).  ``running`` is off while carcinosis
    replaces it; ``death_on`` is off when its threshold no longer kills."""

    __slots__ = (
        "shape",
        "scale",
        "accumulated",
        "since",
        "multiplier",
        "threshold",
        "carcinosis_at",
        "hypercalcemia_at",
        "running",
        "death_on",
    )

    def __init__(self, shape: float, scale: float, threshold: float) -> None:
        self.shape = shape
        self.scale = scale
        self.accumulated = 0.0
        self.since = 0.0
        self.multiplier = 1.0
        self.threshold = threshold
        self.carcinosis_at = 0.0
        self.hypercalcemia_at = 0.0
        self.running = True
        self.death_on = True

    def advance(self, now: float) -> None:
        """Step 2: accumulate the hazard up to ``now``: C += m ((now/λ)^k − (since/λ)^k)."""
        if self.running and now > self.since:
            k, lam = self.shape, self.scale
            self.accumulated += self.multiplier * ((now / lam) ** k - (self.since / lam) ** k)
        self.since = now

    def next_time(self) -> float:
        """Step 2: when the clock reaches its next target (onset or death): t = λ ((since/λ)^k + (target − C)/m)^(1/k)."""
        target = min(self.carcinosis_at, self.hypercalcemia_at, self.threshold if self.death_on else INF)
        if not self.running or target == INF:
            return INF
        k, lam = self.shape, self.scale
        h = (self.since / lam) ** k + max(target - self.accumulated, 0.0) / self.multiplier
        return lam * h ** (1.0 / k)


class CauseOfDeathClocks:
    """Step 6's death after carcinosis onset: one Exp(1) threshold per cause
    (progression, bleeding, infection, DIC, other: the order of the scenario's
    shares), each cause's hazard accumulated at its current rate since ``since``;
    ``rates`` is None until first timed (and again after a remission)."""

    __slots__ = ("thresholds", "accumulated", "since", "rates")

    def __init__(self, thresholds: list[float], now: float) -> None:
        self.thresholds = thresholds
        self.accumulated = [0.0] * len(thresholds)
        self.since = now
        self.rates: list[float] | None = None

    def retime(self, now: float, rates: list[float]) -> float:
        """Step 6: accumulate A_c += r_c (now − since) at the old rates, take the new ones, and return the
        earliest death: min over causes of now + (E_c − A_c) / r_c."""
        dt = now - self.since
        old = self.rates
        if old is not None and dt > 0:
            for c, rate in enumerate(old):
                self.accumulated[c] += rate * dt
        self.since = now
        self.rates = rates
        best = INF
        for c in range(5):
            if rates[c] > 0:
                t = now + (self.thresholds[c] - self.accumulated[c]) / rates[c]
                if t < best:
                    best = t
        return best

    def cause_now(self, now: float) -> int:
        """Step 6: at a death after onset, the cause whose threshold is met: accumulate to ``now``, then the
        cause with the least (E_c − A_c) / r_c (the first of equal ones)."""
        rates = self.rates
        assert rates is not None
        dt = now - self.since
        for c in range(5):
            self.accumulated[c] += rates[c] * dt
        self.since = now
        best_c = 0
        best = INF
        for c in range(5):
            key = (self.thresholds[c] - self.accumulated[c]) / rates[c] if rates[c] > 0 else INF
            if c == 0 or key < best:
                best_c, best = c, key
        return best_c
