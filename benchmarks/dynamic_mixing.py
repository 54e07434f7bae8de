"""Throughput of dynamic mixing: sedkit's path vs a straightforward per-clip numpy + audiomentations chain.

Both render the same draws (10 s clips at 16 kHz, 1-5 foregrounds + 1 background, RIRs, <= 2 effects per source)
from a 44.1 kHz soundbank made here in a temporary folder:

- sedkit: DynamicMixDataset (resampled and pitch-shifted sources cached per process) + BatchMixer on CPU torch
  (batched FFT convolution with cached RIR spectra, power-of-two FFT sizes, vectorised effects);
- baseline: per clip and per source, read + resample the file, audiomentations PitchShift, scipy fftconvolve with
  the RIR, the effect chain (audiomentations filters, sedkit's numpy transforms for the effects audiomentations lacks),
  gain, sum.

Clips are timed interleaved (a sedkit batch, then the same clips through the baseline) so that load from other
processes hits both alike. The sedkit figure is steady state (epoch 1, caches filled by epoch 0); the cold epoch-0
figure is printed too.

    python -m sedkit.benchmarks.dynamic_mixing [--clips 96] [--batch 16] [--rir-p 1.0] [--threads 1]
"""
from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from scipy.signal import fftconvolve

from sedkit.synth import audio
from sedkit.synth.dynamic.chain import make_transform, pitch_shift
from sedkit.synth.dynamic.dataset import DynamicMixDataset, build_pool
from sedkit.synth.dynamic.gpu import BatchMixer
from sedkit.synth.dynamic.sources import excerpt
from sedkit.synth.dynamic.spec import load_dynamic_spec
from sedkit.synth.rir import RirBank, make_bank
from sedkit.synth.soundbank.index import write_index

CLASSES = ["alarm", "blender", "cat", "dishes", "dog", "shaver", "frying", "water", "speech", "vacuum"]


def make_bench_bank(root: Path, sr: int = 44100, per_class: int = 4, n_bg: int = 6, seed: int = 0) -> Path:
    """Coloured-noise-and-tone foregrounds (0.3-6 s) and noise backgrounds (10-15 s), all in the train split."""
    rng = np.random.default_rng(seed)
    rows = []
    for c_i, c in enumerate(CLASSES):
        for k in range(per_class):
            d = float(rng.uniform(0.3, 6.0))
            n = int(d * sr)
            t = np.arange(n) / sr
            x = 0.2 * np.sin(2 * np.pi * (200 + 150 * c_i) * t) + 0.05 * rng.standard_normal(n)
            rel = f"fg/{c}/{c}_{k}.wav"
            audio.write(root / rel, (x * np.hanning(n)).astype(np.float32), sr)
            rows.append(dict(path=rel, role="foreground", label=c, split="train", duration_s=n / sr, sample_rate=sr,
                             channels=1, source_group=f"{c}{k}"))
    for k in range(n_bg):
        n = int(rng.uniform(10, 15) * sr)
        x = np.cumsum(rng.standard_normal(n)) * 1e-3
        rel = f"bg/home/bg_{k}.wav"
        audio.write(root / rel, (0.1 * (x - x.mean()) / (np.abs(x).max() + 1e-9)).astype(np.float32), sr)
        rows.append(dict(path=rel, role="background", label="home", split="train", duration_s=n / sr, sample_rate=sr,
                         channels=1, source_group=f"bg{k}"))
    write_index(root, rows)
    return root


def baseline_clip(draw, pool, rirs, spec) -> np.ndarray:
    """The straightforward chain: everything per clip, nothing cached (float32, scipy/audiomentations)."""
    sr = spec.sr
    mix = np.zeros(draw.n_samples, np.float32)
    for sd in draw.sources:
        ref = pool.by_key[sd.key]
        x, _ = audio.read(ref.path, sr=sr, start_s=ref.start_s, stop_s=ref.stop_s)
        x = x - x.mean()
        if sd.pitch_cents:
            x = pitch_shift(x, sr, sd.pitch_cents, spec.effects.pitch_shift.method)
        x = np.array(excerpt(x, sd.start, sd.length, sd.loop), dtype=np.float32)
        if sd.rir is not None:
            x = (1 - sd.wet) * x + sd.wet * fftconvolve(x, rirs.kernels[sd.rir])[:len(x)]
        for name, params in sd.effects:
            x = make_transform(name, spec.effects, params)(x.astype(np.float32), sr)
        x = x * (10 ** (sd.level_db / 20) / max(float(np.sqrt(np.mean(x * x))), 1e-8))
        mix[sd.onset:sd.onset + sd.length] += x
    return mix * (10 ** (spec.peak_db / 20) / max(float(np.abs(mix).max()), 1e-12))


def run(clips: int = 96, batch: int = 16, rir_p: float = 1.0, threads: int = 1, n_rirs: int = 20) -> dict:
    torch.set_num_threads(threads)
    spec = load_dynamic_spec(overrides={"rir.p": rir_p, "items_per_epoch": clips})
    with tempfile.TemporaryDirectory(prefix="sedkit_bench_dm_") as tmp:
        tmp = Path(tmp)
        t0 = time.perf_counter()
        bank = make_bench_bank(tmp / "bank")
        make_bank(tmp / "rirs", n_rirs, seed=0)
        pool = build_pool(spec, soundbank=bank)
        rirs = RirBank.load(tmp / "rirs", spec.sr, spec.rir.max_s)
        print(f"setup (bank + {n_rirs} RIRs): {time.perf_counter() - t0:.1f} s")
        ds = DynamicMixDataset(spec, pool, rirs, seed=0)
        mixer = BatchMixer(spec, pool.labels, rirs, device="cpu")

        def sedkit_batch(lo):
            return mixer([ds[i] for i in range(lo, min(lo + batch, clips))])

        t = time.perf_counter()
        for lo in range(0, clips, batch):          # epoch 0, cold: decodes and pitch-shifts on first use
            sedkit_batch(lo)
        cold = clips / (time.perf_counter() - t)
        t = time.perf_counter()
        n_cached = ds.warm_cache()                 # every source at every pitch of the discrete set
        n_spectra = mixer.warm(ds)                 # spectra of whole foregrounds at every pitch
        print(f"cache warm-up: {n_cached} arrays, {n_spectra} spectra in {time.perf_counter() - t:.1f} s (once)")
        ds.set_epoch(1)
        t_sed = t_base = 0.0
        for lo in range(0, clips, batch):
            t = time.perf_counter()
            sedkit_batch(lo)
            t_sed += time.perf_counter() - t
            t = time.perf_counter()
            for i in range(lo, min(lo + batch, clips)):
                baseline_clip(ds.draw(i), pool, rirs, spec)
            t_base += time.perf_counter() - t
        res = {"sedkit": clips / t_sed, "sedkit_cold": cold, "baseline": clips / t_base}
        res["ratio"] = res["sedkit"] / res["baseline"]
        n_src = np.mean([len(ds.draw(i).sources) for i in range(clips)])
        print(f"clips: {clips} x {spec.clip_s:g} s at {spec.sr} Hz, {n_src:.2f} sources/clip, "
              f"rir.p={rir_p}, effects <= {spec.effects.max_count}/source, torch threads={threads}, batch={batch}")
        print(f"sedkit (CPU, warm cache): {res['sedkit']:.1f} clips/s   (cold first epoch: {cold:.1f} clips/s)")
        print(f"baseline per-clip numpy + audiomentations: {res['baseline']:.1f} clips/s")
        print(f"ratio sedkit / baseline: {res['ratio']:.2f}")
        if torch.cuda.is_available():
            gm = BatchMixer(spec, pool.labels, rirs, device="cuda")
            items = [[ds[i] for i in range(lo, min(lo + batch, clips))] for lo in range(0, clips, batch)]
            gm(items[0])
            torch.cuda.synchronize()
            t = time.perf_counter()
            for it in items:
                gm(it)
            torch.cuda.synchronize()
            res["gpu_mix"] = clips / (time.perf_counter() - t)
            print(f"GPU ({torch.cuda.get_device_name()}): batch render only {res['gpu_mix']:.1f} clips/s")
        else:
            print("GPU: not available")
    return res


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clips", type=int, default=96)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--rir-p", type=float, default=1.0)
    ap.add_argument("--threads", type=int, default=1,
                    help="torch intra-op threads for sedkit's path (the baseline is single-threaded numpy/scipy)")
    ap.add_argument("--rirs", type=int, default=20)
    a = ap.parse_args(argv)
    run(a.clips, a.batch, a.rir_p, a.threads, a.rirs)


if __name__ == "__main__":
    main()
