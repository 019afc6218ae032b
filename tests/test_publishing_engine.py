"""The runner's papermill engine: waits on kernel sockets in slices, with the channel's contract."""

from __future__ import annotations

import asyncio
import time
from queue import Empty

import pytest

from landscape.publishing.engine import ENGINE_NAME, sliced


class LostWakeups:
    """A channel whose message is ready at ``ready_at`` but whose waits never wake for it:
    a wait returns the message only if it *starts* after ``ready_at`` (as a real zmq poll would
    find it), else it sleeps its whole timeout and finds nothing - the lost wake-up."""

    def __init__(self, ready_at: float):
        self.ready_at, self.calls = ready_at, []

    async def get_msg(self, timeout=None):
        self.calls.append(timeout)
        if time.monotonic() >= self.ready_at:
            return {"msg": "execute_reply"}
        await asyncio.sleep(timeout if timeout is not None else 3600)
        raise Empty


def test_a_lost_wakeup_costs_one_slice_not_the_timeout():
    ch = LostWakeups(time.monotonic() + 0.05)
    t0 = time.monotonic()
    assert asyncio.run(sliced(ch.get_msg, step=0.1)(timeout=30)) == {"msg": "execute_reply"}
    assert time.monotonic() - t0 < 1.0  # the unsliced wait would take the whole 30 s
    assert all(0 <= c <= 0.1 for c in ch.calls)


def test_empty_only_after_the_whole_timeout():
    ch = LostWakeups(time.monotonic() + 3600)
    t0 = time.monotonic()
    with pytest.raises(Empty):
        asyncio.run(sliced(ch.get_msg, step=0.05)(timeout=0.3))
    assert 0.29 <= time.monotonic() - t0 < 1.0 and len(ch.calls) >= 5


def test_no_timeout_waits_for_the_message():
    ch = LostWakeups(time.monotonic() + 0.2)
    assert asyncio.run(sliced(ch.get_msg, step=0.05)(timeout=None)) == {"msg": "execute_reply"}
    assert all(c == 0.05 for c in ch.calls)


def test_a_zero_timeout_polls_once():
    ch = LostWakeups(time.monotonic() + 3600)
    with pytest.raises(Empty):
        asyncio.run(sliced(ch.get_msg)(timeout=0))
    assert ch.calls == [0.0]


def test_the_engine_is_registered_with_papermill():
    from papermill.engines import papermill_engines

    assert papermill_engines.get_engine(ENGINE_NAME).__name__ == "LandscapeEngine"
