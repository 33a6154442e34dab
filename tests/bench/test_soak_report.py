"""The soak's figures (bench/soak_report.py) from a small made-up run; `make soak` runs it."""

import pytest

from bench import soak_report

T0 = 1_000_000.0


def made_up_run():
    """Three users over a 4 s window; every figure below is counted by hand."""

    def row(user, at, ms, status=200, pk=None, token="", error=""):
        pk = str(100 + user) if pk is None and status == 200 else (pk or "")
        return [user, T0 + at, ms, status, pk, token, error]

    return {
        "t0": T0,
        "seconds": 4,
        "expiries": [T0 + 1.0, T0 + 1.5, T0 + 10.0],
        "pks": [100, 101, 102],
        "rows": [
            row(0, -0.5, 5, token="a0"),  # warm-up: not counted
            row(0, 0.5, 10, token="a0"),  # before the expiry: no refresh of its own
            row(0, 1.1, 300, token="a1"),  # expired, not yet replaced: its own
            row(0, 2.0, 12, token="a1"),  # replaced at 1.36: none
            row(1, 1.6, 150, status=302),  # dead token, being found out: its own
            row(1, 2.5, 8, status=302),  # deleted at 1.75: none
            row(2, 0.2, 9, token="a1"),  # user 0's token: cross-user
            row(2, 1.0, 9, token="zz"),  # a token Canvas never issued
            row(2, 2.2, 30_000, status=0, error="TimeoutError"),  # answered after the window
            row(2, 2.3, 7, status=503),
        ],
        "refresh_log": [
            {"user": 0, "start": T0 + 1.12, "end": T0 + 1.2, "outcome": "error"},
            {"user": 0, "start": T0 + 1.2, "end": T0 + 1.35, "outcome": "ok"},
            {"user": 1, "start": T0 + 1.6, "end": T0 + 1.75, "outcome": "dead"},
        ],
        "owner": {"a0": 0, "a1": 0},
        "end_state": [
            {"row": True, "updated": T0 + 1.36, "refresh_matches": True, "alive": True},
            {"row": False, "updated": None, "refresh_matches": False, "alive": False},
            {"row": True, "updated": T0 - 60, "refresh_matches": True, "alive": True},
        ],
    }


def test_summary_of_a_made_up_run():
    s = soak_report.summarize(made_up_run())
    assert s["requests"] == 9
    assert s["statuses"] == {"200": 5, "302": 2, "503": 1, "no answer (TimeoutError)": 1}
    # Responses end in seconds 0, 1 and 2; none in second 3.
    assert s["seconds_without_responses"] == 1
    assert s["responses_per_second"] == {"min": 0, "median": 3, "max": 3}
    assert s["latency_own_refresh"]["count"] == 2
    assert s["latency_own_refresh"]["max_ms"] == 300
    assert s["latency_no_refresh"]["count"] == 7
    assert s["latency_no_refresh"]["max_ms"] == 30_000
    assert s["expiries_due"] == 2
    assert s["refresh_calls"] == 3
    assert s["refresh_calls_per_expiry"] == 1.5
    assert s["refresh_outcomes"] == {"dead": 1, "error": 1, "ok": 1}
    assert s["users_refreshed_more_than_once"] == 0
    assert s["overlapping_refresh_calls"] == 0
    assert s["lost_tokens"] == 0
    assert s["cross_user_tokens"] == 1
    assert s["unknown_tokens"] == 1
    goals = soak_report.goals(s)
    assert goals["no second without responses"] is False
    assert goals["zero cross-user tokens"] is False
    assert goals["one refresh per expiry"] is True
    assert goals["zero lost tokens"] is True


def test_overlapping_and_repeated_refreshes_break_one_refresh_per_expiry():
    run = made_up_run()
    run["refresh_log"] += [
        {"user": 0, "start": T0 + 1.3, "end": T0 + 1.4, "outcome": "ok"},
        {"user": 0, "start": T0 + 3.0, "end": T0 + 3.1, "outcome": "ok"},
    ]
    s = soak_report.summarize(run)
    assert s["users_refreshed_more_than_once"] == 1
    assert s["overlapping_refresh_calls"] == 1
    assert soak_report.goals(s)["one refresh per expiry"] is False


def test_a_deleted_token_alive_at_canvas_is_lost():
    run = made_up_run()
    run["end_state"][2] = {"row": False, "updated": None, "refresh_matches": False, "alive": True}
    run["end_state"][0]["refresh_matches"] = False
    s = soak_report.summarize(run)
    assert s["lost_tokens"] == 1
    assert s["refresh_token_mismatches"] == 1
    assert soak_report.goals(s)["zero lost tokens"] is False


def test_a_dead_token_nobody_asked_for_since_is_not_a_mismatch():
    run = made_up_run()
    run["end_state"][2] = {"row": True, "updated": None, "refresh_matches": False, "alive": False}
    assert soak_report.summarize(run)["refresh_token_mismatches"] == 0


SKELETON = (
    "<!-- soak -->\n## Soak\n<!-- soak:before:sqlite -->\n_Not run yet._\n"
    "<!-- /soak:before:sqlite -->\n<!-- /soak -->\n"
)


def test_put_slot_adds_the_section_once_and_fills_one_slot():
    text = soak_report.put_slot("# Benchmark results\n", "before", "sqlite", "figures 1", SKELETON)
    assert text.startswith("# Benchmark results\n\n<!-- soak -->")
    assert "figures 1" in text and "_Not run yet._" not in text
    again = soak_report.put_slot(text, "before", "sqlite", "figures 2", SKELETON)
    assert again.count("<!-- soak -->") == 1
    assert "figures 2" in again and "figures 1" not in again
    with pytest.raises(ValueError):
        soak_report.put_slot(text, "after", "sqlite", "figures", SKELETON)


def test_soak_section_is_what_make_bench_keeps():
    text = soak_report.put_slot("# Benchmark results\n", "before", "sqlite", "figures", SKELETON)
    section = soak_report.soak_section(text)
    assert section.startswith("<!-- soak -->") and section.endswith("<!-- /soak -->\n")
    assert "figures" in section
    assert soak_report.soak_section("# Benchmark results\n") == ""
