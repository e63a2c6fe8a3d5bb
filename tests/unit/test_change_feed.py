import asyncio

from services.gateway.events.change_feed import ChangeFeed


async def test_a_waiter_wakes_when_its_key_changes() -> None:
    feed = ChangeFeed(poll_seconds=10)
    state: dict[str, str] = {}

    async def probe() -> str | None:
        return state.get("status")

    async def change_soon() -> None:
        await asyncio.sleep(0.05)
        state["status"] = "authenticated"
        feed.notify("login-1")

    waiter = asyncio.create_task(feed.wait_for("login-1", probe, within=5))
    await change_soon()
    assert await asyncio.wait_for(waiter, 1) == "authenticated"


async def test_other_keys_do_not_wake_the_waiter_and_time_runs_out() -> None:
    feed = ChangeFeed(poll_seconds=10)
    calls = 0

    async def probe() -> None:
        nonlocal calls
        calls += 1

    waiter = asyncio.create_task(feed.wait_for("login-1", probe, within=0.2))
    await asyncio.sleep(0.05)
    feed.notify("login-2")
    assert await waiter is None
    assert calls == 2  # once at start, once when the time ran out


async def test_a_lost_notification_is_made_up_by_polling() -> None:
    feed = ChangeFeed(poll_seconds=0.05)
    state: dict[str, str] = {}

    async def probe() -> str | None:
        return state.get("status")

    waiter = asyncio.create_task(feed.wait_for("k", probe, within=2))
    await asyncio.sleep(0.01)
    state["status"] = "done"  # changed, but nobody calls notify
    assert await asyncio.wait_for(waiter, 1) == "done"


async def test_a_change_notified_before_the_wait_begins_is_not_missed() -> None:
    feed = ChangeFeed(poll_seconds=10)  # no poll would save it within the test
    state: dict[str, str] = {}

    async def probe() -> str | None:
        return state.get("status")

    with feed.watch("login-1") as watch:
        state["status"] = "authenticated"  # as if the answer came while we were sending
        feed.notify("login-1")
        found = await asyncio.wait_for(watch.until(probe, within=5, probe_now=False), 1)
    assert found == "authenticated"


async def test_a_watch_that_was_just_read_probes_only_after_a_change() -> None:
    feed = ChangeFeed(poll_seconds=10)
    calls = 0

    async def probe() -> str:
        nonlocal calls
        calls += 1
        return "changed"

    with feed.watch("login-1") as watch:
        waiter = asyncio.create_task(watch.until(probe, within=5, probe_now=False))
        await asyncio.sleep(0.05)
        assert calls == 0  # the caller's own read stands until something changes
        feed.notify("login-1")
        assert await asyncio.wait_for(waiter, 1) == "changed"
    assert calls == 1
