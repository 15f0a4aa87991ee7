"""How stable are a picker's own picks at the 0.1 s scale? (docs/compression.md, "What limits the agreement")

On a continuous day, the model's picks at its card thresholds against its own picks after small changes:
white noise added to the input, the stream cut 1 to 1 501 samples later (every window shifted; PhaseNet's
stride-4 levels make its curves depend on the window start modulo 4, 16, 64, 256, and 1 501 is the engine's
window stride, so the windows are the same), weights rounded to float16/bfloat16 or multiplied by
``1 + eps N(0, 1)``; F1 at one sample and 0.1 s. Then the flatness of its peaks: the share of picks whose
curve stays within ``delta`` of the peak value over more than 0.1 s.

usage: python experiments/teacher_stability.py SPEC DAY_FILE_OR_FOLDER...
"""

from __future__ import annotations

import copy
import sys

import numpy as np
import torch

from seisforge.compress.dev_day import read_day
from seisforge.deploy.engine import FastPicker
from seisforge.models.registry import load_model
from seisforge.testing import pick_set_f1, picks_frame


def _picker(model) -> FastPicker:
    return FastPicker(model, backend="torch", precision="fp32")


def _f1(ref, est) -> str:
    return " / ".join(f"{pick_set_f1(ref, est, tol)['f1']:.3f}" for tol in (0.0101, 0.1))


def input_changes(model, stream, ref, rng: np.random.Generator) -> None:
    for frac in (0.01, 0.03):
        noisy = stream.copy()
        for tr in noisy:
            tr.data = (tr.data + frac * tr.data.std() * rng.standard_normal(len(tr.data))).astype(np.float32)
        print(f"white noise {frac:g} x std: F1 1 sample / 0.1 s {_f1(ref, picks_frame(_picker(model).classify(noisy)))}")
    for k in (1, 2, 4, 7, 16, 64, 100, 256, 1024, 1501):
        later = stream.copy()
        for tr in later:
            tr.data = tr.data[k:]
            tr.stats.starttime += k / tr.stats.sampling_rate
        print(f"stream {k} samples later: {_f1(ref, picks_frame(_picker(model).classify(later)))}")


def weight_changes(model, stream, ref) -> None:
    gen = torch.Generator().manual_seed(0)
    changes = {"float16 weights": lambda p: p.half().float(), "bfloat16 weights": lambda p: p.bfloat16().float(),
               **{f"weights x (1 + {e:g} N(0,1))": (lambda p, e=e: p * (1 + e * torch.randn(p.shape, generator=gen)))
                  for e in (0.003, 0.01, 0.03)}}
    for name, change in changes.items():
        other = copy.deepcopy(model)
        with torch.no_grad():
            for p in other.parameters():
                p.copy_(change(p))
        print(f"{name}: {_f1(ref, picks_frame(_picker(other).classify(stream)))}")


def peak_flatness(model, stream) -> None:
    picker = _picker(model)
    ann = picker.annotate(picker.blocks(stream))
    picks = picker.picks(ann)
    for delta in (0.01, 0.02):
        for ci, phase in enumerate(picker.phases):
            spans = []
            for a in ann:
                fs, curve = a.sampling_rate, a.data[:, ci]
                for p in picks:
                    if p.phase != phase or p.trace_id != a.trace_id:
                        continue
                    i0, i1 = (int(round((t - a.start_time) * fs)) for t in (p.start_time, p.end_time))
                    seg = curve[i0:i1 + 1]
                    near = np.flatnonzero(seg >= seg.max() - delta)
                    spans.append((near.max() - near.min()) / fs)
            spans = np.asarray(spans)
            print(f"{phase} picks within {delta} of their peak over > 0.1 s: {np.mean(spans > 0.1):.0%} "
                  f"(> 0.2 s: {np.mean(spans > 0.2):.0%}; n {len(spans)})")


def main(argv: list[str]) -> None:
    model = load_model(argv[0]).model
    stream = read_day(argv[1:])
    ref = picks_frame(_picker(model).classify(stream))
    print(f"{len(ref)} picks at the card thresholds")
    input_changes(model, stream, ref, np.random.default_rng(0))
    weight_changes(model, stream, ref)
    peak_flatness(model, stream)


if __name__ == "__main__":
    main(sys.argv[1:])
