"""``sedkit eval compare A B``: is system B better than system A on the same clips, by more than chance?

A system is one of:

- a **run folder** (``run.json``): evaluated on ``--data``/``--split`` once, into
  ``<run>/evaluations/<split>-<postprocess>-<key>/`` (predictions and ``metrics.json``; the key hashes the data dir,
  its manifest, the split, the post-processing and the checkpoint; a later compare reuses it);
- a **folder of runs** (sub-folders with ``run.json``, e.g. one per seed): every run is one seed;
- a **score folder** in sedkit's prediction format (``clip_scores.tsv`` for tagging, ``frame_scores/`` for SED).

Both systems are scored on the clips of the split; the paired hierarchical bootstrap of
:mod:`~sedkit.baselines.evaluation.bootstrap` gives each system's value and interval and the difference B - A with
its interval and p-values.
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

from sedkit import SedkitError
from sedkit.baselines.evaluation.bootstrap import CONFIDENCE, PSDS_RESAMPLES, RESAMPLES, System, compare
from sedkit.baselines.evaluation.clipdata import clip_data, metric_family


def _sha(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def evaluation_dir(run: Path, data: Path, split: str, postprocess: str, checkpoint: str) -> Path:
    """The folder holding ``run``'s predictions of ``split`` of ``data`` (keyed by everything that made them)."""
    manifest = data / "manifest.json"
    ck = run / f"{checkpoint}.pt"
    key = {"data": str(data.resolve()), "manifest": _sha(manifest) if manifest.is_file() else None, "split": split,
           "postprocess": postprocess, "checkpoint": _sha(ck) if ck.is_file() else checkpoint}
    digest = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:12]
    return run / "evaluations" / f"{split}-{postprocess}-{digest}"


def run_predictions(run: Path, data: Path, split: str, postprocess: str, checkpoint: str, device: str,
                    echo) -> Path:
    """``predictions/<split>/`` of ``run`` on ``data``, evaluating once when they are not there yet."""
    from sedkit.baselines import api
    from sedkit.synth.io import atomic_write_json

    folder = evaluation_dir(run, data, split, postprocess, checkpoint)
    done = folder / "done.json"
    if not done.is_file():
        echo(f"evaluating {run} on {split} of {data} ...")
        metrics = api.evaluate(run, data, split, postprocess=postprocess, checkpoint=checkpoint, device=device,
                               out=folder)
        atomic_write_json(folder / "metrics.json", metrics)
        atomic_write_json(done, {"data": str(data), "split": split, "postprocess": postprocess})
    return folder / "predictions" / split


def system_folders(path: Path) -> tuple[str, list[Path]]:
    """``("runs" | "scores", folders)`` for a system argument; a one-line error for anything else."""
    if not path.is_dir():
        raise SedkitError(f"{path}: not a folder (expected a run, a folder of runs or a score folder)")
    if (path / "run.json").is_file():
        return "runs", [path]
    if (path / "clip_scores.tsv").is_file() or (path / "frame_scores").is_dir():
        return "scores", [path]
    runs = sorted(p for p in path.iterdir() if (p / "run.json").is_file())
    if runs:
        return "runs", runs
    raise SedkitError(f"{path}: no run.json, no clip_scores.tsv or frame_scores/, and no run folders inside")


def load_system(path: str | Path, data: Path, split: str, metric: str, postprocess: str, checkpoint: str = "best",
                device: str = "cpu", echo=lambda s: None) -> System:
    path = Path(path)
    kind, folders = system_folders(path)
    seeds = []
    for f in folders:
        if kind == "runs":
            pred = run_predictions(f, data, split, postprocess, checkpoint, device, echo)
            config = _config(f)
        else:
            pred, config = f, {}
        seeds.append(clip_data(pred, data, split, metric, postprocess, config))
    return System(str(path), seeds)


def _config(run: Path) -> dict:
    import yaml

    p = run / "config.yaml"
    return (yaml.safe_load(p.read_text()) or {}) if p.is_file() else {}


def compare_systems(a: str | Path, b: str | Path, data: str | Path, split: str = "eval", metric: str = "f1_macro",
                    postprocess: str = "none", resamples: int | None = None, confidence: float = CONFIDENCE,
                    seed: int = 0, checkpoint: str = "best", device: str = "cpu", echo=lambda s: None) -> dict:
    """The comparison of B against A (see the module docstring); a JSON-able dict."""
    data = Path(data)
    if not data.is_dir():
        raise SedkitError(f"{data}: no such data dir")
    if not 0.5 <= confidence < 1:
        raise SedkitError(f"--confidence must be in [0.5, 1), got {confidence}")
    metric_family(metric)
    slow = metric in ("psds1", "psds2")
    resamples = resamples or (PSDS_RESAMPLES if slow else RESAMPLES)
    if resamples < 10:
        raise SedkitError(f"--resamples must be at least 10, got {resamples}")
    sa = load_system(a, data, split, metric, postprocess, checkpoint, device, echo)
    sb = load_system(b, data, split, metric, postprocess, checkpoint, device, echo)
    res = compare(sa, sb, resamples, confidence, seed)
    return {"metric": metric, "data": str(data), "split": split, "postprocess": postprocess, "a": str(a),
            "b": str(b), **res}


def format_comparison(res: dict) -> str:
    """The comparison as a few lines of text."""
    a, b = res["systems"][res["a"]], res["systems"][res["b"]]
    d = res["difference"]
    pct = int(round(res["confidence"] * 100))
    lines = [f"{res['metric']} on split {res['split']} of {res['data']} (post-processing {res['postprocess']}): "
             f"{res['n_clips']} clips, {res['resamples']} paired bootstrap resamples (clips drawn once for both "
             "systems; seeds resampled within each), "
             f"{pct}% intervals"]
    for tag, name, s in (("A", res["a"], a), ("B", res["b"], b)):
        lines.append(f"  {tag} {name} ({s['seeds']} seed{'s' if s['seeds'] != 1 else ''}): {s['value']:.4f}  "
                     f"[{s['ci'][0]:.4f}, {s['ci'][1]:.4f}]")
    words = {"holds": "B is better than A", "reversed": "B is worse than A",
             "inconclusive": "no difference shown (the interval contains 0)",
             "degenerate": "degenerate: both systems sit at the metric's floor or ceiling"}[d["verdict"]]
    lines.append(f"  B - A: {d['value']:+.4f}  [{d['ci'][0]:+.4f}, {d['ci'][1]:+.4f}]  p(B > A) one-sided = "
                 f"{d['greater']:.4f}, two-sided p = {d['two_sided']:.4f}: {words}")
    if d["verdict"] == "inconclusive" and d["mde"] == d["mde"]:  # NaN when the resamples never differ
        lines.append(f"  this comparison could have detected a difference of about {d['mde']:.4f} "
                     f"(80% power, {pct}% two-sided)")
    return "\n".join(lines)
