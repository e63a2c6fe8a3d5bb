"""Which replicas count as dead: pure, from their last beats."""

from services.verification.settings import VerificationSettings
from shared.replicas import DEAD_AFTER_BEATS, Replica, dead_replicas

NOW = 1_000_000.0


def test_a_replica_silent_for_three_beats_is_dead_and_one_that_beat_since_is_not() -> None:
    beats = {"quiet": NOW - DEAD_AFTER_BEATS - 0.1, "recent": NOW - DEAD_AFTER_BEATS + 0.1}
    assert dead_replicas(beats, "me", NOW, heartbeat_seconds=1.0) == ["quiet"]


def test_a_replica_never_judges_itself_dead() -> None:
    assert dead_replicas({"me": NOW - 100}, "me", NOW, heartbeat_seconds=1.0) == []


def test_slower_heartbeats_wait_longer_before_a_replica_is_dead() -> None:
    beats = {"other": NOW - 5}
    assert dead_replicas(beats, "me", NOW, heartbeat_seconds=2.0) == []
    assert dead_replicas(beats, "me", NOW, heartbeat_seconds=1.0) == ["other"]


def test_a_replica_is_ready_while_its_beats_reach_redis() -> None:
    settings = VerificationSettings(heartbeat_seconds=1)
    replica = Replica(None, settings, "g", [])  # type: ignore[arg-type]
    assert not replica.ready(100.0)  # never beat
    replica.last_beat = 100.0
    assert replica.ready(102.5)
    assert not replica.ready(103.5)  # three beats missed: others take its work
