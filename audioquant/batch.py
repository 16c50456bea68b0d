"""Many renders: a process pool over files, each written atomically, one report.

``render_batch(inputs, out_dir, jobs=2, **options)`` renders every input into ``out_dir``
(the name from the input, the extension from ``ext``). One file's bad input is reported
and skipped, never stopping the others. Each file's dither seed derives from the batch
seed and the file's name (:func:`file_seed`), so the bytes do not depend on the number of
jobs or the order of the inputs. Workers are started with ``spawn`` (never ``fork``: numba
and the engine's threads must not be copied mid-flight), and Ctrl-C or SIGTERM stops them
with no partial file left (each worker removes its own temporary file).
"""

from __future__ import annotations

import hashlib
import os
import signal
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from audioquant.errors import AudioFileError, AudioquantError, ParameterError

#: Where the jobs run: a local process pool (no extra needed) or a Dask cluster.
BACKENDS = ("process", "dask")


def file_seed(seed: int, name: str) -> int:
    """The dither seed (0..2**64-1) of the file called ``name`` in a batch seeded ``seed``:
    a 64-bit BLAKE2b hash of both, so it depends on neither the jobs nor the order."""
    data = seed.to_bytes(8, "little") + os.fsencode(os.path.basename(name))
    return int.from_bytes(hashlib.blake2b(data, digest_size=8).digest(), "little")


@dataclass
class FileResult:
    """One file of a batch: where it went, what it measured, or why it failed."""

    input: str
    output: str
    status: str                       # "written", "skipped" (exists) or "failed"
    error: str = ""
    seconds: float = 0.0              # wall time of the render
    duration: float = 0.0             # audio seconds
    clips: int = 0
    snr_db: float = float("inf")
    seed: int = 0


@dataclass
class BatchReport:
    """All files of a batch, in input order."""

    files: list[FileResult] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def failed(self) -> list[FileResult]:
        return [f for f in self.files if f.status == "failed"]

    def as_dict(self) -> dict:
        return {"seconds": self.seconds, "files": [dict(f.__dict__) for f in self.files]}


def output_path(input_path: str, out_dir: str, ext: str | None = None) -> str:
    """``out_dir/<input's stem><ext>``; ``ext`` defaults to the input's extension."""
    stem, own = os.path.splitext(os.path.basename(input_path))
    return os.path.join(out_dir, stem + (ext if ext is not None else own or ".wav"))


def _render_file(job: tuple[str, str, dict], threads: int | None = None) -> FileResult:
    """One job in a worker: render, and turn our errors into a failed result. ``threads``
    caps the worker's compute threads (its share of the cores), so that several workers
    side by side never start cores x cores threads."""
    from audioquant.engine import render

    if threads is not None:
        from audioquant.threads import set_max_threads

        set_max_threads(threads)
    src, dst, options = job
    started = time.perf_counter()
    try:
        report = render(src, dst, **options)
    except AudioquantError as exc:
        return FileResult(src, dst, "failed", error=str(exc), seed=options.get("seed") or 0)
    except Exception as exc:  # midi errors and anything unforeseen: one line, not a crash
        return FileResult(src, dst, "failed", error=f"{type(exc).__name__}: {exc}",
                          seed=options.get("seed") or 0)
    return FileResult(src, dst, "written", seconds=time.perf_counter() - started,
                      duration=report.frames / report.sample_rate if report.sample_rate else 0,
                      clips=sum(report.clips), snr_db=report.snr_db, seed=report.seed)


def _plan(inputs: Iterable[str], out_dir: str, ext: str | None, seed: int | None,
          options: dict) -> list[tuple[str, str, dict]]:
    jobs, seen = [], {}
    for src in inputs:
        dst = output_path(os.fspath(src), out_dir, ext)
        if dst in seen:
            raise ParameterError(f"{src} and {seen[dst]} would both be written to {dst}; "
                                 "rename one")
        seen[dst] = src
        own = dict(options, seed=None if seed is None else file_seed(seed, src))
        jobs.append((os.fspath(src), dst, own))
    return jobs


def render_batch(inputs: Iterable[str | os.PathLike], out_dir: str | os.PathLike, *,
                 jobs: int = 1, ext: str | None = None, skip_existing: bool = False,
                 seed: int | None = 0, backend: str = "process", scheduler: str | None = None,
                 progress: Callable[[FileResult, int, int], None] | None = None,
                 **options) -> BatchReport:
    """Render ``inputs`` into the folder ``out_dir`` with ``jobs`` worker processes.

    ``backend="dask"`` submits the same jobs to a Dask cluster instead: the scheduler at
    ``scheduler`` (``tcp://host:8786``), or a local cluster of ``jobs`` one-thread workers
    (needs ``pip install 'audioquant[dask]'``). The bytes written are the same.

    ``options`` are those of :func:`audioquant.engine.render` (bits, dither, shaping,
    rate, ...). ``seed`` is the batch seed (None: fresh randomness for every file).
    ``progress(result, done, total)`` is called as each file finishes. Returns the
    report; failed files are in ``report.failed`` (the others are all written).
    """
    started = time.perf_counter()
    out_dir = os.fspath(out_dir)
    if not os.path.isdir(out_dir):
        raise AudioFileError(f"--out-dir {out_dir} is not a folder")
    if isinstance(jobs, bool) or not isinstance(jobs, int) or jobs < 1:
        raise ParameterError(f"jobs must be at least 1, got {jobs!r}")
    if backend not in BACKENDS:
        raise ParameterError(f"backend must be one of {', '.join(BACKENDS)}, got {backend!r}")
    plan = _plan([os.fspath(p) for p in inputs], out_dir, ext, seed, options)
    results: list[FileResult | None] = [None] * len(plan)
    todo = []
    for i, (src, dst, own) in enumerate(plan):
        if skip_existing and os.path.exists(dst):
            results[i] = FileResult(src, dst, "skipped", seed=own.get("seed") or 0)
        else:
            todo.append(i)
    done = len(plan) - len(todo)

    def finished(i: int, result: FileResult) -> None:
        nonlocal done
        results[i] = result
        done += 1
        if progress is not None:
            progress(result, done, len(plan))

    if backend == "dask":
        _run_dask(plan, todo, jobs, scheduler, finished)
    elif jobs == 1 or len(todo) <= 1:
        for i in todo:
            finished(i, _render_file(plan[i]))
    else:
        _run_pool(plan, todo, min(jobs, len(todo)), finished)
    return BatchReport([r for r in results if r is not None], time.perf_counter() - started)


def _share(workers: int) -> int:
    """Compute threads for each of ``workers`` processes on this machine's CPUs."""
    from audioquant.threads import available_cpus

    return max(1, available_cpus() // workers)


def _run_pool(plan: list, todo: list[int], workers: int,
              finished: Callable[[int, FileResult], None]) -> None:
    """Run ``todo`` on a spawned process pool; SIGTERM stops it as Ctrl-C does."""
    import multiprocessing
    from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait

    def terminate(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, terminate) \
        if signal.getsignal(signal.SIGTERM) == signal.SIG_DFL else None
    pool = ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"))
    try:
        share = _share(workers)
        pending = {pool.submit(_render_file, plan[i], share): i for i in todo}
        while pending:
            ready, _ = wait(pending, return_when=FIRST_COMPLETED)
            for future in ready:
                finished(pending.pop(future), future.result())
    except BaseException:
        # Each worker removes its temporary file on SIGTERM (audioquant.io) and dies.
        for process in list(getattr(pool, "_processes", {}).values()):
            if process.is_alive():
                process.terminate()
        pool.shutdown(wait=True, cancel_futures=True)
        raise
    else:
        pool.shutdown(wait=True)
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


def _run_dask(plan: list, todo: list[int], workers: int, scheduler: str | None,
              finished: Callable[[int, FileResult], None]) -> None:
    """Run ``todo`` on a Dask cluster: the same pure job function as the process pool."""
    try:
        from distributed import Client, LocalCluster, as_completed
    except ImportError:
        raise ParameterError("--backend dask needs Dask: pip install 'audioquant[dask]'"
                             ) from None
    cluster = None
    if scheduler is None:
        cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                               dashboard_address=None)
    try:
        client = Client(cluster if cluster is not None else scheduler)
    except OSError as exc:
        if cluster is not None:
            cluster.close()
        raise AudioFileError(f"cannot reach the Dask scheduler {scheduler}: {exc}") from None
    try:
        share = 1 if cluster is not None else None    # a remote worker keeps its own cap
        futures = {client.submit(_render_file, plan[i], share, pure=False): i for i in todo}
        for future in as_completed(futures):
            finished(futures[future], future.result())
    except BaseException:
        client.cancel(list(futures))
        raise
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


def format_summary(report: BatchReport) -> str:
    """The table printed after a batch: file, duration, clipped samples, SNR, status."""
    rows = [f"{'file':<32} {'seconds':>8} {'clipped':>8} {'SNR dB':>8}  status"]
    for f in report.files:
        name = os.path.basename(f.output)
        if f.status == "written":
            rows.append(f"{name:<32} {f.duration:>8.2f} {f.clips:>8} {f.snr_db:>8.2f}  written")
        else:
            rows.append(f"{name:<32} {'':>8} {'':>8} {'':>8}  {f.status}")
    failed = len(report.failed)
    written = sum(f.status == "written" for f in report.files)
    skipped = sum(f.status == "skipped" for f in report.files)
    rows.append(f"{written} written, {skipped} skipped, {failed} failed "
                f"in {report.seconds:.2f} s")
    return "\n".join(rows)


def print_progress(result: FileResult, done: int, total: int) -> None:
    """A progress line per finished file on stderr (when stderr is a terminal)."""
    if sys.stderr is not None and sys.stderr.isatty():
        sys.stderr.write(f"\r[{done}/{total}] {os.path.basename(result.output)[:60]:<60}")
        if done == total:
            sys.stderr.write("\n")
        sys.stderr.flush()
