"""Where does a distilled student's pick disagree with its teacher's? (docs/compression.md)

Both models pick the trade-off report's synthetic 12-hour station-day with the pick engine (float32, each at
its own card thresholds). The picks without a partner within 0.1 s are sorted into *timing* pairs (the other
model picked the same phase 0.1-0.5 s away, its pick unmatched too), *second triggers* (only a matched pick
of the other model nearby: this model triggered twice on one arrival) and *detections* (no pick within
0.5 s); for the timing pairs, how far below its own peak the teacher's curve is at the student's pick
time. Also counted: teacher picks on window seams (with PhaseNet's 3001-sample windows and overlap 1500,
one sample in every 1501 is covered by one window only). A figure shows both curves around the first
timing pairs and second triggers.

usage: python experiments/student_disagreement.py TEACHER_SPEC STUDENT_SPEC [FIGURE.png]
"""

from __future__ import annotations

import sys

import numpy as np

from seisforge import seisbench_compat as sbc
from seisforge.bench.picking.continuous import match_pick_frames, unmatched_kinds
from seisforge.compress.report import ReportSettings, synthetic_streams
from seisforge.deploy.engine import FastPicker
from seisforge.models.registry import load_model
from seisforge.testing import pick_set_f1, picks_frame

TOL_S = 0.1
NEAR_S = 0.5


def _run(spec: str, day) -> dict:
    picker = FastPicker(load_model(spec).model, batch_size=256, backend="auto", precision="fp32")
    ann = picker.annotate(picker.blocks(day))
    picks = picker.picks(ann)
    frame = picks_frame(picks).assign(value=[p.peak_value for p in picks])
    window = picker.model.in_samples
    return {"picks": frame, "ann": ann[0], "phases": list(picker.phases),
            "thresholds": {p: picker.threshold(p) for p in picker.phases},
            "window": window, "overlap": sbc.window_overlap(picker.model, window, picker.argdict)}


def _index(run: dict, t: float) -> int:
    """The sample of ``run``'s stacked curves at time ``t`` (s)."""
    a = run["ann"]
    return int(round((t - a.start_time.timestamp) * a.sampling_rate))


def _value_at(run: dict, phase: str, t: float) -> float:
    return float(run["ann"].data[_index(run, t), run["phases"].index(phase)])


def summarise(teacher: dict, student: dict) -> list[tuple]:
    """Print the F1, the kinds of disagreement and the near-ties; return the teacher's timing pairs and second
    triggers (each with the student's nearest pick)."""
    T, S = teacher["picks"], student["picks"]
    m = match_pick_frames(T, S, TOL_S)
    print(f"teacher {len(T)} picks, student {len(S)}; F1 at {TOL_S} s {pick_set_f1(T, S, TOL_S, m)['f1']:.3f}")
    kinds = unmatched_kinds(T, S, m, NEAR_S)
    for side, name in (("ref", "teacher-only"), ("est", "student-only")):
        print(f"{name}: {int((kinds.side == side).sum())} {kinds[kinds.side == side].kind.value_counts().to_dict()}")
    teacher_only = kinds[kinds.side == "ref"]
    pairs = [(T.loc[r.index], S.loc[r.other_index])
             for r in teacher_only[teacher_only.kind == "timing"].itertuples(index=False)]
    seconds = [(T.loc[r.index], S.loc[r.other_index])
               for r in teacher_only[teacher_only.kind == "second_trigger"].itertuples(index=False)]
    drops = np.array([p.value - _value_at(teacher, p.phase, q.time) for p, q in pairs])
    if len(drops):
        print(f"teacher curve at the student's pick, below its own peak: median {np.median(drops):.3f}, "
              f"< 0.02 in {np.mean(drops < 0.02):.0%}, < 0.05 in {np.mean(drops < 0.05):.0%}")
    peaks = np.array([p.value for p, _ in seconds])
    if len(peaks):
        print(f"teacher's second triggers: peak value median {np.median(peaks):.3f} "
              f"(threshold {teacher['thresholds']}), {np.median([abs(q.time - p.time) for p, q in seconds]):.2f} s "
              "from the matched pick in the median")
    return [("timing", p, q) for p, q in pairs] + [("second_trigger", p, q) for p, q in seconds]


def seam_picks(teacher: dict) -> None:
    """Teacher picks on the samples fewer windows cover than the rest (window seams)."""
    a, window = teacher["ann"], teacher["window"]
    stride = window - teacher["overlap"]
    coverage = np.ceil((window - np.arange(stride)) / stride)  # windows over each sample, by position mod stride
    seam = coverage < coverage.max()
    idx = np.round((teacher["picks"].time.to_numpy() - a.start_time.timestamp) * a.sampling_rate).astype(int)
    print(f"teacher picks on a seam sample: {int(seam[idx % stride].sum())} of {len(idx)} "
          f"(chance {len(idx) * seam.mean():.1f})")


def figure(teacher: dict, student: dict, cases: list[tuple], path: str, per_row: int = 4) -> None:
    """Both stacked curves +-0.8 s around the first timing pairs (top row) and second triggers (bottom)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axs = plt.subplots(2, per_row, figsize=(3.2 * per_row, 5.5), sharey=True, constrained_layout=True)
    for row, kind in enumerate(("timing", "second_trigger")):
        for ax, (_, p, q) in zip(axs[row], [c for c in cases if c[0] == kind][:per_row]):
            for run, colour, name in ((teacher, "k", "teacher"), (student, "tab:red", "student")):
                a, i = run["ann"], _index(run, p.time)
                ax.plot(np.arange(-80, 81) / a.sampling_rate, a.data[i - 80:i + 81, run["phases"].index(p.phase)],
                        colour, lw=0.9, label=name)
            ax.axvline(0, color="k", ls=":", lw=0.8)
            ax.axvline(q.time - p.time, color="tab:red", ls=":", lw=0.8)
            ax.set_title(f"{kind.replace('_', ' ')}, {p.phase}: student {q.time - p.time:+.2f} s", fontsize=9)
            ax.set_xlabel("s from the teacher's pick")
        axs[row][0].set_ylabel("stacked probability")
    axs[0][0].legend(fontsize=8)
    fig.suptitle("Teacher picks without a student pick within 0.1 s (dotted: each model's pick)")
    fig.savefig(path, dpi=80)


def main(argv: list[str]) -> None:
    day, _ = synthetic_streams(100.0, ReportSettings(station_hours=12, noise_hours=0.1))
    teacher, student = _run(argv[0], day), _run(argv[1], day)
    cases = summarise(teacher, student)
    seam_picks(teacher)
    if len(argv) > 2:
        figure(teacher, student, cases, argv[2])


if __name__ == "__main__":
    main(sys.argv[1:])
