"""The model's vocabulary, said once: the random streams by name and the
columns of the patients table.

Random streams.  Every random number is addressed by (seed, replication,
patient, process, position); the process word is the stream's id here.
:data:`STREAMS` names each stream of a patient with its id and the size of
the block the Python kernel pre-draws (about the 99th percentile of the
baseline's use: drawing a batch costs under 1 microsecond per patient and 16
numbers, extending one stream ~100).  The course's ``P_*`` constants are read
from it by name (:data:`STREAM_ID`).

Patient columns.  :data:`PATIENT_COLUMNS` names each column of the patients
table in the table's order, with its type and where the course keeps its
value; :func:`sim.kernel.finish.finish` builds each patient's row in
that order and :func:`sim.engine.simulate.patient_parts` types the columns
from it (tests check both against this list).
"""

from __future__ import annotations

from typing import Final

# ------------------------------------------------------------------ random streams
# (name, process id, block pre-drawn by the Python kernel, what it draws)
STREAMS: Final = (
    ("entry", 0, 10, "primary, age, agent, visceral disease, baseline counts and calcium, marrow pace"),
    ("progression", 1, 6, "progression threshold; whether and where carcinosis and hypercalcemia start"),
    ("other_mortality", 2, 2, "the other-causes threshold"),
    ("sre", 3, 48, "SRE times, types, cord-compression care and paralysis"),
    ("pain", 4, 24, "pain episode times and their treatment"),
    ("hypercalcemia", 5, 8, "calcium peak, crisis, recurrence"),
    ("carcinosis", 6, 24, "cytopenias at onset, grades, DIC, leukoerythroblastic picture, death thresholds"),
    ("detection", 7, 4, "suspicion and work-up delays"),
    ("complications", 8, 40, "infections and bleeds: thresholds and severity"),
    ("radiotherapy", 9, 120, "fractionation, response, re-treatment"),
    ("radionuclide", 10, 8, "radium-223 and strontium/samarium: eligibility and nadirs"),
    ("chemotherapy", 11, 20, "uptake, febrile neutropenia, remission, relapse"),
    ("transfusion", 12, 4, "red cell and platelet uptake"),
)
STREAM_NAMES: Final = tuple(s[0] for s in STREAMS)
STREAM_ID: Final = {s[0]: s[1] for s in STREAMS}
STREAM_SIZES: Final = tuple(s[2] for s in STREAMS)  # indexed by process id (ids are 0, 1, ... in order)
ARRIVAL_PROCESS: Final = 31  # the population's arrival process (not a patient's stream; its own address)

# ------------------------------------------------------------------ patient columns
# kinds: the column's type in the patients table
ID: Final = "id"  # int64
CATEGORY: Final = "category"  # categorical (primary, agent, cause of death)
FLOAT: Final = "float"  # float64
MONTHS: Final = "months"  # float64, no value (NaN) where the course has infinity (never happened)
COUNT: Final = "count"  # int32
GRADE: Final = "grade"  # int8, CTCAE-like grade 0-4
FLAG: Final = "flag"  # bool

# (column, kind, where the course keeps it: a Patient attribute, an item or attribute of one, or how it is derived),
# in table order
PATIENT_COLUMN_SPECS: Final = (
    ("patient_id", ID, "pid"),
    ("primary", CATEGORY, "primary"),
    ("age_years", FLOAT, "age"),
    ("bone_targeted_agent", CATEGORY, "agent"),
    ("visceral_disease", FLAG, "visceral"),
    ("entry_months", FLOAT, "entry"),
    ("death_months", MONTHS, "death time (course months), none when censored"),
    ("death_cause", CATEGORY, "death_cause, none when censored"),
    ("followup_months", FLOAT, "death time or horizon"),
    ("carcinosis_onset_months", MONTHS, "carcinosis.onset"),
    ("carcinosis_diagnosis_months", MONTHS, "detection.diagnosed_at"),
    ("hypercalcemia_months", MONTHS, "first_hyper"),
    ("first_sre_months", MONTHS, "first_sre"),
    ("cord_compression_months", MONTHS, "first_scc"),
    ("n_sre", COUNT, "n_sre"),
    ("n_pain_episodes", COUNT, "n_pain"),
    ("n_hypercalcemia", COUNT, "n_hyper"),
    ("worst_anemia_grade", GRADE, "blood.worst[0]"),
    ("worst_thrombocytopenia_grade", GRADE, "blood.worst[1]"),
    ("worst_leukopenia_grade", GRADE, "blood.worst[2]"),
    ("dic", FLAG, "carcinosis.dic"),
    ("leukoerythroblastic", FLAG, "carcinosis.leuko_eb"),
    ("paralysis", FLAG, "paralysis"),
    ("chemotherapy", FLAG, "carcinosis.chemo"),
    ("remission", FLAG, "remission"),
    ("anemia_at_onset", FLAG, "carcinosis.at_onset bit 1"),
    ("thrombocytopenia_at_onset", FLAG, "carcinosis.at_onset bit 2"),
    ("leukopenia_at_onset", FLAG, "carcinosis.at_onset bit 4"),
    ("n_radiotherapy_courses", COUNT, "received.radiotherapy_courses"),
    ("n_radiotherapy_fractions", COUNT, "received.radiotherapy_fractions"),
    ("n_radionuclide", COUNT, "received.radionuclide"),
    ("n_chemo_cycles", COUNT, "received.chemo_cycles"),
    ("n_rbc_units", COUNT, "received.rbc_units"),
    ("n_platelet_units", COUNT, "received.platelet_units"),
    ("n_surgery", COUNT, "received.surgery"),
    ("n_admissions", COUNT, "received.admissions"),
    ("bed_days", FLOAT, "received.bed_days"),
    ("n_scintigraphy", COUNT, "received.scintigraphy"),
    ("n_biopsy", COUNT, "received.biopsy"),
    ("total_wait_days", FLOAT, "received.wait_days"),
    ("hb_baseline_g_dl", FLOAT, "haemoglobin trajectory at entry"),
    ("hb_min_g_dl", FLOAT, "blood.worst_val[0]"),
    ("platelets_min_e9_l", FLOAT, "blood.worst_val[1]"),
    ("anc_min_e9_l", FLOAT, "blood.worst_val[2]"),
    ("calcium_max_mmol_l", FLOAT, "highest calcium peak"),
    ("days_hb_below_8", FLOAT, "days below the grade 3 boundary"),
    ("days_platelets_below_50", FLOAT, "days below the grade 3 boundary"),
    ("days_anc_below_1", FLOAT, "days below the grade 3 boundary"),
)
PATIENT_COLUMNS: Final = tuple(c[0] for c in PATIENT_COLUMN_SPECS)
PATIENT_COLUMN_KIND: Final = {c[0]: c[1] for c in PATIENT_COLUMN_SPECS}
