"""Outputs that end complete or not at all: the one atomic writer of audioquant.

:class:`OutputFile` writes a regular file (new, replaced, or reached through symlinks) as
a temporary file beside it (``.audioquant-XXXXXXXX.tmp``), synced and renamed into place
with the replaced file's mode and owner; a device, FIFO, socket or ``-`` is written into,
never created, renamed over or removed. :func:`commit_all` commits several as one.
SIGTERM and SIGHUP remove unfinished temporary files.

Standard library only, so that :mod:`audioquant.midi` (which imports nothing else of
audioquant but its errors) writes MIDI files with it too; :mod:`audioquant.io` builds the
sound-file writer on it.
"""

from __future__ import annotations

import contextlib
import errno
import functools
import io
import os
import signal
import stat
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import BinaryIO, TypeVar

from audioquant.errors import AudioFileError

__all__ = ["TEMP_PREFIX", "BackgroundCommits", "Committed", "OutputFile", "OutputTarget",
           "commit_all", "remove_pending", "sync_group",
           "is_regular_or_new", "is_stdout", "output_target", "same_file", "strerror"]


def same_file(a: str | os.PathLike, b: str | os.PathLike,
              a_stat: os.stat_result | None = None) -> bool:
    """True when two paths name the same file (existing or not: then when they resolve,
    symlinks included, to one path); ``-`` (standard input or output) is never the same
    file as another path. ``a_stat``: ``os.stat(a)``, where the caller has it already.
    The one same-file check of audioquant (``midi`` uses it too)."""
    if os.fspath(a) == "-" or os.fspath(b) == "-":
        return False
    sa = _stat_or_none(a) if a_stat is None else a_stat
    sb = _stat_or_none(b)
    if sa and sb:
        return os.path.samestat(sa, sb)
    if (sa is None) != (sb is None) and sa is not False and sb is not False:
        # one exists and the other does not: a path that exists never resolves to one
        # that does not (so a new output costs no walk of its folders, batch by batch)
        return False
    return os.path.realpath(a) == os.path.realpath(b)


def _stat_or_none(path: str | os.PathLike) -> os.stat_result | None | bool:
    """The stat of ``path``, None when it does not exist, False when that cannot be told
    (a folder on the way we may not search)."""
    try:
        return os.stat(path)
    except FileNotFoundError:
        return None
    except (OSError, ValueError):
        return False


#: Every temporary file audioquant makes starts with this (``.audioquant-k2j4x9ab.tmp``):
#: short, so that an output name of 255 bytes still works, and recognisable, so that one
#: left by SIGKILL is easy to find and is never taken for an output.
TEMP_PREFIX = ".audioquant-"


@dataclass(frozen=True)
class OutputTarget:
    """What an output path names, and so how it is written.

    ``real`` is where the bytes go: the regular file to create or replace atomically
    (through any symlinks), or, when ``stream`` is true, a device, FIFO, socket or
    standard output that is written into directly and never renamed over. ``mode`` and
    ``owner`` are those of the regular file being replaced (None for a new file).
    ``seekable`` is true for a stream that is a regular file (libsndfile may seek in it).
    """

    path: str
    real: str
    stream: bool
    seekable: bool = True
    mode: int | None = None
    owner: tuple[int, int] | None = None


def output_target(path: str | os.PathLike, check_folder: bool = True) -> OutputTarget:
    """Classify an output path; AudioFileError for a folder or (``check_folder``) a
    missing folder.

    ``-`` is standard output. A symlink is followed to the file it points to, which is
    replaced (the link stays). A character device, FIFO or socket is written into. A
    regular file reached by a ``/proc`` or ``/dev/fd`` link that does not resolve to a
    path (a deleted file) is written into as well.
    """
    name = os.fspath(path)
    if name == "-":
        if sys.stdout is not None and sys.stdout.isatty():
            raise AudioFileError("standard output is a terminal: redirect it to a file or "
                                 "a pipe, or give an output file name")
        return OutputTarget("-", "-", stream=True, seekable=_is_regular_fd(1))
    link = False
    try:
        st: os.stat_result | None = os.lstat(name)  # (os.stat too only for a link)
        if stat.S_ISLNK(st.st_mode):
            link = True
            st = os.stat(name)
    except FileNotFoundError:
        st = None
    except OSError as exc:
        raise AudioFileError(f"cannot write {name}: {exc.strerror}") from None
    if st is None:
        # a new file (named as given, made absolute but not normalised: the temporary
        # file goes in the same folder, which the system resolves, links and all), or a
        # dangling link's target
        real = os.path.realpath(name) if link else \
            name if os.path.isabs(name) else os.path.join(os.getcwd(), name)
        if check_folder:
            check_output_folder(name, real)
        return OutputTarget(name, real, stream=False)
    if stat.S_ISDIR(st.st_mode):
        raise AudioFileError(f"cannot write {name}: it is a folder; give a file name")
    if stat.S_ISREG(st.st_mode):
        real = os.path.realpath(name)
        if same_file(real, name):
            return OutputTarget(name, real, stream=False, mode=stat.S_IMODE(st.st_mode),
                                owner=(st.st_uid, st.st_gid))
    return OutputTarget(name, name, stream=True, seekable=stat.S_ISREG(st.st_mode))


def check_output_folder(name: str, real: str) -> None:
    """AudioFileError when the folder of a new output (``real``: see
    :func:`output_target`) does not exist."""
    folder = os.path.dirname(real) or "."
    if not os.path.isdir(folder):
        raise AudioFileError(f"cannot write {name}: folder {folder} does not exist")


def is_regular_or_new(path: str | os.PathLike) -> bool:
    """True when ``path`` names a regular file (through symlinks) or nothing yet."""
    try:
        return stat.S_ISREG(os.stat(path).st_mode)
    except FileNotFoundError:
        return True
    except (OSError, ValueError):
        return False


def is_stdout(path: str | os.PathLike) -> bool:
    """True when writing to ``path`` writes to this process's standard output (``-``,
    ``/dev/stdout``, or the very file stdout is redirected to): a summary printed to
    stdout would then land inside the output, so it goes to stderr instead."""
    name = os.fspath(path)
    if name == "-":
        return True
    try:
        return os.path.samestat(os.stat(name), os.fstat(1))
    except (OSError, ValueError):
        return False


def _is_regular_fd(fd: int) -> bool:
    """True when ``fd`` is a regular file (stdout redirected to one): libsndfile may then
    seek back to finish the header. Into anything else (a pipe, a device) Python writes
    the bytes, so a failure says what the system said."""
    try:
        return stat.S_ISREG(os.fstat(fd).st_mode)
    except OSError:
        return False


_pending: set[str] = set()      # temporary files of unfinished outputs, for the handlers


def _remove_pending_and_die(signum: int, frame: object) -> None:
    """SIGTERM / SIGHUP: remove unfinished temporary files, then die of the signal as
    the default action would (so the exit status still says which signal it was)."""
    remove_pending()
    signal.signal(signum, signal.SIG_DFL)
    os.kill(os.getpid(), signum)


def _install_cleanup_handlers() -> None:
    """Clean temporary files on SIGTERM and SIGHUP (SIGINT raises KeyboardInterrupt,
    which the writers' ``abort`` handles). Only in the main thread, and never over a
    handler someone else installed."""
    global _handlers_installed
    if _handlers_installed or threading.current_thread() is not threading.main_thread():
        return
    for signum in (signal.SIGTERM, signal.SIGHUP):
        if signal.getsignal(signum) == signal.SIG_DFL:
            signal.signal(signum, _remove_pending_and_die)
    _handlers_installed = True      # (once: checking takes 2 us of every output file)


_handlers_installed = False


_Writer = TypeVar("_Writer", bound="Committed")


class Committed:
    """``with`` support for writers: :meth:`commit` when the block ends normally, else
    :meth:`abort` (an exception, KeyboardInterrupt included)."""

    def commit(self) -> None:
        raise NotImplementedError

    def abort(self) -> None:
        raise NotImplementedError

    def __enter__(self: _Writer) -> _Writer:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            try:
                self.commit()
            except BaseException:    # Ctrl-C in the middle of committing, too
                self.abort()
                raise
        else:
            self.abort()


class OutputFile(Committed):
    """A binary output that ends complete or not at all.

    For a regular file (new, replaced, or reached through a symlink) the bytes go to a
    temporary file beside it, which :meth:`commit` syncs and renames into place with the
    replaced file's permission bits and owner; :meth:`abort`, an exception in the ``with``
    block, SIGINT, SIGTERM and SIGHUP remove it. A stream target (device, FIFO, socket,
    ``-``) is written into directly: never created, renamed over or removed.
    ``file`` is the binary file object to write to.
    """

    def __init__(self, path: str | os.PathLike) -> None:
        self.target = output_target(path, check_folder=False)   # (checked if need be)
        self.path = self.target.path
        self.tmp: str | None = None
        try:
            if self.target.stream:
                self.file = _open_stream(self.target)
                return
            _install_cleanup_handlers()
            # a new file gets the mode a plain open() gives (0666 less the umask) as it
            # is made; one that replaces a file is private until it takes that file's
            fd, self.tmp = _new_temporary(os.path.dirname(self.target.real),
                                          0o666 if self.target.mode is None else 0o600)
            # (a buffer size given: no isatty() call on a file just made)
            self.file = os.fdopen(fd, "wb", io.DEFAULT_BUFFER_SIZE)
        except (FileNotFoundError, NotADirectoryError) as exc:
            error = AudioFileError(f"cannot write {self.path}: {strerror(exc)}")
        except OSError as exc:
            raise AudioFileError(f"cannot write {self.path}: {strerror(exc)}") from None
        else:
            return
        check_output_folder(self.path, self.target.real)    # (the clearer message)
        raise error

    def commit(self, synced: bool = False) -> None:
        """Finish: flush, sync and rename the temporary file into place (or just flush a
        stream). ``synced``: its bytes are on the disk already (:func:`sync_group`)."""
        try:
            self.file.flush()
            if self.tmp is None:
                self.file.close()
                return
            if not synced:
                os.fsync(self.file.fileno())
            self.file.close()
            if self.target.mode is not None:
                _give_mode(self.tmp, self.target)
            os.replace(self.tmp, self.target.real)
            _pending.discard(self.tmp)
            self.tmp = None
        except BrokenPipeError:
            self.abort()
            raise                   # the reader of a pipe went away: the CLI stops quietly
        except OSError as exc:
            self.abort()
            raise AudioFileError(f"cannot write {self.path}: {strerror(exc)}") from None

    def abort(self) -> None:
        """Stop: close, and remove the temporary file if there is one."""
        with contextlib.suppress(OSError):
            self.file.close()
        if self.tmp is not None:
            with contextlib.suppress(OSError):
                os.unlink(self.tmp)
            _pending.discard(self.tmp)
            self.tmp = None


class BackgroundCommits:
    """Commit finished :class:`OutputFile` outputs on one background thread, so a batch
    computes its next file while the last ones are synced to disk (syncing waits on the
    disk, not the CPU, and releases the GIL).

    ``submit(out)`` hands over an output whose bytes are all written; it is committed
    (synced, then renamed into place) in the order given. The outputs handed over within
    50 ms are synced together (:func:`sync_group`: one flush of their filesystem instead
    of one per file, which on ext4 is a journal commit each: 806 small files took
    1.3-1.8 s one by one, 0.17 s in groups of 64), up to 128 at a time. An output that
    cannot be committed is removed as :meth:`OutputFile.commit` does, and its error
    message is in ``failures`` under its path. ``close()`` (also the end of a ``with``
    block, normal or not) commits what was handed over and waits for it: until then a
    file handed over is complete but not yet in place. Outputs not handed over are not
    this object's.
    """

    #: A group is the outputs handed over within WAIT seconds of its first, at most GROUP.
    GROUP, WAIT = 128, 0.05

    def __init__(self, depth: int = 128) -> None:
        import queue

        self.failures: dict[str, str] = {}
        self._queue: queue.Queue = queue.Queue(depth)   # (a bound on open temporary files)
        self._closing = threading.Event()
        self._thread = threading.Thread(target=self._run, name="audioquant-commit",
                                        daemon=True)
        self._thread.start()

    def submit(self, out: OutputFile) -> None:
        self._queue.put(out)

    def _run(self) -> None:
        import queue

        stop = False
        while not stop:
            group = [self._queue.get()]
            if group[0] is not None:    # the group gathers: a sleep, not a wake-up per file
                self._closing.wait(self.WAIT)
            while len(group) < self.GROUP and group[-1] is not None:
                try:
                    group.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            if group[-1] is None:
                stop = True
                group.pop()
            self._commit(group)

    def _commit(self, group: list[OutputFile]) -> None:
        synced = sync_group(group)
        for out in group:
            try:
                out.commit(synced=out in synced)
            except BaseException as exc:  # (commit has removed the temporary file)
                self.failures[out.path] = str(exc) if isinstance(exc, AudioFileError) \
                    else f"cannot write {out.path}: {type(exc).__name__}: {exc}"

    def close(self) -> None:
        """Commit everything handed over, then stop the thread."""
        if self._thread.is_alive():
            self._closing.set()
            self._queue.put(None)
            self._thread.join()

    def __enter__(self) -> BackgroundCommits:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def sync_group(outputs: list[OutputFile]) -> set[OutputFile]:
    """Put the written bytes of several temporary outputs on the disk at once: one
    ``syncfs`` of each filesystem they are on (Linux 5.8 and later, where syncfs reports
    a write-back error of the filesystem since the file was opened, as fsync does for
    the file). Returns the outputs so synced; the others (streams, another system, a
    failed flush or sync) are left to :meth:`OutputFile.commit`'s own fsync, which then
    reports any error. Syncing a filesystem also writes other programs' pending data on
    it, as an ext4 fsync's journal commit mostly does anyway."""
    syncfs = _syncfs()
    if syncfs is None or len(outputs) < 2:
        return set()
    by_device: dict[int, list[OutputFile]] = {}
    for out in outputs:
        if out.tmp is None:
            continue
        try:
            out.file.flush()
            by_device.setdefault(os.fstat(out.file.fileno()).st_dev, []).append(out)
        except (OSError, ValueError):
            continue                # (commit meets the same error and reports it)
    synced: set[OutputFile] = set()
    for group in by_device.values():
        if syncfs(group[0].file.fileno()) == 0:
            synced.update(group)
    return synced


@functools.cache
def _syncfs() -> Callable[[int], int] | None:
    """libc's ``syncfs(fd)`` (0 on success), where it reports write-back errors (Linux
    5.8 and later); None elsewhere."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        major, minor = (int(x) for x in os.uname().release.split(".")[:2])
        if (major, minor) < (5, 8):
            return None
        import ctypes

        call = ctypes.CDLL(None, use_errno=True).syncfs   # (releases the GIL)
    except (ValueError, OSError, AttributeError):
        return None
    call.argtypes, call.restype = [ctypes.c_int], ctypes.c_int
    return call


def _new_temporary(folder: str, mode: int = 0o600) -> tuple[int, str]:
    """A new empty file, ``mode`` (less the umask), under a free temporary name in
    ``folder`` (``.audioquant-XXXXXXXX.tmp``): its descriptor and path.
    (``tempfile.mkstemp`` does the same, mode 0600, with a slower name generator.)"""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0) | \
        getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_BINARY", 0)
    for _ in range(100):
        path = os.path.join(folder, f"{TEMP_PREFIX}{_temporary_name()}.tmp")
        _pending.add(path)          # before it exists: a signal from here on removes it
        try:
            return os.open(path, flags, mode), path
        except FileExistsError:
            _pending.discard(path)
            continue
        except BaseException:       # (Ctrl-C: the file may have been made)
            with contextlib.suppress(OSError):
                os.unlink(path)
            _pending.discard(path)
            raise
    raise FileExistsError(errno.EEXIST, "no free temporary name", folder)


def _temporary_name() -> str:
    """Eight hex digits, the next of this process's sequence (which starts at a random
    number, again in a forked child): unlike a random name each, no system call."""
    global _next_name
    if _next_name is None:
        _next_name = int.from_bytes(os.urandom(4), "little")
    _next_name = (_next_name + 1) & 0xFFFFFFFF
    return f"{_next_name:08x}"


_next_name: int | None = None


def _new_sequence() -> None:
    global _next_name
    _next_name = None


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_new_sequence)


def remove_pending() -> None:
    """Remove every temporary file of an unfinished output: the signal handlers' and the
    CLI's clean-up after Ctrl-C (a Ctrl-C between a temporary file's creation and the
    writer that owns it taking it over leaves it only here)."""
    for tmp in list(_pending):
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        _pending.discard(tmp)


def commit_all(outputs: list[OutputFile]) -> None:
    """Commit several outputs as one (a MIDI file and its report): when one fails, those
    already renamed into place are put back as they were (the file each replaced is kept
    as a hard link until all are done), and the rest are aborted. Streams cannot be taken
    back; they are committed last."""
    outputs = sorted(outputs, key=lambda out: out.tmp is None)     # regular files first
    kept: list[str] = []
    committed: list[tuple[OutputFile, str | None]] = []
    try:
        for out in outputs:
            previous = _keep_previous(out)
            if previous is not None:
                kept.append(previous)
            out.commit()
            committed.append((out, previous))
    except BaseException:
        for out in outputs:
            out.abort()
        for out, previous in reversed(committed):
            with contextlib.suppress(OSError):
                if previous is not None:
                    os.replace(previous, out.target.real)
                elif not out.target.stream:
                    os.unlink(out.target.real)
        raise
    finally:
        for previous in kept:
            with contextlib.suppress(OSError):
                os.unlink(previous)


def _keep_previous(out: OutputFile) -> str | None:
    """A hard link to the regular file ``out`` is about to replace (None if none)."""
    if out.target.stream or out.target.mode is None:
        return None
    folder = os.path.dirname(out.target.real)
    for _ in range(100):
        name = os.path.join(folder, f"{TEMP_PREFIX}{os.urandom(4).hex()}.old")
        try:
            os.link(out.target.real, name)
            return name
        except FileExistsError:
            continue
        except OSError as exc:
            raise AudioFileError(f"cannot write {out.path}: {strerror(exc)}") from None
    raise AudioFileError(f"cannot write {out.path}: no free temporary name")


def _open_stream(target: OutputTarget) -> BinaryIO:
    """Open a device, FIFO, socket or standard output for writing, without creating,
    truncating or replacing anything."""
    if target.real == "-":
        if sys.stdout is not None:
            with contextlib.suppress(AttributeError, ValueError, OSError):
                sys.stdout.flush()
        return os.fdopen(os.dup(1), "wb")
    if stat.S_ISSOCK(os.stat(target.real).st_mode):
        import socket  # (here: 6 ms of start-up that almost no render needs)

        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.connect(target.real)
        return sock.makefile("wb")
    return open(os.open(target.real, os.O_WRONLY), "wb")


def _give_mode(tmp: str, target: OutputTarget) -> None:
    """The permission bits (and, as root, the owner) of the file being replaced."""
    if target.owner is not None and os.geteuid() == 0:
        with contextlib.suppress(OSError):
            os.chown(tmp, *target.owner)
    os.chmod(tmp, target.mode)


def strerror(exc: OSError) -> str:
    """What the system said (``No space left on device``), not Python's ``[Errno 28]``."""
    return exc.strerror or str(exc) or type(exc).__name__
