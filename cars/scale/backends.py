"""Where a sweep's cells run: a local process pool (the default), or Ray tasks on a local instance or a cluster.

Both take the same jobs (a cell, its run folder on the driver machine, the unseen-track count) and
report the same events to `on_event(event)`:

    {"type": "start", "cell": i, "where": "host pid 1234", "pid": 1234}   a worker began the cell
    {"type": "generation", "cell": i, "generation": g}                     it finished its g-th generation
    {"type": "result", "cell": i, "result": {...}}                          the cell finished (result.json written)
    {"type": "retry", "cell": i, "reason": "..."}                            its worker died; the cell runs again
    {"type": "failed", "cell": i, "error": "..."}                            the cell's run raised an error

LocalPool: one worker process per core, each fed one cell at a time over its own pipe, so the pool knows
which cell every worker holds. Workers write the cell's run folder themselves (a checkpoint after every
generation). A worker that dies (killed, out of memory) is replaced and its cell resubmitted: the new
worker resumes the cell from its last checkpoint, bit-exact, so no cell is lost and none changes.

RayCells: one Ray task per cell (num_cpus=1). The task runs the cell in a private temporary folder on
whichever machine Ray picks and streams the run folder's files back after every generation (a Ray
generator); the driver writes them into the cell's folder, so workers need no shared disk and an
interrupted sweep keeps every cell's latest checkpoint. Ray retries a task whose worker died; the retry
replays the same deterministic generations. Ray is imported only here, only when asked for.
"""

from __future__ import annotations

import logging
import multiprocessing as mp
import os
import signal
import socket
import tempfile
from collections import Counter, deque
from dataclasses import dataclass
from multiprocessing.connection import wait
from pathlib import Path
from typing import Any, Callable, Iterator
from urllib.parse import urlparse

from engine.atomic import write_bytes_atomic
from engine.blas import blas_threads
from cars.learn.config import Config
from cars.learn.run_files import first_line
from cars.scale.sweep import RESULT_FILE, Cell, cell_state, iterate_cell, run_cell

Event = dict[str, Any]
MAX_DEATHS = 3  # a cell whose worker died this many times more is reported as failed (e.g. it runs out of memory)


class ClusterError(ValueError):
    """Ray is missing, or the cluster cannot be reached (one line)."""


@dataclass(frozen=True)
class CellJob:
    cell: Cell
    folder: Path   # the cell's run folder on the driver machine
    unseen: int = 0


# ---- the local process pool ----------------------------------------------------------------------------

def _pool_worker(conn: Any) -> None:
    """A pool process: run the cells it is sent, one at a time, until it is sent None."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C belongs to the driver, which stops the workers
    with blas_threads(1):  # one core per worker: the pool, not BLAS, spreads the work
        while True:
            try:
                job = conn.recv()
            except (EOFError, OSError):
                return
            if job is None:
                return
            try:
                result = run_cell(job.cell.config, job.folder, job.unseen,
                                  on_generation=lambda g, i=job.cell.index: conn.send(("generation", i, g)))
                conn.send(("result", job.cell.index, result))
            except Exception as e:  # the cell's own error (e.g. its brains diverged): report it, keep serving
                conn.send(("failed", job.cell.index, first_line(e)))


@dataclass
class _Slot:
    process: Any
    conn: Any
    job: CellJob | None = None


class LocalPool:
    """`workers` processes on this machine (default: one per core)."""

    def __init__(self, workers: int | None = None) -> None:
        self.workers = max(1, int(workers or os.cpu_count() or 1))

    def describe(self) -> str:
        return f"local pool of {self.workers} worker process{'es' if self.workers > 1 else ''}"

    def run(self, jobs: list[CellJob], on_event: Callable[[Event], None]) -> None:
        ctx = _process_context()
        pending, deaths, slots = deque(jobs), Counter(), []
        try:
            while pending or any(s.job is not None for s in slots):
                while pending and len(slots) < self.workers:
                    slots.append(_start_worker(ctx))
                for slot in slots:
                    if slot.job is None and pending:
                        self._hand_out(slot, pending.popleft(), on_event)
                busy = [s for s in slots if s.job is not None]
                wait([s.conn for s in busy] + [s.process.sentinel for s in busy], timeout=1.0)
                for slot in busy:
                    self._collect(slot, on_event)
                    if slot.job is not None and not slot.process.is_alive():
                        slots.remove(slot)
                        self._worker_died(slot, pending, deaths, on_event)
        finally:
            _stop_workers(slots)

    @staticmethod
    def _hand_out(slot: _Slot, job: CellJob, on_event: Callable[[Event], None]) -> None:
        slot.job = job
        try:
            slot.conn.send(job)
        except (BrokenPipeError, OSError):
            return  # the worker is gone; the loop notices and resubmits the cell
        on_event({"type": "start", "cell": job.cell.index, "where": f"{socket.gethostname()} pid {slot.process.pid}",
                  "pid": slot.process.pid})

    @staticmethod
    def _collect(slot: _Slot, on_event: Callable[[Event], None]) -> None:
        """Read every message the worker has sent (also those sent just before it died)."""
        try:
            while slot.job is not None and slot.conn.poll():
                kind, index, value = slot.conn.recv()
                if kind == "generation":
                    on_event({"type": "generation", "cell": index, "generation": value})
                elif kind == "result":
                    slot.job = None
                    on_event({"type": "result", "cell": index, "result": value})
                elif kind == "failed":
                    slot.job = None
                    on_event({"type": "failed", "cell": index, "error": value})
        except (EOFError, OSError):
            pass  # died: the caller sees the process gone

    @staticmethod
    def _worker_died(slot: _Slot, pending: deque, deaths: Counter, on_event: Callable[[Event], None]) -> None:
        job, code = slot.job, slot.process.exitcode
        slot.conn.close()
        deaths[job.cell.index] += 1
        how = f"killed by signal {-code}" if code is not None and code < 0 else f"exit code {code}"
        if deaths[job.cell.index] > MAX_DEATHS:
            on_event({"type": "failed", "cell": job.cell.index,
                      "error": f"its worker died {deaths[job.cell.index]} times (last: {how})"})
            return
        pending.appendleft(job)  # first in line: a new worker resumes it from its checkpoint
        on_event({"type": "retry", "cell": job.cell.index,
                  "reason": f"worker pid {slot.process.pid} died ({how}); resuming the cell from its checkpoint"})


def _process_context() -> Any:
    """forkserver where there is one (fast, and safe whatever threads the driver runs), else spawn."""
    if "forkserver" in mp.get_all_start_methods():
        ctx = mp.get_context("forkserver")
        ctx.set_forkserver_preload(["cars.scale.backends"])
        return ctx
    return mp.get_context("spawn")


def _start_worker(ctx: Any) -> _Slot:
    parent, child = ctx.Pipe()
    process = ctx.Process(target=_pool_worker, args=(child,), daemon=True, name="cars-sweep-worker")
    process.start()
    child.close()
    return _Slot(process, parent)


def _stop_workers(slots: list[_Slot]) -> None:
    """Idle workers are told to stop; busy ones (only after Ctrl-C or an error) are terminated: their cell
    keeps its last checkpoint (every file is written atomically)."""
    for slot in slots:
        if slot.job is None:
            try:
                slot.conn.send(None)
            except (BrokenPipeError, OSError):
                pass
        else:
            slot.process.terminate()
    for slot in slots:
        slot.process.join(timeout=5)
        if slot.process.is_alive():
            slot.process.kill()
            slot.process.join()
        slot.conn.close()


# ---- Ray --------------------------------------------------------------------------------------------------

RAY_INSTALL_HINT = "install it with: python3 -m pip install -e \".[cluster]\"  (or: pip install \"ray[default]\")"


def import_ray() -> Any:
    try:
        import ray
    except ImportError:
        raise ClusterError(f"--backend ray needs Ray, which is not installed; {RAY_INSTALL_HINT}") from None
    return ray


def check_reachable(address: str, timeout: float = 5.0) -> None:
    """ClusterError unless something listens at the address ("host:port"): a clear
    line at once instead of Ray's long retries against a machine that is not there."""
    parsed = urlparse(address if "://" in address else f"tcp://{address}")
    try:
        host, port = parsed.hostname, parsed.port
    except ValueError:
        host, port = None, None
    if not host or not port:
        raise ClusterError(f"--address {address}: expected HOST:PORT (e.g. 192.168.1.10:6379), "
                           f"auto or local")
    try:
        socket.create_connection((host, port), timeout=timeout).close()
    except OSError as e:
        raise ClusterError(f"--address {address}: cannot reach a Ray cluster there "
                           f"({e.strerror or type(e).__name__}); is `ray start --head` running on it?") from None


class RayConnection:
    """Ray for this process: joins `address` (or RAY_ADDRESS), else starts a local instance with `cpus`
    CPUs (default: all). If Ray is already initialised (e.g. by a test), it is used and left running."""

    def __init__(self, address: str | None = None, cpus: int | None = None) -> None:
        ray = import_ray()
        self.owned = not ray.is_initialized()
        address = address or os.environ.get("RAY_ADDRESS") or None
        if self.owned:
            if address not in (None, "auto", "local"):
                check_reachable(address)
            options = dict(include_dashboard=False, log_to_driver=False, logging_level=logging.ERROR)
            try:
                if address in (None, "local"):
                    ray.init(address="local", num_cpus=cpus, **options)
                else:
                    ray.init(address=address, **options)
            except Exception as e:  # Ray's own errors: one line, exit 2
                hint = "" if address in (None, "local") else \
                    ("; if the cluster uses token authentication, set RAY_AUTH_MODE=token and RAY_AUTH_TOKEN (from "
                     "`ray get-auth-token` on its head) here too")
                raise ClusterError(f"Ray did not start{f' at {address}' if address else ''}: {first_line(e)}{hint}") \
                    from None
        self.address = address or "local"
        self.cpus = max(1, int(ray.cluster_resources().get("CPU", 1)))
        self.nodes = sum(1 for node in ray.nodes() if node.get("Alive"))

    def describe(self) -> str:
        where = "a local Ray instance" if self.address == "local" else f"the Ray cluster at {self.address}"
        return f"{where} ({self.cpus} CPUs on {self.nodes} node{'s' if self.nodes != 1 else ''})"

    def close(self) -> None:
        if self.owned:
            import_ray().shutdown()
            self.owned = False


def folder_files(folder: Path) -> dict[str, bytes]:
    """The files of a run folder (not the lock or temp files), as bytes."""
    return {p.name: p.read_bytes() for p in sorted(Path(folder).iterdir()) if p.is_file() and not p.name.startswith(".")}


def write_folder_files(folder: Path, files: dict[str, bytes]) -> None:
    """Write a run folder's files atomically; result.json last, so a cell counts as finished only when whole."""
    for name in sorted(files, key=lambda n: n == RESULT_FILE):
        write_bytes_atomic(Path(folder) / name, files[name])


def stream_cell(config: Config, files: dict[str, bytes], unseen: int) -> Iterator[dict[str, Any]]:
    """The Ray task of a cell: run it in a private folder that starts with `files` (empty, or the driver's
    interrupted run folder), and yield the folder's files after every generation and at the end. The number
    of yields depends only on the inputs, as Ray's replay of a retried generator requires."""
    where = f"{socket.gethostname()} pid {os.getpid()}"
    with blas_threads(1), tempfile.TemporaryDirectory(prefix="cars-cell-") as tmp:
        folder = Path(tmp) / "run"
        folder.mkdir()
        write_folder_files(folder, files)
        for kind, value in iterate_cell(config, folder, unseen):
            yield {"kind": kind, "value": value, "files": folder_files(folder), "where": where, "pid": os.getpid()}


class RayCells:
    """Each cell a Ray task on `connection`'s cluster; results stream back as the tasks run."""

    def __init__(self, connection: RayConnection, retries: int = MAX_DEATHS) -> None:
        self.connection, self.retries = connection, retries

    def describe(self) -> str:
        return self.connection.describe()

    def run(self, jobs: list[CellJob], on_event: Callable[[Event], None]) -> None:
        ray = import_ray()
        task = ray.remote(num_cpus=1, max_retries=self.retries, retry_exceptions=False)(stream_cell)
        running: dict[Any, CellJob] = {}
        for job in jobs:
            files = folder_files(job.folder) if cell_state(job.folder) == "interrupted" else {}
            running[task.options(name=f"cars-cell:{job.cell.name}").remote(job.cell.config, files, job.unseen)] = job
        where: dict[int, int] = {}  # cell -> pid of the worker that streamed it last
        try:
            while running:
                ready, _ = ray.wait(list(running), num_returns=1, timeout=1.0)
                for stream in ready:
                    self._receive(ray, stream, running, where, on_event)
        finally:
            for stream in running:
                try:
                    ray.cancel(stream, force=True)
                except Exception:  # already finished, or the cluster is gone: nothing left to stop
                    pass

    @staticmethod
    def _receive(ray: Any, stream: Any, running: dict[Any, CellJob], where: dict[int, int],
                 on_event: Callable[[Event], None]) -> None:
        job = running[stream]
        index = job.cell.index
        try:
            message = ray.get(next(stream))
        except StopIteration:
            del running[stream]
            return
        except ray.exceptions.RayError as e:
            del running[stream]
            cause = getattr(e, "cause", None)
            on_event({"type": "failed", "cell": index, "error": first_line(cause if cause is not None else e)})
            return
        job.folder.mkdir(parents=True, exist_ok=True)
        write_folder_files(job.folder, message["files"])
        if index not in where:
            on_event({"type": "start", "cell": index, "where": message["where"], "pid": message["pid"]})
        elif where[index] != message["pid"]:  # Ray retried the task elsewhere: it replays the same generations
            on_event({"type": "retry", "cell": index, "reason": f"its worker died; Ray runs it again on "
                                                                f"{message['where']}"})
        where[index] = message["pid"]
        if message["kind"] == "generation":
            on_event({"type": "generation", "cell": index, "generation": message["value"]})
        if message["kind"] == "result":
            on_event({"type": "result", "cell": index, "result": message["value"]})
