"""Where a stream is trimmed to: pure, from what its groups still need."""

from shared.trimming import needed_by, parse_id, trim_to

NOW_MS = 1_800_000_000_000


def test_a_stream_no_group_reads_is_never_trimmed() -> None:
    assert trim_to([], NOW_MS, retention_ms=0) is None


def test_the_slowest_group_decides_unless_recent_history_is_older() -> None:
    needed = [(NOW_MS - 90_000, 0), (NOW_MS - 120_000, 3)]
    assert trim_to(needed, NOW_MS, retention_ms=60_000) == (NOW_MS - 120_000, 3)
    assert trim_to(needed, NOW_MS, retention_ms=600_000) == (NOW_MS - 600_000, 0)


def test_a_group_needs_its_oldest_pending_entry_else_its_last_delivered_one() -> None:
    group = {"last-delivered-id": b"1700-5"}
    assert needed_by(group, oldest_pending=b"1500-2") == (1500, 2)
    assert needed_by(group, oldest_pending=None) == (1700, 5)
    assert parse_id("42") == (42, 0)
