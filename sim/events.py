"""The event vocabulary and the columnar event recorder.

Each event is four typed values (patient id, time in months, event code,
detail code) appended to plain lists; tables are built once per chunk.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pyarrow as pa

EVENTS = (
    "entry",
    "death",
    "censored",
    "sre",
    "cord_compression",
    "paralysis",
    "pain",
    "radiotherapy",
    "pain_response",
    "radionuclide",
    "hypercalcemia",
    "admission",
    "surgery",
    "carcinosis_onset",
    "cytopenia",
    "dic",
    "leukoerythroblastic",
    "suspicion",
    "scintigraphy",
    "biopsy",
    "carcinosis_diagnosis",
    "chemotherapy_cycle",
    "febrile_neutropenia",
    "transfusion_rbc",
    "transfusion_platelets",
    "infection",
    "bleeding",
    "terminal_myelosuppression",
    "remission",
    "relapse",
    "analgesia",
)
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


def typed_array(values: Sequence[Any], dtype: Any) -> np.ndarray:
    """A list of Python numbers (no None) as an array of ``dtype``: the same
    values as ``np.asarray(values, dtype)``, without its type discovery pass."""
    return np.fromiter(values, dtype=dtype, count=len(values))


class Recorder:
    """Collects events of one chunk in columns; ``detail`` strings are interned."""

    __slots__ = ("pid", "t", "ev", "det", "details", "detail_codes", "rows", "labs", "n_events", "n_timeouts")

    def __init__(self) -> None:
        self.details: list[str] = [""]
        self.detail_codes: dict[str, int] = {"": 0}  # detail string -> its code
        self.rows: list[tuple[Any, ...]] = []
        self.n_events = 0
        self.n_timeouts = 0  # SimPy timeouts the courses waited on (for the benchmark's bare-SimPy comparison)
        self.labs: list[tuple[int, float, int, float]] = []  # patient, time, analyte code, value
        self.clear()

    def clear(self) -> None:
        self.pid: list[int] = []
        self.t: list[float] = []
        self.ev: list[int] = []
        self.det: list[int] = []
        self.rows = []
        self.labs = []  # patient, time, analyte code, value

    def labs_table(self) -> pa.Table:
        """This chunk's kept lab values as an Arrow table."""
        cols: list[Any] = list(zip(*self.labs)) if self.labs else [[], [], [], []]
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
        ev = pa.DictionaryArray.from_arrays(pa.array(typed_array(self.ev, np.int16)), pa.array(EVENTS))
        det = pa.DictionaryArray.from_arrays(pa.array(typed_array(self.det, np.int32)), pa.array(self.details, type=pa.string()))
        return pa.Table.from_arrays(
            [pa.array(typed_array(self.pid, np.int64)), pa.array(typed_array(self.t, np.float64)), ev, det],
            schema=EVENT_SCHEMA,
        )
