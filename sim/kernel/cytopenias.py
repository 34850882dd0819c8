"""Step 6 of the conceptual model (docs/model.md), cytopenias: the grades of
the blood counts, suspicion from the blood picture, the terminal phase, and
the monitoring visits."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from sim.kernel.carcinosis_deaths import time_carcinosis_death
from sim.kernel.codes import (
    A_SCAN,
    A_VISIT,
    E_CYTOPENIA,
    E_SUSPICION,
    E_TERMINAL_MYELOSUPPRESSION,
    INF,
    LEUKO,
    LINEAGE_NAMES,
    P_DETECT,
    THROMBO,
)
from sim.kernel.complications import time_complications
from sim.kernel.constants import DAYS_PER_MONTH
from sim.kernel.draws import exp_median

if TYPE_CHECKING:
    from sim.kernel.course import Patient


def time_lineage(p: Patient, lin: int, v: float, nv: float) -> None:
    """Step 6 (cytopenias): when a count next falls through a grade boundary or transfusion trigger."""
    traj = p.blood.trajectories[lin]
    now = p.now
    until = traj.next_change(now)
    best = INF
    for value, native_only in ((v, False), (nv, True)):
        for w in p.m.watch[lin]:
            if w <= value:
                t = traj.crossing(now, w, until, native_only)
                if t < best:
                    best = t
                break
        if not traj.boosts:
            break  # total and native are the same
    p.clocks.set_worsen(lin, best if best > now else now + 1e-9)


def counts_changed(p: Patient, lins: tuple[int, ...] = (0, 1, 2)) -> None:
    """Step 6 (cytopenias): grades = number of thresholds above the count; suspicion, terminal phase, hazards, triggers."""
    m = p.m
    now = p.now
    old = p.blood.grade
    grade = p.blood.grade_before  # the list of the grades before those (rewritten: nothing is allocated per call)
    ngrade = p.blood.native_grade
    vals = p.blood.counts
    nvals = p.blood.native_counts
    for lin in range(3):
        traj = p.blood.trajectories[lin]
        v = vals[lin] = traj.value(now)
        nv = nvals[lin] = traj.value(now, True) if traj.boosts else v
        if v < p.blood.worst_val[lin]:
            p.blood.worst_val[lin] = v
        thr = m.thresholds[lin]
        grade[lin] = g = (v < thr[0]) + (v < thr[1]) + (v < thr[2]) + (v < thr[3])
        ngrade[lin] = (nv < thr[0]) + (nv < thr[1]) + (nv < thr[2]) + (nv < thr[3])
        if g != old[lin]:
            if g > p.blood.worst[lin]:
                p.blood.worst[lin] = g
            if g > old[lin]:
                p.log(E_CYTOPENIA, f"{LINEAGE_NAMES[lin]} grade {g}{p.blood.cause_of_fall[lin]}")
    p.blood.grade = grade
    p.blood.grade_before = old
    ng0, ng1, ng2 = ngrade[0], ngrade[1], ngrade[2]
    if p.has_carcinosis and not p.remission:
        ng_max = ng0 if ng0 >= ng1 and ng0 >= ng2 else (ng1 if ng1 >= ng2 else ng2)
        if (
            not p.detection.suspected
            and not p.detection.diagnosed
            and p.detection.visit_today
            and ng_max >= m.detection.suspicion_min_grade
        ):
            p.detection.suspected = True
            p.log(E_SUSPICION, "blood picture")
            delay = exp_median(p.u(P_DETECT), m.detection.suspicion_median_days / DAYS_PER_MONTH)
            p.schedule(now + delay, A_SCAN)
        ng_min = ng0 if ng0 <= ng1 and ng0 <= ng2 else (ng1 if ng1 <= ng2 else ng2)
        terminal = not p.carcinosis.terminal_phase and ng_min >= m.carcinosis.terminal_min_grade
        if terminal:
            p.carcinosis.terminal_phase = True
            p.log(E_TERMINAL_MYELOSUPPRESSION, "marrow failure")
        # bleeding and infection hazards depend on platelets and neutrophils only
        hazards_changed = grade[THROMBO] != old[THROMBO] or grade[LEUKO] != old[LEUKO] or p.deaths.rates is None
        if hazards_changed:
            time_complications(p, grade)
        if hazards_changed or terminal:
            time_carcinosis_death(p)
    for lin in lins:
        time_lineage(p, lin, vals[lin], nvals[lin])
    p.care.transfusion_triggers(p)


def next_visit(p: Patient) -> None:
    """Step 6 (detection): the next monitoring visit, k x interval strictly after now."""
    interval = p.m.labs.monitoring_interval_days / DAYS_PER_MONTH
    if interval <= 0:
        p.detection.visit_today = True
        return
    p.detection.visit_today = False
    k = math.floor(p.now / interval + 1e-9) + 1  # the next visit strictly after now
    p.schedule(max(k * interval, p.now + 1e-9), A_VISIT)


def on_visit(p: Patient) -> None:
    """Step 6 (detection): a monitoring visit shows the blood picture."""
    if not p.has_carcinosis or p.remission or p.detection.diagnosed or p.detection.suspected:
        return
    p.detection.visit_today = True
    counts_changed(p, ())
    p.detection.visit_today = False
    if not p.detection.suspected:
        next_visit(p)
