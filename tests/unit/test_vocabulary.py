"""The model's vocabulary (sim.kernel.vocabulary) matches what uses it: the
course's stream ids, the rows the course records and the patients table."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from sim.kernel import codes, course, vocabulary
from sim.kernel.vocabulary import COUNT, FLAG, GRADE, ID, MONTHS, PATIENT_COLUMN_SPECS, PATIENT_COLUMNS, STREAMS

from .stubs import finished_patient


def test_streams_are_numbered_in_order_with_unique_names() -> None:
    assert [s[1] for s in STREAMS] == list(range(len(STREAMS)))
    assert len(set(vocabulary.STREAM_NAMES)) == len(STREAMS)
    assert vocabulary.ARRIVAL_PROCESS not in vocabulary.STREAM_ID.values()
    assert course.STREAM_SIZES == tuple(s[2] for s in STREAMS)
    assert all(size > 0 for size in course.STREAM_SIZES)


def test_the_course_reads_its_stream_ids_by_name() -> None:
    by_name = {
        "entry": codes.P_ENTRY,
        "progression": codes.P_PROG,
        "other_mortality": codes.P_OTHER,
        "sre": codes.P_SRE,
        "pain": codes.P_PAIN,
        "hypercalcemia": codes.P_HYPER,
        "carcinosis": codes.P_CARC,
        "detection": codes.P_DETECT,
        "complications": codes.P_COMPL,
        "radiotherapy": codes.P_RT,
        "radionuclide": codes.P_RN,
        "chemotherapy": codes.P_CHEMO,
        "transfusion": codes.P_TRANSF,
    }
    assert by_name == vocabulary.STREAM_ID


def test_a_recorded_row_holds_each_column_where_the_registry_says() -> None:
    """Each column whose source is a Patient attribute (or an item of one)
    holds that attribute's value in the row the course recorded."""
    for seed in (1, 2, 3):
        p, row = finished_patient(seed=seed, overrides={"carcinosis.probability": 1.0})
        assert len(row) == len(PATIENT_COLUMNS)
        checked = 0
        for (name, _kind, source), value in zip(PATIENT_COLUMN_SPECS, row, strict=True):
            path, _, index = source.partition("[")
            if " " in source or not all(part.isidentifier() for part in path.split(".")):
                continue  # derived (described in words)
            want: Any = p
            for part in path.split("."):
                want = getattr(want, part)
            if index:
                want = want[int(index.rstrip("]"))]
            assert value == want, name
            checked += 1
        assert checked >= 35


def test_the_patients_table_has_the_registry_columns_and_types() -> None:
    from tests.conftest import run

    df = run(patients=200, seed=3, keep_events=False).patients
    assert list(df.columns) == [*PATIENT_COLUMNS, "censored"]
    want = {ID: np.int64, COUNT: np.int32, GRADE: np.int8, FLAG: np.bool_, MONTHS: np.float64}
    for name, kind, _ in PATIENT_COLUMN_SPECS:
        if kind in want:
            assert df[name].dtype == want[kind], name
        elif kind == vocabulary.CATEGORY:
            assert isinstance(df[name].dtype, pd.CategoricalDtype), name
        else:
            assert df[name].dtype == np.float64, name
