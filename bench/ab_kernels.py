"""A/B of two builds of the MIDI kernels: the one-call quantize of every file of a folder,
the two builds alternating file by file in one process.

    cp midi/_kernels_*.so /tmp/before.so      # the build before a change
    (change a kernel) && pip install -e .      # the new build
    python bench/ab_kernels.py /tmp/before.so midi/_kernels_*.so [--data DIR] [--passes 5]

On a shared machine whose speed drifts by tens of percent from one minute to the next,
whole-folder rounds of each build scatter by about 15 %; alternating file by file puts
the drift on both alike (an A/A run gives 1.000 +- 0.005). Prints each build's time per
pass, their ratio per pass and overall (above 1: the second is faster), and whether the
two give byte-identical outputs. Memory is set up as the CLI does (``tune_memory``).
"""

from __future__ import annotations

import argparse
import importlib.util
import re
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def load_kernel(path: str) -> Callable:
    """The one-call quantize kernel of the extension at ``path`` (any tag)."""
    name = re.search(rb"PyInit_(\w+)", Path(path).read_bytes()).group(1).decode()
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return next(getattr(module, k) for k in dir(module)
                if k.startswith("k_quantize___quantize_smf__"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("a", help="the first build (.so)")
    parser.add_argument("b", help="the second build (.so)")
    parser.add_argument("--data", default=str(ROOT.parent / "shared" / "data" / "asap-dev"))
    parser.add_argument("--passes", type=int, default=5)
    parser.add_argument("--grid", default="1/16")
    args = parser.parse_args()

    from audioquant.midi_cli import tune_memory

    tune_memory()
    from audioquant.midi import files

    kernels = load_kernel(args.a), load_kernel(args.b)
    raws = [p.read_bytes() for p in sorted(Path(args.data).rglob("*.mid"))
            if p.name != "midi_score.mid"]
    options = {"grid": args.grid}

    def run(kernel: Callable, raw: bytes) -> tuple[int, bytes | None]:
        files._quantize_smf = kernel       # (the name _quantize_bytes calls)
        started = time.perf_counter_ns()
        done = files._quantize_bytes(raw, "input", options)
        return time.perf_counter_ns() - started, None if done is None else bytes(done[0])

    same = all(run(kernels[0], raw)[1] == run(kernels[1], raw)[1] for raw in raws)
    totals = [0, 0]
    ratios = []
    for k in range(args.passes):
        spent = [0, 0]
        for i, raw in enumerate(raws):
            for which in ((0, 1) if (i + k) % 2 else (1, 0)):
                spent[which] += run(kernels[which], raw)[0]
        ratios.append(spent[0] / spent[1])
        totals = [totals[0] + spent[0], totals[1] + spent[1]]
    print(f"{len(raws)} files; A {totals[0] / args.passes / 1e9:.3f} s a pass, "
          f"B {totals[1] / args.passes / 1e9:.3f} s; A/B per pass "
          f"{', '.join(f'{r:.3f}' for r in ratios)}; overall {totals[0] / totals[1]:.3f}; "
          f"outputs byte-identical: {same}")


if __name__ == "__main__":
    main()
