"""The Python API of the baselines: train a model on a dataset folder, evaluate a run, load a trained run.

``sedkit train`` / ``sedkit eval`` and the benchmark executors call these functions; nothing imports a click
command. Example::

    from sedkit.baselines.api import train, evaluate
    metrics = train("classifier", data="waa/segments/1s", out="runs/clf", overrides={"train.epochs": 5})
    evaluate("runs/clf", data="waa/segments/10s", split="eval")

A run folder (``out``) holds: ``config.yaml`` (the resolved config), ``run.json`` (model, data dir, classes,
config hash), ``log.csv``, ``tensorboard/``, ``last.pt``, ``best.pt``, ``predictions/<split>/`` (see
:mod:`sedkit.baselines.evaluation.predictions`), ``metrics.json`` (``{split: metrics}``; :func:`evaluate` adds
``<split>`` or ``<split>+<postprocess>`` keys) and, for two-stage models, one sub-folder per earlier stage.
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Literal

import yaml

from sedkit import SedkitError, __version__, first_line
from sedkit.baselines import registry
from sedkit.baselines.registry import ModelEntry
from sedkit.baselines.trainer import Trainer, load_checkpoint, seed_everything, torch_threads
from sedkit.synth.devices import resolve_device
from sedkit.specs import builtin_spec_path, deep_merge, read_yaml, set_dotted, spec_hash
from sedkit.synth.io import atomic_write_json, atomic_write_text, json_safe

Device = Literal["auto", "cpu", "cuda"]
PostProcess = Literal["none", "median", "hmm"]
Echo = Callable[[str], None]


def _quiet(_: str) -> None:
    pass


def model_config(model: str, config: str | Path | dict | None = None, overrides: dict | None = None) -> dict:
    """The config a run of ``model`` trains with: ``specs/models/<model>.yaml``, merged with ``config`` (a YAML
    file or a dict), then ``overrides`` (dotted keys, e.g. ``{"train.lr": 0.01}``)."""
    registry.builder(model)  # unknown model -> one-line error listing the models
    cfg = read_yaml(builtin_spec_path(f"models/{model}"))
    if config is not None:
        cfg = deep_merge(cfg, config if isinstance(config, dict) else read_yaml(config))
    for k, v in (overrides or {}).items():
        set_dotted(cfg, k, v)
    return cfg


def summary_line(metrics: dict) -> str:
    """The headline metrics of one evaluation, for a log line."""
    keys = ("f1_macro", "map", "micro_p", "auc", "psds1", "psds2", "event_f1")
    parts = [f"{k}={metrics[k]:.4f}" for k in keys if isinstance(metrics.get(k), float) and math.isfinite(metrics[k])]
    return " ".join(parts) or "(no summary metrics)"


def _update_metrics(run: Path, key: str, metrics: dict) -> None:
    path = run / "metrics.json"
    old = json.loads(path.read_text()) if path.exists() else {}
    old[key] = json_safe(metrics)
    atomic_write_json(path, old)


def _evaluate_split(entry: ModelEntry, data: Path, split: str, out: Path, postprocess: str = "none") -> dict:
    fn = registry.import_target(entry.evaluate)
    return fn(entry, data, split, out, postprocess)


def _run_stages(entry: ModelEntry, run: Path, device, resume: bool) -> None:
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


def _read_run_json(run: Path) -> dict:
    """``run.json`` of a run folder; a one-line error when it is missing, not JSON, or not a run record."""
    p = run / "run.json"
    try:
        info = json.loads(p.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise SedkitError(f"{p}: missing (not a run folder; train one with sedkit train)") from None
    except (OSError, ValueError) as e:
        raise SedkitError(f"{p}: not a readable run record ({first_line(e)})") from None
    missing = [k for k in ("model", "data", "classes") if not isinstance(info, dict) or k not in info]
    if missing:
        raise SedkitError(f"{p}: not a sedkit run record (no {', '.join(missing)}); it may be damaged: train again")
    return info


def train(model: str, data: str | Path, out: str | Path, *, config: str | Path | dict | None = None,
          overrides: dict | None = None, epochs: int | None = None, seed: int | None = None,
          device: Device = "auto", resume: bool = False, threads: int | None = None,
          echo: Echo = _quiet) -> dict[str, dict]:
    """Train ``model`` (a name of :data:`sedkit.baselines.registry.MODELS`) on the dataset folder ``data`` into
    the run folder ``out``, then evaluate its validation and eval splits.

    ``config`` (YAML file or dict) is merged over the model's spec, then ``overrides`` (dotted keys), ``epochs``
    and ``seed``. With ``resume=True`` an existing run continues from ``last.pt`` with its saved config (only
    ``epochs`` may change). ``threads`` sets torch's CPU threads for the call. ``echo`` receives one line per
    evaluated split. Returns ``{split: metrics}``, as written to ``<out>/metrics.json``.
    """
    data, out = Path(data), Path(out)
    with torch_threads(threads):
        dev = resolve_device(device)
        saved = out / "config.yaml"
        if resume and saved.exists():
            info = _read_run_json(out)
            if info["model"] != model:
                raise SedkitError(f"{out}: this run trained {info['model']!r}, not {model!r}")
            if config is not None or overrides or seed is not None:
                raise SedkitError("--resume continues with the saved config; --config/--set/--seed cannot change "
                                  "it (only --epochs may)")
            cfg = read_yaml(saved)
            if epochs is not None:
                cfg.setdefault("train", {})["epochs"] = epochs
        else:
            extra = dict(overrides or {})
            if epochs is not None:
                extra["train.epochs"] = epochs
            if seed is not None:
                extra["train.seed"] = seed
            cfg = model_config(model, config, extra)
        train_seed = int(cfg.get("train", {}).get("seed", 0)) if isinstance(cfg.get("train"), dict) else 0
        seed_everything(train_seed)
        entry = registry.build(model, cfg, data, dev, training=True)  # validates the config and the data first
        out.mkdir(parents=True, exist_ok=True)
        atomic_write_text(saved, yaml.safe_dump(entry.config, sort_keys=False))
        atomic_write_json(out / "run.json", {"model": model, "data": str(data.resolve()), "classes": entry.classes,
                                              "task": entry.task, "config_sha256": spec_hash(entry.config),
                                              "sedkit": __version__, "device": str(dev)})
        _run_stages(entry, out, dev, resume)
        tr = Trainer(entry.strategy, entry.train_loader, entry.val_loader, out, entry.epochs, dev, entry.amp,
                     entry.seed, entry.select_metric, entry.patience, resume=resume, lr_schedule=entry.lr_schedule)
        summary = tr.fit()
        tr.load_best()
        if entry.decide:
            registry.import_target(entry.decide)(entry, data, out)
        results = {}
        for split in [entry.val_split, *entry.eval_splits]:
            m = _evaluate_split(entry, data, split, out)
            _update_metrics(out, split, m)
            results[split] = json_safe(m)
            echo(f"{model} {split}: {summary_line(m)}")
        echo(f"best epoch {summary['best_epoch'] + 1} of {summary['epochs_run']}; run folder {out}")
        return results


@dataclass
class LoadedRun:
    """A trained run rebuilt for a dataset folder: its model entry (strategy with the checkpoint's weights)."""

    run: Path
    info: dict  # run.json
    entry: ModelEntry
    device: object


def load_run(run: str | Path, data: str | Path, *, checkpoint: Literal["best", "last"] = "best",
             device: Device = "auto") -> LoadedRun:
    """Rebuild the model of the run folder ``run`` for the dataset folder ``data`` (whose classes must be the
    run's) and load the weights of ``<run>/<checkpoint>.pt``."""
    run, data = Path(run), Path(data)
    if not (run / "config.yaml").exists() or not (run / "run.json").exists():
        raise SedkitError(f"{run}: not a run folder (no config.yaml / run.json; train one with sedkit train) "
                          f"nor a score folder (no clip_scores.tsv)")
    info = _read_run_json(run)
    dev = resolve_device(device)
    entry = registry.build(info["model"], read_yaml(run / "config.yaml"), data, dev, training=False)
    if entry.classes != info["classes"]:
        raise SedkitError(f"{data}: classes {entry.classes} differ from the ones the run was trained on "
                          f"{info['classes']}")
    ck = load_checkpoint(run / f"{checkpoint}.pt", map_location=dev)
    entry.strategy.load_state_dict(ck["strategy"], optimizers=False)
    decision = run / "decision.json"  # what the training decided on its validation split (a threshold)
    if entry.decide and decision.is_file():
        entry.options["threshold"] = float(json.loads(decision.read_text())["threshold"])
    return LoadedRun(run, info, entry, dev)


def evaluate(run: str | Path, data: str | Path, split: str = "eval", *, postprocess: PostProcess = "none",
             checkpoint: Literal["best", "last"] = "best", device: Device = "auto", threads: int | None = None,
             out: str | Path | None = None, echo: Echo = _quiet) -> dict:
    """Evaluate the run folder ``run`` on ``split`` of the dataset folder ``data``; returns the metrics.

    Predictions go to ``<out or run>/predictions/<split>/``. Without ``out`` the metrics are also added to
    ``<run>/metrics.json`` (key ``split`` or ``split+postprocess``). ``run`` may instead be a score folder holding
    ``clip_scores.tsv``: tagging metrics of its scores against the labels of ``split``, written to
    ``<run>/tagging_metrics.json``.
    """
    run, data = Path(run), Path(data)
    if (run / "clip_scores.tsv").exists() and not (run / "run.json").exists():
        return _evaluate_scores(run, data, split, echo)
    with torch_threads(threads):
        loaded = load_run(run, data, checkpoint=checkpoint, device=device)
        m = _evaluate_split(loaded.entry, data, split, Path(out) if out is not None else run, postprocess)
    if out is None:
        _update_metrics(run, split if postprocess == "none" else f"{split}+{postprocess}", m)
    echo(f"{loaded.info['model']} {split}: {summary_line(m)}")
    return json_safe(m)


def _evaluate_scores(folder: Path, data: Path, split: str, echo: Echo) -> dict:
    from sedkit.baselines.data.folder import DataDir
    from sedkit.baselines.evaluation.predictions import read_clip_scores
    from sedkit.baselines.evaluation.tagging import read_threshold, tagging_metrics

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
    m = json_safe(tagging_metrics(y, scores[keep], dd.classes, read_threshold(folder)))
    atomic_write_json(folder / "tagging_metrics.json", m)
    echo(f"{folder} {split}: {summary_line(m)}")
    return m


def compare(a: str | Path, b: str | Path, data: str | Path, split: str = "eval", *, metric: str = "f1_macro",
            postprocess: PostProcess = "none", resamples: int | None = None, confidence: float = 0.95,
            seed: int = 0, checkpoint: Literal["best", "last"] = "best", device: Device = "auto",
            echo: Echo = _quiet) -> dict:
    """Paired, seed-aware bootstrap comparison of system ``b`` against system ``a`` on the clips of ``split`` of
    ``data`` (each a run, a folder of runs or a score folder; see :mod:`sedkit.baselines.evaluation.compare`).
    Returns each system's ``metric`` with its interval and the difference B - A with interval and p-values."""
    from sedkit.baselines.evaluation.compare import compare_systems

    return compare_systems(a, b, data, split, metric, postprocess, resamples, confidence, seed, checkpoint,
                           resolve_device(device).type, echo)

