"""The codes the steps of the course share: random-stream process ids, event
codes, one-off agenda items, lineages and causes of death after
carcinosis (Final, so the compiled kernel reads them as C constants)."""

from __future__ import annotations

import math
from typing import Final

from sim.kernel.constants import LN2 as _LN2
from sim.kernel.events import EV
from sim.kernel.vocabulary import STREAM_ID

INF: Final = math.inf
LN2: Final = _LN2

# Constants are Final so that the compiled kernel reads them as C constants, not from the module's dictionary.

# random-stream process ids (the process word of every number's address), by name (sim.kernel.vocabulary)
P_ENTRY: Final = STREAM_ID["entry"]
P_PROG: Final = STREAM_ID["progression"]
P_OTHER: Final = STREAM_ID["other_mortality"]
P_SRE: Final = STREAM_ID["sre"]
P_PAIN: Final = STREAM_ID["pain"]
P_HYPER: Final = STREAM_ID["hypercalcemia"]
P_CARC: Final = STREAM_ID["carcinosis"]
P_DETECT: Final = STREAM_ID["detection"]
P_COMPL: Final = STREAM_ID["complications"]
P_RT: Final = STREAM_ID["radiotherapy"]
P_RN: Final = STREAM_ID["radionuclide"]
P_CHEMO: Final = STREAM_ID["chemotherapy"]
P_TRANSF: Final = STREAM_ID["transfusion"]

# event codes (sim.kernel.events.EVENTS)
E_ADMISSION: Final = EV["admission"]
E_ANALGESIA: Final = EV["analgesia"]
E_BIOPSY: Final = EV["biopsy"]
E_BLEEDING: Final = EV["bleeding"]
E_CARCINOSIS_DIAGNOSIS: Final = EV["carcinosis_diagnosis"]
E_CARCINOSIS_ONSET: Final = EV["carcinosis_onset"]
E_CENSORED: Final = EV["censored"]
E_CHEMOTHERAPY_CYCLE: Final = EV["chemotherapy_cycle"]
E_CORD_COMPRESSION: Final = EV["cord_compression"]
E_CYTOPENIA: Final = EV["cytopenia"]
E_DEATH: Final = EV["death"]
E_DIC: Final = EV["dic"]
E_ENTRY: Final = EV["entry"]
E_FEBRILE_NEUTROPENIA: Final = EV["febrile_neutropenia"]
E_HYPERCALCEMIA: Final = EV["hypercalcemia"]
E_INFECTION: Final = EV["infection"]
E_LEUKOERYTHROBLASTIC: Final = EV["leukoerythroblastic"]
E_PAIN: Final = EV["pain"]
E_PAIN_RESPONSE: Final = EV["pain_response"]
E_PARALYSIS: Final = EV["paralysis"]
E_RADIONUCLIDE: Final = EV["radionuclide"]
E_RADIOTHERAPY: Final = EV["radiotherapy"]
E_RELAPSE: Final = EV["relapse"]
E_REMISSION: Final = EV["remission"]
E_SCINTIGRAPHY: Final = EV["scintigraphy"]
E_SRE: Final = EV["sre"]
E_SURGERY: Final = EV["surgery"]
E_SUSPICION: Final = EV["suspicion"]
E_TERMINAL_MYELOSUPPRESSION: Final = EV["terminal_myelosuppression"]
E_TRANSFUSION_PLATELETS: Final = EV["transfusion_platelets"]
E_TRANSFUSION_RBC: Final = EV["transfusion_rbc"]

# one-off agenda items
A_CARE: Final = 0
A_RT_RESPONSE: Final = 1
A_RT_RETREAT: Final = 2
A_RADIUM: Final = 3
A_SRSM: Final = 4
A_HYPER_RECUR: Final = 5
A_SCAN: Final = 6
A_BIOPSY: Final = 7
A_DIAGNOSIS: Final = 8
A_CHEMO_CYCLE: Final = 9
A_FEBRILE: Final = 10
A_NADIR_END: Final = 11
A_RELAPSE: Final = 12
A_HYPER_CRISIS: Final = 13
A_NADIR_START: Final = 14
A_ONSET_BY_OTHER: Final = 15
A_VISIT: Final = 16

LINEAGE_NAMES: Final = ("anemia", "thrombocytopenia", "leukopenia")
ANEMIA: Final = 0
THROMBO: Final = 1
LEUKO: Final = 2

# causes of death after carcinosis (shares in the scenario, in this order)
C_PROGRESSION: Final = 0
C_BLEEDING: Final = 1
C_INFECTION: Final = 2
C_DIC: Final = 3
C_OTHER: Final = 4
_CARC_CAUSE: Final = ("progression", "bleeding", "infection", "bleeding", "other")
_CARC_DETAIL: Final = ("after carcinosis", "after carcinosis", "after carcinosis", "DIC", "after carcinosis")
