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

import functools
import hashlib
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from audioquant.atomic import BackgroundCommits, strerror
from audioquant.errors import AudioFileError, AudioquantError, ParameterError
from audioquant.spec import RenderSpec

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
    peak_dbfs: float = float("-inf")  # largest magnitude written, dB re full scale
    clips: int = 0                    # saturated samples, all channels
    first_clip: float | None = None   # seconds into the output of the first one
    snr_db: float = float("inf")      # the source against the output (requantizer's
    snr_of: str = "source"            # alone when the rate changed: snr_of "requantizer")
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


#: ``file_progress(index, done, total)``: how far the input at ``index`` has got (source
#: frames taken in, of ``total``; see :func:`audioquant.engine.render_one`).
FileProgress = Callable[[int, int, "int | None"], None]

#: Reports of file progress per second at most, from each job.
REPORTS_PER_SECOND = 8

#: In a pool worker: the queue to put ``(index, done, total)`` on (see _start_worker).
_reports = None


def _start_worker(reports: Any) -> None:
    """Pool worker start-up: where to report how far each file has got; SIGTERM back to
    its default (a forked worker inherits the parent's handler), so that the writers'
    clean-up handler takes it."""
    global _reports
    _reports = reports
    signal.signal(signal.SIGTERM, signal.SIG_DFL)


class _Throttled:
    """A render's ``progress(done, total)`` passed on as ``send(index, done, total)`` at
    most :data:`REPORTS_PER_SECOND` times a second, and always when ``done == total``."""

    def __init__(self, send: FileProgress, index: int) -> None:
        self.send, self.index, self.last = send, index, 0.0

    def __call__(self, done: int, total: int | None) -> None:
        now = time.monotonic()
        if done == total or now - self.last >= 1 / REPORTS_PER_SECOND:
            self.last = now
            self.send(self.index, done, total)


#: A batch job: ``job(spec, threads, progress) -> result``, a top-level function (it is
#: pickled to the workers) that turns every failure of its file into a failed result.
Job = Callable[[Any, "int | None", "Callable[[int, int | None], None] | None"], Any]


def _pool_job(job: Job, spec: Any, threads: int | None, index: int) -> Any:
    """One job in a pool worker, reporting its progress on the worker's queue if any."""
    send = None if _reports is None else (lambda *report: _reports.put(report))
    return job(spec, threads, None if send is None else _Throttled(send, index))


def _render_file(spec: RenderSpec, threads: int | None = None,
                 progress: Callable[[int, int | None], None] | None = None) -> FileResult:
    """One job in a worker: :func:`~audioquant.engine.render_one`, with our errors turned
    into a failed result. ``threads`` caps the worker's compute threads (its share of the
    cores), so that several workers side by side never start cores x cores threads."""
    from audioquant.engine import render_one

    if threads is not None:
        from audioquant.threads import set_max_threads

        set_max_threads(threads)
    started = time.perf_counter()
    seed = spec.options.seed or 0
    try:
        report = render_one(spec, progress)
    except AudioquantError as exc:
        return FileResult(spec.source, spec.output, "failed", error=str(exc), seed=seed)
    except Exception as exc:  # anything unforeseen: one line for this file, not a crash
        return FileResult(spec.source, spec.output, "failed",
                          error=f"{type(exc).__name__}: {exc}", seed=seed)
    rate = report.sample_rate or 1
    return FileResult(spec.source, spec.output, "written",
                      seconds=time.perf_counter() - started, duration=report.frames / rate,
                      peak_dbfs=report.peak_dbfs, clips=sum(report.clips),
                      first_clip=None if report.first_clip is None else report.first_clip / rate,
                      snr_db=report.snr_db if report.source_snr_db is None
                      else report.source_snr_db,
                      snr_of="requantizer" if report.source_snr_db is None else "source",
                      seed=report.seed)


def plan_batch(inputs: Iterable[str], out_dir: str, *, ext: str | None = None,
               seed: int | None = 0, **options: Any) -> list[RenderSpec]:
    """The job of each input: a :class:`~audioquant.spec.RenderSpec` into ``out_dir``
    with ``options``, its seed :func:`file_seed` of ``seed`` and the input's name.
    ParameterError for a bad option (before any file is read) or two inputs that would
    write the same output."""
    specs, seen = [], {}
    for src in inputs:
        src = os.fspath(src)
        dst = output_path(src, out_dir, ext)
        if dst in seen:
            raise ParameterError(f"{src} and {seen[dst]} would both be written to {dst}; "
                                 "rename one")
        seen[dst] = src
        own = None if seed is None else file_seed(seed, src)
        specs.append(RenderSpec.of(src, dst, **options, seed=own))
    return specs


def render_batch(inputs: Iterable[str | os.PathLike], out_dir: str | os.PathLike, *,
                 jobs: int = 1, ext: str | None = None, skip_existing: bool = False,
                 seed: int | None = 0, backend: str = "process", scheduler: str | None = None,
                 progress: Callable[[FileResult, int, int], None] | None = None,
                 file_progress: FileProgress | None = None, **options: Any) -> BatchReport:
    """Render ``inputs`` into the folder ``out_dir`` with ``jobs`` worker processes.

    ``backend="dask"`` submits the same jobs to a Dask cluster instead: the scheduler at
    ``scheduler`` (``tcp://host:8786``), or a local cluster of ``jobs`` one-thread workers
    (needs ``pip install 'audioquant[dask]'``). The bytes written are the same.

    ``options`` are those of :func:`audioquant.engine.render` (bits, dither, shaping,
    rate, ...). ``seed`` is the batch seed (None: fresh randomness for every file).
    ``progress(result, done, total)`` is called for each file as it finishes (or is
    skipped); ``file_progress(index, done, total)`` as the input at ``index`` is read,
    a few times a second (not on Dask). Returns the report; failed files are in
    ``report.failed`` (the others are all written).
    """
    started = time.perf_counter()
    out_dir = os.fspath(out_dir)
    check_batch_options(out_dir, jobs, backend)
    plan = plan_batch(inputs, out_dir, ext=ext, seed=seed, **options)
    make_out_dir(out_dir)

    def skipped(spec: RenderSpec) -> FileResult:
        return FileResult(spec.source, spec.output, "skipped", seed=spec.options.seed or 0)

    results = run_jobs(_render_file, plan, skipped, jobs=jobs, skip_existing=skip_existing,
                       backend=backend, scheduler=scheduler, progress=progress,
                       file_progress=file_progress)
    return BatchReport(results, time.perf_counter() - started)


def make_out_dir(out_dir: str) -> None:
    """Make the batch's output folder (and its parents) if it does not exist yet;
    AudioFileError when that fails. (A MIDI batch makes each output's folder as it
    writes, this one included.)"""
    try:
        os.makedirs(out_dir, exist_ok=True)
    except OSError as exc:
        raise AudioFileError(f"cannot make --out-dir {out_dir}: {strerror(exc)}") from None


def check_batch_options(out_dir: str, jobs: object, backend: str) -> None:
    """AudioFileError for an ``out_dir`` that is something other than a folder (one
    that does not exist yet is made, with its parents, as the batch writes: see
    :func:`make_out_dir`), ParameterError for a bad ``jobs`` or ``backend``: checked
    before any file is read."""
    if os.path.lexists(out_dir) and not os.path.isdir(out_dir):
        raise AudioFileError(f"--out-dir {out_dir} is not a folder")
    if isinstance(jobs, bool) or not isinstance(jobs, int) or jobs < 1:
        raise ParameterError(f"jobs must be at least 1, got {jobs!r}")
    if backend not in BACKENDS:
        raise ParameterError(f"backend must be one of {', '.join(BACKENDS)}, got {backend!r}")


def run_jobs(job: Job, plan: list, skipped: Callable[[Any], Any], *, jobs: int = 1,
             skip_existing: bool = False, backend: str = "process",
             scheduler: str | None = None, progress: Callable[[Any, int, int], None] | None
             = None, file_progress: FileProgress | None = None, start: str = "spawn",
             threads: int = 1) -> list:
    """Run ``job`` on every spec of ``plan`` (each has ``source`` and ``output``): in this
    process (``jobs=1``; on ``threads`` threads, for a job whose work releases the GIL),
    on a pool of ``jobs`` processes (``start``: how they start, a
    :mod:`multiprocessing` start method; ``"fork"`` is used only where it is offered and
    this process runs no other thread), or on Dask; the results in plan order. With
    ``skip_existing``, a spec whose output exists gets ``skipped(spec)`` instead.
    ``progress(result, done, total)`` as each file finishes; ``file_progress(index, done,
    total)`` as it goes (not on Dask)."""
    results: list[Any] = [None] * len(plan)
    done = 0

    def finished(i: int, result: Any) -> None:
        nonlocal done
        results[i] = result
        done += 1
        if progress is not None:
            progress(result, done, len(plan))

    todo = []
    for i, spec in enumerate(plan):
        if skip_existing and os.path.exists(spec.output):
            finished(i, skipped(spec))
        else:
            todo.append(i)
    if backend == "dask":
        _run_dask(job, plan, todo, jobs, scheduler, finished)
    elif jobs == 1 and threads > 1 and len(todo) > 1:
        _run_threads(job, plan, todo, threads, finished)
    elif jobs == 1 or len(todo) <= 1:
        for i in todo:
            own = None if file_progress is None else _Throttled(file_progress, i)
            finished(i, job(plan[i], None, own))
    else:
        _run_pool(job, plan, todo, min(jobs, len(todo)), finished, file_progress, start)
    return [r for r in results if r is not None]


def _share(workers: int) -> int:
    """Compute threads for each of ``workers`` processes on this machine's CPUs."""
    from audioquant.threads import available_cpus

    return max(1, available_cpus() // workers)


def _run_pool(job: Job, plan: list, todo: list[int], workers: int,
              finished: Callable[[int, Any], None],
              file_progress: FileProgress | None = None, start: str = "spawn") -> None:
    """Run ``todo`` on a process pool started with ``start`` (see :func:`run_jobs`);
    SIGTERM stops it as Ctrl-C does. The workers' progress reports come back on a queue,
    read by a thread that passes them to ``file_progress``."""
    import multiprocessing
    from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait

    def terminate(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, terminate) \
        if signal.getsignal(signal.SIGTERM) == signal.SIG_DFL else None
    if start == "fork" and ("fork" not in multiprocessing.get_all_start_methods()
                            or threading.active_count() > 1 or file_progress is not None):
        start = "spawn"     # (forking a process with threads can deadlock the child)
    context = multiprocessing.get_context(start)
    reports = listener = None
    if file_progress is not None:
        reports = context.SimpleQueue()
        listener = threading.Thread(target=_listen, args=(reports, file_progress),
                                    name="audioquant-progress", daemon=True)
        listener.start()
    pool = ProcessPoolExecutor(workers, mp_context=context, initializer=_start_worker,
                               initargs=(reports,))
    try:
        share = _share(workers)
        pending = {pool.submit(_pool_job, job, plan[i], share, i): i for i in todo}
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
        if listener is not None:    # (not after a kill: a killed worker may hold the
            reports.put(None)       # queue's lock; the daemon thread ends with us)
            listener.join()
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


class _Stopped(BaseException):
    """SIGINT, SIGTERM or SIGHUP while :func:`_run_threads` runs."""


#: A file of :func:`_run_threads` not finished yet.
_PENDING = object()


def _run_threads(job: Job, plan: list, todo: list[int], threads: int,
                 finished: Callable[[int, Any], None]) -> None:
    """Run ``todo`` on ``threads`` threads of this process, this one among them,
    ``finished`` called in this thread for each, in plan order. Ctrl-C, SIGTERM and
    SIGHUP stop it the same way: no file is started after them, the files being written
    are finished (a few milliseconds), then Ctrl-C goes on as KeyboardInterrupt and the
    signals to their clean-up (``atomic``'s: unfinished temporary files removed, then the
    process dies of the signal), with no thread left to make a file in the meantime.

    The threads take the next file from a shared counter and leave each result in its
    place; this thread reports the finished ones between its own files. Nothing wakes a
    waiting thread per file: with a thread that only waited for results, its wake-ups and
    the GIL's hand-overs to it took a sixth of the time the GIL was held (a MIDI file's
    Python is a few hundred microseconds)."""
    from audioquant import atomic

    stop = threading.Event()
    take = threading.Lock()
    positions = iter(range(len(todo)))
    results: list[Any] = [_PENDING] * len(todo)
    raised: list[BaseException] = []    # (jobs report their failures: this is a bug)
    held: list[int] = []                # signals held until this thread's file is done
    in_file = False

    def next_position() -> int | None:
        with take:
            return None if stop.is_set() else next(positions, None)

    def work() -> None:
        while (k := next_position()) is not None:
            try:
                results[k] = job(plan[todo[k]], None, None)
            except BaseException as exc:
                raised.append(exc)
                stop.set()

    def stopped(signum: int, frame: object) -> None:
        stop.set()
        if not in_file:
            raise _Stopped(signum)
        held.append(signum)

    previous = {}
    if threading.current_thread() is threading.main_thread():
        atomic._install_cleanup_handlers()      # (workers cannot: not the main thread)
        for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            handler = signal.getsignal(signum)
            if handler is signal.default_int_handler or (
                    signum != signal.SIGINT and handler != signal.SIG_IGN):
                previous[signum] = signal.signal(signum, stopped)
    helpers = [threading.Thread(target=work, name=f"audioquant-file-{n}", daemon=True)
               for n in range(1, min(threads, len(todo)))]
    reported = 0

    def report_finished() -> None:
        nonlocal reported
        while reported < len(todo) and results[reported] is not _PENDING:
            result, results[reported] = results[reported], None
            finished(todo[reported], result)
            reported += 1

    try:
        try:
            for helper in helpers:
                helper.start()
            while (k := next_position()) is not None:
                in_file = True
                try:
                    results[k] = job(plan[todo[k]], None, None)
                finally:
                    in_file = False
                if held:
                    raise _Stopped(held[0])
                report_finished()
        finally:
            stop.set()      # (after an error or a signal too: no file is started after it)
            in_file = True  # (a signal now waits for the helpers' files)
            for helper in helpers:
                helper.join()
            for signum, handler in previous.items():
                signal.signal(signum, handler)
        if raised:
            raise raised[0]
        if held:
            raise _Stopped(held[0])
        report_finished()
    except _Stopped as exc:
        if exc.args[0] == signal.SIGINT:
            raise KeyboardInterrupt from None
        os.kill(os.getpid(), exc.args[0])       # (to the handler that was there)
        raise


def _listen(reports: Any, file_progress: FileProgress) -> None:
    """Pass ``(index, done, total)`` reports from the queue on until a None."""
    while (report := reports.get()) is not None:
        file_progress(*report)


def _run_dask(job: Job, plan: list, todo: list[int], workers: int, scheduler: str | None,
              finished: Callable[[int, Any], None]) -> None:
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
        # One compute thread per task: a Dask worker runs as many tasks at once as it has
        # threads (one per core, by Dask's convention), so more would oversubscribe it.
        futures = {client.submit(job, plan[i], 1, None, pure=False): i for i in todo}
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
    """The table printed after a batch: file, duration (s), peak (dBFS), clipped samples
    (with the first one's time), SNR against the source (dB, unweighted; of the
    requantizer alone, marked *, where the rate changed), status."""
    rows = [f"{'file':<32} {'seconds':>8} {'peak dBFS':>9} {'clipped':>18} {'SNR dB':>8}  status"]
    for f in report.files:
        name = os.path.basename(f.output)
        if f.status == "written":
            clipped = f"{f.clips}" if f.first_clip is None else \
                f"{f.clips} @ {_clock(f.first_clip)}"
            mark = "*" if f.snr_of == "requantizer" else " "
            rows.append(f"{name:<32} {f.duration:>8.2f} {f.peak_dbfs:>9.2f} {clipped:>18} "
                        f"{f.snr_db:>8.2f}{mark} written")
        else:
            rows.append(f"{name:<32} {'':>8} {'':>9} {'':>18} {'':>8}  {f.status}")
    failed = len(report.failed)
    written = sum(f.status == "written" for f in report.files)
    skipped = sum(f.status == "skipped" for f in report.files)
    clipping = sum(f.clips > 0 for f in report.files)
    clip_note = f", {clipping} clipping" if clipping else ""
    rows.append(f"{written} written{clip_note}, {skipped} skipped, {failed} failed "
                f"in {report.seconds:.2f} s")
    if any(f.snr_of == "requantizer" for f in report.files if f.status == "written"):
        rows.append("* SNR of the requantizer alone: the rate changed, so the output cannot "
                    "be compared with the source frame for frame")
    return "\n".join(rows)


def _clock(seconds: float) -> str:
    """``m:ss.mmm`` (or ``h:mm:ss.mmm``) of a time in seconds."""
    minutes, rest = divmod(seconds, 60)
    hours, minutes = divmod(int(minutes), 60)
    return (f"{hours}:{minutes:02d}:" if hours else f"{minutes}:") + f"{rest:06.3f}"


class ProgressBars:
    """A batch's progress on a terminal, drawn by tqdm on ``file`` (stderr): one bar for
    the batch (in files, moved on by each file's share as its blocks go through) and,
    under it, a bar for each file still running after ``delay`` seconds.

    Give :meth:`finished` as ``render_batch``'s ``progress`` and :meth:`file` as its
    ``file_progress``; :meth:`close` before printing anything else.
    """

    def __init__(self, names: list[str], *, file: Any = None, delay: float = 1.0) -> None:
        from tqdm import tqdm as plain

        class tqdm(plain):     # no monitor thread: a MIDI batch forks its workers only
            monitor_interval = 0   # from a process running no other thread

        self._tqdm = tqdm
        self._file = file if file is not None else sys.stderr
        self._names = [os.path.basename(n) for n in names]
        self._index_of = {os.fspath(n): i for i, n in enumerate(names)}   # inputs differ
        self._delay = delay
        self._lock = threading.Lock()
        self._bars: dict[int, tuple[Any, float]] = {}     # index -> (bar, fraction done)
        self._failed = 0
        self.overall = tqdm(total=len(names), desc="batch", unit="file", file=self._file,
                            position=0, dynamic_ncols=True,
                            bar_format="{desc}: {percentage:3.0f}%|{bar}| "
                                       "{n:.0f}/{total} files [{elapsed}<{remaining}]{postfix}")

    def file(self, index: int, done: int, total: int | None) -> None:
        """The input at ``index`` has taken in ``done`` of its ``total`` frames."""
        if not total:
            return
        with self._lock:
            bar, fraction = self._bars.get(index, (None, 0.0))
            if bar is None:
                used = {b.pos for b, _ in self._bars.values()}
                position = next(p for p in range(1, len(self._bars) + 2) if p not in used)
                bar = self._tqdm(total=total, desc=self._names[index][:40], file=self._file,
                                 position=position, leave=False, delay=self._delay,
                                 dynamic_ncols=True,
                                 bar_format="  {desc}: {percentage:3.0f}%|{bar}| "
                                            "[{elapsed}<{remaining}]")
            bar.update(done - bar.n)
            self.overall.update(done / total - fraction)
            self._bars[index] = (bar, done / total)

    def finished(self, result: FileResult, done: int, total: int) -> None:
        """A file is written, skipped or failed."""
        with self._lock:
            bar, fraction = self._bars.pop(self._index_of.get(result.input, -1), (None, 0.0))
            if bar is not None:
                bar.close()
            self.overall.update(1 - fraction)
            if result.status == "failed":
                self._failed += 1
                self.overall.set_postfix_str(f"{self._failed} failed", refresh=False)
            self.overall.refresh()

    def close(self) -> None:
        """Take the bars off the terminal (the batch bar stays, complete)."""
        with self._lock:
            for bar, _ in self._bars.values():
                bar.close()
            self._bars.clear()
            self.overall.close()


# ------------------------------------------------------------------------ MIDI quantize

#: File name endings read as MIDI when a folder is given (case-insensitive).
MIDI_EXTENSIONS = (".mid", ".midi", ".kar", ".rmi", ".smf")


def midi_inputs(paths: Iterable[str | os.PathLike], *, recursive: bool = False,
                out_dir: str | os.PathLike | None = None) -> list[tuple[str, str]]:
    """``(input, name in the output folder)`` for each MIDI file of ``paths``: a file is
    itself (its base name); a folder gives its MIDI files (by extension, sorted), and with
    ``recursive`` those of its subfolders too, named by their path under the folder (so
    ``asap/Bach/Fugue/a.mid`` keeps ``Bach/Fugue/a.mid``), except the output folder
    ``out_dir`` when it is one of them (its files are a run's outputs: taking them in
    would quantize them again, into a folder of its own, each run). A path that does not
    exist is kept, to be reported as that file's failure. ParameterError for a folder
    given without ``recursive`` that has only subfolders, or for no MIDI file at all."""
    out = []
    outputs = None if out_dir is None else os.path.realpath(out_dir)
    for path in map(os.fspath, paths):
        if not os.path.isdir(path):
            out.append((path, os.path.basename(path)))
            continue
        found = []
        top = os.path.realpath(path)
        inside = os.path.relpath(outputs, top) if outputs is not None and outputs != top \
            and os.path.commonpath([top, outputs]) == top else None
        for root, dirs, files in os.walk(path):
            if inside is not None:      # (the output folder's path under this folder)
                here = os.path.relpath(root, path)
                dirs[:] = [d for d in dirs if os.path.normpath(os.path.join(here, d))
                           != inside]
            dirs.sort()
            found += [os.path.join(root, f) for f in sorted(files)
                      if f.lower().endswith(MIDI_EXTENSIONS)]
            if not recursive:
                if not found and dirs:
                    raise ParameterError(f"{path} holds no MIDI files, only folders: add "
                                         "--recursive to take those in its subfolders")
                break
        out += [(f, os.path.relpath(f, path)) for f in found]
    if not out:
        raise ParameterError("no MIDI files found in " + ", ".join(map(os.fspath, paths)))
    return out


@dataclass(frozen=True)
class QuantizeJob:
    """One file of a MIDI batch: ``source`` quantized with ``options`` (the keywords of
    :func:`audioquant.midi.quantize_song`) into ``output``."""

    source: str
    output: str
    options: dict
    follow: dict | None = None        # find the beat first (``--follow-beats``)


@dataclass
class MidiFileResult:
    """One file of a MIDI batch: where it went, what moved, or why it failed. ``report``
    is :func:`audioquant.midi.quantize_file`'s whole report (None unless written)."""

    input: str
    output: str
    status: str                       # "written", "skipped" (exists) or "failed"
    error: str = ""
    seconds: float = 0.0
    notes: int = 0
    moved: int = 0
    mean_ms_before: float = float("nan")   # mean distance of the onsets from the grid
    mean_ms_after: float = float("nan")
    report: dict | None = None


@dataclass
class MidiBatchReport(BatchReport):
    """All files of a MIDI batch (:class:`MidiFileResult`), in input order."""

    @property
    def notes(self) -> int:
        return sum(f.notes for f in self.files if f.status == "written")

    def as_dict(self) -> dict:
        return {"notes": self.notes, **super().as_dict()}


def _quantize_file(job: QuantizeJob, threads: int | None = None,
                   progress: Callable[[int, int | None], None] | None = None,
                   commits: BackgroundCommits | None = None,
                   folders: set[str] | None = None) -> MidiFileResult:
    """One MIDI job: read, quantize, write (atomically, making its folder), every failure
    a failed result naming it in one line. ``commits``: the output is synced and renamed
    into place there (a failure there is in its ``failures``, not in this result).
    ``folders``: the output folders this run has made already (one makedirs each)."""
    from audioquant import midi

    started = time.perf_counter()
    try:
        folder = os.path.dirname(job.output)
        if folder and folder not in (folders or ()):
            os.makedirs(folder, exist_ok=True)
            if folders is not None:
                folders.add(folder)
        report = midi.quantize_file(job.source, job.output, follow=job.follow,
                                    commits=commits, **job.options)
    except AudioquantError as exc:
        return MidiFileResult(job.source, job.output, "failed", error=str(exc))
    except OSError as exc:
        return MidiFileResult(job.source, job.output, "failed",
                              error=f"cannot write {job.output}: {exc.strerror or exc}")
    except Exception as exc:  # anything unforeseen: one line for this file, not a crash
        return MidiFileResult(job.source, job.output, "failed",
                              error=f"{type(exc).__name__}: {exc}")
    if progress is not None:
        progress(1, 1)
    return MidiFileResult(job.source, job.output, "written",
                          seconds=time.perf_counter() - started, notes=report["notes"],
                          moved=report["moved"], mean_ms_before=report["before"]["mean_ms"],
                          mean_ms_after=report["after"]["mean_ms"], report=report)


def plan_quantize(inputs: Iterable[str | os.PathLike], out_dir: str | os.PathLike, *,
                  recursive: bool = False, follow: dict | None = None, **options: Any
                  ) -> list[QuantizeJob]:
    """The job of each MIDI file of ``inputs`` (files and folders, see
    :func:`midi_inputs`) into ``out_dir``: ``options`` (:func:`audioquant.midi.
    quantize_song`'s) checked, before any file is read; ``follow``: find each file's beat
    first (see :func:`audioquant.midi.quantize_file`). ParameterError for a bad option or
    two inputs that would write the same output."""
    from audioquant.spec import QuantizeOptions

    checked = QuantizeOptions(**options).as_dict()
    plan, seen = [], {}
    for src, name in midi_inputs(inputs, recursive=recursive, out_dir=out_dir):
        dst = os.path.join(os.fspath(out_dir), name)
        if dst in seen:
            raise ParameterError(f"{src} and {seen[dst]} would both be written to {dst}; "
                                 "rename one, or give their folder with --recursive")
        seen[dst] = src
        plan.append(QuantizeJob(src, dst, checked, follow))
    return plan


def run_quantize(plan: list[QuantizeJob], *, jobs: int = 1, skip_existing: bool = False,
                 backend: str = "process", scheduler: str | None = None,
                 progress: Callable[[MidiFileResult, int, int], None] | None = None
                 ) -> MidiBatchReport:
    """Run a :func:`plan_quantize` plan with ``jobs`` processes (or on Dask, as
    :func:`render_batch`). One bad file is reported and skipped; the others are all
    written."""
    started = time.perf_counter()
    if backend != "dask" and jobs == 1:
        results = _quantize_here(plan, skip_existing, progress)
        return MidiBatchReport(results, time.perf_counter() - started)
    # Elsewhere, files go in chunks, one round trip to a worker each (a MIDI file takes a
    # millisecond or two: one task a file would spend as much again on the pool), at
    # least four chunks a worker so that they share the work evenly.
    size = max(1, min(32, len(plan) // (4 * jobs)))
    chunks = [QuantizeChunk(tuple(plan[k:k + size]), skip_existing)
              for k in range(0, len(plan), size)]
    done = 0

    def chunk_done(results: list[MidiFileResult], _done: int, _total: int) -> None:
        nonlocal done
        for result in results:
            done += 1
            if progress is not None:
                progress(result, done, len(plan))

    by_chunk = run_jobs(_quantize_chunk, chunks, lambda chunk: [], jobs=jobs,
                        backend=backend, scheduler=scheduler, progress=chunk_done,
                        start="fork")   # (a MIDI worker needs nothing a fork lacks)
    return MidiBatchReport([r for results in by_chunk for r in results],
                           time.perf_counter() - started)


@dataclass(frozen=True)
class QuantizeChunk:
    """MIDI jobs run as one task of a pool or of Dask, in plan order (``skip_existing``:
    a job whose output exists is skipped, as :func:`run_jobs` does)."""

    jobs: tuple[QuantizeJob, ...]
    skip_existing: bool


def _quantize_chunk(chunk: QuantizeChunk, threads: int | None = None,
                    progress: Callable[[int, int | None], None] | None = None
                    ) -> list[MidiFileResult]:
    """The results of a chunk's jobs, run in this worker on its share of the cores
    (``threads``; see :func:`_quantize_here`)."""
    return _quantize_here(list(chunk.jobs), chunk.skip_existing, None, threads or 1)


def _quantize_here(plan: list[QuantizeJob], skip_existing: bool,
                   progress: Callable[[MidiFileResult, int, int], None] | None,
                   threads: int | None = None) -> list[MidiFileResult]:
    """Run MIDI jobs in this process on ``threads`` threads (None: ``max_threads()``,
    the cores; a file's kernel releases the GIL, so files run side by side), each file
    synced and renamed into place on another thread while the next ones are read and
    quantized; the results, final (a file that could not be put in place is failed), in
    plan order."""
    from audioquant.threads import max_threads

    def skipped(job: QuantizeJob) -> MidiFileResult:
        return MidiFileResult(job.source, job.output, "skipped")

    threads = max_threads() if threads is None else threads
    with BackgroundCommits() as commits:
        job = functools.partial(_quantize_file, commits=commits, folders=set())
        results = run_jobs(job, plan, skipped, skip_existing=skip_existing,
                           progress=progress, threads=threads)
    for result in results:
        error = commits.failures.get(result.output)
        if error is not None:
            result.status, result.error, result.report = "failed", error, None
    return results


def quantize_batch(inputs: Iterable[str | os.PathLike], out_dir: str | os.PathLike, *,
                   recursive: bool = False, jobs: int = 1, skip_existing: bool = False,
                   backend: str = "process", scheduler: str | None = None,
                   progress: Callable[[MidiFileResult, int, int], None] | None = None,
                   follow: dict | None = None, **options: Any) -> MidiBatchReport:
    """Quantize every MIDI file of ``inputs`` (files and folders, see :func:`midi_inputs`)
    into ``out_dir``: :func:`plan_quantize`, then :func:`run_quantize`. Returns the report
    (``report.failed``: what went wrong)."""
    check_batch_options(os.fspath(out_dir), jobs, backend)
    plan = plan_quantize(inputs, out_dir, recursive=recursive, follow=follow, **options)
    return run_quantize(plan, jobs=jobs, skip_existing=skip_existing, backend=backend,
                        scheduler=scheduler, progress=progress)


def format_midi_summary(report: MidiBatchReport) -> str:
    """The table printed after a MIDI batch: file, notes, moved, mean distance of the
    onsets from the grid before and after (ms), status; then the totals. Files are named
    by their path under the output folder."""
    outputs = [f.output for f in report.files]
    top = os.path.dirname(outputs[0]) if len(outputs) == 1 else \
        os.path.commonpath(outputs) if outputs else ""
    names = [os.path.relpath(path, top) for path in outputs]
    width = min(60, max([32] + [len(name) for name in names[:1000]]))
    rows = [f"{'file':<{width}} {'notes':>8} {'moved':>8} {'before ms':>10} "
            f"{'after ms':>9}  status"]
    for f, name in zip(report.files, names, strict=True):
        if f.status == "written":
            rows.append(f"{name:<{width}} {f.notes:>8} {f.moved:>8} "
                        f"{f.mean_ms_before:>10.2f} {f.mean_ms_after:>9.2f}  written")
        else:
            rows.append(f"{name:<{width}} {'':>8} {'':>8} {'':>10} {'':>9}  {f.status}")
    written = sum(f.status == "written" for f in report.files)
    skipped = sum(f.status == "skipped" for f in report.files)
    rate = report.notes / report.seconds if report.seconds > 0 else 0.0
    rows.append(f"{written} written, {skipped} skipped, {len(report.failed)} failed in "
                f"{report.seconds:.2f} s ({report.notes} notes, {rate:,.0f} notes/s)")
    return "\n".join(rows)
