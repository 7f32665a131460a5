"""RFC 3339 timestamps (`berth.model.timestamps`): the exact strings the planes write, and parsing back."""

from __future__ import annotations

import pytest

from berth.model.timestamps import parse_rfc3339, rfc3339, rfc3339_micro

T = 1714564807.25  # 2024-05-01T12:00:07.25Z


def test_whole_seconds_drop_the_fraction():
    assert rfc3339(T) == "2024-05-01T12:00:07Z"
    assert rfc3339(1714564807) == "2024-05-01T12:00:07Z"
    assert rfc3339(0) == "1970-01-01T00:00:00Z"


def test_micro_time_keeps_six_digits():
    assert rfc3339_micro(T) == "2024-05-01T12:00:07.250000Z"
    assert rfc3339_micro(1714564807) == "2024-05-01T12:00:07.000000Z"


@pytest.mark.parametrize("text, seconds", [
    ("2024-05-01T12:00:07Z", 1714564807.0), ("2024-05-01T12:00:07.250000Z", T),
    ("2024-05-01T14:00:07+02:00", 1714564807.0), (None, None), ("", None),
])
def test_parse_reads_both_forms_and_offsets(text, seconds):
    assert parse_rfc3339(text) == seconds


def test_round_trip_and_bad_text():
    assert parse_rfc3339(rfc3339(T)) == 1714564807.0 and parse_rfc3339(rfc3339_micro(T)) == T
    with pytest.raises(ValueError):
        parse_rfc3339("yesterday")
