"""A long fuzz campaign: the checks of tests/test_fuzz.py on many more byte mutations.

Seeds: the suite's WAV, float WAV and MIDI files, plus AIFF, AIFC, FLAC, CAF, W64, RF64
and a mido-written MIDI file, rendered (audio) or quantized (MIDI); mutations of the float
WAV through ``analyze``; and random float64 samples (NaN, Inf, 1e300, subnormals among
them) through both ``render`` and ``analyze``. Mutations: the suite's operations (bit and
byte flips, interesting bytes and 32-bit fields, inserts, deletes, truncation), 1..6 deep,
and half of the time applied to an earlier mutant that audioquant accepted (so the
campaign digs into files that are valid but odd, not only into ones refused at the
first header check).

Each input runs in a worker process with a timeout: an exception or failed check is a
*failure*, no answer within the timeout a *hang*, a dead worker a *crash* (a signal: a
segfault in a C library). Findings are grouped by signature (kind, exception, the
innermost frame in our code, the message with its numbers blanked), each shrunk to a
small input (delta debugging, same signature), and written to ``--out``::

    python bench/fuzz_long.py --examples 20000 --workers 2 --out /tmp/aq-fuzz
    # -> /tmp/aq-fuzz/summary.json, /tmp/aq-fuzz/<n>-<kind>.{bin,min.bin,txt}

The findings are recorded in bench/RESULTS_failures.md and pinned as regression rows in
tests/test_fuzz.py (``REGRESSIONS``).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import random
import re
import sys
import time
import traceback
from collections import Counter
from multiprocessing.connection import wait
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

SUFFIX = {"wav": ".wav", "wav_float": ".wav", "aiff": ".aiff", "aifc": ".aifc",
          "flac": ".flac", "caf": ".caf", "w64": ".w64", "rf64": ".rf64",
          "midi": ".mid", "midi_mido": ".mid", "analyze": ".wav", "floats": ".wav"}


def seeds() -> dict[str, bytes]:
    from tests import corpus
    from tests import test_fuzz as tf

    return {
        "wav": tf.seed_wav(),
        "wav_float": tf.seed_wav_float(),
        "aiff": corpus.sf_bytes(150, 2, fmt="AIFF"),
        "aifc": corpus._aifc_sowt(),
        "flac": corpus.sf_bytes(300, 2, fmt="FLAC"),
        "caf": corpus.sf_bytes(150, 2, fmt="CAF"),
        "w64": corpus.sf_bytes(150, 1, fmt="W64", subtype="PCM_24"),
        "rf64": corpus.sf_bytes(150, 2, fmt="RF64"),
        "midi": tf.seed_midi(),
        "midi_mido": corpus._mido_file(),
        "analyze": tf.seed_wav_float(),        # mutations through `analyze`
        "floats": b"",                         # random float64 samples, not mutations
    }


def random_ops(rng: random.Random) -> list[tuple]:
    from tests import test_fuzz as tf

    ops = []
    for _ in range(rng.choice((1, 1, 1, 2, 2, 3, 4, 6))):
        op = rng.choice(("bit", "bit", "flip", "set", "insert", "delete", "u32le", "u32be",
                         "truncate"))
        pos = rng.randrange(64) if rng.random() < 0.4 else rng.randrange(1 << 16)
        arg = {"bit": lambda: rng.randrange(8), "flip": lambda: rng.randrange(1, 256),
               "set": lambda: rng.choice(tf._INTERESTING_BYTES),
               "insert": lambda: [rng.randrange(256) for _ in range(rng.randint(1, 8))],
               "delete": lambda: rng.randint(1, 16),
               "u32le": lambda: rng.choice(tf._INTERESTING_U32),
               "u32be": lambda: rng.choice(tf._INTERESTING_U32),
               "truncate": lambda: 0}[op]()
        ops.append((op, pos, arg))
    return ops


# ---------------------------------------------------------------------------- worker

def _check(kind: str, data: bytes, bits: int, options: tuple[str, ...] = ()) -> str:
    from tests import test_fuzz as tf

    if kind.startswith("midi"):
        return tf.check_midi(data)
    if kind == "analyze":
        return tf.check_analyze(data)
    if kind == "floats":
        tf.check_analyze(data)
    return tf.check_render(data, bits, SUFFIX[kind], options)


_EXTREMES = (1e300, -1e300, 1e200, -1e160, 1e154, 1e-310, -5e-324, 1.0, -1.0, 0.9999999,
             65536.0, 1e18, float("nan"), float("inf"), -float("inf"), 0.0)


def random_floats(rng: random.Random) -> bytes:
    """A float64 WAV of 0..300 samples: mostly ordinary, some extreme, a few NaN/Inf."""
    from tests import test_fuzz as tf

    channels = rng.choice((1, 2))
    n = rng.choice((0, 1, 2, 7, 64, 300))
    values = []
    for _ in range(n):
        r = rng.random()
        if r < 0.6:
            values.append(rng.uniform(-1.2, 1.2))
        elif r < 0.97:
            values.append(rng.choice(_EXTREMES[:-4]) * rng.choice((1, -1, 0.5)))
        else:
            values.append(rng.choice(_EXTREMES[-4:]))
    return tf.float_wav(values, channels)


def _signature(exc: BaseException) -> str:
    frames = traceback.extract_tb(exc.__traceback__)
    ours = [f for f in frames if any(p in f.filename for p in
                                     ("/audioquant/", "/midi/", "/dsp/"))]
    where = ours[-1] if ours else (frames[-1] if frames else None)
    place = f"{Path(where.filename).parent.name}/{Path(where.filename).name}:{where.name}" \
        if where else "?"
    message = str(exc).splitlines()[0] if str(exc) else ""
    message = re.sub(r"/tmp/\S+", "PATH", message)
    message = re.sub(r"\d+", "N", message)[:120]
    kind = "check" if isinstance(exc, AssertionError) else "exception"
    return f"{kind}: {type(exc).__name__} at {place}: {message}"


def worker(conn) -> None:
    """Run checks sent down ``conn`` until it closes: (kind, data, bits) ->
    (status, signature, traceback text, seconds)."""
    import warnings

    warnings.simplefilter("ignore", DeprecationWarning)
    while True:
        try:
            item = conn.recv()
        except EOFError:
            return
        kind, data, bits, options = item
        started = time.perf_counter()
        try:
            status = _check(kind, data, bits, options)
            conn.send((status, "", "", time.perf_counter() - started))
        except BaseException as exc:  # noqa: B036 - everything is a finding here
            conn.send(("failure", _signature(exc), traceback.format_exc(),
                       time.perf_counter() - started))


class Pool:
    """Worker processes with a per-input timeout; a hung or dead worker is replaced."""

    def __init__(self, size: int, timeout: float) -> None:
        self.ctx = mp.get_context("spawn")
        self.timeout = timeout
        self.workers = [self._start() for _ in range(size)]

    def _start(self):
        parent, child = self.ctx.Pipe()
        proc = self.ctx.Process(target=worker, args=(child,), daemon=True)
        proc.start()
        child.close()
        return {"proc": proc, "conn": parent, "job": None, "since": 0.0}

    def _replace(self, w) -> None:
        w["proc"].kill()
        w["proc"].join()
        self.workers[self.workers.index(w)] = self._start()

    def run(self, jobs):
        """Yield (job, status, signature, traceback, seconds) for each job."""
        jobs = iter(jobs)
        pending = True
        while True:
            for w in self.workers:
                if w["job"] is None and pending:
                    try:
                        job = next(jobs)
                    except StopIteration:
                        pending = False
                        break
                    w["job"], w["since"] = job, time.monotonic()
                    w["conn"].send((job["kind"], job["data"], job["bits"],
                                    job.get("options", ())))
            busy = [w for w in self.workers if w["job"] is not None]
            if not busy:
                return
            ready = wait([w["conn"] for w in busy] + [w["proc"].sentinel for w in busy],
                         timeout=0.5)
            now = time.monotonic()
            for w in list(busy):
                job = w["job"]
                if w["conn"] in ready:
                    try:
                        status, sig, tb, secs = w["conn"].recv()
                    except (EOFError, ConnectionError):
                        status, sig, tb, secs = ("crash", f"crash: worker died "
                                                 f"(exit {w['proc'].exitcode})", "", 0.0)
                        self._replace(w)
                    w["job"] = None
                    yield job, status, sig, tb, secs
                elif w["proc"].sentinel in ready or not w["proc"].is_alive():
                    w["proc"].join()
                    code = w["proc"].exitcode
                    self._replace(w)
                    yield job, "crash", f"crash: worker died (exit {code})", "", 0.0
                elif now - w["since"] > self.timeout:
                    self._replace(w)
                    yield job, "hang", f"hang: no answer in {self.timeout:g} s", "", \
                        self.timeout

    def close(self) -> None:
        for w in self.workers:
            w["conn"].close()
            w["proc"].join(5)
            if w["proc"].is_alive():
                w["proc"].kill()


# ------------------------------------------------------------------------ shrinking

def shrink(pool: Pool, kind: str, data: bytes, bits: int, options: tuple[str, ...],
           signature: str, budget: int = 400) -> bytes:
    """Delta debugging: drop chunks of bytes (halves, quarters, ... single bytes) while
    the same signature reproduces; then try zeroing bytes. At most ``budget`` runs."""
    runs = 0

    def same(candidate: bytes) -> bool:
        nonlocal runs
        runs += 1
        job = {"kind": kind, "data": candidate, "bits": bits, "options": options}
        for _, status, sig, _, _ in pool.run([job]):
            return status in ("failure", "hang", "crash") and sig == signature
        return False

    best = data
    size = max(1, len(best) // 2)
    while size >= 1 and runs < budget:
        i = 0
        changed = False
        while i < len(best) and runs < budget:
            candidate = best[:i] + best[i + size:]
            if candidate != best and same(candidate):
                best = candidate
                changed = True
            else:
                i += size
        if not changed:
            size //= 2
    return best


# ---------------------------------------------------------------------------- main

def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", type=int, default=20000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--timeout", type=float, default=10.0, help="seconds per input")
    parser.add_argument("--seed", type=int, default=20261126)
    parser.add_argument("--out", default="/tmp/aq-fuzz-long")
    parser.add_argument("--kinds", nargs="+", default=list(SUFFIX))
    parser.add_argument("--no-shrink", action="store_true")
    args = parser.parse_args(argv)

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    rng = random.Random(args.seed)
    base = {k: v for k, v in seeds().items() if k in args.kinds}
    accepted: dict[str, list[bytes]] = {k: [] for k in base}
    from tests import test_fuzz as tf

    def jobs():
        for n in range(args.examples):
            kind = list(base)[n % len(base)]
            parent = base[kind]
            if accepted[kind] and rng.random() < 0.5:
                parent = rng.choice(accepted[kind])
            data = random_floats(rng) if kind == "floats" else \
                tf.mutate(parent, random_ops(rng))
            options = rng.choice(tf.OPTIONS) if rng.random() < 0.5 else ()
            yield {"n": n, "kind": kind, "data": data, "options": options,
                   "bits": rng.choice((16, 16, 8, 12, 24, 32))}

    pool = Pool(args.workers, args.timeout)
    counts: Counter = Counter()
    findings: dict[str, dict] = {}
    started = time.monotonic()
    slowest = (0.0, None)
    try:
        for job, status, sig, tb, secs in pool.run(jobs()):
            counts[(job["kind"], status)] += 1
            if secs > slowest[0]:
                slowest = (secs, job["kind"])
            if status == "ok" and len(accepted[job["kind"]]) < 500:
                accepted[job["kind"]].append(job["data"])
            if status in ("failure", "hang", "crash"):
                f = findings.setdefault(sig, {"signature": sig, "count": 0, "kinds": Counter(),
                                              "first": job, "traceback": tb})
                f["count"] += 1
                f["kinds"][job["kind"]] += 1
            done = sum(counts.values())
            if done % 1000 == 0:
                rate = done / (time.monotonic() - started)
                print(f"{done} inputs, {rate:.0f}/s, {len(findings)} findings", flush=True)
        elapsed = time.monotonic() - started
        for i, f in enumerate(sorted(findings.values(), key=lambda f: -f["count"])):
            job = f["first"]
            stem = out / f"{i:02d}-{job['kind']}"
            stem.with_suffix(".bin").write_bytes(job["data"])
            small = job["data"] if args.no_shrink else shrink(
                pool, job["kind"], job["data"], job["bits"], job["options"], f["signature"],
                budget=12 if f["signature"].startswith("hang") else 400)
            stem.with_suffix(".min.bin").write_bytes(small)
            stem.with_suffix(".txt").write_text(
                f"{f['signature']}\ncount {f['count']} kinds {dict(f['kinds'])}\n"
                f"bits {job['bits']} options {' '.join(job['options'])}\n"
                f"minimal ({len(small)} bytes): {small!r}\n\n"
                f"{f['traceback']}")
            f.update(file=str(stem), minimal=small.hex(), bits=job["bits"],
                     options=list(job["options"]),
                     kind=job["kind"], kinds=dict(f["kinds"]))
            del f["first"]
    finally:
        pool.close()

    summary = {
        "examples": args.examples, "seed": args.seed, "seconds": round(elapsed, 1),
        "slowest_input_s": round(slowest[0], 3),
        "outcomes": {f"{k}/{s}": n for (k, s), n in sorted(counts.items())},
        "findings": list(findings.values()),
    }
    (out / "summary.json").write_text(json.dumps(summary, indent=2, default=str))
    print(f"\n{args.examples} inputs in {elapsed:.0f} s; slowest {slowest[0]:.2f} s "
          f"({slowest[1]})")
    for (kind, status), n in sorted(counts.items()):
        print(f"  {kind:<10} {status:<8} {n}")
    print(f"{len(findings)} distinct findings:")
    for f in findings.values():
        print(f"  {f['count']:>5} x {f['signature']}  (kinds {f['kinds']})\n"
              f"        minimal: {f.get('minimal', '')[:160]}")
    return 1 if findings else 0


if __name__ == "__main__":
    sys.exit(main())
