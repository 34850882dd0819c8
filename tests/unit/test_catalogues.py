"""Lists that must match each other do: the events against the kernel, the
swimmer plot, one patient's story and docs/model.md; the services against the
scenario; the authoring notes against the scenario and the files they name.

These are the checks CONTRIBUTING.md's checklists rely on: each fails when one
of the places is forgotten.
"""

from __future__ import annotations

import re
from pathlib import Path

from sim.experiments.journey import phrase
from sim.kernel.events import CAUSES, EV, EVENT_CATALOGUE, EVENT_LABELS, EVENTS
from sim.kernel.services import SERVICES, SVC
from sim.present.course_figures import SWIMMER_MARKS
from sim.scenario.care import Services
from sim.scenario.model import Scenario
from sim.scenario.reference import COURSE_STEPS, where_it_acts

ROOT = Path(__file__).resolve().parents[2]
KERNEL = ROOT / "sim" / "kernel"


def _kernel_sources() -> str:
    return "\n".join(p.read_text() for p in sorted(KERNEL.glob("*.py")))


def test_events_have_unique_names_labels_and_codes_in_order() -> None:
    assert len(set(EVENTS)) == len(EVENTS)
    assert [EV[e] for e in EVENTS] == list(range(len(EVENTS)))
    assert all(label.strip() for label in EVENT_LABELS.values())
    assert all(len(row) == 3 for row in EVENT_CATALOGUE)


def test_every_event_is_recorded_by_the_kernel_and_the_kernel_records_only_catalogued_events() -> None:
    used = set(re.findall(r'EV\["(\w+)"\]', _kernel_sources()))
    assert used == set(EVENTS), {"not in the catalogue": used - set(EVENTS), "never recorded": set(EVENTS) - used}


def test_docs_model_lists_the_events_of_the_catalogue_in_order() -> None:
    text = (ROOT / "docs" / "model.md").read_text()
    section = text.split("## Events", 1)[1].split("\n## ", 1)[0]
    rows = [r for r in section.splitlines() if r.startswith("| `")]
    listed = [(m.group(1), m.group(2).strip()) for r in rows if (m := re.match(r"\| `(\w+)` \| ([^|]+) \|", r))]
    assert listed == [(e, label) for e, label, _ in EVENT_CATALOGUE]


def test_swimmer_marks_and_the_story_know_every_event_they_show() -> None:
    assert set(SWIMMER_MARKS) <= set(EVENTS)
    row = {"age_years": 70.0, "bone_targeted_agent": "none", "visceral_disease": False}
    for event in EVENTS:
        detail = "progression" if event == "death" else "x"
        assert phrase(event, detail, row).strip(), event


def test_causes_of_death_are_unique_and_progression_comes_first() -> None:
    assert len(set(CAUSES)) == len(CAUSES) and CAUSES[0] == "progression"


def test_services_of_the_kernel_are_those_of_the_scenario_in_order() -> None:
    assert list(SERVICES) == list(Services.model_fields)
    assert [SVC[s] for s in SERVICES] == list(range(len(SERVICES)))


def test_every_scenario_section_says_where_it_acts_and_names_files_that_exist() -> None:
    for name in Scenario.model_fields:
        assert where_it_acts(name), name
    sections = set(Scenario.model_fields)
    for key, text in COURSE_STEPS.items():
        assert key.split(".")[0] in sections, key
        for path in re.findall(r"(sim/[\w/]+\.py)", text):
            assert (ROOT / path).is_file(), f"{key}: {path} does not exist"
