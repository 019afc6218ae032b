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


def test_the_runner_really_waits_in_slices(tmp_path, monkeypatch):
    """papermill calls nbclient's synchronous start method: the slicing must reach the real channels."""
    import nbformat
    import papermill

    from landscape.publishing import engine

    wrapped = []
    real = engine.sliced

    def spy(get_msg, step=engine.SLICE):
        wrapped.append(get_msg)
        return real(get_msg, step)

    monkeypatch.setattr(engine, "sliced", spy)
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell("print(6 * 7)")]
    nb.metadata["kernelspec"] = {"name": "landscape", "display_name": "Python (landscape)", "language": "python"}
    nbformat.write(nb, tmp_path / "in.ipynb")
    papermill.execute_notebook(str(tmp_path / "in.ipynb"), str(tmp_path / "out.ipynb"), engine_name=ENGINE_NAME,
                               kernel_name="landscape", progress_bar=False)
    assert len(wrapped) == 2  # the shell and IOPub channels
    out = nbformat.read(tmp_path / "out.ipynb", as_version=4)
    assert out.cells[0].outputs[0]["text"] == "42\n"
