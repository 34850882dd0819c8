"""Palliative care beside the course: who gets what, when, with what effect,
and which service it asks for.

Every intervention goes through :meth:`Care.request`, the one place where a
service (radiotherapy, nuclear medicine, chemotherapy chairs, transfusion,
beds, theatre, biopsy) is asked for.  An unlimited service starts the use at
once; a finite one (``services.<name>.capacity``) queues it by priority in
:func:`sim.kernel.services.serve`, and the intervention's effect starts when the
use does.  A patient may die while waiting; that is recorded.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Final

from sim.kernel.codes import (
    A_CARE,
    A_CHEMO_CYCLE,
    A_FEBRILE,
    A_NADIR_END,
    A_NADIR_START,
    A_RADIUM,
    A_RT_RESPONSE,
    A_RT_RETREAT,
    A_SRSM,
    ANEMIA,
    E_ADMISSION,
    E_BIOPSY,
    E_CHEMOTHERAPY_CYCLE,
    E_FEBRILE_NEUTROPENIA,
    E_RADIONUCLIDE,
    E_RADIOTHERAPY,
    E_SURGERY,
    E_TRANSFUSION_PLATELETS,
    E_TRANSFUSION_RBC,
    LEUKO,
    P_CHEMO,
    P_RN,
    P_RT,
    P_TRANSF,
    THROMBO,
)
from sim.kernel.constants import DAYS_PER_MONTH
from sim.kernel.draws import exp_median as _exp_median
from sim.kernel.services import EMERGENCY, ROUTINE, SERVICES, SVC, URGENT, Pools, ServiceLog, serve

if TYPE_CHECKING:
    from sim.kernel.constants import Compiled
    from sim.kernel.course import Patient

# service codes (sim.kernel.services.SERVICES), Final so the compiled kernel reads them as constants
RT: Final = SVC["radiotherapy"]
NM: Final = SVC["nuclear_medicine"]
CHEMO: Final = SVC["chemotherapy"]
TRANSF: Final = SVC["transfusion"]
BEDS: Final = SVC["beds"]
THEATRE: Final = SVC["theatre"]
BIOPSY: Final = SVC["biopsy"]
LINEAGE = ("anemia", "thrombocytopenia", "leukopenia")

Deliver = Callable[["Patient", Any], None]


def weekday_span_days(fractions: int) -> float:
    """Calendar days from first to last fraction, treating on weekdays only."""
    return float(fractions - 1 + 2 * ((fractions - 1) // 5))


class Care:
    """The interventions of the conceptual model and their service requests."""

    def __init__(self, m: Compiled, pools: Pools | None = None, log: ServiceLog | None = None):
        self.m = m
        self.pools = pools
        self.env = pools.env if pools is not None else None
        self.log = log if log is not None else ServiceLog()
        self.hold = tuple(getattr(m.s.services, n).duration_days for n in SERVICES)

    # ------------------------------------------------------------ the one place a service is requested
    def request(
        self,
        p: Patient,
        k: int,
        units: float,
        hold_days: float,
        priority: int,
        deliver: Deliver,
        arg: Any = None,
        delay_days: float = 0.0,
        release_on_death: bool = False,
    ) -> None:
        """Ask service ``k`` for one use of ``hold_days`` carrying ``units``;
        ``deliver(p, arg)`` runs when the use starts (after ``delay_days``
        of referral time)."""
        if delay_days > 0:
            p.schedule(
                p.now + delay_days / DAYS_PER_MONTH, A_CARE, (k, units, hold_days, priority, deliver, arg, release_on_death)
            )
            return
        pools = self.pools
        if pools is None or pools.res[k] is None:
            t = p.entry + p.now
            self.log.add(k, p.pid, t, t, t + hold_days / DAYS_PER_MONTH, units, priority)
            deliver(p, arg)
            return
        assert self.env is not None
        t_req = self.env.now

        def on_start() -> None:
            if not p.alive or p.done:
                return
            p.resume_at(self.env.now)  # type: ignore[union-attr]
            p.received.wait_days += (self.env.now - t_req) * DAYS_PER_MONTH  # type: ignore[union-attr]
            deliver(p, arg)
            p.wake()

        self.env.process(
            serve(self.env, pools, self.log, k, p, priority, hold_days / DAYS_PER_MONTH, units, on_start, release_on_death)
        )

    def resume(self, p: Patient, payload: tuple[Any, ...]) -> None:
        """A referral whose delay has passed becomes a request."""
        k, units, hold, prio, deliver, arg, rod = payload
        self.request(p, k, units, hold, prio, deliver, arg, 0.0, rod)

    # ------------------------------------------------------------ radiotherapy
    def refer_radiotherapy(self, p: Patient, reason: str, emergency: bool) -> None:
        rt = self.m.radiotherapy
        single = p.u(P_RT) < rt.single_fraction_share
        fractions = 1 if single else rt.multi_fraction_fractions
        delay = rt.emergency_delay_days if emergency else rt.routine_delay_days
        hold = weekday_span_days(fractions) + 1.0
        prio = EMERGENCY if emergency else ROUTINE
        self.request(p, RT, fractions, hold, prio, self._radiotherapy, (reason, single, fractions), delay_days=delay)

    def _radiotherapy(self, p: Patient, arg: tuple[str, bool, int]) -> None:
        reason, single, fractions = arg
        rt = self.m.radiotherapy
        p.received.radiotherapy_courses += 1
        p.received.radiotherapy_fractions += fractions
        p.log(E_RADIOTHERAPY, f"{'single 8 Gy fraction' if single else f'{fractions} fractions'}: {reason}")
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
    def radionuclide(self, p: Patient) -> bool:
        """Offer radionuclide therapy for pain; False if not eligible."""
        m = self.m
        eff_plt = p.grade_of(THROMBO)
        u = p.u(P_RN)
        if p.primary == 0 and not p.visceral and not p.received.had_radium and u < m.radium223.uptake:
            p.received.had_radium = True
            p.schedule(p.now, A_RADIUM, 1)
            return True
        if eff_plt > m.strontium_samarium.max_thrombocytopenia_grade:
            return False
        self.request(p, NM, 1, self.hold[NM], ROUTINE, self._strontium_samarium)
        return True

    def _strontium_samarium(self, p: Patient, _: Any) -> None:
        ss = self.m.strontium_samarium
        p.received.radionuclide += 1
        p.log(E_RADIONUCLIDE, "strontium-89/samarium-153")
        if p.u(P_RN) < ss.response_probability:
            p.schedule(p.now + 14 / DAYS_PER_MONTH, A_SRSM, "relief after radionuclide")
        if p.u(P_RN) < ss.grade34_thrombocytopenia_probability:
            self._nadir(p, THROMBO, 3 + (p.u(P_RN) < 0.5), "strontium/samarium")

    def radium_injection(self, p: Patient, k: int) -> None:
        self.request(p, NM, 1, self.hold[NM], ROUTINE, self._radium, k)

    def _radium(self, p: Patient, k: int) -> None:
        ra = self.m.radium223
        p.received.radionuclide += 1
        p.log(E_RADIONUCLIDE, f"radium-223 injection {k} of {ra.injections}")
        if k == 1:
            if p.progression_running():
                p.multiply_progression(ra.death_hazard_ratio)
            # each course risks one grade 3-4 nadir per lineage, two weeks after a random injection
            for lin, prob in ((THROMBO, ra.grade34_thrombocytopenia_probability), (LEUKO, ra.grade34_neutropenia_probability)):
                if p.u(P_RN) < prob:
                    at = int(p.u(P_RN) * ra.injections)
                    p.schedule(p.now + (at * ra.interval_days + 14) / DAYS_PER_MONTH, A_NADIR_START, lin)
        if k < ra.injections:
            p.schedule(p.now + ra.interval_days / DAYS_PER_MONTH, A_RADIUM, k + 1)

    def _nadir(self, p: Patient, lin: int, grade: int, why: str) -> None:
        """A treatment-related fall of a blood count into a grade 3-4 band, recovering later."""
        thr = self.m.thresholds[lin]
        target = thr[grade - 1] * (thr[grade] / thr[grade - 1]) ** 0.5 if grade < 4 else thr[3] * 0.8
        now_native = p.native_count_now(lin)
        if target >= now_native:
            return
        end = p.now + self.m.nadir_recovery_days / DAYS_PER_MONTH
        p.add_dip(lin, p.now, end, target / now_native, f" ({why})")
        p.schedule(end, A_NADIR_END, lin)
        p.counts_changed((lin,))

    def nadir_start(self, p: Patient, lin: int) -> None:
        self._nadir(p, lin, 3 + (p.u(P_RN) < 0.5), "radium-223")

    # ------------------------------------------------------------ detection
    def scintigraphy(self, p: Patient, then: Callable[[], None]) -> None:
        self.request(p, NM, 1, self.hold[NM], URGENT, self._counted_scan, then)

    def _counted_scan(self, p: Patient, then: Callable[[], None]) -> None:
        p.received.scintigraphy += 1
        then()

    def marrow_biopsy(self, p: Patient, then: Callable[[], None]) -> None:
        self.request(p, BIOPSY, 1, self.hold[BIOPSY], URGENT, self._counted_biopsy, then)

    def _counted_biopsy(self, p: Patient, then: Callable[[], None]) -> None:
        p.received.biopsy += 1
        p.log(E_BIOPSY, "iliac crest")
        then()

    # ------------------------------------------------------------ chemotherapy
    def start_chemotherapy(self, p: Patient) -> None:
        p.schedule(p.now, A_CHEMO_CYCLE, 1)

    def chemotherapy_cycle(self, p: Patient, k: int) -> None:
        if p.carcinosis_active():
            self.request(p, CHEMO, 1, self.hold[CHEMO], URGENT, self._cycle, k)

    def _cycle(self, p: Patient, k: int) -> None:
        ch = self.m.chemotherapy
        if not p.carcinosis_active():
            return
        if k == 1:
            p.start_treatment_effect()
            if p.u(P_CHEMO) < ch.febrile_neutropenia_probability:
                at = int(p.u(P_CHEMO) * ch.cycles)
                p.schedule(p.now + (at * ch.interval_days + 10.0) / DAYS_PER_MONTH, A_FEBRILE)
        p.received.chemo_cycles += 1
        p.log(E_CHEMOTHERAPY_CYCLE, f"cycle {k} of {ch.cycles}")
        if ch.nadir_factor < 1.0 and ch.nadir_days > 0:
            end = p.now + ch.nadir_days / DAYS_PER_MONTH
            for lin in (ANEMIA, THROMBO, LEUKO):
                p.add_dip(lin, p.now, end, ch.nadir_factor, " (chemotherapy nadir)")
            p.schedule(end, A_NADIR_END, LEUKO)
            p.counts_changed()
        if k < ch.cycles:
            p.schedule(p.now + ch.interval_days / DAYS_PER_MONTH, A_CHEMO_CYCLE, k + 1)
        else:
            p.end_treatment()

    def febrile_neutropenia(self, p: Patient) -> None:
        ch = self.m.chemotherapy
        p.log(E_FEBRILE_NEUTROPENIA)
        self.admit(p, "febrile neutropenia", self.m.complications.infection_admission_days, EMERGENCY)
        if p.u(P_CHEMO) < ch.febrile_neutropenia_fatal_probability:
            p.die("infection", "febrile neutropenia")

    # ------------------------------------------------------------ transfusion
    def transfusion_triggers(self, p: Patient) -> None:
        """Red cells when haemoglobin is below the threshold, prophylactic
        platelets when the platelet count is (each once until given)."""
        tr = self.m.transfusion
        tf = p.transfusion
        if not tf.rbc_due and p.count_seen(ANEMIA) < tr.rbc_threshold_g_dl:
            if tf.rbc_ok is None:
                tf.rbc_ok = p.u(P_TRANSF) < tr.rbc_uptake
            if tf.rbc_ok:
                tf.rbc_due = True
                self.request(p, TRANSF, tr.rbc_units_per_episode, self.hold[TRANSF], URGENT, self._rbc)
        if not tf.platelets_due and p.count_seen(THROMBO) < tr.platelet_threshold_e9_l:
            if tf.platelets_ok is None:
                tf.platelets_ok = p.u(P_TRANSF) < tr.platelet_uptake
            if tf.platelets_ok:
                tf.platelets_due = True
                self.request(p, TRANSF, tr.platelet_units_per_episode, self.hold[TRANSF], URGENT, self._platelets, "prophylactic")

    def _rbc(self, p: Patient, _: Any) -> None:
        tr, lab = self.m.transfusion, self.m.labs
        tf = p.transfusion
        tf.rbc_due = False
        p.received.rbc_units += tr.rbc_units_per_episode
        hb = p.count_now(ANEMIA)
        p.log(E_TRANSFUSION_RBC, f"{tr.rbc_units_per_episode} units at Hb {hb:.1f} g/dL")
        p.add_boost(ANEMIA, lab.rbc_increment_g_dl * tr.rbc_units_per_episode, lab.rbc_half_life_days / DAYS_PER_MONTH)
        p.counts_changed((ANEMIA,))

    def transfuse_platelets(self, p: Patient, why: str) -> None:
        """Platelets for a bleed (an emergency)."""
        tr = self.m.transfusion
        self.request(p, TRANSF, tr.platelet_units_per_episode, self.hold[TRANSF], EMERGENCY, self._platelets, why)

    def _platelets(self, p: Patient, why: str) -> None:
        tr, lab = self.m.transfusion, self.m.labs
        if why == "prophylactic":
            p.transfusion.platelets_due = False
        p.received.platelet_units += tr.platelet_units_per_episode
        plt = p.count_now(THROMBO)
        p.log(E_TRANSFUSION_PLATELETS, f"{tr.platelet_units_per_episode} units at {plt:.0f} x10^9/L: {why}")
        p.add_boost(
            THROMBO, lab.platelet_increment_e9_l * tr.platelet_units_per_episode, lab.platelet_half_life_days / DAYS_PER_MONTH
        )
        p.counts_changed((THROMBO,))

    # ------------------------------------------------------------ surgery and beds
    def surgery(self, p: Patient, why: str) -> None:
        self.request(p, THEATRE, 1, self.hold[THEATRE], URGENT, self._surgery, why)

    def _surgery(self, p: Patient, why: str) -> None:
        p.received.surgery += 1
        p.log(E_SURGERY, why)
        self.admit(p, "surgery", self.m.surgery.admission_days, URGENT)

    def admit(self, p: Patient, why: str, days: float, priority: int = EMERGENCY) -> None:
        """A hospital stay; emergencies (bleeding, sepsis, hypercalcemia, cord
        compression) before elective ones."""
        self.request(p, BEDS, days, days, priority, self._admit, (why, days), release_on_death=True)

    def _admit(self, p: Patient, arg: tuple[str, float]) -> None:
        why, days = arg
        p.received.admissions += 1
        p.received.bed_days += days
        p.log(E_ADMISSION, f"{why} ({days:g} days)")
