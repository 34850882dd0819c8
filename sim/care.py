"""Palliative care beside the course: who gets what, when, with what effect,
and which service it asks for.

Every intervention passes through :meth:`Care.use`, the one place where a
service (radiotherapy, nuclear medicine, chemotherapy chairs, transfusion,
beds, theatre, biopsy) is requested.  Here capacity is unlimited: a request
is served at once and counted.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .compiled import DAYS_PER_MONTH
from .course import (
    A_CHEMO_CYCLE,
    A_FEBRILE,
    A_NADIR_END,
    A_NADIR_START,
    A_PLT,
    A_RADIUM,
    A_RBC,
    A_RT_RESPONSE,
    A_RT_RETREAT,
    A_RT_START,
    A_SRSM,
    ANEMIA,
    LEUKO,
    P_CHEMO,
    P_RN,
    P_RT,
    P_TRANSF,
    THROMBO,
    _exp_median,
)
from .events import EV

if TYPE_CHECKING:
    from .compiled import Compiled
    from .course import Patient

SERVICES = ("radiotherapy", "nuclear_medicine", "chemotherapy", "transfusion", "beds", "theatre", "biopsy")
_SVC = {name: i for i, name in enumerate(SERVICES)}


def weekday_span_days(fractions: int) -> float:
    """Calendar days from first to last fraction, treating on weekdays only."""
    return float(fractions - 1 + 2 * ((fractions - 1) // 5))


class Care:
    """The interventions of the conceptual model and their service requests."""

    def __init__(self, m: "Compiled"):
        self.m = m
        self.s = m.s
        # per service: requests and units (fractions, injections, cycles, blood units, bed-days, operations, biopsies)
        self.requests = [0] * len(SERVICES)
        self.units = [0.0] * len(SERVICES)

    def use(self, p: "Patient", service: str, units: float = 1.0) -> float:
        """Request a service now; returns the start time (now: capacity unlimited)."""
        k = _SVC[service]
        self.requests[k] += 1
        self.units[k] += units
        return p.now

    # ------------------------------------------------------------ radiotherapy
    def refer_radiotherapy(self, p: "Patient", reason: str, emergency: bool) -> None:
        rt = self.s.care.radiotherapy
        delay = rt.emergency_delay_days if emergency else rt.routine_delay_days
        p.schedule(p.now + delay / DAYS_PER_MONTH, A_RT_START, (reason, emergency))

    def radiotherapy_course(self, p: "Patient", reason: str, emergency: bool) -> None:
        rt = self.s.care.radiotherapy
        single = p.u(P_RT) < rt.single_fraction_share
        fractions = 1 if single else rt.multi_fraction_fractions
        self.use(p, "radiotherapy", fractions)
        p.n_rt += 1
        p.n_fractions += fractions
        p.log(EV["radiotherapy"], f"{'single 8 Gy fraction' if single else f'{fractions} fractions'}: {reason}")
        end = p.now + weekday_span_days(fractions) / DAYS_PER_MONTH
        u = p.u(P_RT)
        if u < rt.response_probability:
            complete = u < rt.complete_response_probability
            v, w = p.u(P_RT), p.u(P_RT)
            if v < rt.response_share_by_end:
                days = 0.0
            elif v < rt.response_share_by_day_8:
                days = 8.0 * w
            else:
                days = 8.0 + 22.0 * w
            p.schedule(end + days / DAYS_PER_MONTH, A_RT_RESPONSE, "complete" if complete else "partial")
        retreat = rt.retreatment_probability_single if single else rt.retreatment_probability_multi
        if p.u(P_RT) < retreat:
            p.schedule(end + _exp_median(p.u(P_RT), rt.retreatment_median_months), A_RT_RETREAT)

    # ------------------------------------------------------------ radionuclides
    def radionuclide(self, p: "Patient") -> bool:
        """Offer radionuclide therapy for pain; False if not eligible."""
        rn = self.s.care.radionuclide
        eff_plt = max(p.grade[THROMBO], p.nadir[THROMBO])
        u = p.u(P_RN)
        if p.primary == 0 and not p.visceral and not p.had_radium and u < rn.radium223.uptake:
            p.had_radium = True
            p.schedule(p.now, A_RADIUM, 1)
            return True
        if eff_plt > rn.strontium_samarium.max_thrombocytopenia_grade:
            return False
        self.use(p, "nuclear_medicine", 1)
        p.n_rn += 1
        p.log(EV["radionuclide"], "strontium-89/samarium-153")
        ss = rn.strontium_samarium
        if p.u(P_RN) < ss.response_probability:
            p.schedule(p.now + 1.0 / DAYS_PER_MONTH * 14, A_SRSM, "relief after radionuclide")
        if p.u(P_RN) < ss.grade34_thrombocytopenia_probability:
            self._nadir(p, THROMBO, 3 + (p.u(P_RN) < 0.5), "strontium/samarium")
        return True

    def radium_injection(self, p: "Patient", k: int) -> None:
        ra = self.s.care.radionuclide.radium223
        self.use(p, "nuclear_medicine", 1)
        p.n_rn += 1
        p.log(EV["radionuclide"], f"radium-223 injection {k} of {ra.injections}")
        if k == 1:
            if p.p_running:
                p.multiply_progression(ra.death_hazard_ratio)
            # each course risks one grade 3-4 nadir per lineage, at a random injection
            if p.u(P_RN) < ra.grade34_thrombocytopenia_probability:
                at = 1 + int(p.u(P_RN) * ra.injections)
                p.schedule(p.now + (at - 1) * ra.interval_days / DAYS_PER_MONTH + 14 / DAYS_PER_MONTH, A_NADIR_START, THROMBO)
            if p.u(P_RN) < ra.grade34_neutropenia_probability:
                at = 1 + int(p.u(P_RN) * ra.injections)
                p.schedule(p.now + (at - 1) * ra.interval_days / DAYS_PER_MONTH + 14 / DAYS_PER_MONTH, A_NADIR_START, LEUKO)
        if k < ra.injections:
            p.schedule(p.now + ra.interval_days / DAYS_PER_MONTH, A_RADIUM, k + 1)

    def _nadir(self, p: "Patient", lin: int, grade: int, why: str) -> None:
        """A treatment-related fall in a blood count, recovering later."""
        if grade <= p.nadir[lin]:
            return
        p.nadir[lin] = grade
        names = ("anemia", "thrombocytopenia", "leukopenia")
        p.log(EV["cytopenia"], f"{names[lin]} grade {grade} ({why})")
        p.schedule(p.now + self.s.care.radionuclide.nadir_recovery_days / DAYS_PER_MONTH, A_NADIR_END, lin)
        p._counts_changed()

    def nadir_start(self, p: "Patient", lin: int) -> None:
        """Radium-223 nadir (scheduled at the injection that causes it)."""
        self._nadir(p, lin, 3 + (p.u(P_RN) < 0.5), "radium-223")

    # ------------------------------------------------------------ detection
    def scintigraphy(self, p: "Patient") -> None:
        self.use(p, "nuclear_medicine", 1)
        p.n_scan += 1

    def marrow_biopsy(self, p: "Patient") -> None:
        self.use(p, "biopsy", 1)
        p.n_biopsy += 1
        p.log(EV["biopsy"], "iliac crest")

    # ------------------------------------------------------------ chemotherapy
    def start_chemotherapy(self, p: "Patient") -> None:
        ch = self.s.care.chemotherapy
        p.start_treatment_effect()
        if p.u(P_CHEMO) < ch.febrile_neutropenia_probability:
            at = int(p.u(P_CHEMO) * ch.cycles)
            p.schedule(p.now + (at * ch.interval_days + 10.0) / DAYS_PER_MONTH, A_FEBRILE)
        p.schedule(p.now, A_CHEMO_CYCLE, 1)

    def chemotherapy_cycle(self, p: "Patient", k: int) -> None:
        ch = self.s.care.chemotherapy
        if not p.carc or p.remission:
            return
        self.use(p, "chemotherapy", 1)
        p.n_chemo_cycles += 1
        p.log(EV["chemotherapy_cycle"], f"cycle {k} of {ch.cycles}")
        for lin in (ANEMIA, THROMBO, LEUKO):
            if p.grade[lin] > 0 and p.u(P_CHEMO) < ch.worsening_probability_per_cycle:
                p.worsen(lin, " (chemotherapy)")
        if k < ch.cycles:
            p.schedule(p.now + ch.interval_days / DAYS_PER_MONTH, A_CHEMO_CYCLE, k + 1)
        else:
            p.end_treatment()

    def febrile_neutropenia(self, p: "Patient") -> None:
        ch = self.s.care.chemotherapy
        p.log(EV["febrile_neutropenia"])
        self.admit(p, "febrile neutropenia", self.s.complications.infection_admission_days)
        if p.u(P_CHEMO) < ch.febrile_neutropenia_fatal_probability:
            p.die("infection", "febrile neutropenia")

    # ------------------------------------------------------------ transfusion
    def transfusion_triggers(self, p: "Patient", eff: list[int]) -> None:
        tr = self.s.care.transfusion
        if eff[ANEMIA] >= tr.rbc_min_anemia_grade and not p.rbc_due:
            if p.rbc_ok is None:
                p.rbc_ok = p.u(P_TRANSF) < tr.rbc_uptake
            if p.rbc_ok:
                p.rbc_due = True
                p.schedule(p.now, A_RBC)
        if eff[THROMBO] >= tr.platelet_min_grade and not p.plt_due:
            if p.plt_ok is None:
                p.plt_ok = p.u(P_TRANSF) < tr.platelet_uptake
            if p.plt_ok:
                p.plt_due = True
                p.schedule(p.now, A_PLT)

    def transfuse_rbc(self, p: "Patient") -> None:
        tr = self.s.care.transfusion
        if max(p.grade[ANEMIA], p.nadir[ANEMIA]) < tr.rbc_min_anemia_grade:
            p.rbc_due = False
            return
        self.use(p, "transfusion", tr.rbc_units_per_episode)
        p.n_rbc += tr.rbc_units_per_episode
        p.log(EV["transfusion_rbc"], f"{tr.rbc_units_per_episode} units")
        p.schedule(p.now + tr.rbc_interval_days / DAYS_PER_MONTH, A_RBC)

    def transfuse_platelets(self, p: "Patient", why: str) -> None:
        tr = self.s.care.transfusion
        if why == "prophylactic" and max(p.grade[THROMBO], p.nadir[THROMBO]) < tr.platelet_min_grade:
            p.plt_due = False
            return
        self.use(p, "transfusion", tr.platelet_units_per_episode)
        p.n_plt += tr.platelet_units_per_episode
        p.log(EV["transfusion_platelets"], f"{tr.platelet_units_per_episode} units: {why}")
        if why == "prophylactic":
            p.schedule(p.now + tr.platelet_interval_days / DAYS_PER_MONTH, A_PLT)

    # ------------------------------------------------------------ surgery and beds
    def surgery(self, p: "Patient", why: str) -> None:
        self.use(p, "theatre", 1)
        p.n_surgery += 1
        p.log(EV["surgery"], why)
        self.admit(p, "surgery", self.s.care.surgery.admission_days)

    def admit(self, p: "Patient", why: str, days: float) -> None:
        self.use(p, "beds", days)
        p.n_adm += 1
        p.bed_days += days
        p.log(EV["admission"], f"{why} ({days:g} days)")


