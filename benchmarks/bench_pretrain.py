"""Pretraining and adaptation throughput on CPU (or a GPU with ``--device cuda``), with peak memory.

Usage: ``python benchmarks/bench_pretrain.py [--config configs/pretrain_synthetic_mae.yaml] [--windows 256]
[--workers 0 2] [--adapt-steps 5] [--device cpu]``

Prints the CPU flags, then for the config's encoder and objective:

- loader windows/s alone (drawing, QC, normalisation, contrastive views), per worker count;
- pretraining windows/s of the optimiser step alone on pre-drawn batches (forward, backward, AdamW);
- end-to-end pretraining windows/s of ``seisforge pretrain`` for one epoch of ``--windows`` windows;
- the training FLOPs per window (transformer: analytic count; conv: from ``torch.utils.flop_counter``),
  and the measured FLOP rate;
- adaptation steps/s per method (``seisforge.models.adapt.apply`` on the pretrained encoder with a picking
  head, ``--adapt-steps`` AdamW steps each);
- peak resident memory (``resource.getrusage``) and peak Python allocations of the loader (``tracemalloc``);
- with ``--estimate CONFIG ...``: the cost of (paper-size) configs from their FLOPs per window, this
  machine's measured FLOP rate, an assumed sustained GPU rate (``--gpu-tflops``) and the measured
  single-process loader rate times the config's workers.
"""

from __future__ import annotations

import argparse
import copy
import platform
import resource
import tempfile
import time
import tracemalloc
from pathlib import Path

import torch


def cpu_flags() -> str:
    """The SIMD flags that matter for inference and training speed, from ``/proc/cpuinfo``."""
    wanted = ("avx2", "avx512f", "avx512_bf16", "amx_bf16", "amx_tile", "avx512_vnni", "avx_vnni")
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return "unknown"
    line = next((ln for ln in text.splitlines() if ln.startswith("flags")), "")
    have = set(line.split(":", 1)[-1].split())
    model = next((ln.split(":", 1)[1].strip() for ln in text.splitlines() if ln.startswith("model name")), "?")
    return f"{model}; " + " ".join(f"{f}={'yes' if f in have else 'no'}" for f in wanted)


def transformer_train_flops(args: dict, channels: int, samples: int) -> float:
    """Training FLOPs per window of the patch transformer (3x the forward multiply-adds x 2)."""
    d, depth, p = args["d_model"], args["depth"], args["patch_samples"]
    n = -(-samples // p)
    hidden = int(round(d * args.get("mlp_ratio", 4.0)))
    per_layer = n * (4 * d * d + 2 * d * hidden) + 2 * n * n * d
    forward = n * channels * p * d + depth * per_layer + n * d * channels * p  # stem, blocks, MAE decoder
    return 2 * 3 * forward


def measured_flops(objective, batch: dict) -> float:
    """Training FLOPs of one step on ``batch`` counted by ``torch.utils.flop_counter`` (forward x 3)."""
    from torch.utils.flop_counter import FlopCounterMode

    with FlopCounterMode(display=False) as counter, torch.no_grad():
        _forward(objective, batch)
    return 3.0 * counter.get_total_flops() / len(next(iter(batch.values())))


def _forward(objective, batch: dict):
    if "x" in batch:
        return objective(batch["x"], torch.Generator().manual_seed(0))
    return objective(batch["x1"], batch["x2"])


def loader_rate(ds, batch_size: int, workers: int, n_batches: int) -> float:
    """Windows/s of the DataLoader alone."""
    from seisforge.runinfo import worker_init_fn

    loader = torch.utils.data.DataLoader(ds, batch_size=batch_size, num_workers=workers,
                                         worker_init_fn=worker_init_fn)
    t0, n = time.perf_counter(), 0
    for k, batch in enumerate(loader):
        n += len(batch["valid"])
        if k + 1 >= n_batches:
            break
    return n / (time.perf_counter() - t0)


def step_rate(objective, batches: list[dict], steps: int) -> float:
    """Windows/s of optimiser steps on pre-drawn batches."""
    opt = torch.optim.AdamW(objective.parameters(), lr=1e-4)
    objective.train()
    _step(objective, opt, batches[0])  # warm-up
    t0, n = time.perf_counter(), 0
    for k in range(steps):
        b = batches[k % len(batches)]
        _step(objective, opt, b)
        n += len(next(iter(b.values())))
    return n / (time.perf_counter() - t0)


def _step(model, opt, batch) -> None:
    loss = _forward(model, batch)[0]
    opt.zero_grad()
    loss.backward()
    opt.step()


def adapt_rates(run_dir: Path, steps: int, batch_size: int) -> dict[str, float]:
    """AdamW steps/s per adaptation method on the pretrained encoder plus a picking head."""
    from seisforge.models.adapt import METHOD_NAMES, AdaptConfig, apply
    from seisforge.models.encoders import EncoderPicker
    from seisforge.models.encoders.pretrained import load_pretrained_encoder

    enc, info = load_pretrained_encoder(run_dir)
    if info["kind"] == "patch_transformer":
        args = {k: v for k, v in info["args"].items() if k != "in_channels"}
        base = EncoderPicker(in_channels=info["in_channels"], component_order=info["component_order"],
                             sampling_rate=info["sampling_rate"], in_samples=info["window_samples"], **args)
        base.encoder.load_state_dict(enc.state_dict())
    else:
        base = info["seisbench_model"]
    x = torch.randn(batch_size, info["in_channels"], info["window_samples"])
    out = {}
    for method in METHOD_NAMES:
        if method == "prompt" and info["kind"] != "patch_transformer":
            continue
        model = apply(copy.deepcopy(base), AdaptConfig(method))
        model.train()
        opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-3)
        target = torch.softmax(torch.randn(batch_size, 3, info["window_samples"]), dim=1)

        _adapt_step(model, opt, x, target)
        t0 = time.perf_counter()
        for _ in range(steps):
            _adapt_step(model, opt, x, target)
        out[method] = steps / (time.perf_counter() - t0)
    return out


def train_flops(cfg) -> float:
    """Training FLOPs per window of a config (analytic for the transformer, counted for the conv encoder)."""
    from seisforge.train.pretrain.loop import build_encoder, build_objective

    if cfg.encoder.kind == "patch_transformer":
        flops = transformer_train_flops({**cfg.encoder.args, "mlp_ratio": cfg.encoder.args.get("mlp_ratio", 4.0)},
                                        len(cfg.data.components), cfg.data.window_samples)
    else:
        cfg.encoder.weights = None  # random weights: same FLOPs
        objective = build_objective(cfg, build_encoder(cfg)[0]).eval()
        x = torch.randn(1, len(cfg.data.components), cfg.data.window_samples)
        flops = measured_flops(objective, {"x": x} if cfg.objective.kind == "mae" else {"x1": x, "x2": x})
        return flops
    return 2 * flops if cfg.objective.kind == "contrastive" else flops


def estimate(path: str, cpu_flops: float, loader_per_process: float, gpu_tflops: float) -> None:
    """Print the estimated cost of the config at ``path``."""
    from seisforge.config import load_config
    from seisforge.train.pretrain.config import PretrainConfig
    from seisforge.train.pretrain.loop import build_encoder

    cfg = load_config(PretrainConfig, path)
    flops = train_flops(cfg)
    windows = cfg.data.windows_per_epoch * cfg.train.epochs
    total = flops * windows
    cfg.encoder.weights = None
    n_enc = sum(p.numel() for p in build_encoder(cfg)[0].parameters())
    gpu_h = total / (gpu_tflops * 1e12) / 3600
    loader_h = windows / (loader_per_process * max(cfg.train.num_workers, 1)) / 3600
    print(f"estimate {path}: {n_enc / 1e6:.1f} M encoder parameters, {flops / 1e9:.2f} GFLOP/window x "
          f"{windows / 1e6:.1f} M windows = {total:.2e} FLOP; this CPU at {cpu_flops / 1e9:.1f} GFLOP/s: "
          f"{total / cpu_flops / 86400:.0f} days; one GPU at {gpu_tflops:g} TFLOP/s sustained: {gpu_h:.1f} h; "
          f"loader at {loader_per_process:.0f} windows/s per process x {cfg.train.num_workers} workers: "
          f"{loader_h:.1f} h (the larger bounds the run)")


def _adapt_step(model, opt, x, target) -> None:
    """One soft cross-entropy AdamW step of a picking model."""
    import seisbench.models as sbm

    pred = model(x, logits=True) if isinstance(model, sbm.WaveformModel) else model(x)
    loss = -(target * torch.log_softmax(pred, dim=1)).sum(1).mean()
    opt.zero_grad()
    loss.backward()
    opt.step()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--config", default="configs/pretrain_synthetic_mae.yaml")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    ap.add_argument("--windows", type=int, default=256, help="windows of the end-to-end epoch")
    ap.add_argument("--workers", type=int, nargs="+", default=[0, 2])
    ap.add_argument("--steps", type=int, default=8, help="optimiser steps for the step-only rate")
    ap.add_argument("--adapt-steps", type=int, default=5)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--estimate", nargs="*", default=[], metavar="CONFIG", help="configs to cost")
    ap.add_argument("--gpu-tflops", type=float, default=60.0, help="assumed sustained GPU TFLOP/s")
    args = ap.parse_args()

    from seisforge.config import load_config
    from seisforge.train.pretrain.config import PretrainConfig
    from seisforge.train.pretrain.loop import _views, build_encoder, build_objective, pretrain
    from seisforge.train.pretrain.windows import WindowDataset, open_source

    cfg = load_config(PretrainConfig, args.config, args.set)
    cfg.device = args.device
    print(f"machine: {platform.machine()}, {torch.get_num_threads()} torch threads; CPU: {cpu_flags()}")
    print(f"torch {torch.__version__}; config {args.config} {' '.join(args.set)}")
    print(f"encoder {cfg.encoder.kind} {cfg.encoder.args}, objective {cfg.objective.kind}, "
          f"{cfg.data.components} x {cfg.data.window_samples} samples, batch {cfg.train.batch_size}")
    source = open_source(cfg.data, cfg.seed)
    ds = WindowDataset(source, cfg.data, cfg.seed, 10**6, views=_views(cfg))
    tracemalloc.start()
    loader = {}
    for w in args.workers:
        loader[w] = loader_rate(ds, cfg.train.batch_size, w, max(2, args.windows // cfg.train.batch_size))
        print(f"loader alone, {w} workers: {loader[w]:8.1f} windows/s")
    if cfg.data.kind in ("seisbench", "manifest"):  # what a dataset too large to preload gets
        unloaded = copy.deepcopy(cfg.data)
        unloaded.preload_traces = 0
        ds0 = WindowDataset(open_source(unloaded, cfg.seed), unloaded, cfg.seed, 10**6, views=_views(cfg))
        loader["unpreloaded"] = loader_rate(ds0, cfg.train.batch_size, 0, max(2, args.windows // cfg.train.batch_size))
        print(f"loader alone, 0 workers, traces read per window (no preload): {loader['unpreloaded']:8.1f} windows/s")
    print(f"loader peak Python allocations (tracemalloc, main process): {tracemalloc.get_traced_memory()[1] / 2**20:.1f} MiB")
    tracemalloc.stop()

    torch.manual_seed(0)
    encoder, _ = build_encoder(cfg)
    objective = build_objective(cfg, encoder).to(args.device)
    keys = ("x",) if cfg.objective.kind == "mae" else ("x1", "x2")
    items = [ds[i] for i in range(2 * cfg.train.batch_size)]
    batches = [{k: torch.stack([it[k] for it in items[a:a + cfg.train.batch_size]]).to(args.device) for k in keys}
               for a in (0, cfg.train.batch_size)]
    rate = step_rate(objective, batches, args.steps)
    n_enc = sum(p.numel() for p in encoder.parameters())
    flops = (transformer_train_flops({**cfg.encoder.args, "mlp_ratio": cfg.encoder.args.get("mlp_ratio", 4.0)},
                                     len(cfg.data.components), cfg.data.window_samples)
             if cfg.encoder.kind == "patch_transformer" else measured_flops(objective, batches[0]))
    if cfg.objective.kind == "contrastive":
        flops *= 2  # two views
    print(f"encoder parameters: {n_enc}; training FLOPs per window: {flops / 1e9:.3f} GFLOP")
    print(f"pretraining step alone: {rate:8.1f} windows/s ({rate * flops / 1e9:.1f} GFLOP/s)")

    with tempfile.TemporaryDirectory() as tmp:
        cfg.run.root, cfg.train.epochs = tmp, 1
        cfg.data.windows_per_epoch, cfg.train.num_workers = args.windows, max(args.workers)
        t0 = time.perf_counter()
        run_dir = pretrain(cfg)
        dt = time.perf_counter() - t0
        print(f"seisforge pretrain end to end ({cfg.train.num_workers} workers, 1 epoch of {args.windows} "
              f"windows + {cfg.data.dev_windows} dev, set-up included): {args.windows / dt:8.1f} windows/s ({dt:.1f} s)")
        for method, r in adapt_rates(run_dir, args.adapt_steps, cfg.train.batch_size).items():
            print(f"adapt {method:13s} {r:7.2f} steps/s (batch {cfg.train.batch_size})")
    for path in args.estimate:
        estimate(path, rate * flops, loader.get("unpreloaded", loader.get(0)), args.gpu_tflops)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    print(f"peak resident memory: {peak:.0f} MiB (largest worker process: {children:.0f} MiB)")


if __name__ == "__main__":
    main()
