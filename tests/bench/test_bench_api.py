"""The pure logic of the API benchmarks (bench/api_throttle.py, bench/report.py)."""

import pytest

from bench import api_throttle, report
from bench.api_throttle import split_calls, sustainable_rate


def test_sustainable_rate_at_canvas_numbers_is_the_lower_bound():
    rate = sustainable_rate(hwm=600, outflow=10, up_front=50, cost=0.1, latency=0.1)
    # 10 units/s leak at 0.1 a call; 12 in flight (600 less what leaked is below hwm).
    assert rate["leak_bound_per_s"] == 100
    assert rate["max_in_flight"] == 12
    assert rate["concurrency_bound_per_s"] == 120
    assert rate["sustainable_per_s"] == 100
    assert rate["bound_by"] == "leak"


def test_sustainable_rate_bound_by_concurrency_when_calls_are_cheap():
    rate = sustainable_rate(hwm=600, outflow=10, up_front=50, cost=0.01, latency=0.1)
    assert rate["sustainable_per_s"] == 120
    assert rate["bound_by"] == "concurrency"
    # hwm not a multiple of the up-front cost: floor(610 / 50) = 12 fit, a 13th would not.
    assert (
        sustainable_rate(hwm=610, outflow=10, up_front=50, cost=1, latency=1)["max_in_flight"] == 12
    )


def test_split_calls_in_proportion_to_threads():
    assert split_calls(2000, [16, 4]) == [1600, 400]
    assert split_calls(7, [2, 1]) == [5, 2]
    assert sum(split_calls(2001, [16, 3])) == 2001


def test_splice_api_replaces_or_inserts_before_the_soak():
    section = f"{report.API_START}\nnew\n{report.API_END}\n"
    body = "# Results\n\n## 1\n\n<!-- soak -->\n## Soak\n<!-- /soak -->\n"
    inserted = report.splice_api(body, section)
    assert inserted.index("new") < inserted.index("<!-- soak -->")
    assert report.api_section(inserted) == section
    again = report.splice_api(inserted, section.replace("new", "newer"))
    assert "newer" in again and "\nnew\n" not in again
    assert again.count(report.API_START) == 1
    assert report.splice_api("# Results\n", section).endswith(section)
    assert report.api_section("no section here") == ""


@pytest.mark.parametrize("argv", [["--calls", "0"], ["--threads", "-1"], ["--processes", "4,0"]])
def test_api_throttle_refuses_counts_below_one_at_once(argv, monkeypatch, capsys):
    """A worker with no calls would report nothing, and the run would wait out its timeout."""

    monkeypatch.setattr("sys.argv", ["api_throttle", *argv])
    with pytest.raises(SystemExit) as exit_:
        api_throttle.main()
    assert exit_.value.code == 2
    assert "must be 1 or more" in capsys.readouterr().err
