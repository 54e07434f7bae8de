"""Throughput of sedkit's log-mel front-end (torch.stft + librosa mel filters, batched) against librosa, same run.

    python -m sedkit.benchmarks.frontend_throughput [--clips 32] [--seconds 10] [--preset turpault]
                                                    [--device auto] [--threads N] [--repeats 3]

Both compute the same log-mel (same window, FFT, hop, mel filters, pad mode, dB conversion) of the same random
clips; the outputs are checked to agree (max abs difference in dB printed). librosa runs clip by clip, which is
what a data loader does; sedkit's front-end runs on the batch on the model's device (CUDA when available).
Throughput is seconds of audio per second of wall time.
"""
from __future__ import annotations

import argparse
import timeit

import numpy as np
import torch

from sedkit.baselines.models.frontends import FrontendSpec, build_frontend, librosa_logmel
from sedkit.baselines.trainer import torch_threads
from sedkit.synth.devices import resolve_device


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clips", type=int, default=32)
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--preset", default="turpault", help="a front end of specs/frontends/ (its log-mel part is timed)")
    ap.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    ap.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    ap.add_argument("--repeats", type=int, default=3)
    a = ap.parse_args(argv)
    spec = FrontendSpec(extends=f"frontends/{a.preset}", norm="none", compression="log", scales=None)
    dev = resolve_device(a.device)
    rng = np.random.default_rng(0)
    clips = (rng.standard_normal((a.clips, int(a.seconds * spec.sr))) * 0.1).astype(np.float32)
    fe = build_frontend(spec).to(dev)
    audio_s = a.clips * a.seconds

    def run_sedkit():
        with torch.no_grad():
            out = fe(torch.from_numpy(clips).to(dev))
        if dev.type == "cuda":
            torch.cuda.synchronize()
        return out[:, 0].cpu().numpy()

    def run_librosa():
        return np.stack([librosa_logmel(c, spec) for c in clips])

    runs = {f"sedkit torch.stft log-mel ({dev.type}, batched)": run_sedkit,
            "librosa melspectrogram + power_to_db": run_librosa}
    with torch_threads(a.threads):
        outs = {name: fn() for name, fn in runs.items()}  # also the warm-up (allocations, CUDA context)
        secs = {name: min(timeit.repeat(fn, repeat=a.repeats, number=1)) for name, fn in runs.items()}
    r_s, r_l = outs.values()
    t_s, t_l = secs.values()
    diff = float(np.abs(r_s - r_l).max())
    if diff > 1e-2:
        raise SystemExit(f"outputs differ between the two front-ends (max {diff:.3g} dB)")
    print(f"{a.clips} clips x {a.seconds:g} s, front end {a.preset} ({spec.sr} Hz, n_fft {spec.n_fft}, hop "
          f"{spec.hop_length}, {spec.n_mels} mels), best of {a.repeats}; max |diff| {diff:.2e} dB")
    for name, t in secs.items():
        print(f"  {name:45s} {t * 1000:9.1f} ms   {audio_s / t:10.1f} s audio/s")
    ratio = t_l / t_s
    print(f"  ratio (sedkit / librosa throughput): {ratio:.2f}x")
    return {"ratio": ratio, "max_diff_db": diff}


if __name__ == "__main__":
    main()
