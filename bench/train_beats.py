"""Train the onset network of midi/beats.py (a bidirectional GRU over the onsets) on the
dev part of ASAP; writes midi/beats_weights.json.

    python bench/train_beats.py                  # hidden 48, 14 epochs, seed 0
    python bench/train_beats.py --hidden 32 --epochs 10

The shipped ensemble (8 networks: epochs 2..5 of two runs on all of dev, averaged by the
tracker; the recipe was chosen with ``--val 0.15``, the default, on networks trained
without the validation share):

    for seed in 2 4; do python bench/train_beats.py --epochs 6 --seed $seed --drop 0.3 \
        --jitter 0.015 --warp 0.15 --keep 2,3,4,5 --val 0 --out /tmp/beats_s$seed.json; done
    python bench/train_beats.py --merge /tmp/beats_s2.json /tmp/beats_s4.json

K-fold by piece over all of dev (out-of-fold networks, so decoder settings can be scored
on 554 performances instead of the 77 of the validation share; about 5 min per fold):

    for k in 0 1 2 3; do python bench/train_beats.py --epochs 6 --seed 2 --drop 0.3 \
        --jitter 0.015 --warp 0.15 --keep 2,3,4,5 --fold $k/4 --out /tmp/folds/f$k.json; done
    python bench/bench_beats.py --part dev --folds /tmp/folds --set knee=0.1

Training only: needs torch (``pip install torch``); the tracker runs the network in numpy /
numba (``beats._gru``). Inputs: the onset features of ``beats._onset_features``; targets
per onset: a beat within 50 ms, a downbeat within 50 ms (two sigmoid outputs, summed
cross-entropy). Sequences are cut into chunks of ``--chunk`` onsets (start offsets drawn
with a fixed seed); the epoch with the lowest cross-entropy on a validation share of the
dev pieces (``--val``, chosen by a hash of the piece folder, never the held-out part) is
kept (or, with ``--keep``, the networks of several epochs, averaged). Deterministic:
fixed seeds, one thread.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

import bench_beats as bb  # noqa: E402

from audioquant.midi import beats as mb  # noqa: E402


def sequences(perfs: list[dict], rng: np.random.Generator | None = None,
              stretch: float = 0.0, loud: float = 0.0, drop: float = 0.0,
              jitter_s: float = 0.0, warp: float = 0.0
              ) -> list[tuple[np.ndarray, np.ndarray]]:
    """(features [n, N_FEATURES], targets [n, 2]) of each performance. With ``rng``, each
    performance is first played at another tempo (times and lengths scaled by
    ``exp(U(-stretch, stretch))``) and loudness (velocities scaled by
    ``exp(U(-loud, loud))``), with a share ``U(0, drop)`` of its notes left out and each
    note start moved by a normal ``jitter_s`` (s), and the time axis warped (a tempo curve
    ``exp(warp * mean of 3 random sines)``, periods 4..30 s, applied to the notes and the
    beats alike): data augmentation."""
    out = []
    for perf in perfs:
        scale, gain = 1.0, 1.0
        on, pi = perf["onsets"], perf["pitches"]
        ve, du = perf["velocities"], perf["durations"]
        beats, downs = np.sort(perf["beats"]), np.sort(perf["downbeats"])
        if rng is not None and warp > 0:
            end = float(max((on + du).max(), beats.max() if beats.size else 0.0)) + 1.0
            grid = np.arange(0.0, end + 0.1, 0.1)
            rate = np.zeros_like(grid)
            for _ in range(3):
                period = rng.uniform(4.0, 30.0)
                rate += np.sin(2 * np.pi * grid / period + rng.uniform(0, 2 * np.pi))
            warped = np.concatenate(([0.0], np.cumsum(np.exp(warp * rate[:-1] / 3) * 0.1)))
            ends = np.interp(on + du, grid, warped)
            on = np.interp(on, grid, warped)
            du = ends - on
            beats, downs = np.interp(beats, grid, warped), np.interp(downs, grid, warped)
        if rng is not None:
            scale = float(np.exp(rng.uniform(-stretch, stretch)))
            gain = float(np.exp(rng.uniform(-loud, loud)))
            if drop > 0:
                keep = rng.random(on.size) >= rng.uniform(0.0, drop)
                keep[int(rng.integers(on.size))] = True
                on, pi, ve, du = on[keep], pi[keep], ve[keep], du[keep]
            if jitter_s > 0:
                on = np.maximum(on + rng.normal(0.0, jitter_s, on.size), 0.0)
        order = np.argsort(on, kind="stable")
        vel = np.clip(np.rint(ve[order] * gain), 1, 127)
        times, feats, _, _ = mb._onset_features(
            on[order] * scale, pi[order], vel, du[order] * scale, mb.DEFAULT.chord_s)
        beat = mb._nearest_distance(times, beats * scale) <= 0.05
        down = mb._nearest_distance(times, downs * scale) <= 0.05
        out.append((feats, np.stack([beat, down], axis=1).astype(np.float32)))
    return out


def merge(out: Path, files: list[Path]) -> None:
    """One weights file holding every network of ``files`` (``{"nets": [...]}``: the
    tracker averages their probabilities)."""
    nets = []
    for file in files:
        data = json.loads(file.read_text())
        nets += data.get("nets", [data])
    about = (f"onset model of midi/beats.py: {len(nets)} bidirectional GRUs over the onsets, "
             "their probabilities averaged; each outputs P(beat within 50 ms), P(downbeat "
             "within 50 ms); fitted by bench/train_beats.py on the dev part of asap-dev")
    out.write_text(json.dumps({"about": about, "nets": nets}, separators=(",", ":")) + "\n")
    print(f"wrote {out}: {len(nets)} networks")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--hidden", type=int, default=48)
    ap.add_argument("--layers", type=int, default=1)
    ap.add_argument("--epochs", type=int, default=14)
    ap.add_argument("--chunk", type=int, default=600)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--lr", type=float, default=3e-3)
    ap.add_argument("--val", type=float, default=0.15,
                    help="validation share of the dev pieces (0: train on all of dev for "
                         "--epochs epochs and keep the last)")
    ap.add_argument("--fold", type=str, default="",
                    help="K-fold by piece over dev: 'k/K' holds out the pieces of fold k "
                         "(bench_beats.fold) instead of the --val share")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--stretch", type=float, default=0.25,
                    help="tempo augmentation: log scale range of the times")
    ap.add_argument("--loud", type=float, default=0.2,
                    help="loudness augmentation: log scale range of the velocities")
    ap.add_argument("--drop", type=float, default=0.0,
                    help="note dropping augmentation: largest share of notes left out")
    ap.add_argument("--jitter", type=float, default=0.0,
                    help="timing augmentation: s.d. of a note start's shift (s)")
    ap.add_argument("--warp", type=float, default=0.0,
                    help="tempo curve augmentation: amplitude of the log tempo")
    ap.add_argument("--dropout", type=float, default=0.0,
                    help="dropout on the inputs and on the GRU outputs (training only)")
    ap.add_argument("--decay", type=float, default=1e-4, help="Adam weight decay")
    ap.add_argument("--snapshots", type=Path, default=None,
                    help="folder for the weights after each epoch (epochN.json)")
    ap.add_argument("--out", type=Path, default=Path(mb._MODEL_PATH))
    ap.add_argument("--keep", type=str, default="",
                    help="epochs (comma separated) whose weights all go into --out, "
                         "averaged by the tracker (default: the best epoch only)")
    ap.add_argument("--merge", type=Path, nargs="+", default=None,
                    help="no training: write the networks of these weights files into --out")
    args = ap.parse_args()
    if args.merge:
        merge(args.out, args.merge)
        return
    import torch

    torch.manual_seed(args.seed)
    torch.set_num_threads(1)
    rng = np.random.default_rng(args.seed)

    perfs = [p for p in bb.load(bb.DATA, bb.CACHE) if not p["held_out"]]
    if args.fold:
        k, n_folds = (int(v) for v in args.fold.split("/"))

        def is_val(folder: str) -> bool:
            return bb.fold(folder, n_folds) == k
    else:
        def is_val(folder: str) -> bool:
            return bb.validation(folder, args.val)
    train_perfs = [p for p in perfs if not is_val(p["folder"])]
    train = sequences(train_perfs)
    val = sequences([p for p in perfs if is_val(p["folder"])])
    allx = np.vstack([x for x, _ in train])
    mean, sd = allx.mean(axis=0), allx.std(axis=0) + 1e-6
    print(f"train {len(train)} performances, {allx.shape[0]} onsets; val {len(val)}",
          flush=True)

    def norm(x: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(((x - mean) / sd).astype(np.float32))

    val_t = [(norm(x)[None], torch.from_numpy(y)[None]) for x, y in val]

    class Net(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.gru = torch.nn.GRU(mb.N_FEATURES, args.hidden, num_layers=args.layers,
                                    batch_first=True, bidirectional=True)
            self.out = torch.nn.Linear(2 * args.hidden, 2)
            self.drop = torch.nn.Dropout(args.dropout)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.out(self.drop(self.gru(self.drop(x))[0]))

    def as_json(state: dict) -> dict:
        def arr(key: str) -> list:
            return np.round(state[key].numpy().astype(np.float64), 6).tolist()

        data = {"about": ("onset model of midi/beats.py: a bidirectional GRU over the "
                          "onsets; outputs P(beat within 50 ms), P(downbeat within 50 ms); "
                          "fitted by bench/train_beats.py on the dev part of asap-dev"),
                "kind": "bigru", "hidden": args.hidden, "layers": args.layers,
                "mean": np.round(mean, 6).tolist(), "sd": np.round(sd, 6).tolist()}
        for layer in range(args.layers):
            for d, suffix in (("f", ""), ("b", "_reverse")):
                for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
                    data[f"{name}_{d}{layer}"] = arr(f"gru.{name}_l{layer}{suffix}")
        data["w_out"] = arr("out.weight")
        data["b_out"] = arr("out.bias")
        return data

    net = Net()
    opt = torch.optim.Adam(net.parameters(), lr=args.lr, weight_decay=args.decay)
    loss_fn = torch.nn.BCEWithLogitsLoss()
    best, best_state = np.inf, None
    keep = {int(e) for e in args.keep.split(",") if e.strip()}
    kept = []
    for epoch in range(args.epochs):
        t0 = time.time()
        for group in opt.param_groups:
            group["lr"] = args.lr * (0.6 ** max(0, epoch - args.epochs // 2))
        if args.stretch or args.loud or args.drop or args.jitter or args.warp:
            train = sequences(train_perfs, rng, args.stretch, args.loud, args.drop,
                              args.jitter, args.warp)
        train_t = [(norm(x), torch.from_numpy(y)) for x, y in train]
        chunks = []
        for i, (x, _) in enumerate(train_t):
            n = x.shape[0]
            edges = sorted({0, n, *range(int(rng.integers(1, args.chunk)), n, args.chunk)})
            chunks += [(i, s, e) for s, e in zip(edges[:-1], edges[1:], strict=True)]
        order = rng.permutation(len(chunks))
        net.train()
        for b in range(0, order.size, args.batch):
            parts = [chunks[k] for k in order[b:b + args.batch]]
            xs = torch.nn.utils.rnn.pad_sequence([train_t[i][0][s:e] for i, s, e in parts],
                                                 batch_first=True)
            ys = torch.nn.utils.rnn.pad_sequence([train_t[i][1][s:e] for i, s, e in parts],
                                                 batch_first=True, padding_value=-1.0)
            mask = ys >= 0
            logits = net(xs)
            loss = loss_fn(logits[mask], ys[mask])
            opt.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(net.parameters(), 1.0)
            opt.step()
        net.eval()
        if epoch in keep:
            kept.append(as_json({k: v.detach().clone() for k, v in net.state_dict().items()}))
        if args.snapshots is not None:
            args.snapshots.mkdir(parents=True, exist_ok=True)
            state = {k: v.detach().clone() for k, v in net.state_dict().items()}
            (args.snapshots / f"epoch{epoch}.json").write_text(
                json.dumps(as_json(state), separators=(",", ":")) + "\n")
        if not val_t:          # no validation share: the last epoch is kept
            best_state = {k: v.detach().clone() for k, v in net.state_dict().items()}
            print(f"epoch {epoch} ({time.time() - t0:.0f} s)", flush=True)
            continue
        with torch.no_grad():
            tot = cnt = 0.0
            for x, y in val_t:
                tot += float(loss_fn(net(x), y)) * y.shape[1]
                cnt += y.shape[1]
        vloss = tot / cnt
        print(f"epoch {epoch}: val cross-entropy {vloss:.4f} ({time.time() - t0:.0f} s)",
              flush=True)
        if vloss < best:
            best = vloss
            best_state = {k: v.detach().clone() for k, v in net.state_dict().items()}
    assert best_state is not None
    if keep:
        about = kept[0]["about"].replace("a bidirectional GRU",
                                         f"{len(kept)} bidirectional GRUs (averaged)")
        out = {"about": about, "epochs": sorted(keep), "nets": kept}
    else:
        out = as_json(best_state)
    args.out.write_text(json.dumps(out, separators=(",", ":")) + "\n")
    print(f"best val cross-entropy {best:.4f}; wrote {args.out}" if val_t else
          f"wrote {args.out}")


if __name__ == "__main__":
    main()
