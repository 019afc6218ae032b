"""The papermill engine the runner executes chapters with: papermill's nbclient
engine, with waits on the kernel's sockets that cannot miss a message.

Why. With two runners at once (or a loaded machine), a chapter could stall in
a cell that builds widgets: the kernel had answered (its ``execute_reply`` is
timestamped a second after the cell started) but the client went on waiting
until its own timeout - 900 s by default, for ever with ``--timeout 0`` - and
then carried on as if nothing had happened. Reproduced here with two smoke
runs of the template at once: 2 of 3 pairs stalled in the explore cell for
exactly the cell timeout (60 s) although the kernel had replied after 1 s.
With the waits below, 5 of 5 pairs ran without a stall on the same loaded
machine (``tests/test_publishing_concurrency.py``), where the first pair had
stalled for the whole timeout before.
The reply was in the client's socket all along: nbclient waits on it with
``await socket.poll(timeout)`` (zmq.asyncio), and the wake-up of that poll was
lost - a zmq socket's file descriptor is edge-triggered, and during the burst of
widget (comm) messages on IOPub the edge that should have woken the shell wait
passed unseen (which event swallowed it was not pinned down); the real
``zmq`` poll made when the timeout fired found the message at once.

The fix, where it arises: every wait on the shell and IOPub channels is cut
into slices of at most :data:`SLICE` seconds; each slice ends in a real
``zmq`` poll, so a lost wake-up costs at most one slice. The overall timeout
keeps its meaning: ``Empty`` is raised only when the whole timeout has passed,
and nbclient then raises its cell timeout error (the runner reports it as a
failure, never as a completed cell).

The engine also takes ``ipc_dir``: the kernel then talks over IPC sockets in that
folder instead of TCP ports on 127.0.0.1 (ipykernel 7 warns "Kernel is running
over TCP without encryption" at every start over TCP; IPC sockets are files
only this user can open).
"""

from __future__ import annotations

import os
from queue import Empty
from time import monotonic
from typing import Any

from papermill.clientwrap import PapermillNotebookClient
from papermill.engines import NBClientEngine, papermill_engines
from nbclient.util import run_sync
from papermill.utils import merge_kwargs, remove_args

__all__ = ["SLICE", "ENGINE_NAME", "sliced", "LandscapeClient", "LandscapeEngine"]

#: the longest single wait on a kernel socket, in seconds
SLICE = 0.5
#: the name the engine is registered under with papermill
ENGINE_NAME = "landscape"


def sliced(get_msg, step: float = SLICE):
    """``get_msg(timeout)`` of a kernel channel, waiting in slices of at most ``step`` seconds.

    Same contract as the channel's own: the next message, or :class:`queue.Empty` once
    ``timeout`` seconds (None: for ever) have passed without one.
    """

    async def get(timeout: float | None = None) -> dict[str, Any]:
        deadline = None if timeout is None else monotonic() + timeout
        while True:
            wait = step if deadline is None else min(step, max(0.0, deadline - monotonic()))
            try:
                return await get_msg(timeout=wait)
            except Empty:
                if deadline is not None and monotonic() >= deadline:
                    raise

    get._landscape_sliced = True  # type: ignore[attr-defined]
    return get


class LandscapeClient(PapermillNotebookClient):
    """papermill's notebook client with :func:`sliced` waits on the shell and IOPub channels,
    and the kernel on IPC sockets in ``ipc_dir`` when one is given."""

    ipc_dir: str | None = None

    def create_kernel_manager(self):  # noqa: D102 - nbclient's, on IPC when asked
        km = super().create_kernel_manager()
        if self.ipc_dir:
            km.transport = "ipc"
            km.ip = os.path.join(self.ipc_dir, "kernel")
        return km

    async def async_start_new_kernel_client(self):  # noqa: D102 - nbclient's, then the channels sliced
        kc = await super().async_start_new_kernel_client()
        for channel in (kc.shell_channel, kc.iopub_channel):
            if not getattr(channel.get_msg, "_landscape_sliced", False):
                channel.get_msg = sliced(channel.get_msg)
        return kc

    # nbclient binds the synchronous form to its own coroutine at class creation; papermill calls
    # the synchronous form, so it must be bound again to the override above
    start_new_kernel_client = run_sync(async_start_new_kernel_client)


class LandscapeEngine(NBClientEngine):
    """papermill's nbclient engine, running :class:`LandscapeClient`."""

    @classmethod
    def execute_managed_notebook(cls, nb_man, kernel_name, log_output=False, stdout_file=None, stderr_file=None,
                                 start_timeout=60, execution_timeout=None, **kwargs):
        from papermill.engines import logger

        ipc_dir = kwargs.pop("ipc_dir", None)
        kwargs = remove_args(["input_path"], **kwargs)
        safe_kwargs = remove_args(["timeout", "startup_timeout"], **kwargs)
        final_kwargs = merge_kwargs(safe_kwargs, timeout=execution_timeout if execution_timeout else kwargs.get("timeout"),
                                    startup_timeout=start_timeout, kernel_name=kernel_name, log=logger,
                                    log_output=log_output, stdout_file=stdout_file, stderr_file=stderr_file)
        client = LandscapeClient(nb_man, **final_kwargs)
        client.ipc_dir = ipc_dir
        return client.execute()


papermill_engines.register(ENGINE_NAME, LandscapeEngine)
