"""Training loader throughput against the train step, on CPU.

Usage: ``python benchmarks/bench_loader.py [--workers 2] [--batch-size 32] [--batches 20]``

Prints samples/s of the seisforge training loader (SeisBench reading + the full augmentation and
labelling pipeline, seeded per sample) with N workers, and samples/s of a PhaseNet train step
(forward, backward, AdamW) on pre-loaded batches. Goal: loader >= 2x the step rate with 2 workers.
"""

from __future__ import annotations

import argparse
import platform
import tempfile
import time
from pathlib import Path

import torch


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--batches", type=int, default=20)
    ap.add_argument("--model", default="PhaseNet")
    args = ap.parse_args()

    import seisbench.models as sbm

    from seisforge.data.sources import phase_columns
    from seisforge.data.synthetic import SynthConfig, synthesize
    from seisforge.runinfo import worker_init_fn
    from seisforge.train.config import AugmentConfig, DataConfig, LabelConfig
    from seisforge.train.data import (
        OffsetSampler,
        SeededGenerator,
        SplitData,
        build_augmentations,
        open_training_datasets,
    )

    model = getattr(sbm, args.model)()
    aug = AugmentConfig(amplitude_jitter_prob=0.3, polarity_flip_prob=0.3, noise_prob=0.3, channel_dropout_prob=0.1,
                        time_shift_prob=0.3)
    with tempfile.TemporaryDirectory() as tmp:
        synthesize(SynthConfig(events=200, noise_traces=60, seed=0, fractions=(1.0, 0.0, 0.0)), Path(tmp) / "d")
        ds, _ = open_training_datasets(DataConfig(path=str(Path(tmp) / "d")), model.sampling_rate, model.component_order)
        data = SplitData(ds, "train")
        gen = SeededGenerator(data, build_augmentations(model, aug, LabelConfig(), phase_columns(ds[0].metadata),
                                                        data.noise_dataset()),
                              seed=0, in_samples=model.in_samples, n_channels=3, n_classes=3)
        loader = torch.utils.data.DataLoader(gen, batch_size=args.batch_size, sampler=OffsetSampler(len(data), 0),
                                             num_workers=args.workers, worker_init_fn=worker_init_fn,
                                             persistent_workers=args.workers > 0)
        it = iter(loader)
        next(it)  # start-up excluded
        t0 = time.perf_counter()
        batches = []
        for _ in range(args.batches):
            try:
                batches.append(next(it))
            except StopIteration:
                it = iter(loader)
                batches.append(next(it))
        t_load = time.perf_counter() - t0
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    model.train()
    t0 = time.perf_counter()
    for b in batches:
        p = model(b["X"])
        loss = -(b["y"] * torch.log(p + 1e-5)).mean(-1).sum(-1).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    t_step = time.perf_counter() - t0
    n = args.batches * args.batch_size
    print(f"machine: {platform.machine()}, {torch.get_num_threads()} torch threads, torch {torch.__version__}")
    print(f"loader ({args.workers} workers): {n / t_load:8.1f} samples/s")
    print(f"train step ({args.model}):    {n / t_step:8.1f} samples/s")
    print(f"ratio loader/step: {t_step / t_load:.2f}x (goal >= 2x)")


if __name__ == "__main__":
    main()
