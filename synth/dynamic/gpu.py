"""The torch batch render of dynamic mixtures (the device path).

For a batch of :class:`~.plan.ItemDraw` and their dry excerpts (from :func:`~.sources.load_sources`) this does, in
torch on one device: FFT convolution with the RIRs (their spectra cached per FFT size), the effect chains (Butterworth
filters as FFT convolution with their impulse response cut to ``effects.filter_ir_s`` plus the exact initial-state
term of ``sosfilt(zi=...)``, noise bursts from a counter-based hash, sine bursts, the time-varying comb, the
compressor), gains to the drawn levels, mixing and peak normalisation; and the frame targets.

Sources are grouped by length (powers of two, capped at the clip) so that short events get short FFTs, and within
a chain position all sources with the same effect are processed together. Pitch shifting is not done here: it is
applied to the dry source file in the data-loading workers and cached (see :mod:`.plan`).

Agreement with the numpy render (:func:`~.chain.render_item`) for the same draws: max |difference| <= 2e-4 of full
scale on peak-normalised mixtures (float32 here vs float64 there; filters' impulse responses are truncated).
"""
from __future__ import annotations

from types import SimpleNamespace
from dataclasses import dataclass

import numpy as np
import torch
from scipy.signal import sosfilt, sosfilt_zi

from sedkit.synth.dynamic.chain import make_transform
from sedkit.synth.contract import frame_targets
from sedkit.synth.dynamic.plan import source_length
from sedkit.synth.dynamic.sources import excerpt
from sedkit.synth.dynamic.spec import EFFECTS, DynamicSpec
from sedkit.synth.devices import resolve_device
from sedkit.synth.dynamic.transforms import (burst_envelope, burst_ramp, comb_delay, compressor_gain_db, hash_gauss)

AGREEMENT_TOL = 2e-4   # max |torch - numpy| on peak-normalised mixtures (full scale 1.0)
MIN_BUCKET = 16384   # sources are grouped by power-of-two length classes from this size up to the clip
SPILLING = {"low_pass", "high_pass", "comb"}   # ops whose output reaches past the input length


@dataclass
class MixBatch:
    audio: torch.Tensor              # (B, n_samples)
    targets: torch.Tensor            # (B, n_frames, n_classes)
    events: list                     # per item: [(onset_s, offset_s, label)]
    draws: list                      # the ItemDraws


class BatchMixer:
    def __init__(self, spec: DynamicSpec, labels: list[str], rirs=None, device: str | torch.device = "auto",
                 filters: str = "auto", spectrum_cache_mb: int = 512):
        """``filters``: "fft" (impulse response on the device), "iir" (scipy sosfilt on the host, exact), or
        "auto": iir when the device is the CPU (cheaper there), fft otherwise. ``spectrum_cache_mb``: device memory
        for the spectra of dry foreground excerpts (see :meth:`warm`)."""
        self.spec, self.labels, self.rirs = spec, list(labels), rirs
        self.device = resolve_device(device)
        if filters not in ("auto", "fft", "iir"):
            raise ValueError(f"filters must be auto|fft|iir, got {filters!r}")
        self.filters = filters if filters != "auto" else ("iir" if self.device.type == "cpu" else "fft")
        self._rir_spectra: dict[int, torch.Tensor] = {}
        self._spectra: dict = {}
        self.spectrum_cache_bytes = spectrum_cache_mb << 20
        self.filter_len = max(1, int(round(spec.effects.filter_ir_s * spec.sr)))

    # ------------------------------------------------------------ public

    def __call__(self, items: list) -> MixBatch:
        """``items``: [(ItemDraw, [dry excerpt per source])], e.g. a DataLoader batch collated as a list."""
        draws = [d for d, _ in items]
        audio = self.mix(items)
        events = [d.events() for d in draws]
        tg = np.stack([frame_targets(e, self.labels, self.spec.n_frames, 1 / self.spec.frame_rate) for e in events])
        return MixBatch(audio, torch.from_numpy(tg).to(self.device), events, draws)

    @torch.no_grad()
    def mix(self, items: list) -> torch.Tensor:
        spec = self.spec
        mix = torch.zeros(len(items), spec.n_samples, device=self.device)
        flat = [(b, sd, x) for b, (draw, arrays) in enumerate(items) for sd, x in zip(draw.sources, arrays)]
        buckets: dict[int, list] = {}
        for row in flat:
            key = bucket_key(row[1].length, spec.n_samples)
            buckets.setdefault(key, []).append(row)
        for key in sorted(buckets):
            rows = buckets[key]
            x = self._process(key, [sd for _, sd, _ in rows], [x for _, _, x in rows])
            for j, (b, sd, _) in enumerate(rows):
                mix[b, sd.onset:sd.onset + sd.length] += x[j, :sd.length]
        if spec.peak_db is not None:
            peak = mix.abs().amax(dim=1, keepdim=True)
            mix = torch.where(peak > 0, mix * (10 ** (spec.peak_db / 20) / peak.clamp_min(1e-30)), mix)
        return mix

    # ------------------------------------------------------------ per length bucket

    def _process(self, key: int, sds: list, arrays: list) -> torch.Tensor:
        width = max(sd.length for sd in sds)
        host = np.zeros((len(sds), width), dtype=np.float32)
        for j, x in enumerate(arrays):
            host[j, :len(x)] = x
        x = torch.from_numpy(host).to(self.device)
        lengths = torch.tensor([sd.length for sd in sds], device=self.device)
        trim = _trimmer(lengths, width)
        level = torch.tensor([10 ** (sd.level_db / 20) for sd in sds], device=self.device)

        def apply(rows, fn):
            if len(rows) == len(sds):
                return fn(x, slice(None))
            idx = torch.tensor(rows, device=self.device)
            return x.index_copy_(0, idx, fn(x.index_select(0, idx), idx))

        rows = [j for j, sd in enumerate(sds) if sd.rir is not None]
        if rows:
            x = apply(rows, lambda v, r: trim(self._rir(v, [sds[j] for j in rows], key), r))
        for slot in range(self.spec.effects.max_count):
            for name in EFFECTS:
                rows = [j for j, sd in enumerate(sds) if len(sd.effects) > slot and sd.effects[slot][0] == name]
                if rows:
                    params = [sds[j].effects[slot][1] for j in rows]
                    op = getattr(self, f"_{name}")
                    x = apply(rows, lambda v, r: (trim if name in SPILLING else _keep)(op(v, params, lengths[r], key), r))
        return x * (level / _rms(x, lengths).clamp_min(1e-8))[:, None]

    def _fft_conv(self, x: torch.Tensor, spectra: torch.Tensor, n_fft: int) -> torch.Tensor:
        return torch.fft.irfft(torch.fft.rfft(x, n=n_fft) * spectra, n=n_fft)[:, :x.shape[1]]

    def _rir(self, x, sds, key):
        n_fft = fft_size(key + self.rirs.max_len - 1)
        idx = torch.tensor([sd.rir for sd in sds], device=self.device)
        wet = torch.tensor([sd.wet for sd in sds], device=self.device)[:, None]
        spectra = self._dry_spectra(x, sds, n_fft).mul_(self._rir_spectra_at(n_fft)[idx])
        return torch.lerp(x, torch.fft.irfft(spectra, n=n_fft)[:, :x.shape[1]], wet)

    def _dry_spectra(self, x, sds, n_fft):
        """rfft of the dry excerpts, taken from the spectra precomputed by :meth:`warm` when there. The cache is
        never written while mixing, so a batch's bits depend on its content only, not on what came before."""
        keys = [_spectrum_key(sd, n_fft) for sd in sds]
        miss = [j for j, k in enumerate(keys) if k not in self._spectra]
        if len(miss) == len(sds):
            return torch.fft.rfft(x, n=n_fft)
        out = [self._spectra.get(k) for k in keys]
        if miss:
            fresh = torch.fft.rfft(x[miss], n=n_fft)
            for i, j in enumerate(miss):
                out[j] = fresh[i]
        return torch.stack(out)

    def warm(self, ds) -> int:
        """Precompute the spectra of every foreground that is used whole (not cut to ``max_event_s``), at every
        pitch of the dataset's discrete set, within ``spectrum_cache_mb`` (sorted by key). Needs a RIR bank;
        returns the number of spectra stored."""
        if self.rirs is None:
            return 0
        sr = self.spec.sr
        max_ev = min(self.spec.n_samples, int(round(self.spec.max_event_s * sr)))
        todo = []
        for ref in ds.pool.fg:
            full = source_length(ref.duration_s, sr)
            if full > max_ev:
                continue
            n_fft = fft_size(bucket_key(full, self.spec.n_samples) + self.rirs.max_len - 1)
            for cents in ds.pitch_values():
                sd = SimpleNamespace(role="foreground", key=ref.key, pitch_cents=cents, start=0, length=full)
                todo.append((_spectrum_key(sd, n_fft), ref, cents, full, n_fft))
        used = 0
        for n_fft in sorted({t[-1] for t in todo}):
            group = sorted((t for t in todo if t[-1] == n_fft), key=lambda t: (t[0][0], t[0][1] or 0.0))
            for lo in range(0, len(group), 16):
                chunk = group[lo:lo + 16]
                need = len(chunk) * (n_fft // 2 + 1) * 8
                if used + need > self.spectrum_cache_bytes:
                    return len(self._spectra)
                host = np.zeros((len(chunk), max(t[3] for t in chunk)), np.float32)
                for i, (_, ref, cents, full, _) in enumerate(chunk):
                    host[i] = 0
                    host[i, :full] = excerpt(ds.cache.get(ref, cents), 0, full, False)
                spectra = torch.fft.rfft(torch.from_numpy(host).to(self.device), n=n_fft)
                for i, t in enumerate(chunk):
                    self._spectra[t[0]] = spectra[i].clone()
                used += need
        return len(self._spectra)

    def _rir_spectra_at(self, n_fft: int) -> torch.Tensor:
        """Spectra of every RIR of the bank at this FFT size, (n_rirs, n_fft // 2 + 1), computed once."""
        if n_fft not in self._rir_spectra:
            h = np.zeros((len(self.rirs), self.rirs.max_len), np.float32)
            for i, k in enumerate(self.rirs.kernels):
                h[i, :len(k)] = k
            self._rir_spectra[n_fft] = torch.fft.rfft(torch.from_numpy(h).to(self.device), n=n_fft)
        return self._rir_spectra[n_fft]

    # ------------------------------------------------------------ effects: (x, params, lengths, key) -> x

    def _filter(self, name, x, params, lengths, key):
        sr, n_ir = self.spec.sr, self.filter_len
        soses = [make_transform(name, self.spec.effects).sos(sr, p["cutoff_hz"], p["rolloff_db"]) for p in params]
        if self.filters == "iir":
            host = x.cpu().numpy()
            out = np.stack([sosfilt(sos, row, zi=sosfilt_zi(sos) * row[0])[0] for sos, row in zip(soses, host)])
            return torch.from_numpy(out.astype(np.float32)).to(self.device)
        irs, tails = [], []
        for sos in soses:
            imp = np.zeros(n_ir)
            imp[0] = 1.0
            h = sosfilt(sos, imp)
            dc = float(np.prod(sos[:, :3].sum(axis=1) / sos[:, 3:].sum(axis=1)))
            irs.append(h)
            tails.append(dc - np.cumsum(h))     # response to the constant past that sosfilt's zi assumes
        n_fft = fft_size(key + n_ir - 1)
        h = torch.from_numpy(np.stack(irs).astype(np.float32)).to(self.device)
        y = self._fft_conv(x, torch.fft.rfft(h, n=n_fft), n_fft)
        m = min(n_ir, x.shape[1])
        tail = torch.from_numpy(np.stack(tails)[:, :m].astype(np.float32)).to(self.device)
        y[:, :m] += x[:, :1] * tail
        return y

    def _low_pass(self, x, params, lengths, key):
        return self._filter("low_pass", x, params, lengths, key)

    def _high_pass(self, x, params, lengths, key):
        return self._filter("high_pass", x, params, lengths, key)

    def _bursts(self, x, params, lengths, values):
        """Add every burst of every row in one scatter; ``values(pairs, rep, n)`` gives the unit signal, where
        ``pairs`` lists (row, burst) and ``rep`` maps each burst sample to its pair."""
        sr = self.spec.sr
        pairs = [(j, k) for j, p in enumerate(params) for k in range(len(p["start"]))]
        ln = np.array([params[j]["length"][k] for j, k in pairs])
        st = np.array([params[j]["start"][k] for j, k in pairs])
        amp = np.array([10 ** (params[j]["level_db"][k] / 20) for j, k in pairs])
        rows = np.array([j for j, _ in pairs])
        rep = np.repeat(np.arange(len(pairs)), ln)
        n = np.arange(ln.sum()) - np.repeat(np.cumsum(ln) - ln, ln)
        t = lambda a: torch.from_numpy(np.asarray(a)).to(self.device)  # noqa: E731
        env = burst_envelope(torch, t(n).double(), t(ln[rep]).double(), t(burst_ramp(ln, sr)[rep]).double())
        gain = _rms(x, lengths).double()[t(rows[rep])] * t(amp[rep])
        return x.index_put((t(rows[rep]), t(st[rep] + n)), (gain * env * values(pairs, rep, n)).float(),
                           accumulate=True)

    def _noise_bursts(self, x, params, lengths, key):
        def values(pairs, rep, n):
            seeds = np.array([params[j]["seed"][k] for j, k in pairs], dtype=np.int64)[rep]
            return hash_gauss(torch, torch.from_numpy(seeds).to(self.device), torch.from_numpy(n).to(self.device))
        return self._bursts(x, params, lengths, values)

    def _sine_bursts(self, x, params, lengths, key):
        sr = self.spec.sr

        def values(pairs, rep, n):
            f = np.array([params[j]["freq_hz"][k] for j, k in pairs])[rep]
            ph = np.array([params[j]["phase"][k] for j, k in pairs])[rep]
            arg = torch.from_numpy(2 * np.pi * f * n / sr + ph).to(self.device)
            return np.sqrt(2) * torch.sin(arg)
        return self._bursts(x, params, lengths, values)

    def _comb(self, x, params, lengths, key):
        col = lambda name: torch.tensor([p[name] for p in params], dtype=torch.float64, device=self.device)[:, None]  # noqa: E731
        n = torch.arange(x.shape[1], device=self.device, dtype=torch.float64)[None, :]
        pos = n - comb_delay(torch, n, self.spec.sr, col("delay_ms"), col("depth_ms"), col("rate_hz"), col("phase"))
        i0 = torch.floor(pos)
        frac = (pos - i0).float()
        i0 = i0.long()
        ok = i0 >= 0
        last = x.shape[1] - 1
        a = torch.gather(x, 1, i0.clamp(0, last))
        b = torch.gather(x, 1, (i0 + 1).clamp(0, last))
        return x + col("gain").float() * torch.where(ok, (1 - frac) * a + frac * b, torch.zeros_like(a))

    def _compression(self, x, params, lengths, key):
        xd = x.double()
        c = torch.nn.functional.pad(torch.cumsum(xd * xd, dim=1), (1, 0))
        w = torch.tensor([p["window"] for p in params], device=self.device)[:, None]
        n1 = torch.arange(1, x.shape[1] + 1, device=self.device)[None, :]
        env = (torch.gather(c, 1, n1.expand_as(x)) - torch.gather(c, 1, (n1 - w).clamp_min(0))) / w
        peak = xd.abs().amax(dim=1, keepdim=True)
        thr = torch.tensor([p["threshold_db"] for p in params], dtype=torch.float64, device=self.device)[:, None]
        ratio = torch.tensor([p["ratio"] for p in params], dtype=torch.float64, device=self.device)[:, None]
        g = compressor_gain_db(torch, env, peak, thr, ratio)
        return (xd * 10 ** (g / 20)).float()


def bucket_key(length: int, n_samples: int) -> int:
    """Length class of a source: the power of two >= its length (at least MIN_BUCKET), at most the clip."""
    return min(1 << int(np.ceil(np.log2(max(MIN_BUCKET, length)))), n_samples)


def _spectrum_key(sd, n_fft: int):
    return (sd.key, sd.pitch_cents or None, sd.start, sd.length, n_fft) if sd.role == "foreground" else None


def fft_size(n: int) -> int:
    """Smallest size >= n of the form 2^k, 1.25 * 2^k or 1.5 * 2^k: fast FFTs, and few distinct sizes to cache."""
    k = 1 << max(0, int(np.ceil(np.log2(max(n, 1)))) - 1)     # k < n <= 2k
    for m in (k * 5 // 4, k * 3 // 2, 2 * k):
        if m >= n:
            return m
    return 2 * k


def _keep(y, rows):
    return y


def _rms(x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    return torch.sqrt((x * x).sum(dim=1) / lengths.clamp_min(1))


def _trimmer(lengths: torch.Tensor, width: int):
    """Zero what an op spilled past each source's length (a no-op when every source fills the width)."""
    if bool((lengths == width).all()):
        return _keep
    mask = torch.arange(width, device=lengths.device)[None, :] < lengths[:, None]
    return lambda y, rows: y * mask[rows]
