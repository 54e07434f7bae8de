"""The prepared GPU check: paper-scale training speed on one GPU, in one run of at most 8 minutes on an H100.

    bash benchmarks/gpu_check.sh [--dry-run] [--epochs-waa 2] [--epochs-crnn 1] [--out FILE]

Steps (``--dry-run``: the same steps at tiny sizes on the CPU, with bf16 autocast exercised there too):

1. print the device;
2. make paper-size training data on the device: procedural clips (10 classes of tones with harmonics and tremolo,
   1-3 events a clip over noise; strong labels), at the WAA set's size (2700 / 300 / 750 clips of 10 s, and the
   same audio as 1 s segments) and DESED's (10,000 strong synthetic, 1,578 weak, 14,412 unlabelled, 10 s). The
   machine lent for this check has no Scaper and no soundbank, and the data are the same for every model, so only
   their size and shape matter here; the metrics reached are those of this procedural task, not the papers';
3. stage them with the models' front ends into device-resident feature sets (the feature cache's
   :class:`~sedkit.baselines.data.features.FeatureSet`), timed;
4. train the paper-scale WAA classifier on 1 s and on 10 s segments, and the paper-scale CRNN baseline (DCASE
   reference, supervised), for a fixed number of epochs with bf16 autocast, through the one
   :class:`~sedkit.baselines.trainer.Trainer`;
5. time training steps of the paper-size Kumar & Raj (wler) and Deshmukh et al. (gap) networks on random stages;
6. report epochs/s, clips/s, loader batches/s beside model steps/s, peak GPU memory, the metrics reached, and an
   estimate of the time all five suites take at paper scale (every model, seed and epoch their specs plan, at the
   measured rates of its model family).

The JSON goes to ``--out``, else to ``$OUT/gpu_check.json`` when ``$OUT`` is set; it is also printed.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import tempfile
import time
from pathlib import Path

import torch

N_CLASSES = 10
PAPER = {"waa": {"train": 2700, "validation": 300, "eval": 750},
         "desed": {"synthetic": 10000, "weak": 1578, "unlabel": 14412, "validation": 1168}}
TINY = {"waa": {"train": 12, "validation": 6, "eval": 6},
        "desed": {"synthetic": 8, "weak": 4, "unlabel": 4, "validation": 4}}


def procedural(n: int, seconds: float, sr: int, gen: torch.Generator, device) -> tuple[torch.Tensor, list]:
    """``n`` clips ``(n, samples)`` and their events ``[[(onset, offset, class)], ...]``: noise, and 1-3 events a
    clip, class ``k`` a tone at ``180 * 1.32^k`` Hz with two harmonics and a class-specific tremolo."""
    samples = int(round(seconds * sr))
    t = torch.arange(samples, device=device) / sr
    audio = 0.02 * torch.randn(n, samples, generator=gen, device=device)
    events = [[] for _ in range(n)]
    for slot in range(3):
        present = torch.rand(n, generator=gen, device=device) < (1.0 if slot == 0 else 0.4)
        k = torch.randint(N_CLASSES, (n,), generator=gen, device=device)
        dur = seconds * (0.1 + 0.5 * torch.rand(n, generator=gen, device=device))
        on = (seconds - dur) * torch.rand(n, generator=gen, device=device)
        f0 = 180.0 * 1.32 ** k.float()
        env = ((t[None] >= on[:, None]) & (t[None] < (on + dur)[:, None]) & present[:, None]).float()
        trem = 1.0 + 0.5 * torch.sin(2 * math.pi * (2.0 + k.float())[:, None] * t[None])
        tone = sum(torch.sin(2 * math.pi * h * f0[:, None] * t[None]) / h for h in (1, 2, 3))
        audio += 0.15 * env * trem * tone
        on_c, dur_c, k_c = on.tolist(), dur.tolist(), k.tolist()  # one transfer, not one a value
        for i in torch.nonzero(present).flatten().tolist():
            events[i].append((on_c[i], on_c[i] + dur_c[i], k_c[i]))
    return audio, events


def staged(fe, n: int, seconds: float, gen, device, chunk: int = 64):
    """Procedural clips staged by ``fe``: a device-resident FeatureSet, the events, and the staging time."""
    from sedkit.baselines.data.features import FeatureSet

    parts, events = [], []
    t0 = time.perf_counter()
    with torch.no_grad():
        for start in range(0, n, chunk):
            audio, ev = procedural(min(chunk, n - start), seconds, fe.spec.sr, gen, device)
            parts.append(fe.stage(audio).permute(0, 2, 1, 3).to(getattr(torch, fe.spec.stage_dtype)))
            events += ev
    data = torch.cat(parts)  # (n, T, S, F)
    sync(device)
    secs = time.perf_counter() - t0
    t = data.shape[1]
    silence = fe.stage(torch.zeros(1, 8 * fe.spec.hop_length, device=device))[0, :, 0]
    fs = FeatureSet(data.reshape(n * t, *data.shape[2:]), [t] * n, [int(round(seconds * fe.spec.sr))] * n, silence,
                    fe.spec.hop_length)
    return fs, events, secs


def sync(device) -> None:
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize()


def weak_targets(events: list) -> torch.Tensor:
    y = torch.zeros(len(events), N_CLASSES)
    for i, evs in enumerate(events):
        for _, _, k in evs:
            y[i, k] = 1.0
    return y


class MemoryClips(torch.utils.data.Dataset):
    """Tagging batches gathered from a device-resident FeatureSet (what ClipDataset serves from the feature cache)."""

    def __init__(self, fs, targets: torch.Tensor):
        self.fs, self.targets = fs, targets

    def __len__(self) -> int:
        return len(self.fs)

    def __getitems__(self, idx):
        return {**self.fs.batch(idx), "target": self.targets[idx], "index": torch.as_tensor(idx),
                "filename": [f"clip{i}" for i in idx]}


class MemorySED:
    """SED training batches ``[S strong | W weak | U unlabelled]`` from device-resident feature sets: an epoch is
    one pass over S; W and U are drawn at random (a seeded generator), as :mod:`sedkit.baselines.data.sed` does."""

    def __init__(self, roles: dict, sizes: dict, seed: int = 0):
        self.roles, self.sizes = roles, sizes
        self.generator = torch.Generator().manual_seed(seed)
        self.steps = math.ceil(len(roles["synthetic"][0]) / sizes["synthetic"])

    def __len__(self) -> int:
        return self.steps

    def __iter__(self):
        from sedkit.baselines.data.loaders import concat_batches

        order = torch.randperm(len(self.roles["synthetic"][0]), generator=self.generator)
        for k in range(self.steps):
            parts = []
            for r, (fs, y, ft) in self.roles.items():
                s = self.sizes[r]
                idx = (order[k * s:(k + 1) * s] if r == "synthetic"
                       else torch.randint(len(fs), (s,), generator=self.generator)).tolist()
                strong, weak = r == "synthetic", r != "unlabel"
                parts.append({**fs.batch(idx), "filename": [f"{r}{i}" for i in idx], "index": torch.as_tensor(idx),
                              "target": y[idx] * weak, "frame_target": ft[idx] * strong,
                              "strong": torch.full((len(idx),), strong), "weak": torch.full((len(idx),), weak),
                              "domain": torch.full((len(idx),), float(strong)),
                              "role": torch.full((len(idx),), ("synthetic", "weak", "unlabel").index(r))})
            yield concat_batches(parts)


def _trainer(strategy, train, val, out: Path, epochs: int, device, select, amp: bool):
    from sedkit.baselines.trainer import Trainer

    tr = Trainer(strategy, train, val, out, epochs, device, amp=amp, select_metric=select, tensorboard=False)
    tr.amp = amp  # --dry-run: bf16 autocast on the CPU too, so the CPU test exercises the GPU's mixed precision
    return tr


def _rates(out: Path, clips: int, seconds: float) -> dict:
    import csv

    with open(out / "log.csv", newline="") as f:
        rows = [{k: float(v) for k, v in r.items() if v not in ("", None)} for r in csv.DictReader(f)]
    timed = rows[1:] or rows
    epoch_s = sum(r["time_s"] for r in timed) / len(timed)
    batches = sum(r["batches"] for r in timed) / len(timed)
    return {"epochs_run": len(rows), "epoch_s": epoch_s, "epochs_per_s": 1 / epoch_s, "clips_per_s": clips / epoch_s,
            "audio_s_per_s": clips * seconds / epoch_s,
            "loader_batches_per_s": batches / max(sum(r["load_s"] for r in timed) / len(timed), 1e-9),
            "steps_per_s": batches / max(sum(r["step_s"] for r in timed) / len(timed), 1e-9)}


def waa_classifier(seconds: float, sizes: dict, epochs: int, device, work: Path, amp: bool, gen) -> dict:
    from sedkit.baselines.api import model_config
    from sedkit.baselines.data.loaders import make_loader
    from sedkit.baselines.evaluation import predictions
    from sedkit.baselines.evaluation.tagging import f1_select, tagging_metrics
    from sedkit.baselines.models.embedding import Classifier, EmbeddingCNN, TurpaultModel, TurpaultSpec
    from sedkit.baselines.models.frontends import build_frontend
    from sedkit.baselines.strategies.tagging import BCEStrategy

    spec = TurpaultSpec.model_validate(model_config("classifier"))
    fe = build_frontend(spec.frontend).to(device)
    segs = max(1, int(round(10.0 / seconds)))  # the same audio as 1 s segments: ten times the clips
    sets, stage_s = {}, 0.0
    for split, n in sizes.items():
        fs, ev, secs = staged(fe, n * segs, seconds, gen, device)
        sets[split] = MemoryClips(fs, weak_targets(ev))
        stage_s += secs
    embed = EmbeddingCNN(spec.net, fe.channels)
    model = TurpaultModel(fe, embed, Classifier(embed.dim, spec.net.hidden, N_CLASSES), spec.net.window_s)
    strategy = BCEStrategy(model)
    strategy.build(spec.train, N_CLASSES, device)
    batch = spec.data.batch_size
    fe.fit_stats(((b["stage"], b["n_samples"]) for b in make_loader(sets["train"], 256, False)), device)
    out = work / f"waa-{seconds:g}s"
    tr = _trainer(strategy, make_loader(sets["train"], batch, True, 0), make_loader(sets["validation"], 256, False),
                  out, epochs, device, f1_select, amp)
    if torch.device(device).type == "cuda":
        torch.cuda.reset_peak_memory_stats()
    tr.fit()
    tr.load_best()
    ev_loader = make_loader(sets["eval"], 256, False)
    pred = predictions.collect(strategy, ev_loader, device)
    m = tagging_metrics(sets["eval"].targets.numpy()[pred["index"]], pred["clip"], [str(k) for k in range(N_CLASSES)])
    return {"train_clips": len(sets["train"]), "clip_s": seconds, "batch": batch, "staging_s": stage_s,
            **_rates(out, len(sets["train"]), seconds), "peak_gpu_mb": _peak(device),
            "eval": {k: m[k] for k in ("f1_macro", "map")}}


def crnn(sizes: dict, epochs: int, device, work: Path, amp: bool, gen, tiny: bool) -> dict:
    from sedkit.baselines.api import model_config
    from sedkit.baselines.models.frontends import build_frontend
    from sedkit.baselines.models.sed import SEDModelSpec
    from sedkit.baselines.strategies.sed import CRNNStrategy
    from sedkit.specs import deep_merge
    from sedkit.synth.contract import frame_targets

    over = {"data": {"batch": {"synthetic": 2, "weak": 2, "unlabel": 2}}} if tiny else {}
    spec = SEDModelSpec.model_validate(deep_merge(model_config("crnn"), over))
    strategy = CRNNStrategy(spec)
    fe_probe = build_frontend(spec.frontend).to(device)  # stages only (the strategy builds its own front end)
    seconds = spec.data.clip_seconds
    pool = spec.net.time_pool
    n_out = (1 + int(seconds * spec.frontend.sr) // spec.frontend.hop_length) // pool
    hop_out = spec.frontend.hop_length * pool / spec.frontend.sr
    labels = [str(k) for k in range(N_CLASSES)]
    roles, stage_s = {}, 0.0
    for r, n in sizes.items():
        fs, ev, secs = staged(fe_probe, n, seconds, gen, device)
        stage_s += secs
        ft = torch.stack([torch.from_numpy(frame_targets([(a, b, str(k)) for a, b, k in e], labels, n_out, hop_out))
                          for e in ev])
        roles[r] = (fs, weak_targets(ev), ft)
    val = roles.pop("validation")
    loader = MemorySED(roles, spec.data.batch.model_dump())
    strategy.build(spec.train, N_CLASSES, device, len(loader))
    strategy.frame_hop_s = hop_out

    def frame_f1(strat, _loader) -> float:
        fs, _, ft = val
        tp = fp = fn = 0.0
        strat.eval()
        with torch.no_grad():
            for start in range(0, len(fs), 64):
                idx = list(range(start, min(start + 64, len(fs))))
                b = fs.batch(idx)
                p = strat.predict({"stage": b["stage"].to(device), "n_samples": b["n_samples"]})["frame"].float().cpu()
                y = ft[idx][:, :p.shape[1]]
                d = (p >= 0.5).float()
                tp, fp, fn = tp + float((d * y).sum()), fp + float((d * (1 - y)).sum()), fn + float(((1 - d) * y).sum())
        return 2 * tp / max(2 * tp + fp + fn, 1e-9)

    out = work / "crnn"
    tr = _trainer(strategy, loader, [None], out, epochs, device, frame_f1, amp)
    if torch.device(device).type == "cuda":
        torch.cuda.reset_peak_memory_stats()
    tr.fit()
    tr.load_best()
    clips = len(loader) * sum(spec.data.batch.model_dump().values())
    return {"train_clips": clips, "clip_s": seconds, "batch": spec.data.batch.model_dump(), "staging_s": stage_s,
            **_rates(out, clips, seconds), "peak_gpu_mb": _peak(device),
            "validation": {"frame_f1": frame_f1(strategy, None)}}


def step_rate(name: str, device, amp: bool, tiny: bool) -> dict:
    """Training steps per second of a paper-size tagging network on random stages of its front end."""
    from sedkit.baselines.api import model_config
    from sedkit.baselines.models.frontends import build_frontend
    from sedkit.baselines.strategies.tagging import BCEStrategy

    cfg = model_config(name)
    if name == "wler":
        from sedkit.baselines.models.multiscale import KumarModel, KumarNet, KumarSpec

        spec = KumarSpec.model_validate(cfg)
        fe = build_frontend(spec.frontend)
        model = KumarModel(fe, KumarNet(spec.net, spec.frontend.n_mels, N_CLASSES, fully_conv=True), spec.slat_train_hop)
        strategy, seconds = BCEStrategy(model), 4.0  # UrbanSound8K clips are at most 4 s
    else:
        from sedkit.baselines.models.attention import DeshmukhModel, DeshmukhSpec

        spec = DeshmukhSpec.model_validate(cfg)
        fe = build_frontend(spec.frontend)
        model = DeshmukhModel(fe, spec, N_CLASSES)
        strategy, seconds = BCEStrategy(model), spec.data.clip_seconds
    if tiny:
        seconds = 1.0
    strategy.build(spec.train, N_CLASSES, device)
    b = 2 if tiny else spec.data.batch_size
    n = int(seconds * spec.frontend.sr)
    stage = torch.randn(b, fe.n_scales, fe.n_frames(n), spec.frontend.n_mels, device=device) * 10 - 40
    batch = {"stage": stage, "n_samples": torch.full((b,), n, device=device),
             "target": (torch.rand(b, N_CLASSES) < 0.2).float().to(device)}
    ctx = torch.autocast(torch.device(device).type, dtype=torch.bfloat16) if amp else torch.autocast("cpu", enabled=False)
    strategy.train()
    steps = 2 if tiny else 20
    with ctx:
        strategy.train_step(batch, 0)
        sync(device)
        t0 = time.perf_counter()
        for k in range(steps):
            strategy.train_step(batch, k)
        sync(device)
    secs = (time.perf_counter() - t0) / steps
    return {"batch": b, "clip_s": seconds, "steps_per_s": 1 / secs, "audio_s_per_s": b * seconds / secs}


def _peak(device) -> float | None:
    return torch.cuda.max_memory_allocated() / 2 ** 20 if torch.device(device).type == "cuda" else None


FAMILY = {"sedkit.baselines.models.embedding": "waa", "sedkit.baselines.models.sed": "crnn",
          "sedkit.baselines.models.multiscale": "wler", "sedkit.baselines.models.attention": "gap"}


def paper_estimate(rates: dict) -> dict:
    """Hours the trainings of the five suites take at paper scale: every job the runner plans (models x training
    sets x seeds), its epochs x the audio seconds an epoch goes through (the dataset's paper-scale counts), over the
    audio-seconds-per-second rate measured for its model family. Evaluation time is not included."""
    from sedkit.baselines.registry import MODELS
    from sedkit.benchmarks.cache import Cache
    from sedkit.benchmarks.runner import model_key, plan_suite, resolve_dataset
    from sedkit.benchmarks.suites import load_suite
    from sedkit.benchmarks.suites.spec import suite_names

    out, cache = {}, Cache(Path(tempfile.mkdtemp(prefix="sedkit-gpu-check-plan-")))
    for name in suite_names():
        _, suite = load_suite(name)
        datasets = {d: resolve_dataset(d, e, "paper", cache, None) for d, e in suite.datasets.items()}
        by_hash = {ds.hash: ds for ds in datasets.values()}
        plan = plan_suite(name, suite, "paper", list(range(suite.seeds)), cache, "cuda", 1, datasets)
        hours = 0.0
        for job in plan.jobs.values():
            cfg = model_key(job["model"], job["overrides"])["config"]
            ds_hash, sub = job["key"]["data"]
            counts = paper_counts(suite.datasets[by_hash[ds_hash].name])
            d = cfg.get("data") or {}
            clip_s = _clip_seconds(sub, d)
            if "train_split" in d:  # tagging: the training split once an epoch
                n = _count(counts, d["train_split"]) * (max(1, round(10.0 / clip_s)) if sub else 1)
            else:  # SED: one pass over the strong split, with the weak and unlabelled clips of its batches
                batch = d.get("batch") or {}
                n = math.ceil(_count(counts, d.get("synthetic", "synthetic")) / max(batch.get("synthetic", 1), 1)) \
                    * sum(batch.values())
            epochs = (cfg.get("train") or {}).get("epochs", 1) + (cfg.get("embedding_train") or {}).get("epochs", 0)
            rate = rates.get(FAMILY.get(MODELS[job["model"]].split(":")[0]))
            hours += epochs * n * clip_s / rate / 3600 if rate else 0.0
        out[name] = hours
    out["total"] = sum(out.values())
    return out


def paper_counts(entry) -> dict:
    """Clips per split of a suite dataset at paper scale, from the generator's YAML and the suite's overrides (read,
    not validated: the GPU machine lacks the generators' dependencies)."""
    from sedkit.specs import builtin_spec_path, deep_merge, read_yaml
    from sedkit.synth.registry import GENERATORS

    if entry.generator is None:
        return {}
    gen = GENERATORS[entry.generator]
    raw = deep_merge(read_yaml(builtin_spec_path(gen.builtin_spec)), gen.fixed, entry.spec, entry.paper)
    return raw.get("counts") or {}


def _count(counts: dict, split: str) -> int:
    n = counts.get(split, 0)
    return sum(n.values()) if isinstance(n, dict) else int(n)


def _clip_seconds(sub: str, data: dict) -> float:
    if sub.startswith("segments/"):
        word = sub.split("/")[1]
        return float(word[:-2]) / 1000 if word.endswith("ms") else float(word[:-1])
    return float(data.get("clip_seconds") or 10.0)


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dry-run", action="store_true", help="the same steps at tiny sizes on the CPU")
    ap.add_argument("--epochs-waa", type=int, default=2)
    ap.add_argument("--epochs-crnn", type=int, default=1)
    ap.add_argument("--out", default=None, help="JSON file (default: $OUT/gpu_check.json when $OUT is set)")
    a = ap.parse_args(argv)
    from sedkit.baselines.trainer import seed_everything

    t_start = time.perf_counter()
    device = torch.device("cpu" if a.dry_run or not torch.cuda.is_available() else "cuda")
    tiny = a.dry_run
    info = {"device": torch.cuda.get_device_name(0) if device.type == "cuda" else "cpu (dry run)" if tiny else "cpu",
            "torch": torch.__version__, "dry_run": tiny}
    if device.type == "cuda":
        info["gpu_memory_gb"] = torch.cuda.get_device_properties(0).total_memory / 2 ** 30
    print(f"gpu_check on {info['device']} (torch {info['torch']}){' -- dry run, tiny sizes' if tiny else ''}")
    sizes = TINY if tiny else PAPER
    gen = torch.Generator(device=device).manual_seed(0)
    seed_everything(0)
    work = Path(tempfile.mkdtemp(prefix="sedkit-gpu-check-"))
    res = {"info": info}
    for secs in (1.0, 10.0):
        r = waa_classifier(secs, sizes["waa"], 1 if tiny else a.epochs_waa, device, work, True, gen)
        res[f"waa_classifier_{secs:g}s"] = r
        print(f"WAA classifier, {secs:g} s segments: {r['epochs_per_s']:.3f} epochs/s, {r['clips_per_s']:.0f} clips/s,"
              f" loader {r['loader_batches_per_s']:.0f} batches/s vs steps {r['steps_per_s']:.1f}/s, eval F1 "
              f"{r['eval']['f1_macro']:.3f}, peak {r['peak_gpu_mb'] or 0:.0f} MB")
    r = crnn(sizes["desed"], 1 if tiny else a.epochs_crnn, device, work, True, gen, tiny)
    res["crnn"] = r
    print(f"CRNN baseline: {r['epochs_per_s']:.4f} epochs/s, {r['clips_per_s']:.0f} clips/s, loader "
          f"{r['loader_batches_per_s']:.0f} batches/s vs steps {r['steps_per_s']:.1f}/s, validation frame F1 "
          f"{r['validation']['frame_f1']:.3f}, peak {r['peak_gpu_mb'] or 0:.0f} MB")
    for name in ("wler", "gap"):
        res[f"steps_{name}"] = step_rate(name, device, True, tiny)
        print(f"{name} (paper size, random stages): {res[f'steps_{name}']['steps_per_s']:.1f} steps/s")
    rates = {"waa": res["waa_classifier_10s"]["audio_s_per_s"], "crnn": res["crnn"]["audio_s_per_s"],
             "wler": res["steps_wler"]["audio_s_per_s"], "gap": res["steps_gap"]["audio_s_per_s"]}
    res["paper_scale_hours"] = paper_estimate(rates)
    print("estimated training time of the five suites at paper scale (h): "
          + ", ".join(f"{k} {v:.1f}" for k, v in res["paper_scale_hours"].items()))
    res["wall_s"] = time.perf_counter() - t_start
    out = a.out or (os.path.join(os.environ["OUT"], "gpu_check.json") if os.environ.get("OUT") else None)
    text = json.dumps(res, indent=1, default=float)
    if out:
        Path(out).parent.mkdir(parents=True, exist_ok=True)
        Path(out).write_text(text)
    print(text)
    return res


if __name__ == "__main__":
    main()
