"""compare's submitit engine: one submitit job per run, on SLURM (``slurm``) or as local processes (``submitit-local``).

submitit (the ``slurm`` extra) pickles each run, submits it (runs that wait for the same runs go as
one job array) and returns a job whose result is the run's result. On SLURM a student that needs the
teacher is submitted at once with ``--dependency=afterok:<teacher>``; submitit's local executor has
no dependencies, so there it is submitted once the teacher is done. A job that reaches its time limit
or is preempted is requeued by submitit (the run is :class:`_Resumable`) and resumes from its run
folder's ``last/`` checkpoint, as a killed one does when `compare` is run again. Which job runs which
run folder is kept in ``OUT/submitit/jobs.json``: a later `compare` (after ``--detach``) waits for
those still running instead of submitting them again.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from signdistill.config.compare import CompareExecutor
from signdistill.errors import SignDistillError
from signdistill.io import write_json_atomic
from signdistill.pipelines.compare_plan import Job
from signdistill.pipelines.executor import Task

STATE = "jobs.json"
_ALIVE = {"PENDING", "RUNNING", "REQUEUED", "CONFIGURING", "COMPLETING", "RESIZING", "SUSPENDED", "REQUEUE_HOLD", "REQUEUE_FED"}


def require_submitit(kind: str) -> Any:
    """The submitit module, or an error that names the extra to install (and, for ``slurm``, SLURM's commands)."""
    import shutil

    try:
        import submitit
    except ImportError:
        raise SignDistillError(
            f"compare: executor {kind!r} runs through submitit, which is not installed. Install the extra: "
            "pip install 'signdistill[slurm]' (or run with --executor local)."
        ) from None
    if kind == "slurm" and not (shutil.which("srun") and shutil.which("sbatch")):
        raise SignDistillError(
            "compare: --executor slurm needs SLURM's srun and sbatch, which are not on PATH here. Run compare on the "
            "cluster's login node, or use --executor submitit-local (the same jobs as local processes)."
        )
    return submitit


class _Resumable:
    """A run as a submitit job; submitit calls ``checkpoint`` on preemption or timeout and requeues it,
    and the run then resumes from its ``last/`` checkpoint."""

    def __init__(self, fn: Callable[[Job], dict[str, Any]]):
        self.fn = fn

    def __call__(self, job: Job) -> dict[str, Any]:
        return self.fn(job)

    def checkpoint(self, *args: Any, **kwargs: Any) -> Any:
        from submitit.helpers import DelayedSubmission

        return DelayedSubmission(self, *args, **kwargs)


class _Attached:
    """A job an earlier `compare --detach` submitted and that still runs: waited for, not submitted again."""

    def __init__(self, job_id: str, alive: Callable[[], bool], cancel: Callable[[], None]):
        self.job_id = job_id
        self.alive = alive
        self.cancel_job = cancel

    def done(self) -> bool:
        return not self.alive()

    def cancel(self, check: bool = False) -> None:
        self.cancel_job()


def _key(task: Task) -> str:
    return f"{task.phase}:{task.job.config.get('run_dir')}"


class SubmititEngine:
    """The ``submitit-local`` and ``slurm`` engines of :func:`~signdistill.pipelines.executor.run_tasks`."""

    def __init__(self, spec: CompareExecutor, folder: Path, workers: int):
        self.submitit = require_submitit(spec.kind)
        self.spec = spec
        self.folder = Path(folder)
        self.slurm = spec.kind == "slurm"
        self.chains = self.slurm
        self.capacity: int | None = None if self.slurm else max(1, workers)
        self.poll_s = 15.0 if self.slurm else 0.5
        state = self.folder / STATE
        self.state: dict[str, str] = json.loads(state.read_text(encoding="utf-8")) if state.is_file() else {}
        self.submitted: list[str] = []

    def _executor(self, after: list[Any]) -> Any:
        spec = self.spec
        ex = self.submitit.AutoExecutor(folder=self.folder / "%j", cluster="slurm" if self.slurm else "local")
        params: dict[str, Any] = {"name": "signdistill-compare", "timeout_min": spec.time_min}
        if self.slurm:
            params |= {
                "cpus_per_task": spec.cpus_per_job,
                "gpus_per_node": spec.gpus_per_job or None,
                "mem_gb": spec.mem_gb,
                "slurm_partition": spec.partition,
                "slurm_account": spec.account,
                "slurm_qos": spec.qos,
                "slurm_array_parallelism": spec.array_parallelism,
                "slurm_setup": spec.setup or None,
                "slurm_dependency": "afterok:" + ":".join(str(h.job_id) for h in after) if after else None,
            }
        elif spec.gpus_per_job:
            params["gpus_per_node"] = spec.gpus_per_job
        ex.update_parameters(**{k: v for k, v in params.items() if v is not None})
        return ex

    def submit(self, tasks: list[Task], after: list[Any]) -> list[Any]:
        handles: dict[int, Any] = {i: self._attach(t) for i, t in enumerate(tasks)}
        new = [i for i, h in handles.items() if h is None]
        if new:
            ex = self._executor(after)
            before = os.environ.get("OMP_NUM_THREADS")
            os.environ["OMP_NUM_THREADS"] = "1"  # the jobs inherit it (sbatch exports the environment)
            try:
                with ex.batch():  # one job array on SLURM
                    jobs = [ex.submit(_Resumable(tasks[i].fn), tasks[i].job) for i in new]
            finally:
                if before is None:
                    os.environ.pop("OMP_NUM_THREADS", None)
                else:
                    os.environ["OMP_NUM_THREADS"] = before
            for i, job in zip(new, jobs):
                handles[i] = job
                self.state[_key(tasks[i])] = str(job.job_id)
                self.submitted.append(str(job.job_id))
            self.folder.mkdir(parents=True, exist_ok=True)
            write_json_atomic(self.folder / STATE, self.state)
        return [handles[i] for i in range(len(tasks))]

    def _attach(self, task: Task) -> _Attached | None:
        """The job an earlier call submitted for this run, if it still runs."""
        job_id = self.state.get(_key(task))
        if job_id is None:
            return None
        if self.slurm:
            job = self.submitit.SlurmJob(self.folder / job_id, job_id)
            if job.state.split(" ")[0] not in _ALIVE:
                return None
            return _Attached(job_id, lambda: job.state.split(" ")[0] in _ALIVE, lambda: job.cancel(check=False))
        if not _local_job_alive(job_id):
            return None
        return _Attached(job_id, lambda: _local_job_alive(job_id), lambda: _signal(job_id))

    def wait_any(self, handles: list[Any]) -> list[Any]:
        while True:
            done = [h for h in handles if h.done()]
            if done:
                return done
            time.sleep(self.poll_s)

    def result(self, handle: Any, task: Task, in_flight: list[Task]) -> dict[str, Any]:
        name, job_id = task.job.name, handle.job_id
        if isinstance(handle, _Attached):
            prev = task.reuse(task.job) if task.reuse is not None else None
            if prev is None:
                raise SignDistillError(
                    f"compare: job {job_id} of run {name!r} (submitted by an earlier `compare`) ended without a result; its "
                    f"log is in {self.folder / job_id}. Run the same command again to resume it from its last checkpoint."
                )
            return prev
        utils = self.submitit.core.utils
        try:
            out: dict[str, Any] = handle.result()
            return out
        except utils.FailedJobError as exc:
            lines = [x for x in str(exc).splitlines() if x.strip()]
            why = lines[-1].strip() if lines else "(no message)"
            raise SignDistillError(
                f"compare: run {name!r} failed in job {job_id}: {why} (log: {handle.paths.stderr}). Fix the cause and run "
                "the same command again to resume."
            ) from None
        except utils.UncompletedJobError:
            raise SignDistillError(
                f"compare: job {job_id} of run {name!r} ended without a result (killed, preempted past its requeues, out of "
                f"memory or time; log: {handle.paths.stderr}). Finished runs are kept and a half-finished one resumes from "
                "its last checkpoint: run the same command again."
            ) from None

    def stop(self, handles: list[Any]) -> None:
        """Cancel every job in flight; locally, wait until their processes are gone (SIGKILL after 10 s)."""
        # Locally, note each job's processes first: a controller that exits leaves its runs to init.
        trees = [] if self.slurm else [pid for h in handles for pid in _tree(int(h.job_id))]
        for h in handles:
            h.cancel(check=False)
        if self.slurm:
            return
        deadline = time.time() + 10
        while time.time() < deadline and (not all(h.done() for h in handles) or any(_running(p) for p in trees)):
            time.sleep(0.1)
        for pid in trees:  # slow to pass SIGINT on (a busy machine): end them
            if _running(pid):
                _kill(pid)
        deadline = time.time() + 10
        while time.time() < deadline and not all(h.done() for h in handles):
            time.sleep(0.1)

    def close(self) -> None:
        pass


def _local_job_alive(job_id: str) -> bool:
    """Does the controller process of submitit's local job ``job_id`` (its pid) still run?"""
    try:
        os.kill(int(job_id), 0)
    except (ProcessLookupError, PermissionError, ValueError):
        return False
    cmdline = Path(f"/proc/{job_id}/cmdline")
    # Not a recycled pid (nor a zombie: its command line is empty).
    return not cmdline.is_file() or b"submitit" in cmdline.read_bytes()


def _tree(pid: int) -> list[int]:
    """``pid`` and every process below it, children first (through /proc; empty elsewhere)."""
    children: list[int] = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            children += [int(c) for c in (task / "children").read_text().split()]
        except (OSError, ValueError):
            pass
    return [p for c in children for p in _tree(c)] + ([pid] if Path(f"/proc/{pid}").is_dir() else [])


def _running(pid: int) -> bool:
    """Alive and not a zombie."""
    stat = Path(f"/proc/{pid}/stat")
    try:
        return stat.read_text().split(")")[-1].split()[0] != "Z"
    except OSError:
        return False


def _kill(pid: int) -> None:
    import signal

    try:
        os.kill(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def _signal(job_id: str) -> None:
    import signal

    try:
        os.kill(int(job_id), signal.SIGINT)  # what submitit's LocalJob.cancel sends its controller
    except (ProcessLookupError, ValueError):
        pass
