"""Named parts of a patient's state, each owned by one side of the model.

:class:`CareReceived` is what care (sim.kernel.care) has given, counted for
the patients table; :class:`TransfusionState` is whether the patient takes
transfusions and whether one is on its way.  :class:`ProgressionClock` is step 2's clock.  Care writes the first two and no other
state of the course directly; everything else it changes goes through the
Patient's named methods (``counts_changed``, ``multiply_progression``,
``start_treatment_effect``, ``end_treatment``, ``schedule``, ``log``, ``die``).
"""

from __future__ import annotations

import math
from typing import Final

INF: Final = math.inf


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
