"""Front-ends: waveform -> time-frequency features, as torch modules that run on the model's device.

- mel / log-mel from ``torch.stft`` and Slaney mel filters (:func:`mel_filters`, equal to ``librosa.filters.mel``;
  no torchaudio, and no librosa at run time); matches ``librosa.feature.melspectrogram`` +
  ``librosa.power_to_db(ref=1, amin=1e-10, top_db=None)`` when the pad modes agree (both ``pad_mode="constant"``);
- multi-scale mel (Kumar & Raj): several FFT sizes with one hop, stacked as channels;
- PCEN (Cornell et al. Table 1): fixed, trainable (alpha, delta, r learned), and parallel PCEN (several layers,
  fixed smoothers ``s = 0.015, 0.25`` whose outputs are combined with learned weights), on mel or log-mel;
- normalisation: global z-score per (channel, mel band) from training-set statistics, or per-instance min-max.

Every front-end returns ``(batch, channels, frames, mels)``. Channels are 1 for (log-)mel and PCEN, the number of
layers for parallel PCEN, the number of FFT sizes for multi-scale mel.

A front-end runs in two parts: :meth:`Frontend.stage` (waveform -> the *stage*, everything without a trainable
part, rounded to ``stage_dtype``) and :meth:`Frontend.finish` (stage -> features: the trainable part and the
normalisation). For log-mel, multi-scale mel and fixed PCEN the stage is the whole compressed feature; for trainable
PCEN, parallel PCEN and uncompressed mel it is the mel power in dB. The feature cache
(:mod:`sedkit.baselines.data.features`) stores stages, so a model trained from the cache sees exactly the values it
would compute from the audio: ``forward(wave) == finish(stage(wave))``, and ``forward`` also takes a stage.

The configuration is a :class:`FrontendSpec` (a ``frontend:`` mapping inside a model spec). It either states every
value or starts from a paper's front end with ``extends: frontends/<name>`` (``specs/frontends/<name>.yaml``; see
:func:`sedkit.specs.inherit`), its own keys overriding that file's.
"""
from __future__ import annotations

import contextlib
import math
from typing import ClassVar, Literal

import numpy as np
import torch
from pydantic import model_validator
from torch import nn

from sedkit import SedkitError
from sedkit.specs import Spec


class PCENSpec(Spec):
    """Per-channel energy normalisation, eq. (3) of Cornell et al.; ``time_constant`` (s) sets the smoother."""
    defaults_from: ClassVar[str] = "frontends/pcen1#pcen"

    eps: float
    alpha: float
    delta: float
    r: float
    time_constant: float
    trainable: bool


class PPCENSpec(Spec):
    """Parallel PCEN: ``layers`` PCEN layers; each smooths with a learned mix of the fixed ``smoothers``."""
    defaults_from: ClassVar[str] = "frontends/ppcen_mel#ppcen"

    layers: int
    smoothers: list[float]
    eps: float
    alpha: float
    delta: float
    r: float


class FrontendSpec(Spec):
    sr: int
    n_fft: int
    hop_length: int
    n_mels: int
    compression: Literal["log", "none", "pcen", "ppcen"]
    norm: Literal["none", "zscore", "minmax"]
    # optional: None / 0 / "mel" mean "not used" or the plain choice
    win_length: int | None = None  # None: n_fft
    fmin: float = 0.0
    fmax: float | None = None  # None: sr / 2
    scales: list[int] | None = None  # multi-scale mel: these FFT sizes (window = FFT size), one channel each
    pcen_input: Literal["mel", "logmel"] = "mel"  # what PCEN / parallel PCEN is applied to
    pcen: PCENSpec | None = None  # needed by compression: pcen
    ppcen: PPCENSpec | None = None  # needed by compression: ppcen
    stage_dtype: Literal["float16", "float32"] = "float16"  # the stage (what the feature cache stores) is rounded to this

    @model_validator(mode="after")
    def _check(self):
        if self.scales and self.compression == "ppcen":
            raise ValueError("multi-scale mel (scales) cannot be combined with parallel PCEN")
        if self.win_length is not None and self.win_length > self.n_fft:
            raise ValueError(f"win_length ({self.win_length}) is longer than n_fft ({self.n_fft})")
        if self.fmax is not None and self.fmax > self.sr / 2:
            raise ValueError(f"fmax ({self.fmax}) is above the Nyquist frequency ({self.sr / 2})")
        for kind in ("pcen", "ppcen"):
            if self.compression == kind and getattr(self, kind) is None:
                raise ValueError(f"compression: {kind} needs a '{kind}' section")
        return self


def db(x: torch.Tensor, amin: float = 1e-10) -> torch.Tensor:
    """``10 log10(max(x, amin))``, i.e. librosa's power_to_db with ref 1 and no top_db."""
    return 10.0 * torch.log10(torch.clamp(x, min=amin))


def hz_to_mel(f: np.ndarray) -> np.ndarray:
    """Slaney's mel scale: linear (200/3 Hz a mel) below 1 kHz, logarithmic (27 mels an octave of 6.4) above."""
    f = np.asarray(f, dtype=np.float64)
    lin = f / (200.0 / 3)
    return np.where(f >= 1000.0, 15.0 + np.log(np.maximum(f, 1e-10) / 1000.0) / (np.log(6.4) / 27.0), lin)


def mel_to_hz(m: np.ndarray) -> np.ndarray:
    m = np.asarray(m, dtype=np.float64)
    return np.where(m >= 15.0, 1000.0 * np.exp((np.log(6.4) / 27.0) * (m - 15.0)), m * (200.0 / 3))


def mel_filters(sr: int, n_fft: int, n_mels: int, fmin: float = 0.0, fmax: float | None = None) -> np.ndarray:
    """Triangular filters ``(n_mels, 1 + n_fft // 2)``, float32, on Slaney's mel scale with area normalisation:
    the filter bank ``librosa.filters.mel`` makes by default (a test checks they agree)."""
    fmax = sr / 2 if fmax is None else fmax
    bins = np.linspace(0, sr / 2, 1 + n_fft // 2)
    edges = mel_to_hz(np.linspace(hz_to_mel(fmin), hz_to_mel(fmax), n_mels + 2))
    width = np.diff(edges)
    dist = edges[:, None] - bins[None, :]
    w = np.zeros((n_mels, len(bins)), dtype=np.float32)
    for k in range(n_mels):
        w[k] = np.maximum(0, np.minimum(-dist[k] / width[k], dist[k + 2] / width[k + 1]))
    w *= (2.0 / (edges[2:n_mels + 2] - edges[:n_mels]))[:, None]
    return w


class MelSpectrogram(nn.Module):
    """Power mel spectrogram ``(B, N) -> (B, frames, mels)`` from torch.stft + :func:`mel_filters`."""

    def __init__(self, sr: int, n_fft: int, hop_length: int, n_mels: int, win_length: int | None = None,
                 fmin: float = 0.0, fmax: float | None = None):
        super().__init__()
        self.n_fft, self.hop_length = n_fft, hop_length
        self.win_length = win_length or n_fft
        fb = mel_filters(sr, n_fft, n_mels, fmin, fmax)
        self.register_buffer("fb", torch.from_numpy(fb.T.copy()), persistent=False)  # (bins, mels)
        self.register_buffer("window", torch.hann_window(self.win_length, periodic=True), persistent=False)

    def forward(self, wave: torch.Tensor) -> torch.Tensor:
        spec = torch.stft(wave.float(), self.n_fft, self.hop_length, self.win_length, window=self.window,
                          center=True, pad_mode="constant", return_complex=True)
        power = spec.real.square() + spec.imag.square()  # (B, bins, frames)
        return torch.matmul(power.transpose(1, 2), self.fb)


def smoothing_coef(time_constant: float, sr: int, hop_length: int) -> float:
    """The one-pole smoother coefficient for a time constant in seconds (same formula as librosa.pcen)."""
    t = time_constant * sr / hop_length
    return float((math.sqrt(1 + 4 * t ** 2) - 1) / (2 * t ** 2))


def smooth(x: torch.Tensor, s: float, block: int = 64) -> torch.Tensor:
    """First-order IIR ``M[t] = (1-s) M[t-1] + s x[t]`` along dim -2 (frames), with ``M[-1] = x[0]``.

    Computed blockwise: inside a block of ``block`` frames the recursion is a lower-triangular matrix product,
    the state is carried between blocks. Exact, differentiable, and ``frames / block`` sequential steps.
    """
    n = x.shape[-2]
    k = torch.arange(block, device=x.device, dtype=x.dtype)
    a = 1.0 - s
    diff = k[:, None] - k[None, :]
    kernel = torch.where(diff >= 0, s * a ** diff.clamp(min=0), torch.zeros((), dtype=x.dtype, device=x.device))
    carry = a ** (k + 1)  # weight of the previous state on each frame of the block
    state = x[..., :1, :]
    out = []
    for start in range(0, n, block):
        chunk = x[..., start:start + block, :]
        m = chunk.shape[-2]
        y = torch.matmul(kernel[:m, :m], chunk) + carry[:m, None] * state
        out.append(y)
        state = y[..., -1:, :]
    return torch.cat(out, dim=-2)


class PCEN(nn.Module):
    """PCEN on ``(B, C, T, F)`` energies. Trainable: alpha, delta, r learned per band (kept positive via log)."""

    def __init__(self, n_mels: int, s: float, eps: float, alpha: float, delta: float, r: float,
                 trainable: bool):
        super().__init__()
        self.s, self.eps = s, eps
        init = torch.log(torch.tensor([alpha, delta, r])).repeat(n_mels, 1).T.contiguous()  # (3, F)
        if trainable:
            self.log_params = nn.Parameter(init)
        else:
            self.register_buffer("log_params", init)

    def forward(self, e: torch.Tensor) -> torch.Tensor:
        alpha, delta, r = self.log_params.exp()
        m = smooth(e, self.s)
        return pcen_formula(e, m, alpha, delta, r, self.eps)


def pcen_formula(e, m, alpha, delta, r, eps):
    """``(E / (eps + M)^alpha + delta)^r - delta^r``, eq. (3) of Cornell et al."""
    gain = torch.exp(-alpha * torch.log(eps + m))
    return (e * gain + delta).pow(r) - delta.pow(r)


class ParallelPCEN(nn.Module):
    """``layers`` trainable PCEN layers in parallel (output channels); smoothers fixed, their mix learned."""

    def __init__(self, n_mels: int, spec: PPCENSpec):
        super().__init__()
        self.smoothers = list(spec.smoothers)
        self.eps = spec.eps
        p = torch.log(torch.tensor([spec.alpha, spec.delta, spec.r]))
        self.log_params = nn.Parameter(p[None, :, None].repeat(spec.layers, 1, n_mels))  # (L, 3, F)
        # mixing logits (L, S, F); layer k starts leaning on smoother k so the layers differ from the start
        mix = torch.zeros(spec.layers, len(self.smoothers), n_mels)
        for k in range(spec.layers):
            mix[k, k % len(self.smoothers)] = 2.0
        self.mix_logits = nn.Parameter(mix)

    def forward(self, e: torch.Tensor) -> torch.Tensor:  # e: (B, 1, T, F)
        ms = torch.stack([smooth(e[:, 0], s) for s in self.smoothers], dim=1)  # (B, S, T, F)
        w = torch.softmax(self.mix_logits, dim=1)  # (L, S, F)
        m = torch.einsum("bstf,lsf->bltf", ms, w)
        alpha, delta, r = (self.log_params.exp()[:, i, None, :] for i in range(3))  # (L, 1, F)
        return pcen_formula(e, m, alpha, delta, r, self.eps)


def minmax(x: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    """Per-instance, per-channel min-max scaling of ``(B, C, T, F)`` to [0, 1]."""
    lo = x.amin(dim=(-2, -1), keepdim=True)
    hi = x.amax(dim=(-2, -1), keepdim=True)
    return (x - lo) / (hi - lo + eps)


def full_precision(device_type: str):
    """A context in which autocast (bf16 training) is off."""
    if torch.is_autocast_enabled(device_type):
        return torch.autocast(device_type, enabled=False)
    return contextlib.nullcontext()


def undb(x: torch.Tensor) -> torch.Tensor:
    """The inverse of :func:`db` (above its floor)."""
    return torch.pow(10.0, x / 10.0)


class Frontend(nn.Module):
    """The configured front-end: waveform ``(B, N)`` -> features ``(B, channels, frames, mels)``, in two parts
    (module docstring): :meth:`stage` then :meth:`finish`."""

    def __init__(self, spec: FrontendSpec):
        super().__init__()
        self.spec = spec
        ffts = spec.scales or [spec.n_fft]
        win = None if spec.scales else spec.win_length
        self.mels = nn.ModuleList(MelSpectrogram(spec.sr, n, spec.hop_length, spec.n_mels, win, spec.fmin,
                                                 spec.fmax) for n in ffts)
        self.n_scales = len(ffts)
        self.compress = None
        if spec.compression == "pcen":
            p = spec.pcen
            s = smoothing_coef(p.time_constant, spec.sr, spec.hop_length)
            self.compress = PCEN(spec.n_mels, s, p.eps, p.alpha, p.delta, p.r, p.trainable)
        elif spec.compression == "ppcen":
            self.compress = ParallelPCEN(spec.n_mels, spec.ppcen)
        self.channels = spec.ppcen.layers if spec.compression == "ppcen" else self.n_scales
        shape = (1, self.channels, 1, spec.n_mels)
        self.register_buffer("mean", torch.zeros(shape))
        self.register_buffer("std", torch.ones(shape))

    def n_frames(self, n_samples: int) -> int:
        return 1 + n_samples // self.spec.hop_length

    @property
    def frame_hop_s(self) -> float:
        return self.spec.hop_length / self.spec.sr

    @property
    def whole_stage(self) -> bool:
        """True when the stage is the whole compressed feature (log-mel, multi-scale mel, fixed PCEN); False when it
        is the mel power in dB and :meth:`finish` compresses (trainable PCEN, parallel PCEN, no compression)."""
        c = self.spec.compression
        return c == "log" or (c == "pcen" and not self.spec.pcen.trainable)

    def stage(self, wave: torch.Tensor) -> torch.Tensor:
        """Waveforms ``(B, N)`` -> stage ``(B, scales, frames, mels)``, float32 holding ``stage_dtype`` values.
        Always computed in float32 (outside any autocast); each clip's frames do not depend on the rest of the batch
        (zero padding at the end changes no frame before ``1 + n // hop_length``)."""
        with full_precision(wave.device.type):
            x = torch.stack([m(wave.float()) for m in self.mels], dim=1)  # (B, S, T, F) power mel
            if self.whole_stage and self.spec.compression == "pcen":
                x = self.compress(self._pcen_input(x))
            else:
                x = db(x)
        return x.to(getattr(torch, self.spec.stage_dtype)).float()

    def _pcen_input(self, x: torch.Tensor) -> torch.Tensor:
        """What PCEN is applied to: the mel power, or the min-max scaled log-mel (Cornell et al. sec. 4: PCEN needs
        non-negative input)."""
        return minmax(db(x)) if self.spec.pcen_input == "logmel" else x

    def unnormalised(self, x: torch.Tensor) -> torch.Tensor:
        """Features before normalisation, from waveforms ``(B, N)`` or stages ``(B, S, T, F)``."""
        st = x.float() if x.dim() == 4 else self.stage(x)
        if self.whole_stage:
            return st
        if self.spec.compression == "none":
            return undb(st)
        e = minmax(st) if self.spec.pcen_input == "logmel" else undb(st)
        return self.compress(e)

    def finish(self, st: torch.Tensor) -> torch.Tensor:
        """Stage ``(B, S, T, F)`` -> normalised features (float32, outside any autocast: PCEN's smoothing and the
        statistics need the precision; the model after it may run in bfloat16)."""
        with full_precision(st.device.type):
            x = self.unnormalised(st)
            if self.spec.norm == "zscore":
                return (x - self.mean) / self.std
            if self.spec.norm == "minmax":
                return minmax(x)
            return x

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Features from waveforms ``(B, N)`` or from stages ``(B, S, T, F)`` (the feature cache's batches)."""
        return self.finish(x if x.dim() == 4 else self.stage(x))

    @torch.no_grad()
    def fit_stats(self, inputs, device=None) -> None:
        """Global z-score statistics per (channel, band) from an iterable of batches: waveforms ``(B, N)`` or
        stages ``(B, S, T, F)``, or pairs ``(batch, n_samples)`` whose frames past each clip's end (batch padding)
        are left out."""
        if self.spec.norm != "zscore":
            return
        total = sq = None
        count = 0
        for inp in inputs:
            inp, n = inp if isinstance(inp, tuple) else (inp, None)
            x = self.unnormalised(inp.to(device or self.mean.device)).double()
            valid = torch.ones(x.shape[0], 1, x.shape[2], 1, dtype=x.dtype, device=x.device)
            if n is not None:
                frames = (1 + n.to(x.device) // self.spec.hop_length).clamp(max=x.shape[2])
                valid = (torch.arange(x.shape[2], device=x.device)[None, :] < frames[:, None]).to(x.dtype)
                valid = valid[:, None, :, None]
            s1 = (x * valid).sum(dim=(0, 2), keepdim=True)
            s2 = (x.square() * valid).sum(dim=(0, 2), keepdim=True)
            total = s1 if total is None else total + s1
            sq = s2 if sq is None else sq + s2
            count += int(valid.sum())
        if not count:
            raise SedkitError("cannot fit z-score statistics: the training set is empty")
        mean = total / count
        var = (sq / count - mean.square()).clamp(min=1e-10)
        self.mean.copy_(mean.float())
        self.std.copy_(var.sqrt().float())


def build_frontend(cfg: dict | FrontendSpec) -> Frontend:
    spec = cfg if isinstance(cfg, FrontendSpec) else FrontendSpec.model_validate(cfg)
    return Frontend(spec)


def librosa_logmel(y: np.ndarray, spec: FrontendSpec, n_fft: int | None = None) -> np.ndarray:
    """The librosa reference log-mel for one clip, ``(frames, mels)`` (used by tests and the benchmark)."""
    import librosa

    n = n_fft or spec.n_fft
    m = librosa.feature.melspectrogram(y=y, sr=spec.sr, n_fft=n, hop_length=spec.hop_length,
                                       win_length=None if spec.scales else spec.win_length, n_mels=spec.n_mels,
                                       fmin=spec.fmin, fmax=spec.fmax, center=True, pad_mode="constant")
    return librosa.power_to_db(m, ref=1.0, amin=1e-10, top_db=None).T
