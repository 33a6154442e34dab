"""The fake Canvas tells its clock in a ``Date`` header, as every answer of a real Canvas does."""

from __future__ import annotations

from email.utils import parsedate_to_datetime

import requests

from canvas_oauth.testing import FakeCanvas, FakeClock, LiveFakeCanvas, mock_canvas

START = 1_800_000_000.0  # a frozen clock: 2027-01-15 08:00:00 UTC


def test_in_process_answers_carry_the_fake_clock_as_date():
    fake = FakeCanvas(clock=FakeClock(start=START))
    with mock_canvas(fake):
        answer = requests.post(f"{fake.base_url}/login/oauth2/token", data={}, timeout=5)
        fake.advance(90)
        later = requests.get(f"{fake.base_url}/api/v1/users/self", timeout=5)
    assert parsedate_to_datetime(answer.headers["Date"]).timestamp() == START
    assert parsedate_to_datetime(later.headers["Date"]).timestamp() == START + 90


def test_the_loopback_server_sends_one_date_the_fake_clock():
    fake = FakeCanvas(clock=FakeClock(start=START))
    with LiveFakeCanvas(fake):
        fake.advance(3600)
        answer = requests.post(f"{fake.base_url}/login/oauth2/token", data={}, timeout=5)
    dates = [v for k, v in answer.raw.headers.items() if k.lower() == "date"]
    assert len(dates) == 1
    assert parsedate_to_datetime(dates[0]).timestamp() == START + 3600
    assert answer.headers["Server"].startswith("FakeCanvas/")
