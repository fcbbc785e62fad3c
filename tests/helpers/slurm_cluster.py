"""A real single-node Slurm cluster (Debian's slurm-wlm 22.05) for tests, started and stopped as root.

Why: datatrove's SlurmPipelineExecutor only writes an sbatch script and calls `sbatch`; the only way
to know that the script, the array/rank mapping, `depends=` (afterok) and the skip-completed resume
really work is to run them on a real slurmctld/slurmd. Everything (conf, state, spool, logs) lives in
one temp dir and the daemons run in the foreground as our children, so teardown is exact: no
/etc/slurm edits, no leftover daemons. munged is shared system-wide (/run/munge); we start it only
when none answers and stop only the one we started.

Accounting: there is no slurmdbd here, so `sacct` only says "Slurm accounting storage is disabled".
Array task states come from `squeue --states=all --array` (slurmctld keeps finished jobs for
MinJobAge, set to an hour here), with jobcomp/filetxt (one line per finished job) as the fallback.

Usage::

    with slurm_cluster() as cluster:          # sets SLURM_CONF in os.environ while open
        executor = SlurmPipelineExecutor(..., partition=cluster.partition, ...)
        executor.run()                        # returns right after sbatch
        cluster.wait_for_job(executor.job_id)
        cluster.wait_until_queue_empty()      # also the merge_stats job datatrove submits
"""

from __future__ import annotations

import contextlib
import os
import pwd
import re
import shutil
import socket
import subprocess
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

DAEMONS = ("slurmctld", "slurmd", "munged")
CLIENTS = ("sbatch", "squeue", "sinfo", "scontrol", "scancel", "srun")
MUNGE_DIRS = ("/etc/munge", "/var/lib/munge", "/var/log/munge", "/run/munge")
MUNGE_KEY = Path("/etc/munge/munge.key")
MUNGE_SOCKET = Path("/run/munge/munge.socket.2")
# Slurm job states after which a job (array task) will not run again on its own.
TERMINAL_STATES = frozenset(
    {
        "COMPLETED",
        "FAILED",
        "CANCELLED",
        "TIMEOUT",
        "NODE_FAIL",
        "OUT_OF_MEMORY",
        "PREEMPTED",
        "BOOT_FAIL",
        "DEADLINE",
        "SPECIAL_EXIT",
    }
)


class SlurmStartError(RuntimeError):
    """The daemons would not come up; the message carries the tail of their logs."""


def _which(name: str) -> str | None:
    # slurmctld/slurmd/munged live in /usr/sbin, which a non-login PATH may lack.
    return shutil.which(name) or shutil.which(name, path="/usr/sbin:/sbin:/usr/bin:/bin")


def slurm_unavailable_reason() -> str | None:
    """Why a Slurm cluster cannot be started here, or None when it can be tried.

    Cheap (no daemon is started), so it suits a `skipif`; CI installs the packages with
    .ci/install-system, so there a non-None answer is a bug: see `skip_or_fail_without_slurm`.
    """
    missing = [n for n in DAEMONS + CLIENTS if _which(n) is None]
    if missing:
        return f"Slurm/munge binaries missing: {', '.join(missing)} (run .ci/install-system)"
    if os.geteuid() != 0:
        return "starting slurmctld/slurmd/munged needs root"
    try:
        pwd.getpwnam("munge")
    except KeyError:
        return "no 'munge' user (munge package not installed properly)"
    return None


def skip_or_fail_without_slurm(reason: str | None = None) -> None:
    """pytest.skip when Slurm is unavailable on a developer machine; pytest.fail under CI=true,
    where the install step must have provided it (a skipped Slurm test would hide a broken setup)."""
    import pytest

    reason = reason if reason is not None else slurm_unavailable_reason()
    if reason is None:
        return
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail(f"Slurm required in CI: {reason}")
    pytest.skip(reason)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _mem_total_mb() -> int:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            return int(line.split()[1]) // 1024
    raise RuntimeError("no MemTotal in /proc/meminfo")


def _tail(path: Path, n: int = 20) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-n:])
    except OSError:
        return "(no log)"


def _munge_works() -> bool:
    """True when a munged answers on the default socket (encode + decode a credential)."""
    munge, unmunge = _which("munge"), _which("unmunge")
    if not (munge and unmunge and MUNGE_SOCKET.exists()):
        return False
    try:
        cred = subprocess.run([munge, "-n"], capture_output=True, timeout=10, check=True).stdout
        subprocess.run([unmunge], input=cred, capture_output=True, timeout=10, check=True)
        return True
    except (subprocess.SubprocessError, OSError):
        return False


def _prepare_munge() -> None:
    """munged refuses to start unless its dirs and key belong to the munge user with tight modes."""
    pw = pwd.getpwnam("munge")
    for d in MUNGE_DIRS:
        os.makedirs(d, exist_ok=True)
        os.chown(d, pw.pw_uid, pw.pw_gid)
    os.chmod("/etc/munge", 0o700)
    os.chmod("/run/munge", 0o755)  # clients (any user) must reach the socket
    if not MUNGE_KEY.exists():
        # what `mungekey --create` does: 1024 random bytes, owned by munge, mode 0400
        fd = os.open(MUNGE_KEY, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o400)
        with os.fdopen(fd, "wb") as f:
            f.write(os.urandom(1024))
    os.chown(MUNGE_KEY, pw.pw_uid, pw.pw_gid)
    os.chmod(MUNGE_KEY, 0o400)


def _conf_text(
    d: Path, node: str, cpus: int, real_memory_mb: int, partition: str, ctld_port: int, slurmd_port: int
) -> str:
    return f"""\
# Written by tests/helpers/slurm_cluster.py: a throw-away single-node cluster.
ClusterName=halatest
SlurmctldHost={node}(127.0.0.1)
SlurmctldPort={ctld_port}
SlurmdPort={slurmd_port}
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
StateSaveLocation={d}/state
SlurmdSpoolDir={d}/spool
SlurmctldPidFile={d}/slurmctld.pid
SlurmdPidFile={d}/slurmd.pid
SlurmctldLogFile={d}/log/slurmctld.log
SlurmdLogFile={d}/log/slurmd.log
# no cgroups in a container: track job processes through /proc, bind nothing
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU_Memory
# without a default, a job that asks no memory takes the whole node and the others wait
DefMemPerCPU=1000
SchedulerType=sched/backfill
# start a job as soon as it is submitted or its dependency is met (halves a 4-job afterok chain: 11.8 s -> 5.7 s)
SchedulerParameters=batch_sched_delay=0,sched_min_interval=0
MpiDefault=none
ReturnToService=2
MailProg=/bin/true
KillWait=5
# no slurmdbd: sacct cannot work; finished jobs stay queryable via squeue/scontrol for an hour
# and jobcomp/filetxt keeps one line per finished job (array task) beyond that
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/filetxt
JobCompLoc={d}/log/jobcomp.txt
MinJobAge=3600
# a job whose afterok dependency failed is cancelled instead of pending forever
# (datatrove's merge_stats job and later stages depend on earlier arrays with afterok)
DependencyParameters=kill_invalid_depend
# reject at sbatch time a job the partition can never run (e.g. --cpus-per-task above the node's CPUs)
# instead of leaving it PENDING (PartitionConfig) forever: datatrove's run() then raises CalledProcessError
EnforcePartLimits=ALL
NodeName={node} NodeAddr=127.0.0.1 CPUs={cpus} RealMemory={real_memory_mb} State=UNKNOWN
PartitionName={partition} Nodes={node} Default=YES MaxTime=INFINITE State=UP
"""


@dataclass
class SlurmCluster:
    """A running cluster: its conf, partition and node, and helpers that query it."""

    root: Path
    conf: Path
    partition: str
    node: str
    cpus: int
    real_memory_mb: int
    _procs: dict[str, subprocess.Popen] = field(default_factory=dict, repr=False)

    @property
    def env(self) -> dict[str, str]:
        """Environment for Slurm client commands (they fail without SLURM_CONF: configless DNS lookup)."""
        return {**os.environ, "SLURM_CONF": str(self.conf)}

    @property
    def log_dir(self) -> Path:
        return self.root / "log"

    def cmd(self, *args: str, check: bool = True, timeout: float = 30) -> subprocess.CompletedProcess:
        """Run a Slurm client command against this cluster; text output."""
        return subprocess.run(list(args), env=self.env, capture_output=True, text=True, check=check, timeout=timeout)

    def node_state(self) -> str:
        r = self.cmd("sinfo", "--noheader", "--Node", f"--nodes={self.node}", "--format=%T", check=False)
        return r.stdout.strip() if r.returncode == 0 else ""

    # ---- job states -------------------------------------------------------------------------
    def array_task_state_by_index(self, job_id: str | int) -> dict[int, str]:
        """Array task index -> Slurm state (PENDING, RUNNING, COMPLETED, FAILED, CANCELLED...).

        squeue with --states=all --array lists every task, pending ones expanded, finished ones while
        slurmctld still holds them (MinJobAge); after that the jobcomp file answers. A non-array
        job is reported as index 0.
        """
        r = self.cmd(
            "squeue", f"--jobs={job_id}", "--states=all", "--array", "--noheader", "--format=%K|%T", check=False
        )
        states: dict[int, str] = {}
        if r.returncode == 0:
            for line in r.stdout.split():
                idx, _, state = line.partition("|")
                states[int(idx) if idx.isdigit() else 0] = state
        if not states:
            states = self._jobcomp_states(str(job_id))
        return states

    def array_task_states(self, job_id: str | int) -> dict[str, int]:
        """State -> number of array tasks in it, e.g. {"COMPLETED": 1, "FAILED": 1}."""
        return dict(Counter(self.array_task_state_by_index(job_id).values()))

    def _jobcomp_states(self, job_id: str) -> dict[int, str]:
        path = self.log_dir / "jobcomp.txt"
        if not path.exists():
            return {}
        states: dict[int, str] = {}
        for line in path.read_text().splitlines():
            kv = dict(re.findall(r"(\w+)=(\S*)", line))
            if kv.get("ArrayJobId") == job_id:
                states[int(kv.get("ArrayTaskId", "0") or 0)] = kv.get("JobState", "")
            elif kv.get("JobId") == job_id and kv.get("ArrayJobId", "0") in ("", "0"):
                states[0] = kv.get("JobState", "")
        return states

    def wait_for_job(self, job_id: str | int, timeout: float = 120, poll: float = 0.5) -> dict[int, str]:
        """Block until every task of the (array) job is in a terminal state; return index -> state.

        Needed because datatrove's executor returns as soon as sbatch has answered.
        """
        deadline = time.monotonic() + timeout
        while True:
            states = self.array_task_state_by_index(job_id)
            if states and all(s in TERMINAL_STATES for s in states.values()):
                return states
            if time.monotonic() > deadline:
                raise TimeoutError(f"job {job_id} not finished after {timeout}s: {states}")
            time.sleep(poll)

    def active_jobs(self) -> list[str]:
        """Job ids (array tasks expanded, e.g. '5_1') that are pending, running or completing."""
        r = self.cmd("squeue", "--noheader", "--array", "--format=%i")
        return r.stdout.split()

    def wait_until_queue_empty(self, timeout: float = 180, poll: float = 0.5) -> None:
        """Block until no job is pending or running (e.g. datatrove's extra merge_stats job too)."""
        deadline = time.monotonic() + timeout
        while jobs := self.active_jobs():
            if time.monotonic() > deadline:
                raise TimeoutError(f"jobs still queued after {timeout}s: {jobs}")
            time.sleep(poll)

    def cancel_all(self, timeout: float = 30) -> None:
        """scancel every job and wait for the queue to drain (job processes gone)."""
        self.cmd("scancel", f"--user={pwd.getpwuid(os.geteuid()).pw_name}", check=False)
        with contextlib.suppress(TimeoutError, subprocess.SubprocessError):
            self.wait_until_queue_empty(timeout=timeout)

    # ---- lifecycle --------------------------------------------------------------------------
    def stop(self) -> None:
        """Cancel jobs, stop slurmd/slurmctld (and munged if we started it), reap the processes."""
        if self._procs.get("slurmctld") and self._procs["slurmctld"].poll() is None:
            with contextlib.suppress(Exception):
                self.cancel_all()
            with contextlib.suppress(Exception):
                self.cmd("scontrol", "shutdown", check=False, timeout=15)
        for name in ("slurmd", "slurmctld", "munged"):
            proc = self._procs.pop(name, None)
            if proc is None:
                continue
            if name != "munged":  # slurm daemons exit on `scontrol shutdown`; munged needs a signal
                with contextlib.suppress(subprocess.TimeoutExpired):
                    proc.wait(timeout=15)
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()


def start_slurm_cluster(
    root: str | os.PathLike[str] | None = None,
    partition: str = "debug",
    timeout: float = 60,
) -> SlurmCluster:
    """Write a conf in `root` (a new temp dir by default), start munged (if none runs), slurmctld and
    slurmd in the foreground, and wait until the node is idle. Raises SlurmStartError with log tails."""
    reason = slurm_unavailable_reason()
    if reason:
        raise SlurmStartError(reason)
    d = Path(root) if root else Path(tempfile.mkdtemp(prefix="slurm-test-"))
    for sub in ("state", "spool", "log"):
        (d / sub).mkdir(parents=True, exist_ok=True)
    node = socket.gethostname().split(".")[0]  # == `hostname -s`, what slurmd matches NodeName against
    cpus = len(os.sched_getaffinity(0))  # == `nproc`
    real_memory_mb = int(_mem_total_mb() * 0.9)  # slurmd drains a node that has less than it claims
    conf = d / "slurm.conf"
    conf.write_text(_conf_text(d, node, cpus, real_memory_mb, partition, _free_port(), _free_port()))
    cluster = SlurmCluster(root=d, conf=conf, partition=partition, node=node, cpus=cpus, real_memory_mb=real_memory_mb)
    env = cluster.env
    try:
        if not _munge_works():
            _prepare_munge()
            with open(d / "log" / "munged.out", "wb") as log:
                cluster._procs["munged"] = subprocess.Popen(
                    [_which("munged"), "--foreground"], user="munge", group="munge", extra_groups=[],
                    stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                )  # fmt: skip
            _wait(lambda: _munge_works(), timeout, "munged", d / "log" / "munged.out", cluster)
        for daemon in ("slurmctld", "slurmd"):
            with open(d / "log" / f"{daemon}.out", "wb") as log:
                cluster._procs[daemon] = subprocess.Popen(
                    [_which(daemon), "-D", "-f", str(conf)], env=env,
                    stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                )  # fmt: skip
            if daemon == "slurmctld":
                _wait(lambda: cluster.cmd("scontrol", "ping", check=False).stdout.count("UP") > 0,
                      timeout, daemon, d / "log" / "slurmctld.log", cluster)  # fmt: skip
        _wait(lambda: cluster.node_state() == "idle", timeout, "node idle", d / "log" / "slurmd.log", cluster)
    except BaseException:
        cluster.stop()
        raise
    return cluster


def _wait(ok, timeout: float, what: str, log: Path, cluster: SlurmCluster) -> None:
    deadline = time.monotonic() + timeout
    while not ok():
        dead = [n for n, p in cluster._procs.items() if p.poll() is not None]
        if dead or time.monotonic() > deadline:
            why = f"exited: {dead}" if dead else f"timeout {timeout}s"
            raise SlurmStartError(f"waiting for {what} ({why}); {log}:\n{_tail(log)}")
        time.sleep(0.3)


@contextlib.contextmanager
def slurm_cluster(
    root: str | os.PathLike[str] | None = None, partition: str = "debug", timeout: float = 60, keep: bool = False
) -> Iterator[SlurmCluster]:
    """Cluster for the duration of the block; SLURM_CONF is set in os.environ meanwhile because
    datatrove calls `sbatch` with the current environment (and the jobs inherit it via --export=ALL,
    so srun/scontrol inside them find the conf too). The temp dir is removed unless `keep`."""
    cluster = start_slurm_cluster(root, partition, timeout)
    old = os.environ.get("SLURM_CONF")
    os.environ["SLURM_CONF"] = str(cluster.conf)
    try:
        yield cluster
    finally:
        cluster.stop()
        if old is None:
            os.environ.pop("SLURM_CONF", None)
        else:
            os.environ["SLURM_CONF"] = old
        if not keep and root is None:
            shutil.rmtree(cluster.root, ignore_errors=True)
