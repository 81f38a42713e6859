"""compare's executor: runs, each in its own process, ``jobs`` at a time, as their dependencies finish.

A run is a :class:`Task` (``fn(job)`` for one :class:`~signdistill.pipelines.compare_plan.Job`, started
once the tasks it waits ``after`` are done). Each runs in a fresh spawned process with one OpenMP thread.
Ctrl-C or SIGTERM stops the runs still going (their last checkpoints are kept, so the same command
resumes them); a failed run is named in a :class:`~signdistill.errors.SignDistillError`. :class:`exclusive`
holds ``OUT/.lock`` so that two comparisons never train the same run folders at once.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from signdistill.errors import SignDistillError
from signdistill.pipelines.compare_plan import Job

Event = Callable[[str, str, dict[str, Any]], None]


@dataclass
class Task:
    """One unit of work for the process pool: ``fn(job)``, started once every task in ``after`` is done."""

    key: str
    fn: Callable[[Job], dict[str, Any]]
    job: Job
    phase: str
    after: tuple[str, ...] = ()


def run_all(fn: Callable[[Job], dict[str, Any]], jobs: list[Job], workers: int, on_event: Event | None, phase: str) -> list[dict[str, Any]]:
    """Run ``fn`` over ``jobs``, ``workers`` processes at a time, each job in a fresh process."""
    done = run_tasks([Task(str(i), fn, job, phase) for i, job in enumerate(jobs)], workers, on_event)
    return [done[str(i)] for i in range(len(jobs))]


def run_tasks(tasks: list[Task], workers: int, on_event: Event | None) -> dict[str, dict[str, Any]]:
    """Run tasks in list order as their dependencies finish, ``workers`` processes at a time."""
    import multiprocessing
    import sys

    results: dict[str, dict[str, Any]] = {}
    if not tasks:
        return results
    ctx = multiprocessing.get_context("spawn")
    env_before = os.environ.get("OMP_NUM_THREADS")
    os.environ["OMP_NUM_THREADS"] = "1"  # inherited by the workers before torch loads there
    # One process per run (a fresh torch, no state carried over); Python 3.10 lacks the option,
    # there a worker runs several jobs in turn, each still with its own seed and one thread.
    extra: dict[str, Any] = {"max_tasks_per_child": 1} if sys.version_info >= (3, 11) else {}
    workers = max(1, workers)
    pool = ProcessPoolExecutor(max_workers=min(workers, len(tasks)), mp_context=ctx, **extra)
    pending: dict[Future[dict[str, Any]], Task] = {}
    started: dict[str, float] = {}
    queue = list(tasks)
    previous_term = _raise_on_sigterm()
    try:
        while queue or pending:
            for task in [t for t in queue if all(k in results for k in t.after)]:
                if len(pending) >= workers:
                    break
                queue.remove(task)
                started[task.key] = time.time()
                pending[pool.submit(task.fn, task.job)] = task
                if on_event:
                    on_event("start", task.job.name, {"phase": task.phase})
            if not pending:
                raise RuntimeError(f"compare: tasks wait on each other: {[t.key for t in queue]}")  # a bug, not user input
            finished, _ = wait(pending, return_when=FIRST_COMPLETED)
            in_flight = list(pending.values())
            for fut in finished:
                task = pending.pop(fut)
                results[task.key] = _task_result(fut, task, in_flight, results)
                if on_event:
                    on_event("done", task.job.name, {"phase": task.phase, "seconds": time.time() - started[task.key], **results[task.key]})
    except BaseException as exc:
        _stop(pool, pending)
        if isinstance(exc, KeyboardInterrupt):
            _say_stopped("Ctrl-C")
        raise
    finally:
        if previous_term is not None:
            signal.signal(signal.SIGTERM, previous_term)
        if env_before is None:
            os.environ.pop("OMP_NUM_THREADS", None)
        else:
            os.environ["OMP_NUM_THREADS"] = env_before
    pool.shutdown(wait=True)
    return results


def _raise_on_sigterm() -> Any:
    """SIGTERM to `compare` stops its runs too (they save their position and resume on the next
    call): without this the parent dies at once and its worker processes train on, orphaned.
    Returns the previous handler (None off the main thread, where signals cannot be handled)."""
    import threading

    if threading.current_thread() is not threading.main_thread():
        return None

    def _term(signum: int, frame: Any) -> None:
        _say_stopped("SIGTERM")
        raise SystemExit(128 + signum)

    return signal.signal(signal.SIGTERM, _term)


def _say_stopped(how: str) -> None:
    import sys

    sys.stderr.write(f"compare: stopped by {how}, its runs too; run the same command again to resume.\n")


def _task_result(fut: Future[dict[str, Any]], task: Task, in_flight: list[Task], results: dict[str, Any]) -> dict[str, Any]:
    """A finished task's result, or a :class:`SignDistillError` that names the run that failed."""
    name = task.job.name
    try:
        return fut.result()
    except BrokenProcessPool:
        running = ", ".join(repr(t.job.name) for t in in_flight if t.key not in results)
        raise SignDistillError(
            f"compare: a process died (killed, out of memory, or, from Python, a script without an "
            f"`if __name__ == '__main__':` guard) while running {running}. Finished runs are kept and a "
            "half-finished one resumes from its last checkpoint: run the same command again."
        ) from None
    except SignDistillError as exc:
        why = str(exc).removeprefix("compare: ")
        err = SignDistillError(f"compare: run {name!r} failed: {why}")
        err.exit_code = getattr(exc, "exit_code", 2)  # type: ignore[attr-defined]
        raise err from None
    except Exception as exc:  # noqa: BLE001 - name the run, whatever went wrong in it
        raise SignDistillError(
            f"compare: run {name!r} failed with {type(exc).__name__}: {exc}. Its folder is "
            f"{task.job.config.get('run_dir')}; fix the cause and run the same command again to resume."
        ) from None


def _stop(pool: ProcessPoolExecutor, pending: dict[Future[dict[str, Any]], Task]) -> None:
    """Do not wait hours for the runs still going: stop them (their last checkpoints are kept)."""
    for fut in pending:
        fut.cancel()
    procs = getattr(pool, "_processes", None) or {}
    for proc in list(procs.values()):
        if proc.is_alive():
            proc.terminate()
    pool.shutdown(wait=True, cancel_futures=True)


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
