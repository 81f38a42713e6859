"""compare's executor: every run one job, started once the runs it needs are done, on an existing engine.

A run is a :class:`Task` (``fn(job)`` for one :class:`~signdistill.pipelines.compare_plan.Job`, started
once the tasks it waits ``after`` are done). :func:`run_tasks` hands them to an engine:

- ``local`` (:class:`LocalPool`): the standard library's ``ProcessPoolExecutor`` with the ``spawn``
  context, a fresh process per run with one OpenMP thread, ``jobs`` at a time;
- ``submitit-local`` and ``slurm``: one submitit job per run (:mod:`signdistill.pipelines.executor_submitit`).

Whatever the engine, a finished run is reused without a job (``Task.reuse``), Ctrl-C or SIGTERM stops or
cancels every run still going (their last checkpoints are kept, so the same command resumes them), a
failed run is named in a :class:`~signdistill.errors.SignDistillError`, and :class:`exclusive` holds
``OUT/.lock`` so that two comparisons never train the same run folders at once.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from signdistill.errors import SignDistillError
from signdistill.pipelines.compare_plan import Job
from signdistill.signals import handling

Event = Callable[[str, str, dict[str, Any]], None]


@dataclass
class Task:
    """One run for an engine: ``fn(job)``, started once every task in ``after`` is done.

    ``reuse(job)``, when given, returns a finished run's result (or None); such a run needs no job.
    """

    key: str
    fn: Callable[[Job], dict[str, Any]]
    job: Job
    phase: str
    after: tuple[str, ...] = ()
    reuse: Callable[[Job], dict[str, Any] | None] | None = None


class Engine(Protocol):
    """What :func:`run_tasks` needs of an engine; a handle is whatever ``submit`` returns per task."""

    capacity: int | None  # most runs in flight at once (None: the scheduler decides)
    chains: bool  # can a run be submitted before the runs it waits for end (SLURM's afterok)?

    def submit(self, tasks: list[Task], after: list[Any]) -> list[Any]: ...
    def wait_any(self, handles: list[Any]) -> list[Any]: ...
    def result(self, handle: Any, task: Task, in_flight: list[Task]) -> dict[str, Any]: ...
    def stop(self, handles: list[Any]) -> None: ...
    def close(self) -> None: ...


def run_all(fn: Callable[[Job], dict[str, Any]], jobs: list[Job], workers: int, on_event: Event | None, phase: str) -> list[dict[str, Any]]:
    """Run ``fn`` over ``jobs``, ``workers`` processes at a time, each job in a fresh process."""
    done = run_tasks([Task(str(i), fn, job, phase) for i, job in enumerate(jobs)], workers, on_event)
    return [done[str(i)] for i in range(len(jobs))]


def run_tasks(
    tasks: list[Task], workers: int, on_event: Event | None, engine: Engine | None = None, *, detach: bool = False
) -> dict[str, dict[str, Any]]:
    """Run tasks in list order as their dependencies finish; return each task's result by key.

    ``engine`` defaults to :class:`LocalPool` with ``workers`` processes. With ``detach`` the call
    returns once every run that can be submitted now is (the engine keeps them going); the results
    returned are then those of the reused runs only.
    """
    results: dict[str, dict[str, Any]] = {}
    if not tasks:
        return results
    engine = engine or LocalPool(workers)
    queue = list(tasks)
    flying: dict[Any, Task] = {}
    started: dict[str, float] = {}
    try:
        with _stopping(engine, flying):
            while _submit_ready(engine, queue, flying, results, started, on_event):
                pass
            while (queue or flying) and not detach:
                if not flying:
                    raise RuntimeError(f"compare: tasks wait on each other: {[t.key for t in queue]}")  # a bug, not user input
                for handle in engine.wait_any(list(flying)):
                    task = flying[handle]
                    results[task.key] = engine.result(handle, task, list(flying.values()))
                    del flying[handle]
                    if on_event:
                        seconds = time.time() - started[task.key]
                        on_event("done", task.job.name, {"phase": task.phase, "seconds": seconds, **results[task.key]})
                while _submit_ready(engine, queue, flying, results, started, on_event):
                    pass
    finally:
        engine.close()
    return results


def _submit_ready(
    engine: Engine, queue: list[Task], flying: dict[Any, Task], results: dict[str, Any], started: dict[str, float], on_event: Event | None
) -> int:
    """Reuse the finished runs that are ready, submit the others (grouped by what they wait for); how many moved."""
    moved = 0
    for task in [t for t in queue if t.reuse is not None and all(k in results for k in t.after)]:
        prev = task.reuse(task.job)  # type: ignore[misc]
        if prev is not None:
            queue.remove(task)
            results[task.key] = prev
            moved += 1
            if on_event:
                on_event("start", task.job.name, {"phase": task.phase})
                on_event("done", task.job.name, {"phase": task.phase, "seconds": 0.0, **prev})
    waiting = {t.key: h for h, t in flying.items()}
    ready = [t for t in queue if all(k in results or (engine.chains and k in waiting) for k in t.after)]
    if engine.capacity is not None:
        ready = ready[: max(0, engine.capacity - len(flying))]
    groups: dict[tuple[str, ...], list[Task]] = {}
    for task in ready:  # runs that wait for the same runs go as one job array
        groups.setdefault(tuple(k for k in task.after if k in waiting), []).append(task)
    for after, group in groups.items():
        for task, handle in zip(group, engine.submit(group, [waiting[k] for k in after])):
            queue.remove(task)
            flying[handle] = task
            started[task.key] = time.time()
            moved += 1
            if on_event:
                on_event("start", task.job.name, {"phase": task.phase})
    return moved


@contextmanager
def _stopping(engine: Engine, flying: dict[Any, Task]) -> Iterator[None]:
    """Ctrl-C or SIGTERM to `compare` stops (or cancels) its runs too, and says how to resume.

    Without its own SIGTERM handler the parent would die at once and its runs train on, orphaned;
    with it they save their position and resume on the next call."""
    with handling(_term, signal.SIGTERM):
        try:
            yield
        except BaseException as exc:
            engine.stop(list(flying))
            if isinstance(exc, KeyboardInterrupt):
                _say_stopped("Ctrl-C")
            raise


def _term(signum: int, frame: Any) -> None:
    """SIGTERM to `compare`: say so and exit with 128 + the signal (``_stopping`` then stops the runs)."""
    _say_stopped("SIGTERM")
    raise SystemExit(128 + signum)


def _say_stopped(how: str) -> None:
    import sys

    sys.stderr.write(f"compare: stopped by {how}, its runs too; run the same command again to resume.\n")


def failed_run(task: Task, exc: BaseException) -> SignDistillError:
    """The error that names the run ``task`` and what went wrong in it (whatever the engine)."""
    name = task.job.name
    if isinstance(exc, SignDistillError):
        why = str(exc).removeprefix("compare: ")
        err = SignDistillError(f"compare: run {name!r} failed: {why}")
        err.exit_code = getattr(exc, "exit_code", 2)  # type: ignore[attr-defined]
        return err
    return SignDistillError(
        f"compare: run {name!r} failed with {type(exc).__name__}: {exc}. Its folder is "
        f"{task.job.config.get('run_dir')}; fix the cause and run the same command again to resume."
    )


class LocalPool:
    """The ``local`` engine: ``ProcessPoolExecutor`` (spawn), a fresh process per run, ``workers`` at a time."""

    chains = False

    def __init__(self, workers: int):
        self.capacity: int | None = max(1, workers)
        self.pool: ProcessPoolExecutor | None = None
        self.env_before: str | None = None

    def submit(self, tasks: list[Task], after: list[Any]) -> list[Any]:
        if self.pool is None:
            import multiprocessing
            import sys

            self.env_before = os.environ.get("OMP_NUM_THREADS")
            os.environ["OMP_NUM_THREADS"] = "1"  # inherited by the workers before torch loads there
            # One process per run (a fresh torch, no state carried over); Python 3.10 lacks the option,
            # there a worker runs several jobs in turn, each still with its own seed and one thread.
            extra: dict[str, Any] = {"max_tasks_per_child": 1} if sys.version_info >= (3, 11) else {}
            ctx = multiprocessing.get_context("spawn")
            self.pool = ProcessPoolExecutor(max_workers=self.capacity, mp_context=ctx, **extra)
        return [self.pool.submit(t.fn, t.job) for t in tasks]

    def wait_any(self, handles: list[Any]) -> list[Any]:
        finished, _ = wait(handles, return_when=FIRST_COMPLETED)
        return [h for h in handles if h in finished]  # in submission order

    def result(self, handle: Any, task: Task, in_flight: list[Task]) -> dict[str, Any]:
        fut: Future[dict[str, Any]] = handle
        try:
            return fut.result()
        except BrokenProcessPool:
            running = ", ".join(repr(t.job.name) for t in in_flight)
            raise SignDistillError(
                f"compare: a process died (killed, out of memory, or, from Python, a script without an "
                f"`if __name__ == '__main__':` guard) while running {running}. Finished runs are kept and a "
                "half-finished one resumes from its last checkpoint: run the same command again."
            ) from None
        except Exception as exc:  # noqa: BLE001 - name the run, whatever went wrong in it
            raise failed_run(task, exc) from None

    def stop(self, handles: list[Any]) -> None:
        """Do not wait hours for the runs still going: stop them (their last checkpoints are kept)."""
        if self.pool is None:
            return
        for fut in handles:
            fut.cancel()
        terminate = getattr(self.pool, "terminate_workers", None)  # Python 3.14+
        if terminate is not None:
            terminate()
        else:  # before 3.14 the pool offers no way to stop a running call but its processes
            for proc in list((getattr(self.pool, "_processes", None) or {}).values()):
                if proc.is_alive():
                    proc.terminate()
        self.pool.shutdown(wait=True, cancel_futures=True)

    def close(self) -> None:
        if self.pool is None:
            return
        self.pool.shutdown(wait=True, cancel_futures=True)
        self.pool = None
        if self.env_before is None:
            os.environ.pop("OMP_NUM_THREADS", None)
        else:
            os.environ["OMP_NUM_THREADS"] = self.env_before


class exclusive:
    """Hold ``OUT/.lock`` so that two comparisons never train the same run folders at once."""

    def __init__(self, folder: Path):
        self.path = folder / ".lock"
        self.file: Any = None

    def __enter__(self) -> exclusive:
        try:
            import fcntl
        except ImportError:  # Windows: no advisory locks here
            return self
        self.file = open(self.path, "a")  # noqa: SIM115 - held for the whole comparison
        try:
            fcntl.flock(self.file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            self.file.close()
            raise SignDistillError(
                f"compare: another comparison is running in {self.path.parent} (it holds {self.path}). Wait for it to "
                "finish, or use another --out folder."
            ) from None
        return self

    def __exit__(self, *exc: Any) -> None:
        if self.file is not None:
            self.file.close()
