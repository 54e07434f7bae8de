"""``sedkit train`` and ``sedkit eval``.

A run folder (``--out``) holds: ``config.yaml`` (the resolved config), ``run.json`` (model, data dir, classes,
config hash), ``log.csv``, ``tensorboard/``, ``last.pt``, ``best.pt``, ``predictions/<split>/`` (see
:mod:`sedkit.baselines.predictions`), ``metrics.json`` (``{split: metrics}``; ``sedkit eval`` adds
``<split>`` or ``<split>+<postprocess>`` keys) and, for two-stage models, one sub-folder per earlier stage.
"""
from __future__ import annotations

import json
import math
from pathlib import Path

import click
import yaml

from sedkit import SedkitError, __version__
from sedkit.specs import builtin_spec_path, deep_merge, read_yaml, set_dotted, spec_hash
from sedkit.synth.io import atomic_write_json, atomic_write_text
from sedkit.baselines import registry
from sedkit.baselines.trainer import Trainer, load_checkpoint, resolve_device, seed_everything, torch_threads


def parse_sets(items: tuple[str, ...]) -> dict:
    out = {}
    for item in items:
        if "=" not in item:
            raise SedkitError(f"--set {item!r}: expected key=value (e.g. --set train.lr=0.01)")
        key, val = item.split("=", 1)
        try:
            out[key.strip()] = yaml.safe_load(val)
        except yaml.YAMLError:
            raise SedkitError(f"--set {item!r}: value is not valid YAML") from None
    return out


def model_config(model: str, config: str | None, sets: tuple[str, ...], epochs: int | None,
                 seed: int | None) -> dict:
    """``specs/models/<model>.yaml`` merged with ``--config`` then ``--set`` / ``--epochs`` / ``--seed``."""
    registry.builder(model)  # unknown model -> one-line error listing the models
    cfg = read_yaml(builtin_spec_path(f"models/{model}"))
    if config:
        cfg = deep_merge(cfg, read_yaml(config))
    overrides = parse_sets(sets)
    if epochs is not None:
        overrides["train.epochs"] = epochs
    if seed is not None:
        overrides["train.seed"] = seed
    for k, v in overrides.items():
        set_dotted(cfg, k, v)
    return cfg


def json_safe(x):
    """JSON-safe metrics: NaN/inf -> None."""
    if isinstance(x, dict):
        return {k: json_safe(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [json_safe(v) for v in x]
    if isinstance(x, float) and not math.isfinite(x):
        return None
    return x


def update_metrics(run: Path, key: str, metrics: dict) -> None:
    path = run / "metrics.json"
    old = json.loads(path.read_text()) if path.exists() else {}
    old[key] = json_safe(metrics)
    atomic_write_json(path, old)


def evaluate_split(entry, data: Path, split: str, run: Path, postprocess: str = "none") -> dict:
    fn = registry.import_target(entry.evaluate)
    return fn(entry, data, split, run, postprocess)


def run_stages(entry, run: Path, device, resume: bool) -> None:
    for st in entry.pre_stages:
        folder = run / st.name
        done = folder / "done.json"
        tr = Trainer(st.strategy, st.train_loader, st.val_loader, folder, st.epochs, device, entry.amp,
                     entry.seed, st.select_metric, st.patience, resume=resume)
        if not (resume and done.exists()):
            summary = tr.fit()
            atomic_write_json(done, json_safe(summary))
        tr.load_best()
        if st.after is not None:
            st.after(st.strategy)


def summary_line(metrics: dict) -> str:
    keys = ("f1_macro", "map", "micro_p", "auc", "psds1", "psds2", "event_f1")
    parts = [f"{k}={metrics[k]:.4f}" for k in keys if isinstance(metrics.get(k), float) and math.isfinite(metrics[k])]
    return " ".join(parts) or "(no summary metrics)"


@click.command(name="train", help="Train a baseline model on a data dir, then write predictions and metrics.json "
               "for its validation and eval splits.\n\nModels: " + ", ".join(sorted(registry.MODELS)) +
               "\n\nExample: sedkit train classifier --data waa/segments/1s --out runs/clf --set train.epochs=5")
@click.argument("model")
@click.option("--data", "data", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="Data dir (audio/<split>/, metadata/<split>.tsv).")
@click.option("--out", "out", required=True, type=click.Path(file_okay=False, path_type=Path), help="Run folder.")
@click.option("--config", "config", type=click.Path(dir_okay=False), help="YAML merged over the model's spec.")
@click.option("--set", "sets", multiple=True, metavar="KEY=VALUE", help="Override one key, e.g. train.lr=0.01.")
@click.option("--epochs", type=int, help="Shortcut for --set train.epochs=N.")
@click.option("--device", default="auto", type=click.Choice(["auto", "cpu", "cuda"]), show_default=True)
@click.option("--seed", type=int, help="Shortcut for --set train.seed=S.")
@click.option("--resume", is_flag=True, help="Continue from <out>/last.pt with the saved config.")
@click.option("--threads", type=click.IntRange(min=1), help="CPU threads for torch (default: torch's choice).")
def train_cmd(model, data, out, config, sets, epochs, device, seed, resume, threads):
    with torch_threads(threads):
        train_run(model, data, out, config, sets, epochs, device, seed, resume)


def train_run(model, data, out, config, sets, epochs, device, seed, resume) -> None:
    dev = resolve_device(device)
    out.mkdir(parents=True, exist_ok=True)
    saved = out / "config.yaml"
    if resume and saved.exists():
        info = json.loads((out / "run.json").read_text())
        if info["model"] != model:
            raise SedkitError(f"{out}: this run trained {info['model']!r}, not {model!r}")
        if config or sets or seed is not None:
            raise SedkitError("--resume continues with the saved config; --config/--set/--seed cannot change it "
                              "(only --epochs may)")
        cfg = read_yaml(saved)
        if epochs is not None:
            cfg.setdefault("train", {})["epochs"] = epochs
    else:
        cfg = model_config(model, config, sets, epochs, seed)
    train_seed = int(cfg.get("train", {}).get("seed", 0)) if isinstance(cfg.get("train"), dict) else 0
    seed_everything(train_seed)
    entry = registry.build(model, cfg, data, dev, training=True)
    atomic_write_text(saved, yaml.safe_dump(entry.config, sort_keys=False))
    atomic_write_json(out / "run.json", {"model": model, "data": str(data.resolve()), "classes": entry.classes,
                                          "task": entry.task, "config_sha256": spec_hash(entry.config),
                                          "sedkit": __version__, "device": str(dev)})
    run_stages(entry, out, dev, resume)
    tr = Trainer(entry.strategy, entry.train_loader, entry.val_loader, out, entry.epochs, dev, entry.amp,
                 entry.seed, entry.select_metric, entry.patience, resume=resume)
    summary = tr.fit()
    tr.load_best()
    for split in [entry.val_split, *entry.eval_splits]:
        m = evaluate_split(entry, data, split, out)
        update_metrics(out, split, m)
        click.echo(f"{model} {split}: {summary_line(m)}")
    click.echo(f"best epoch {summary['best_epoch'] + 1} of {summary['epochs_run']}; run folder {out}")


@click.command(name="eval", help="Evaluate a trained run on a split of a data dir: writes predictions/<split>/ "
               "and adds the metrics to <run>/metrics.json. RUN may also be a score folder holding "
               "clip_scores.tsv (tagging metrics go to its tagging_metrics.json).\n\n"
               "Example: sedkit eval runs/clf --data waa/segments/1s --split eval")
@click.argument("run", type=click.Path(file_okay=False, path_type=Path))
@click.option("--data", "data", required=True, type=click.Path(file_okay=False, path_type=Path))
@click.option("--split", default="eval", show_default=True)
@click.option("--postprocess", default="none", type=click.Choice(["none", "median", "hmm"]), show_default=True,
              help="Post-processing of frame scores (SED models only; tagging models ignore it).")
@click.option("--checkpoint", default="best", type=click.Choice(["best", "last"]), show_default=True)
@click.option("--device", default="auto", type=click.Choice(["auto", "cpu", "cuda"]), show_default=True)
@click.option("--threads", type=click.IntRange(min=1), help="CPU threads for torch (default: torch's choice).")
def eval_cmd(run, data, split, postprocess, checkpoint, device, threads):
    with torch_threads(threads):
        eval_run(run, data, split, postprocess, checkpoint, device)


def eval_scores(folder: Path, data: Path, split: str) -> None:
    """A score folder (``clip_scores.tsv``, e.g. ``<run>/predictions/<split>/``): tagging metrics against the
    labels of ``split``, written to ``<folder>/tagging_metrics.json``."""
    from sedkit.baselines.data import DataDir
    from sedkit.baselines.predictions import read_clip_scores
    from sedkit.baselines.tagging import tagging_metrics

    dd = DataDir(data)
    table = dd.table(split)
    names, scores, _ = read_clip_scores(folder / "clip_scores.tsv", dd.classes)
    row = {n: i for i, n in enumerate(table.filenames)}
    missing = [n for n in table.filenames if n not in set(names)]
    if missing:
        raise SedkitError(f"{folder}/clip_scores.tsv: no scores for {len(missing)} clip(s) of split {split!r}, "
                          f"e.g. {missing[0]!r}")
    keep = [k for k, n in enumerate(names) if n in row]
    y = table.targets(dd.classes)[[row[names[k]] for k in keep]]
    m = tagging_metrics(y, scores[keep], dd.classes)
    atomic_write_json(folder / "tagging_metrics.json", json_safe(m))
    click.echo(f"{folder} {split}: {summary_line(m)}")


def eval_run(run, data, split, postprocess, checkpoint, device) -> None:
    if (run / "clip_scores.tsv").exists() and not (run / "run.json").exists():
        return eval_scores(run, data, split)
    if not (run / "config.yaml").exists() or not (run / "run.json").exists():
        raise SedkitError(f"{run}: not a run folder (no config.yaml / run.json; train one with sedkit train) "
                          f"nor a score folder (no clip_scores.tsv)")
    info = json.loads((run / "run.json").read_text())
    dev = resolve_device(device)
    entry = registry.build(info["model"], read_yaml(run / "config.yaml"), data, dev, training=False)
    if entry.classes != info["classes"]:
        raise SedkitError(f"{data}: classes {entry.classes} differ from the ones the run was trained on "
                          f"{info['classes']}")
    ck = load_checkpoint(run / f"{checkpoint}.pt", map_location=dev)
    entry.strategy.load_state_dict(ck["strategy"], optimizers=False)
    m = evaluate_split(entry, data, split, run, postprocess)
    update_metrics(run, split if postprocess == "none" else f"{split}+{postprocess}", m)
    click.echo(f"{info['model']} {split}: {summary_line(m)}")
