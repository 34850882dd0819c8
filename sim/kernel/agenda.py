"""The patient's agenda: what each one-off item does when its time comes.

Items are put on the agenda with ``Patient.schedule(t, kind, arg)``; the
course (:meth:`sim.kernel.course.Patient.advance`) takes the earliest when it
comes before every clock and hands it here.  Each item names the step of
docs/model.md that acts on it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sim.kernel.carcinosis import carcinosis_onset
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
)
from sim.kernel.cytopenias import counts_changed, on_visit
from sim.kernel.detection import on_biopsy, on_diagnosis, on_scan
from sim.kernel.hypercalcemia import on_hypercalcemia
from sim.kernel.progression import advance_progression, time_progression

if TYPE_CHECKING:
    from sim.kernel.course import Patient


def on_agenda(p: Patient, kind: int, arg: Any) -> None:
    """One agenda item (``kind``: sim.kernel.codes.A_*) with its argument."""
    care = p.care
    if kind == A_CARE:
        care.resume(p, arg)
    elif kind == A_RT_RESPONSE:
        p.log(E_PAIN_RESPONSE, arg)
    elif kind == A_RT_RETREAT:
        care.refer_radiotherapy(p, "re-treatment", emergency=False)
    elif kind == A_RADIUM:
        care.radium_injection(p, arg)
    elif kind == A_SRSM:
        p.log(E_PAIN_RESPONSE, arg)
    elif kind == A_HYPER_RECUR:
        on_hypercalcemia(p)
    elif kind == A_HYPER_CRISIS:
        p.die("hypercalcemic_crisis", f"episode {p.n_hyper}")
    elif kind == A_SCAN:
        if p.has_carcinosis and not p.remission:
            on_scan(p)
    elif kind == A_BIOPSY:
        if p.has_carcinosis and not p.remission:
            on_biopsy(p)
    elif kind == A_DIAGNOSIS:
        if p.has_carcinosis and not p.remission:
            on_diagnosis(p)
    elif kind == A_CHEMO_CYCLE:
        care.chemotherapy_cycle(p, arg)
    elif kind == A_FEBRILE:
        care.febrile_neutropenia(p)
    elif kind == A_NADIR_START:
        care.nadir_start(p, arg)
    elif kind == A_NADIR_END:
        p.blood.cause_of_fall[arg] = ""
        counts_changed(p, tuple(range(3)) if arg == LEUKO else (arg,))
    elif kind == A_VISIT:
        on_visit(p)
    elif kind == A_ONSET_BY_OTHER:
        if arg == 0 and p.progression_clock.carcinosis_at < INF and p.progression_clock.running:
            advance_progression(p)
            p.progression_clock.carcinosis_at = INF
            carcinosis_onset(p, relapse=False)
        elif arg == 1 and p.progression_clock.hypercalcemia_at < INF:
            advance_progression(p)
            p.progression_clock.hypercalcemia_at = INF
            on_hypercalcemia(p)
            time_progression(p)
    elif kind == A_RELAPSE:
        if p.remission:
            carcinosis_onset(p, relapse=True)
