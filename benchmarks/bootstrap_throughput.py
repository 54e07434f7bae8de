"""Throughput of sedkit's bootstrap of event-based F1 against the naive bootstrap (sed_eval re-run per resample).

    python -m sedkit.benchmarks.bootstrap_throughput [--clips 1000] [--classes 10] [--resamples 1000] [--naive 10]

Both bootstrap the event-based macro F1 (sed_eval, collar 200 ms / 20 %) of one system on the same random clips.
sedkit decomposes sed_eval into per-clip class counts once (:func:`sedkit.baselines.evaluation.sed.clip_counts`)
and computes every resample as a weighted sum (one matrix product). The naive way builds each resample's clip list
(duplicates renamed) and runs sed_eval on it; it is timed on ``--naive`` resamples and its rate is per resample.
The first resample of both is checked to give the same F1.
"""
from __future__ import annotations

import argparse
import time

import numpy as np

from sedkit.baselines.evaluation.bootstrap import clip_weights, metric_values
from sedkit.baselines.evaluation.clipdata import sed_clip_data
from sedkit.baselines.evaluation.sed import event_segment_f1
from sedkit.benchmarks.compare import print_comparison


def random_system(rng, n_clips: int, classes: list[str]):
    """Reference events and noisy detections of 10 s clips (a few events per clip)."""
    ref, est, dur = {}, {}, {}
    for i in range(n_clips):
        a = f"clip{i:05d}"
        dur[a] = 10.0
        r = []
        for _ in range(rng.integers(1, 5)):
            on = float(rng.uniform(0, 9))
            r.append((round(on, 3), round(min(10.0, on + rng.uniform(0.3, 4)), 3), classes[rng.integers(len(classes))]))
        e = [(round(max(0.0, on + rng.normal(0, 0.15)), 3), round(off + rng.normal(0, 0.3), 3), lab)
             for on, off, lab in r if rng.random() < 0.75]
        if rng.random() < 0.3:
            on = float(rng.uniform(0, 9))
            e.append((round(on, 3), round(on + 1.0, 3), classes[rng.integers(len(classes))]))
        ref[a], est[a] = r, [(on, max(off, on + 0.05), lab) for on, off, lab in e]
        dur[a] = 10.0
    return ref, est, dur


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clips", type=int, default=1000)
    ap.add_argument("--classes", type=int, default=10)
    ap.add_argument("--resamples", type=int, default=1000)
    ap.add_argument("--naive", type=int, default=10, help="resamples timed for the naive way")
    a = ap.parse_args(argv)
    classes = [f"class{k}" for k in range(a.classes)]
    ref, est, dur = random_system(np.random.default_rng(0), a.clips, classes)
    W = clip_weights(a.clips, a.resamples, np.random.default_rng(1))

    t0 = time.perf_counter()
    data = sed_clip_data("event_f1", ref, est, dur, classes)  # sed_eval once, clip by clip
    t_decompose = time.perf_counter() - t0
    t0 = time.perf_counter()
    ours = metric_values(data, W)
    t_resample = time.perf_counter() - t0

    ids = data.ids
    t0 = time.perf_counter()
    naive = []
    for w in W[:a.naive]:
        r, e, d = {}, {}, {}
        for aid, n in zip(ids, w):
            for j in range(int(n)):
                name = f"{aid}#{j}"
                r[name], e[name], d[name] = ref[aid], est[aid], dur[aid]
        naive.append(event_segment_f1(r, e, classes, d, segment=False)["event"]["macro_f1"])
    t_naive = time.perf_counter() - t0
    if abs(naive[0] - ours[0]) > 1e-9:
        raise SystemExit(f"the first resample differs: naive {naive[0]} vs sedkit {ours[0]}")
    total = t_decompose + t_resample
    print(f"event-based F1, {a.clips} clips x {a.classes} classes; first resample identical ({ours[0]:.4f})")
    print(f"  sedkit: sed_eval clip by clip once {t_decompose:.2f} s + {a.resamples} resamples {t_resample:.3f} s "
          f"= {total:.2f} s")
    print(f"  naive: {a.naive} resamples in {t_naive:.1f} s, so {a.resamples} would take "
          f"~{t_naive / a.naive * a.resamples:.0f} s")
    print_comparison("resamples", ("naive (sed_eval per resample)", a.naive, t_naive),
                     ("sedkit (per-clip counts)", a.resamples, total), names=("sedkit", "naive"), indent="  ")


if __name__ == "__main__":
    main()
