"""How close are a student's curves to its teacher's on the peak tops? (docs/compression.md, "Seventh round")

On a continuous day, through the pick engine (torch float32), per phase: the median and 90th percentile of
|student - teacher| within +-0.3 s of the teacher's picks, and the top term of the KD loss
(:func:`seisforge.train.losses.top_term`, lags 1, 4, 16 and 16, 32, 64) on the whole day's stacked curves.
A model is a registry spec, or ``noise:EPS``: the teacher with its weights multiplied by
``1 + EPS N(0, 1)`` (seed 0), whose agreement ``experiments/teacher_stability.py`` measures, to calibrate
the figures. ``--save-noisy EPS OUT`` writes such a copy as a run directory (a start for a student).

usage: python experiments/peak_fidelity.py TEACHER_SPEC DAY_FILE_OR_FOLDER MODEL...
       python experiments/peak_fidelity.py TEACHER_SPEC --save-noisy EPS OUT
"""

from __future__ import annotations

import copy
import sys

import numpy as np
import torch

from seisforge.compress.dev_day import read_day
from seisforge.deploy.engine import FastPicker
from seisforge.models.registry import load_model
from seisforge.models.run_dir import save_best
from seisforge.train.losses import top_term

NEAR_SAMPLES = 30  # +-0.3 s at 100 Hz


def noisy_copy(model, eps: float):
    """``model`` with every parameter multiplied by ``1 + eps N(0, 1)`` (seed 0)."""
    gen = torch.Generator().manual_seed(0)
    other = copy.deepcopy(model)
    with torch.no_grad():
        for p in other.parameters():
            p.mul_(1 + eps * torch.randn(p.shape, generator=gen))
    return other


def _curves(model, stream):
    picker = FastPicker(model, backend="torch", precision="fp32")
    ann = picker.annotate(picker.blocks(stream))[0]
    return picker, ann


def fidelity(teacher_ann, picks, phases, ann) -> str:
    n, fs = min(len(teacher_ann.data), len(ann.data)), teacher_ann.sampling_rate
    out = []
    for ci, phase in enumerate(phases):
        t, s = teacher_ann.data[:n, ci], ann.data[:n, ci]
        near = np.zeros(n, bool)
        for p in picks:
            if p.phase == phase:
                i = int(round((p.peak_time - teacher_ann.start_time) * fs))
                near[max(0, i - NEAR_SAMPLES):i + NEAR_SAMPLES + 1] = True
        d = np.abs(s - t)
        d = d[near & np.isfinite(d)]
        ts, ss = (torch.tensor(np.nan_to_num(c))[None, None] for c in (t, s))
        out.append(f"{phase} median |d| {np.median(d):.4f} q90 {np.quantile(d, 0.9):.4f} "
                   f"top(1,4,16) {top_term(ss, ts, [0]).item():.2e} "
                   f"top(16,32,64) {top_term(ss, ts, [0], (16, 32, 64)).item():.2e}")
    return " | ".join(out)


def main(argv: list[str]) -> None:
    teacher = load_model(argv[0]).model
    if argv[1] == "--save-noisy":
        eps, out = float(argv[2]), argv[3]
        save_best(noisy_copy(teacher, eps), out, f"{argv[0]} with weights x (1 + {eps:g} N(0, 1)), seed 0")
        print(f"wrote {out}")
        return
    stream = read_day([argv[1]])
    picker, teacher_ann = _curves(teacher, stream)
    picks = picker.picks([teacher_ann])
    for item in argv[2:]:
        model = noisy_copy(teacher, float(item[6:])) if item.startswith("noise:") else load_model(item).model
        print(item, fidelity(teacher_ann, picks, picker.phases, _curves(model, stream)[1]), flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
