"""Named parts of a patient's state, each owned by one side of the model.

:class:`CareReceived` is what care (sim.kernel.care) has given, counted for
the patients table; :class:`TransfusionState` is whether the patient takes
transfusions and whether one is on its way.  Care writes these and no other
state of the course directly; everything else it changes goes through the
Patient's named methods (``counts_changed``, ``multiply_progression``,
``start_treatment_effect``, ``end_treatment``, ``schedule``, ``log``, ``die``).
"""

from __future__ import annotations


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
