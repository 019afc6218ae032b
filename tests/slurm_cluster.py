"""A real one-node SLURM cluster for the tests (issue 20): munged, slurmctld and slurmd started from a small
``slurm.conf`` in a temporary folder, stopped by the PIDs this module started.

Debian's ``slurm-wlm`` (22.05) and ``munge`` packages run it as root: ``munged`` with a key of its own and its
socket in the folder (the machine's own munged, if any, is left alone), ``slurmctld`` and ``slurmd`` in the
foreground (``-D``, so the PIDs are the daemons'), on free TCP ports, with every state, spool, log and pid file
under the folder. The node has the machine's CPUs and memory (``slurmd -C``); the one partition is ``debug``.
Clients (``sinfo``, ``sbatch``, ``srun``, submitit) find the cluster through ``SLURM_CONF``, which
:meth:`Cluster.env` sets.

:func:`start` waits (bounded) until ``sinfo`` shows the node idle; :meth:`Cluster.stop` terminates the three
daemons (then kills those that outlive ``grace`` seconds). ``python tests/slurm_cluster.py`` starts one and
waits for Ctrl-C, to try commands by hand.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

#: the commands a cluster needs (Debian packages slurm-wlm and munge)
COMMANDS = ("munged", "slurmctld", "slurmd", "sinfo", "sbatch", "squeue", "srun", "scontrol")
PARTITION = "debug"


def missing_commands() -> list[str]:
    """The commands of :data:`COMMANDS` not on ``PATH`` (nor in /usr/sbin)."""
    path = os.pathsep.join([os.environ.get("PATH", ""), "/usr/sbin", "/sbin"])
    return [c for c in COMMANDS if shutil.which(c, path=path) is None]


def _free_ports(n: int) -> list[int]:
    socks = []
    try:
        for _ in range(n):
            s = socket.socket()
            s.bind(("", 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def _node_resources() -> tuple[int, int]:
    """(CPUs, RealMemory in MiB) as slurmd itself sees them (``slurmd -C``)."""
    out = subprocess.run([_which("slurmd"), "-C"], capture_output=True, text=True, timeout=30).stdout
    fields = dict(kv.split("=", 1) for kv in out.split() if "=" in kv)
    cpus = int(fields.get("CPUs", os.cpu_count() or 1))
    memory = int(fields.get("RealMemory", 1024))
    return cpus, memory


def _which(cmd: str) -> str:
    found = shutil.which(cmd, path=os.pathsep.join([os.environ.get("PATH", ""), "/usr/sbin", "/sbin"]))
    if found is None:
        raise FileNotFoundError(f"{cmd}: not installed (apt-get install slurm-wlm munge)")
    return found


@dataclass
class Cluster:
    """A running one-node cluster: its folder, configuration and the daemons started for it."""

    folder: Path
    conf: Path
    node: str
    cpus: int
    memory: int
    procs: dict[str, subprocess.Popen] = field(default_factory=dict)
    started_in: float = 0.0

    def env(self, base: dict | None = None) -> dict:
        """``base`` (default: this process's environment) with ``SLURM_CONF`` pointing at this cluster."""
        out = dict(os.environ if base is None else base)
        out["SLURM_CONF"] = str(self.conf)
        out["PATH"] = os.pathsep.join([out.get("PATH", ""), "/usr/sbin"])
        return out

    def run(self, *cmd: str, timeout: float = 60, **kwargs) -> subprocess.CompletedProcess:
        """A client command against this cluster (``sinfo``, ``squeue`` ...)."""
        return subprocess.run(list(cmd), env=self.env(kwargs.pop("env", None)), capture_output=True, text=True,
                              timeout=timeout, **kwargs)

    def logs(self) -> str:
        """The tails of the daemons' logs, for an assertion message."""
        out = []
        for name in ("munged", "slurmctld", "slurmd"):
            p = self.folder / "log" / f"{name}.log"
            if p.exists():
                out.append(f"--- {p} ---\n" + "\n".join(p.read_text(errors="replace").splitlines()[-25:]))
        return "\n".join(out)

    def stop(self, grace: float = 10.0) -> None:
        """Stop the daemons this cluster started, by PID: SIGTERM, then SIGKILL after ``grace`` seconds.
        Jobs still on the node are cancelled first."""
        if self.procs.get("slurmctld") and self.procs["slurmctld"].poll() is None:
            try:
                self.run("scancel", "--full", "-u", str(os.getuid()), timeout=15)
            except (subprocess.SubprocessError, OSError):
                pass
        for name in ("slurmd", "slurmctld", "munged"):
            proc = self.procs.get(name)
            if proc is None or proc.poll() is not None:
                continue
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=grace)


def _write_conf(folder: Path, node: str, cpus: int, memory: int) -> Path:
    ctld_port, slurmd_port = _free_ports(2)
    d = {k: folder / k for k in ("state", "spool", "log", "run")}
    for p in d.values():
        p.mkdir(parents=True, exist_ok=True)
    conf = folder / "slurm.conf"
    conf.write_text(f"""\
ClusterName=landscape-test
SlurmctldHost={node}
SlurmctldPort={ctld_port}
SlurmdPort={slurmd_port}
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket={folder / 'run' / 'munge.socket'}
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
MpiDefault=none
ReturnToService=2
SchedulerType=sched/backfill
StateSaveLocation={d['state']}
SlurmdSpoolDir={d['spool']}/slurmd-%n
SlurmctldPidFile={d['run']}/slurmctld.pid
SlurmdPidFile={d['run']}/slurmd-%n.pid
SlurmctldLogFile={d['log']}/slurmctld.log
SlurmdLogFile={d['log']}/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
MinJobAge=3600
InactiveLimit=0
KillWait=5
MessageTimeout=20
SlurmctldTimeout=30
SlurmdTimeout=60
DefMemPerCPU={memory // cpus}
NodeName={node} CPUs={cpus} RealMemory={memory} State=UNKNOWN
PartitionName={PARTITION} Nodes={node} Default=YES MaxTime=INFINITE State=UP OverSubscribe=NO
""")
    (d["spool"] / f"slurmd-{node}").mkdir(exist_ok=True)
    return conf


def start(folder: str | os.PathLike | None = None, *, timeout: float = 60.0) -> Cluster:
    """Start munged, slurmctld and slurmd in ``folder`` (default: a new temporary one) and wait, at most
    ``timeout`` seconds, until ``sinfo`` shows the node idle.

    Raises:
        FileNotFoundError: a command of :data:`COMMANDS` is not installed.
        RuntimeError: a daemon exited, or the node was not idle in time (with the daemons' logs); the daemons
            started so far are stopped first.
    """
    missing = missing_commands()
    if missing:
        raise FileNotFoundError(f"not installed: {', '.join(missing)} (apt-get install slurm-wlm munge)")
    t0 = time.perf_counter()
    folder = Path(folder) if folder else Path(tempfile.mkdtemp(prefix="landscape-slurm-"))
    folder.mkdir(parents=True, exist_ok=True)
    node = socket.gethostname().split(".")[0]
    cpus, memory = _node_resources()
    conf = _write_conf(folder, node, cpus, memory)
    cluster = Cluster(folder, conf, node, cpus, memory)
    key = folder / "run" / "munge.key"
    key.write_bytes(os.urandom(1024))
    key.chmod(0o600)
    (folder / "run").chmod(0o755)
    log = folder / "log"
    env = cluster.env()
    try:
        cluster.procs["munged"] = subprocess.Popen(
            [_which("munged"), "-F", "--force", f"--socket={folder / 'run' / 'munge.socket'}", f"--key-file={key}",
             f"--pid-file={folder / 'run' / 'munged.pid'}", f"--log-file={log / 'munged.log'}",
             f"--seed-file={folder / 'run' / 'munged.seed'}"],
            stdout=subprocess.DEVNULL, stderr=open(log / "munged.err", "w"), env=env)
        _wait_for(lambda: (folder / "run" / "munge.socket").exists(), 15, "munged's socket", cluster)
        for name in ("slurmctld", "slurmd"):
            args = [_which(name), "-D", "-f", str(conf)] + (["-i"] if name == "slurmctld" else ["-N", node])
            cluster.procs[name] = subprocess.Popen(args, stdout=subprocess.DEVNULL,
                                                   stderr=open(log / f"{name}.err", "w"), env=env,
                                                   start_new_session=True)

        def idle() -> bool:
            out = cluster.run("sinfo", "-h", "-N", "-o", "%T", timeout=15)
            return out.returncode == 0 and out.stdout.strip() == "idle"

        _wait_for(idle, timeout, "the node to show idle in sinfo", cluster)
    except BaseException:
        cluster.stop(grace=5)
        raise
    cluster.started_in = time.perf_counter() - t0
    return cluster


def _wait_for(ready, timeout: float, what: str, cluster: Cluster) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for name, proc in cluster.procs.items():
            if proc.poll() is not None:
                raise RuntimeError(f"{name} exited with code {proc.returncode} while waiting for {what}\n"
                                   + _err(cluster, name) + cluster.logs())
        try:
            if ready():
                return
        except (subprocess.SubprocessError, OSError):
            pass
        time.sleep(0.3)
    raise RuntimeError(f"waited {timeout:.0f} s for {what}\n" + cluster.logs())


def _err(cluster: Cluster, name: str) -> str:
    p = cluster.folder / "log" / f"{name}.err"
    return p.read_text(errors="replace")[-2000:] + "\n" if p.exists() else ""


if __name__ == "__main__":
    c = start()
    print(f"cluster up in {c.started_in:.1f} s: export SLURM_CONF={c.conf}", flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        c.stop()
