"""``sedkit train`` and ``sedkit eval``: thin click wrappers around :mod:`sedkit.baselines.api`.

Importing this module stays cheap (no torch): the API is imported when a command runs, so ``sedkit train --help``
answers at once.
"""
from __future__ import annotations

from pathlib import Path

import click
import yaml

from sedkit import SedkitError
from sedkit.baselines.registry import MODELS


def parse_sets(items: tuple[str, ...]) -> dict:
    """``--set key=value`` pairs as ``{dotted key: YAML value}``."""
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


@click.command(name="train", help="Train a baseline model on a data dir, then write predictions and metrics.json "
               "for its validation and eval splits.\n\nModels: " + ", ".join(sorted(MODELS)) +
               "\n\nExample: sedkit train classifier --data waa/segments/1s --out runs/clf --set train.epochs=5")
@click.argument("model")
@click.option("--data", "data", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="Data dir (audio/<split>/, metadata/<split>.tsv).")
@click.option("--out", "out", required=True, type=click.Path(file_okay=False, path_type=Path), help="Run folder.")
@click.option("--config", "config", type=click.Path(dir_okay=False), help="YAML merged over the model's spec.")
@click.option("--set", "sets", multiple=True, metavar="KEY=VALUE", help="Override one key, e.g. train.lr=0.01.")
@click.option("--epochs", type=int, help="Shortcut for --set train.epochs=N.")
@click.option("--device", default="auto", type=click.Choice(["auto", "cpu", "cuda"]), show_default=True)
@click.option("--seed", type=click.IntRange(min=0), help="Shortcut for --set train.seed=S.")
@click.option("--resume", is_flag=True, help="Continue from <out>/last.pt with the saved config.")
@click.option("--threads", type=click.IntRange(min=1), help="CPU threads for torch (default: torch's choice).")
def train_cmd(model, data, out, config, sets, epochs, device, seed, resume, threads):
    from sedkit.baselines import api

    api.train(model, data, out, config=config, overrides=parse_sets(sets), epochs=epochs, seed=seed, device=device,
              resume=resume, threads=threads, echo=click.echo)


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
    from sedkit.baselines import api

    api.evaluate(run, data, split, postprocess=postprocess, checkpoint=checkpoint, device=device, threads=threads,
                 echo=click.echo)


@click.command(name="compare", help="Is system B better than system A on the same clips? A paired bootstrap: every "
               "resample draws the clips once for both systems; runs of several seeds (a folder of runs) are "
               "resampled too. Prints each system's metric with its interval, and B - A with its interval and "
               "p-values. A and B: a run folder (evaluated once on --data, kept in <run>/evaluations/), a folder "
               "of runs (one per seed) or a score folder (clip_scores.tsv or frame_scores/).\n\n"
               "Example: sedkit eval compare runs/clf_1s runs/clf_10s --data waa/segments/10s --metric f1_macro")
@click.argument("a", type=click.Path(file_okay=False, path_type=Path))
@click.argument("b", type=click.Path(file_okay=False, path_type=Path))
@click.option("--data", "data", required=True, type=click.Path(file_okay=False, path_type=Path))
@click.option("--split", default="eval", show_default=True)
@click.option("--metric", default="f1_macro", show_default=True,
              help="As in metrics.json: f1_macro, f1_micro, map, micro_p, auc, event_f1, segment_f1, psds1, psds2, "
                   "per_class.<class>.ap ...")
@click.option("--postprocess", default="none", type=click.Choice(["none", "median", "hmm"]), show_default=True)
@click.option("--resamples", type=click.IntRange(min=10), help="Bootstrap resamples (default 1000; 100 for PSDS).")
@click.option("--confidence", default=0.95, show_default=True, type=float)
@click.option("--seed", default=0, show_default=True, type=click.IntRange(min=0), help="Seed of the resampling.")
@click.option("--device", default="auto", type=click.Choice(["auto", "cpu", "cuda"]), show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
def compare_cmd(a, b, data, split, metric, postprocess, resamples, confidence, seed, device, as_json):
    import json

    from sedkit.baselines import api
    from sedkit.baselines.evaluation.compare import format_comparison

    res = api.compare(a, b, data, split, metric=metric, postprocess=postprocess, resamples=resamples,
                      confidence=confidence, seed=seed, device=device, echo=lambda s: click.echo(s, err=True))
    click.echo(json.dumps(api.json_safe(res), indent=1) if as_json else format_comparison(res))

