"""Throughput of training: the quick WAA classifier (10 s clips) and the quick CRNN, trained from the feature cache
and from the audio (the path before the training engine: front end recomputed in every epoch), same model, same
data, same run.

    python -m sedkit.benchmarks.train_throughput [--epochs 4] [--cache DIR] [--threads N] [--device auto]
                                                 [--models classifier-10s,crnn]

The data are the bench's small-scale datasets (the waa suite's WAA set, the dcase20 suite's semi set), built from
the built-in bank into ``--cache`` (a bench cache: ``sedkit bench run --out OUT`` uses ``OUT/cache``) unless there.
The models are the suites' small-scale configs. Each is trained twice, ``data.feature_cache.enabled`` off and on,
the cache starting empty; the feature cache's one-off build is timed apart. Printed per model: epochs per second
(training + validation, from ``log.csv``), training clips per second, the loader's batches per second beside the
model's steps per second, how an epoch splits into waiting for the loader, training steps and the rest, the ratio of
epochs per second with the cache to without, and the most any loader could give over the audio path (the cached
epoch without its loader wait: the model's own work is what is left). On CUDA, with ``--augm``,
also the quick CRNN with ``data.augment`` mixing on the GPU: mixing rate (clips/s) beside the step rate.
"""
from __future__ import annotations

import argparse
import csv
import shutil
import tempfile
import time
from pathlib import Path

MODELS = {  # name -> (suite, model of the suite, dataset of the suite, data sub-dir)
    "classifier-10s": ("waa", "classifier", "waa", "segments/10s"),
    "crnn": ("dcase20", "logmel", "semi", ""),
}


def _data_dir(suite_name: str, ds_name: str, sub: str, cache_dir: Path) -> Path:
    from sedkit import SedkitError
    from sedkit.benchmarks.cache import Cache
    from sedkit.benchmarks.runner import build_dataset, resolve_dataset
    from sedkit.benchmarks.suites.spec import load_suite

    _, suite = load_suite(suite_name)
    ds = resolve_dataset(ds_name, suite.datasets[ds_name], "small", Cache(cache_dir), None)
    build_dataset(ds, workers=2)
    if ds.error:
        raise SedkitError(ds.error)
    return ds.data_dir(sub)


def _config(suite_name: str, model_name: str) -> tuple[str, dict]:
    from sedkit.benchmarks.suites.spec import load_suite

    _, suite = load_suite(suite_name)
    ref = suite.models[model_name]
    return ref.model, ref.overrides("small")


def _log(run: Path) -> list[dict]:
    with open(run / "log.csv", newline="") as f:
        return [{k: float(v) for k, v in row.items() if v not in ("", None)} for row in csv.DictReader(f)]


def train_once(model: str, cfg: dict, data: Path, out: Path, cache: bool, cache_root: Path, epochs: int,
               device: str, threads: int | None) -> dict:
    from sedkit.baselines.api import train
    from sedkit.baselines.data import features
    from sedkit.specs import deep_merge

    features.LOADED.sets.clear()  # a fresh process's view: nothing held in memory yet
    cfg = deep_merge(cfg, {"data": {"feature_cache": {"enabled": cache, "root": str(cache_root)}}})
    t0 = time.perf_counter()
    train(model, data, out, config=cfg, epochs=epochs, device=device, threads=threads)
    wall = time.perf_counter() - t0
    rows = _log(out)[1:] or _log(out)  # the first epoch warms up (allocations, first audio reads)
    epoch_s = sum(r["time_s"] for r in rows) / len(rows)
    batches = sum(r["batches"] for r in rows) / len(rows)
    load_s, step_s = (sum(r[k] for r in rows) / len(rows) for k in ("load_s", "step_s"))
    return {"wall_s": wall, "epoch_s": epoch_s, "epochs_per_s": 1.0 / epoch_s,
            "shares": {"loader": load_s / epoch_s, "steps": step_s / epoch_s, "rest": 1 - (load_s + step_s) / epoch_s},
            "loader_batches_per_s": batches / max(sum(r["load_s"] for r in rows) / len(rows), 1e-9),
            "steps_per_s": batches / max(sum(r["step_s"] for r in rows) / len(rows), 1e-9)}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--epochs", type=int, default=4)
    ap.add_argument("--cache", default=None, help="bench cache holding (or to hold) the small-scale datasets "
                                                   "(default: <sedkit cache>/bench-data)")
    ap.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    ap.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    ap.add_argument("--models", default=",".join(MODELS), help=f"comma-separated, of {', '.join(MODELS)}")
    ap.add_argument("--augm", action="store_true", help="also the CRNN with data.augment (mixing on the GPU on CUDA)")
    a = ap.parse_args(argv)
    from sedkit.baselines.data.loaders import ClipDataset  # noqa: F401  (imports torch before timing)
    from sedkit.synth.io import cache_root
    from sedkit.synth.devices import resolve_device

    dev = resolve_device(a.device)
    cache_dir = Path(a.cache) if a.cache else cache_root() / "bench-data"
    names = [n for n in a.models.split(",") if n]
    results, ratios = {}, []
    work = Path(tempfile.mkdtemp(prefix="sedkit-train-throughput-"))
    try:
        for name in names:
            suite, model_name, ds_name, sub = MODELS[name]
            data = _data_dir(suite, ds_name, sub, cache_dir)
            model, cfg = _config(suite, model_name)
            variants = [(name, cfg)]
            if a.augm and name == "crnn":
                _, aug_cfg = _config(suite, "augm")
                variants.append((f"{name}+augm", aug_cfg))
            for label, c in variants:
                fc_root = work / f"features-{label}"
                res = {}
                for cached in (False, True):
                    res[cached] = train_once(model, c, data, work / f"{label}-{cached}", cached, fc_root, a.epochs,
                                             dev.type, a.threads)
                clips = _train_clips(data, work / f"{label}-True")
                ratio = res[True]["epochs_per_s"] / res[False]["epochs_per_s"]
                ratios.append(ratio)
                results[label] = {"audio": res[False], "cache": res[True], "ratio": ratio, "train_clips": clips}
                print(f"{label} ({model}, {data.name if not sub else sub}), {a.epochs} epochs on {dev.type}, "
                      f"{clips} training clips an epoch:")
                for path, r in (("from audio (front end every epoch)", res[False]),
                                ("from the feature cache", res[True])):
                    print(f"  {path:38s} {r['epochs_per_s']:7.3f} epochs/s  {clips * r['epochs_per_s']:8.1f} "
                          f"clips/s  loader {r['loader_batches_per_s']:8.1f} batches/s vs steps "
                          f"{r['steps_per_s']:7.1f}/s  (run {r['wall_s']:.1f} s)")
                    sh = r["shares"]
                    print(f"  {'':38s} an epoch: waiting for the loader {100 * sh['loader']:4.1f} %, training steps "
                          f"{100 * sh['steps']:4.1f} %, validation and the rest {100 * sh['rest']:4.1f} %")
                print(f"  ratio (cache / audio epochs per second): {ratio:.2f}x")
                free = res[False]["epoch_s"] / (res[True]["epoch_s"] * (1 - res[True]["shares"]["loader"]))
                print(f"  bound: with a loader that took no time at all, the cached epoch would give {free:.2f}x "
                      "(what remains is the model's own work: its steps, with the front end's trainable part, "
                      "and its validation)")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    worst = min(ratios) if ratios else None
    if worst is not None:
        print(f"ratio (lowest of the models, cache / audio epochs per second): {worst:.2f}x")
    return {"ratio": worst, "models": results}


def _train_clips(data: Path, run: Path) -> int:
    """Clips one training epoch of ``run`` went through (the training split, or the SED batches' clips)."""
    import yaml

    from sedkit.baselines.data.folder import DataDir

    d = yaml.safe_load((run / "config.yaml").read_text())["data"]
    dd = DataDir(data)
    if "train_split" in d:
        return len(dd.table(d["train_split"]).filenames)
    steps = -(-len(dd.table(d["synthetic"]).filenames) // d["batch"]["synthetic"])
    return steps * sum(d["batch"].values())


if __name__ == "__main__":
    main()
