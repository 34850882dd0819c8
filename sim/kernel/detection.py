"""Step 6 of the conceptual model (docs/model.md), detection of carcinosis:
scintigraphy, marrow biopsy, diagnosis and the uptake of chemotherapy."""

from __future__ import annotations

from typing import TYPE_CHECKING

from sim.kernel.codes import A_BIOPSY, A_DIAGNOSIS, E_CARCINOSIS_DIAGNOSIS, E_SCINTIGRAPHY, INF, P_CHEMO, P_DETECT
from sim.kernel.constants import DAYS_PER_MONTH

if TYPE_CHECKING:
    from sim.kernel.course import Patient


def on_scan(p: Patient) -> None:
    """Step 6 (detection): request scintigraphy after suspicion."""
    p.care.scintigraphy(p, lambda: scan_result(p))


def scan_result(p: Patient) -> None:
    """Step 6 (detection): scan negative with its probability; biopsy after delay (+ delay after a negative scan)."""
    d = p.m.detection
    negative = p.u(P_DETECT) < d.scintigraphy_negative_probability
    delay = d.biopsy_delay_days + (d.delay_after_negative_scan_days if negative else 0.0)
    p.log(E_SCINTIGRAPHY, "negative" if negative else "diffuse uptake")
    p.schedule(p.now + delay / DAYS_PER_MONTH, A_BIOPSY)


def on_biopsy(p: Patient) -> None:
    """Step 6 (detection): request the marrow biopsy."""
    p.care.marrow_biopsy(p, lambda: biopsy_result(p))


def biopsy_result(p: Patient) -> None:
    """Step 6 (detection): the diagnosis biopsy_result_days after the biopsy."""
    p.schedule(p.now + p.m.detection.biopsy_result_days / DAYS_PER_MONTH, A_DIAGNOSIS)


def on_diagnosis(p: Patient) -> None:
    """Step 6 (detection): diagnosis; chemotherapy with probability uptake."""
    p.detection.diagnosed = True
    if p.detection.diagnosed_at == INF:
        p.detection.diagnosed_at = p.now
    p.log(E_CARCINOSIS_DIAGNOSIS, "marrow biopsy positive")
    if p.u(P_CHEMO) < p.m.chemotherapy.uptake:
        p.care.start_chemotherapy(p)
