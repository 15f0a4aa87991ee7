"""Whole-process speed: ``seisforge pick`` against a plain SeisBench script, same file, same weights.

Each measurement is a fresh Python process, as a batch job per station-day would run:

- ``plain``: import SeisBench, load the weights, ``obspy.read``, ``classify``, write the picks as CSV;
- ``pick cold``: ``seisforge pick`` into a fresh output folder with an empty cache
  (``SEISFORGE_CACHE``: export, compilation and runtime timing happen);
- ``pick warm``: the same with the cache of the cold run (nothing exported or re-timed; the lean path of
  ``seisforge.deploy.lean``: no torch or SeisBench model classes in the process);
- ``imports``: processes that only import what a cold ``seisforge pick`` imports, and what a warm one
  imports, for the start-up figures.

It does this for one synthetic station-day and for a 10-minute file (time to first picks), and prints
both ratios and the CPU flags. ``--precision fp32`` forces the float32 path, which is what a CPU
without bf16 runs (this emulates one on a CPU that has bf16). ``--isa avx2`` goes further on an AVX-512
machine: every process's oneDNN (OpenVINO's and torch's), ATen and MKL kernels are capped at AVX2
(``ONEDNN_MAX_CPU_ISA``, ``DNNL_MAX_CPU_ISA``, ``ATEN_CPU_CAPABILITY``, ``MKL_ENABLE_INSTRUCTIONS``) and
``seisforge pick`` runs OpenVINO (``--backend openvino``), because ONNX Runtime's kernels cannot be capped.
It is an emulation: an AVX2-only CPU's clock, caches and memory also differ.

Example
-------
python benchmarks/bench_pick_process.py --precision fp32
python benchmarks/bench_pick_process.py --precision fp32 --isa avx2
python benchmarks/bench_pick_process.py --model PhaseNet --weights runs/bench_phasenet/phasenet_synth/best/model
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PLAIN = """
import sys, seisbench.models as sbm, obspy
model = sbm.{cls}.load({prefix!r}{version})
st = obspy.read({path!r})
picks = model.classify(st, batch_size={batch}).picks
with open({csv!r}, "w") as f:
    f.write("trace_id,phase,peak_time,peak_value\\n")
    for p in picks:
        f.write(f"{{p.trace_id}},{{p.phase}},{{p.peak_time}},{{p.peak_value}}\\n")
"""
IMPORTS = "import seisforge.cli, seisforge.deploy.runner, seisbench.models, torch, obspy, pyarrow, onnxruntime, openvino"
#: environment that caps every kernel library of a process at AVX2 (``--isa avx2``)
AVX2_ENV = {"ONEDNN_MAX_CPU_ISA": "AVX2", "DNNL_MAX_CPU_ISA": "AVX2", "ATEN_CPU_CAPABILITY": "avx2",
            "MKL_ENABLE_INSTRUCTIONS": "AVX2"}
#: prints the kernels a process under AVX2_ENV really gets: torch's ATen level and OpenVINO's conv kernel
ISA_CHECK = """
import numpy as np, openvino as ov, openvino.opset13 as ops, torch
x = ops.parameter([1, 3, 64], np.float32)
conv = ops.convolution(x, ops.constant(np.ones((8, 3, 7), np.float32)), [1], [3], [3], [1])
net = ov.Core().compile_model(ov.Model([conv], [x]), "CPU", {"INFERENCE_PRECISION_HINT": "f32"})
info = [n.get_rt_info() for n in net.get_runtime_model().get_ordered_ops()]
kinds = {i["primitiveType"].astype(str) for i in info if i["layerType"].astype(str) == "Convolution"}
print(f"torch ATen {torch.backends.cpu.get_cpu_capability()}, OpenVINO convolution {sorted(kinds)}")
"""
#: what the lean path (a warm process) imports, with the runtime it found cached (ONNX Runtime or OpenVINO)
IMPORTS_WARM = ("import seisforge.cli, seisforge.commands.pick, seisforge.deploy.runner, seisforge.deploy.lean, "
                "seisforge.deploy.store, seisforge.data.continuous.preprocess, seisbench.ext, obspy, pyarrow.parquet, {}")


def timed(cmd: list[str], env: dict[str, str]) -> float:
    """Wall seconds of one process (its output is discarded; a failure stops the benchmark)."""
    t0 = time.perf_counter()
    res = subprocess.run(cmd, env=env, capture_output=True, text=True)
    if res.returncode != 0:
        raise SystemExit(f"failed: {' '.join(cmd)}\n{res.stderr[-2000:]}")
    return time.perf_counter() - t0


def write_file(folder: Path, hours: float, seed: int) -> Path:
    """A synthetic 3-C 100 Hz miniSEED file of ``hours`` (events every ~3 minutes)."""
    from seisforge.testing import continuous_stream

    folder.mkdir(parents=True, exist_ok=True)
    st, _ = continuous_stream(duration_s=hours * 3600, n_events=max(1, int(hours * 20)), seed=seed)
    path = folder / "XX.SYN.00.mseed"
    st.write(str(path), format="MSEED")
    return path


def measure(args, path: Path, work: Path, env: dict[str, str], tag: str) -> dict[str, float]:
    """Median wall seconds of the plain script, and of ``seisforge pick`` cold and warm (each run printed)."""
    prefix, version = args.weights, ""
    if Path(prefix + ".json.v2").is_file() or Path(prefix).with_name(Path(prefix).name + ".json.v2").is_file():
        version = ", version_str='2'"
    out: dict[str, list[float]] = {"plain": [], "pick_cold": [], "pick_warm": []}
    for r in range(args.repeats):
        script = PLAIN.format(cls=args.model, prefix=prefix, version=version, path=str(path), batch=args.batch,
                              csv=str(work / f"plain_{tag}_{r}.csv"))
        out["plain"].append(timed([sys.executable, "-c", script], env))
        cache = work / f"cache_{tag}_{r}"
        pick = [sys.executable, "-m", "seisforge.cli", "pick", "--no-progress", "--input", str(path), "--model",
                args.model, "--weights", args.weights, "--batch-size", str(args.batch), "--precision", args.precision]
        if args.isa == "avx2":
            pick += ["--backend", "openvino"]
        env_c = {**env, "SEISFORGE_CACHE": str(cache)}
        out["pick_cold"].append(timed([*pick, "--out", str(work / f"cold_{tag}_{r}")], env_c))
        out["pick_warm"].append(timed([*pick, "--out", str(work / f"warm_{tag}_{r}")], env_c))
    print(f"{tag} runs (s): " + "; ".join(f"{k} " + " ".join(f"{x:.2f}" for x in v) for k, v in out.items()),
          flush=True)
    return {k: statistics.median(v) for k, v in out.items()}


def warm_runtime(cache: Path) -> str:
    """The runtime module a warm process imports: the backend of the lean description in ``cache``."""
    import json

    for path in (cache / "choices").glob("lean-*.json"):
        return "onnxruntime" if json.loads(path.read_text())["backend"] == "onnx" else "openvino"
    return "onnxruntime, openvino, torch, seisbench.models"  # no lean description: the full path ran


def main(argv: list[str] | None = None) -> int:
    from seisforge.paths import shared_dir
    from seisforge.runinfo import cpu_flags

    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", default="PhaseNetLight")
    p.add_argument("--weights", help="SeisBench weight pair prefix (default: PhaseNetLight ETHZ from shared)")
    p.add_argument("--precision", default="fp32", choices=["auto", "fp32", "bf16"])
    p.add_argument("--batch", type=int, default=256)
    p.add_argument("--hours", type=float, default=24.0, help="length of the long file (24 = one station-day)")
    p.add_argument("--repeats", type=int, default=1)
    p.add_argument("--isa", default="native", choices=["native", "avx2"],
                   help="avx2: cap every process's kernels at AVX2 and run pick on OpenVINO (an emulation)")
    args = p.parse_args(argv)
    if args.weights is None:
        args.weights = str(shared_dir() / "models" / "phasenetlight_ethz" / "ethz")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path), **(AVX2_ENV if args.isa == "avx2" else {})}
    with tempfile.TemporaryDirectory(prefix="bench_process_") as tmp:
        work = Path(tmp)
        day = write_file(work / "day", args.hours, seed=0)
        short = write_file(work / "short", 10 / 60, seed=1)
        imports = statistics.median(timed([sys.executable, "-c", IMPORTS], env) for _ in range(max(1, args.repeats)))
        res = {"day": measure(args, day, work, env, "day"), "10min": measure(args, short, work, env, "short")}
        runtime = warm_runtime(work / "cache_short_0")
        warm_imports = statistics.median(timed([sys.executable, "-c", IMPORTS_WARM.format(runtime)], env)
                                         for _ in range(max(1, args.repeats)))
    if args.isa == "avx2":
        print("kernels under the AVX2 cap: " + subprocess.run([sys.executable, "-c", ISA_CHECK], env=env,
                                                              capture_output=True, text=True).stdout.strip())
    print(f"model {args.model} ({args.weights}), precision {args.precision}, batch {args.batch}, "
          f"kernels {args.isa}{' (emulated: oneDNN/ATen/MKL capped, pick on OpenVINO)' if args.isa == 'avx2' else ''}; "
          f"cpu_count {os.cpu_count()}; CPU flags: " + " ".join(f"{k}={int(v)}" for k, v in cpu_flags().items()))
    print(f"imports only: cold path {imports:.2f} s, warm (lean) path {warm_imports:.2f} s ({runtime})")
    for name, r in res.items():
        print(f"{name:>6}: plain {r['plain']:.2f} s | seisforge pick cold {r['pick_cold']:.2f} s "
              f"({r['plain'] / r['pick_cold']:.2f}x) | warm {r['pick_warm']:.2f} s ({r['plain'] / r['pick_warm']:.2f}x)")
    print(f"warm start-up beyond its imports (10-minute file, picking included): "
          f"{res['10min']['pick_warm'] - warm_imports:.2f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
