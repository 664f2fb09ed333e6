"""benchmarks/rerun_cost.py's summary (the per-element slope fitted on the two-slider floor's
pages and where the Explore page falls on it) and its padded floor app."""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from benchmarks import rerun_cost

PADDED = Path(rerun_cost.__file__).with_name("apps") / "padded_sliders.py"


def _run(elements: int, total: float) -> dict:
    return {"elements": elements, "answered": 20, "browser_ms": total - 5.0, "server_ms": 5.0, "total_ms": total}


def test_the_summary_fits_the_cost_per_element_and_places_explore_on_it():
    cases = [rerun_cost.floor_case(0), rerun_cost.floor_case(20), rerun_cost.floor_case(40), rerun_cost.EXPLORE]
    runs = {
        # 30 ms with no elements, 1 ms more for each; the medians of three runs each
        cases[0].name: [_run(3, 33.0), _run(3, 31.0), _run(3, 40.0)],
        cases[1].name: [_run(23, 53.0), _run(23, 52.0), _run(23, 54.0)],
        cases[2].name: [_run(43, 73.0), _run(43, 80.0), _run(43, 71.0)],
        cases[3].name: [_run(35, 100.0), _run(35, 110.0), _run(35, 90.0)],  # costs as much as 70 elements
    }
    result = rerun_cost.summarise(cases, runs)
    assert result["ms_per_element"] == pytest.approx(1.0, abs=0.05)
    assert result["intercept_ms"] == pytest.approx(30.0, abs=1.0)
    assert result["explore_equivalent_elements"] == pytest.approx(70, abs=2)
    floor = result["cases"]["two-slider floor"]
    assert floor["total_ms"] == 33.0 and floor["x_floor"] == 1.0
    assert result["cases"]["Explore"]["x_floor"] == pytest.approx(100.0 / 33.0, abs=0.01)
    assert result["cases"]["Explore"]["answered"] == 60


def _captions(at: AppTest) -> list[str]:
    return [c.value for c in at.caption]


@pytest.mark.parametrize(("extra", "shown"), [("0", 0), ("3", 3), ("many", 0), ("-2", 0), ("100000", 400)])
def test_the_padded_floor_adds_the_asked_number_of_static_elements_within_bounds(extra, shown):
    at = AppTest.from_file(str(PADDED), default_timeout=30)
    at.query_params["extra"] = extra
    at.run()
    assert not at.exception
    assert len(at.slider) == 2
    assert len(_captions(at)) == shown
    assert at.markdown[0].value.startswith('<span data-testid="two-sliders-value">x = +0.00')
