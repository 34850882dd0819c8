"""The event vocabulary and the columnar event recorder.

Each event is four typed values (patient id, time in months, event code,
detail code) appended to typed vectors (``librt.vecs``, mypyc's native
growable arrays: the compiled kernel stores the numbers unboxed, with no
Python object per value); tables are built once per chunk from those
buffers without a conversion pass.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Final

import numpy as np
import pyarrow as pa
from librt.vecs import append, vec
from mypy_extensions import i16, i32, i64

# The events of a course, in code order: (event, label, what its detail holds).
# The label names the event in figures (the swimmer plot's legend) and is the
# fallback wording of one patient's story; docs/model.md lists the same table
# (tests/unit/test_catalogues.py checks both ways).
EVENT_CATALOGUE: Final = (
    ("entry", "bone metastases diagnosed", "primary tumour"),
    ("death", "death", "cause, and what led to it"),
    ("censored", "alive at the end of follow-up", ""),
    ("sre", "skeletal-related event", "type: fracture, cord compression, radiotherapy to bone, surgery to bone"),
    ("cord_compression", "spinal cord compression", ""),
    ("paralysis", "paralysis", "whether it followed late treatment"),
    ("pain", "bone pain", ""),
    ("radiotherapy", "radiotherapy", "fractionation and the reason"),
    ("pain_response", "pain response to radiotherapy", "complete or partial"),
    ("radionuclide", "radionuclide therapy", "agent and injection"),
    ("hypercalcemia", "hypercalcemia", "grade, crisis"),
    ("admission", "hospital admission", "reason"),
    ("surgery", "surgery", "reason"),
    ("carcinosis_onset", "bone marrow carcinosis begins", ""),
    ("cytopenia", "cytopenia", "lineage and grade"),
    ("dic", "disseminated intravascular coagulation", ""),
    ("leukoerythroblastic", "leukoerythroblastic blood picture", ""),
    ("suspicion", "suspicion of marrow involvement", ""),
    ("scintigraphy", "bone scintigraphy", "result"),
    ("biopsy", "bone marrow biopsy", "result"),
    ("carcinosis_diagnosis", "carcinosis diagnosed", "how"),
    ("chemotherapy_cycle", "chemotherapy cycle", "cycle number"),
    ("febrile_neutropenia", "febrile neutropenia", ""),
    ("transfusion_rbc", "red cell transfusion", "units"),
    ("transfusion_platelets", "platelet transfusion", "units"),
    ("infection", "infection", "severity"),
    ("bleeding", "bleeding", "severity"),
    ("terminal_myelosuppression", "marrow failure begins", "what is failing"),
    ("remission", "remission", "partial or complete"),
    ("relapse", "carcinosis relapses", ""),
    ("analgesia", "analgesia", "what was given"),
)
EVENTS: Final = tuple(e[0] for e in EVENT_CATALOGUE)
EVENT_LABELS: Final = {e[0]: e[1] for e in EVENT_CATALOGUE}
EV = {name: i for i, name in enumerate(EVENTS)}

CAUSES = ("progression", "terminal_myelosuppression", "infection", "bleeding", "hypercalcemic_crisis", "other")

ANALYTES = ("hb_g_dl", "platelets_e9_l", "anc_e9_l", "calcium_mmol_l")
LABS_SCHEMA = pa.schema(
    [
        ("patient_id", pa.int64()),
        ("time_months", pa.float64()),
        ("analyte", pa.dictionary(pa.int8(), pa.string())),
        ("value", pa.float64()),
    ]
)

EVENT_SCHEMA = pa.schema(
    [
        ("patient_id", pa.int64()),
        ("time_months", pa.float64()),
        ("event", pa.dictionary(pa.int16(), pa.string())),
        ("detail", pa.dictionary(pa.int32(), pa.string())),
    ]
)


def column(values: Any, dtype: Any) -> np.ndarray:
    """A typed vector's values as a (read-only) array of ``dtype``, the
    vector's own item type: a view of its buffer, no copy and no conversion."""
    return np.frombuffer(values, dtype=dtype)


def typed_array(values: Sequence[Any], dtype: Any) -> np.ndarray:
    """A list of Python numbers (no None) as an array of ``dtype``: the same
    values as ``np.asarray(values, dtype)``, without its type discovery pass."""
    return np.fromiter(values, dtype=dtype, count=len(values))


class Recorder:
    """Collects events of one chunk in columns; ``detail`` strings are interned."""

    __slots__ = (
        "pid",
        "t",
        "ev",
        "det",
        "details",
        "detail_codes",
        "rows",
        "labs",
        "n_events",
        "n_timeouts",
        "order",
    )

    def __init__(self) -> None:
        self.details: list[str] = [""]
        self.detail_codes: dict[str, int] = {"": 0}  # detail string -> its code
        self.rows: list[tuple[Any, ...]] = []
        self.n_events = 0
        self.n_timeouts = 0  # SimPy timeouts the courses waited on (for the benchmark's bare-SimPy comparison)
        self.labs: list[tuple[int, float, int, float]] = []  # patient, time, analyte code, value
        self.clear()

    def clear(self) -> None:
        self.pid: vec[i64] = vec[i64]()
        self.t: vec[float] = vec[float]()
        self.ev: vec[i16] = vec[i16]()
        self.det: vec[i32] = vec[i32]()
        self.rows = []
        self.labs = []  # patient, time, analyte code, value
        self.order: Any = None  # event positions in the canonical order (None: recorded in it)

    def event(self, pid: i64, t: float, ev: i16, detail: i32) -> None:
        """Record one event: patient id, time (calendar months), event code, detail code."""
        self.pid = append(self.pid, pid)
        self.t = append(self.t, t)
        self.ev = append(self.ev, ev)
        self.det = append(self.det, detail)

    def canonical(self) -> None:
        """Read this chunk's events in the canonical order: by patient id, then
        time, then the order recorded within the patient (a stable sort).
        Courses run one after another (:func:`sim.kernel.course.run_direct`)
        record them in that order already; courses sharing a SimPy
        environment (finite services, population mode) call this."""
        pid, t = column(self.pid, np.int64), column(self.t, np.float64)
        self.order = np.lexsort((t, pid))

    def labs_table(self) -> pa.Table:
        """This chunk's kept lab values as an Arrow table."""
        cols: list[Any] = list(zip(*self.labs, strict=True)) if self.labs else [[], [], [], []]
        analyte = pa.DictionaryArray.from_arrays(pa.array(np.asarray(cols[2], dtype=np.int8)), pa.array(ANALYTES))
        return pa.Table.from_arrays(
            [
                pa.array(np.asarray(cols[0], dtype=np.int64)),
                pa.array(np.asarray(cols[1], dtype=np.float64)),
                analyte,
                pa.array(np.asarray(cols[3], dtype=np.float64)),
            ],
            schema=LABS_SCHEMA,
        )

    def code(self, detail: str) -> int:
        """The code of a detail string (interned once per run)."""
        c = self.detail_codes.get(detail)
        if c is None:
            c = self.detail_codes[detail] = len(self.details)
            self.details.append(detail)
        return c

    def table(self) -> pa.Table:
        """This chunk's events as an Arrow table (dictionary-encoded strings)."""
        self.n_events += len(self.pid)
        pid, t = column(self.pid, np.int64), column(self.t, np.float64)
        evc, detc = column(self.ev, np.int16), column(self.det, np.int32)
        if self.order is not None:
            order = self.order
            pid, t, evc, detc = pid[order], t[order], evc[order], detc[order]
        else:  # as recorded: copies holding exactly the values (the vectors' buffers are then freed)
            pid, t, evc, detc = pid.copy(), t.copy(), evc.copy(), detc.copy()
        ev = pa.DictionaryArray.from_arrays(pa.array(evc), pa.array(EVENTS))
        det = pa.DictionaryArray.from_arrays(pa.array(detc), pa.array(self.details, type=pa.string()))
        return pa.Table.from_arrays([pa.array(pid), pa.array(t), ev, det], schema=EVENT_SCHEMA)
