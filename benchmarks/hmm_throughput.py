"""Throughput of sedkit's HMM smoothing (vectorised Viterbi) against a plain per-frame Python loop, same run.

    python -m sedkit.benchmarks.hmm_throughput [--clips 50] [--frames 156] [--classes 10] [--repeats 3]

Both decode the same 2-state (silence/event) HMMs on random frame posteriors with the same transitions. The plain
loop is what one writes by hand: for each clip and class, a Python loop over frames with the two-state recursion
and a back-trace. sedkit's :func:`~sedkit.baselines.evaluation.postprocess.viterbi` runs the recursion once for all
clips x classes (numpy over columns). Outputs are checked to be identical; throughputs are frames x classes per
second. One HMM tuning call decodes every tuning clip once, so the ratio carries over to the ~200-call search.
"""
from __future__ import annotations

import argparse
import math
import time

import numpy as np

from sedkit.baselines.evaluation.postprocess import viterbi


def viterbi_loop(p: np.ndarray, stay_sil: float, stay_ev: float) -> np.ndarray:
    """The plain reference: one chain, one frame at a time."""
    l00, l01, l10, l11 = math.log(stay_sil), math.log(1 - stay_sil), math.log(1 - stay_ev), math.log(stay_ev)
    eps = 1e-7
    q = [min(max(float(v), eps), 1 - eps) for v in p]
    d0, d1 = math.log(1 - q[0]) + math.log(0.5), math.log(q[0]) + math.log(0.5)
    back = []
    for t in range(1, len(q)):
        a0, b0 = d0 + l00, d1 + l10
        a1, b1 = d0 + l01, d1 + l11
        back.append((b0 > a0, b1 > a1))
        d0 = max(a0, b0) + math.log(1 - q[t])
        d1 = max(a1, b1) + math.log(q[t])
    state = d1 > d0
    path = [state]
    for b in reversed(back):
        state = b[int(state)]
        path.append(state)
    return np.array(path[::-1], bool)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clips", type=int, default=50)
    ap.add_argument("--frames", type=int, default=156, help="156 = 10 s of the DCASE CRNN output")
    ap.add_argument("--classes", type=int, default=10)
    ap.add_argument("--repeats", type=int, default=3)
    a = ap.parse_args(argv)
    rng = np.random.default_rng(0)
    post = rng.random((a.clips, a.frames, a.classes)) ** 2
    ss = 0.98
    se = rng.uniform(0.8, 0.99, a.classes)
    work = a.clips * a.frames * a.classes

    def run_sedkit():
        cols = post.transpose(1, 0, 2).reshape(a.frames, a.clips * a.classes)
        return viterbi(cols, ss, np.tile(se, a.clips)).reshape(a.frames, a.clips, a.classes).transpose(1, 0, 2)

    def run_loop():
        out = np.empty(post.shape, bool)
        for n in range(a.clips):
            for c in range(a.classes):
                out[n, :, c] = viterbi_loop(post[n, :, c], ss, se[c])
        return out

    best = {}
    for name, fn in (("sedkit vectorised viterbi", run_sedkit), ("plain per-frame python loop", run_loop)):
        times = []
        for _ in range(a.repeats):
            t0 = time.perf_counter()
            res = fn()
            times.append(time.perf_counter() - t0)
        best[name] = (min(times), res)
    (t_s, r_s), (t_l, r_l) = best.values()
    if not np.array_equal(r_s, r_l):
        raise SystemExit("outputs differ between the two decoders")
    print(f"{a.clips} clips x {a.frames} frames x {a.classes} classes, best of {a.repeats}; outputs identical")
    for name, (t, _) in best.items():
        print(f"  {name:30s} {t * 1000:9.1f} ms   {work / t / 1e6:8.3f} M frame-classes/s")
    print(f"  ratio (sedkit / loop throughput): {t_l / t_s:.1f}x")


if __name__ == "__main__":
    main()
