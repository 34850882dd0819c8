"""The named parts of a patient's state (sim.kernel.state) on their own."""

from __future__ import annotations

import math

import pytest

from sim.kernel.state import S_BLEED, S_PROG, S_SRE, S_WORSEN0, S_WORSEN2, Clocks

SLOTS = ("prog", "other", "sre", "pain", "cdeath", "worsen0", "worsen1", "worsen2", "infect", "bleed")


def test_clocks_start_stopped_and_the_earliest_is_progression_at_infinity() -> None:
    c = Clocks()
    assert all(getattr(c, name) == math.inf for name in SLOTS)
    assert c.earliest() == (math.inf, S_PROG)


@pytest.mark.parametrize("slot", range(len(SLOTS)))
def test_each_clock_alone_is_the_earliest(slot: int) -> None:
    c = Clocks()
    setattr(c, SLOTS[slot], 3.0)
    assert c.earliest() == (3.0, slot)


def test_equal_clocks_go_in_slot_order() -> None:
    c = Clocks()
    c.bleed = c.sre = c.worsen0 = 2.0
    assert c.earliest() == (2.0, S_SRE)
    c.sre = 2.5
    assert c.earliest() == (2.0, S_WORSEN0)
    c.worsen0 = math.inf
    assert c.earliest() == (2.0, S_BLEED)


def test_set_worsen_sets_the_lineages_clock() -> None:
    c = Clocks()
    for lin, name in enumerate(("worsen0", "worsen1", "worsen2")):
        c.set_worsen(lin, 1.0 + lin)
        assert getattr(c, name) == 1.0 + lin
    c.worsen0 = c.worsen1 = math.inf
    assert c.earliest() == (3.0, S_WORSEN2)
