"""Throughput of ``bench predict`` against a bare model forward pass on the same windows.

Usage: ``python benchmarks/bench_predict.py [--events 400] [--model PhaseNet] [--batch-size 256]``

Prints windows/s for the whole predict pipeline (SeisBench SteeredGenerator loading, windowing,
normalisation, inference, output extraction, CSV writing) and for the bare forward pass alone, and the
pipeline overhead in percent. Goal: overhead <= 20 %.
"""

from __future__ import annotations

import argparse
import platform
import tempfile
import time
from pathlib import Path

import numpy as np
import torch


def _windows(data: Path, targets: Path, model) -> torch.Tensor:
    """The exact model inputs predict builds (loaded once, untimed)."""
    import seisbench.generate as sbg

    from seisforge.bench.picking.predict import _checked_generator
    from seisforge.data.sources import open_dataset
    from seisforge.data.targets_io import load_targets

    ds = open_dataset(data, sampling_rate=model.sampling_rate)
    augs = [sbg.SteeredWindow(windowlen=model.in_samples, strategy="pad"), sbg.ChangeDtype(np.float32),
            sbg.Normalize(demean_axis=-1, amp_norm_axis=-1, amp_norm_type=model.norm)]
    xs = []
    for df in load_targets(targets).values():
        df = df[df["trace_split"].isin(["dev", "test"])].copy()
        df["trace_chunk"] = df["trace_chunk"].fillna("").astype(str)
        gen = _checked_generator(ds, df.drop(columns=["trace_dataset"]), augs)
        xs.extend(gen[i]["X"] for i in range(len(gen)))
    return torch.as_tensor(np.stack(xs))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--events", type=int, default=400)
    ap.add_argument("--model", default="PhaseNet", help="SeisBench class (random init weights)")
    ap.add_argument("--batch-size", type=int, default=256)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--workers", type=int, default=0, help="DataLoader workers of the predict pipeline")
    args = ap.parse_args()

    import seisbench.models as sbm

    from seisforge.bench.picking.predict import predict
    from seisforge.bench.picking.targets import generate_targets
    from seisforge.data.synthetic import SynthConfig, synthesize
    from seisforge.models.loaded import LoadedModel

    torch.manual_seed(0)
    model = getattr(sbm, args.model)().eval()
    loaded = LoadedModel(model, source="random-init", spec=f"seisbench:{args.model}")
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        synthesize(SynthConfig(events=args.events, noise_traces=args.events // 3, seed=0), tmp / "data")
        generate_targets(tmp / "data", tmp / "targets")
        x = _windows(tmp / "data", tmp / "targets", model)
        n_windows = len(x)
        pipe, bare = [], []
        for r in range(args.repeats):  # interleaved, so machine load affects both alike
            t0 = time.perf_counter()
            rep = predict(tmp / "data", tmp / "targets", f"seisbench:{args.model}", tmp / f"pred{r}",
                          model=loaded, batch_size=args.batch_size, num_workers=args.workers)
            pipe.append(time.perf_counter() - t0)
            assert rep.processed == n_windows
            t0 = time.perf_counter()
            with torch.inference_mode():
                for i in range(0, n_windows, args.batch_size):
                    model(x[i:i + args.batch_size])
            bare.append(time.perf_counter() - t0)
    tp, tb = float(np.median(pipe)), float(np.median(bare))
    print(f"machine: {platform.processor() or platform.machine()}, {torch.get_num_threads()} torch threads, "
          f"torch {torch.__version__}")
    print(f"model: {args.model} (random init), windows: {n_windows}, batch size {args.batch_size}, "
          f"loader workers {args.workers}, median of {args.repeats}")
    print(f"predict pipeline: {n_windows / tp:8.1f} windows/s ({tp:.2f} s)")
    print(f"bare forward:     {n_windows / tb:8.1f} windows/s ({tb:.2f} s)")
    print(f"pipeline overhead: {100 * (tp - tb) / tb:.1f} % (goal <= 20 %)")


if __name__ == "__main__":
    main()
