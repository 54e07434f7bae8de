"""Throughput of the remix networks' training steps (Deshmukh et al.) in sedkit's channels-last layout against the
default (NCHW) layout, same run.

    python -m sedkit.benchmarks.conv_layout [--model 2ap-aux] [--batch 10] [--seconds 10] [--steps 10] [--rounds 5]
                                            [--device auto] [--threads 1]

Builds ``--model`` (a model of ``specs/models/``: gap, gmp, gwrp, ap-dilated, 2ap, 2ap-aux) as the medium-scale
network of ``specs/bench/remix.yaml`` (8 kHz, 32 mels, a 16-32-64-64 encoder with stride-2 pooling) twice from one
seed: once as sedkit builds it (convolution weights channels-last) and once with every parameter back in the
default layout. Both take the same optimiser steps (BCE, plus the reconstruction MSE for 2AP + aux) on the same
batch (random audio's log-mel stage, shaped as the feature cache's loader gives it); their first losses (same
weights, same batch) are checked to agree, then they are timed in alternating rounds. One CPU thread by default,
as ``sedkit bench run`` trains one model per core.
"""
from __future__ import annotations

import argparse
import copy
import time

import torch

from sedkit.baselines.api import model_config
from sedkit.baselines.models.attention import DeshmukhModel, DeshmukhSpec
from sedkit.baselines.models.frontends import build_frontend
from sedkit.baselines.registry import validate
from sedkit.baselines.trainer import torch_threads
from sedkit.synth.devices import resolve_device

MEDIUM = {"frontend": {"extends": "frontends/deshmukh", "sr": 8000, "n_fft": 1024, "hop_length": 512, "n_mels": 32},
          "encoder": {"channels": [16, 32, 64, 64], "pool_stride": [2, 2]}}


def default_layout(model: torch.nn.Module) -> torch.nn.Module:
    """A copy of ``model`` with every parameter and buffer contiguous in the default layout."""
    plain = copy.deepcopy(model)
    for t in list(plain.parameters()) + list(plain.buffers()):
        t.data = t.data.clone(memory_format=torch.contiguous_format)  # also resets C = 1 weights' strides
    return plain


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="2ap-aux", choices=["gap", "gmp", "gwrp", "ap-dilated", "2ap", "2ap-aux"])
    ap.add_argument("--batch", type=int, default=10)
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--classes", type=int, default=10)
    ap.add_argument("--steps", type=int, default=10, help="steps in a timed round")
    ap.add_argument("--rounds", type=int, default=5, help="timed rounds of each layout, alternating")
    ap.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    ap.add_argument("--threads", type=int, default=1, help="torch CPU threads (default 1: one model per core)")
    a = ap.parse_args(argv)
    dev = resolve_device(a.device)
    spec = validate(DeshmukhSpec, model_config(a.model, MEDIUM), f"model {a.model}")
    frontend = build_frontend(spec.frontend)
    g = torch.Generator().manual_seed(0)
    audio = (0.1 * torch.randn(a.batch, int(a.seconds * spec.frontend.sr), generator=g)).to(dev)
    with torch.no_grad():  # a batch as the feature cache's loader gives it: stages (B, 1, T, F) strided as
        stage = frontend.stage(audio)[:, 0].contiguous()[:, :, None, :].transpose(1, 2)  # (B, T, 1, F) is
    y = (torch.rand(a.batch, a.classes, generator=g) < 0.3).float().to(dev)
    torch.manual_seed(0)
    sedkit_model = DeshmukhModel(frontend, spec, a.classes).to(dev)
    models = {"sedkit (channels-last convolutions)": sedkit_model,
              "default layout (NCHW)": default_layout(sedkit_model)}

    def step(model, opt) -> float:
        out = model(stage)  # the front end finishes the cached stage (log-mel, z-score), then the network
        loss = torch.nn.functional.binary_cross_entropy(out["clip"].clamp(1e-7, 1 - 1e-7), y)
        if "recon" in out:
            loss = loss + spec.aux_alpha * ((out["recon"] - out["features"]) ** 2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        if dev.type == "cuda":
            torch.cuda.synchronize()
        return float(loss.detach())

    opts = {name: torch.optim.Adam(model.parameters(), lr=1e-3) for name, model in models.items()}
    secs = {name: float("inf") for name in models}
    with torch_threads(a.threads if dev.type == "cpu" else None):
        losses = {name: [step(m, opts[name]) for _ in range(3)] for name, m in models.items()}  # warm-up, check
        for _ in range(a.rounds):  # alternate the two, best round of each: both see the same machine state
            for name, model in models.items():
                t0 = time.perf_counter()
                for _ in range(a.steps):
                    step(model, opts[name])
                secs[name] = min(secs[name], (time.perf_counter() - t0) / a.steps)
    (l_s, l_d), (t_s, t_d) = losses.values(), secs.values()
    diff = abs(l_s[0] - l_d[0])  # the first step's loss: same weights, same batch (later steps drift apart in float)
    if diff > 1e-4:
        raise SystemExit(f"the two layouts' losses differ by {diff:.3g}")
    threads = f", {a.threads} thread(s)" if dev.type == "cpu" else ""
    print(f"{a.model}: batch {a.batch} x {a.seconds:g} s ({tuple(stage.shape)} stage), {dev.type}{threads}, best of "
          f"{a.rounds} rounds of {a.steps} steps; first losses agree within {diff:.1e}")
    for name, t in secs.items():
        print(f"  {name:38s} {1 / t:7.1f} steps/s  {a.batch / t:8.1f} clips/s  ({1000 * t:.1f} ms a step)")
    print(f"  channels-last vs default: {t_d / t_s:.2f}x")
    return {"ratio": t_d / t_s}


if __name__ == "__main__":
    main()
