"""`sedkit synth preview-dynamic`: render a few dynamic mixtures to listen to and look at."""
from __future__ import annotations

from pathlib import Path

import click
import pandas as pd

from sedkit.specs import resolved, spec_hash


def write_preview(out: str | Path, n: int, spec, pool, rirs=None, seed: int = 0, device: str = "auto") -> Path:
    """Mixtures (wav), a strong TSV, durations, classes, the draws (JSON), one PNG spectrogram with labels per clip,
    a README and a manifest, under ``out`` (dataset-folder contract, split ``preview``)."""
    from sedkit.synth import audio
    from sedkit.synth.card import md_table, spectrogram_png, write_card
    from sedkit.synth.contract import write_classes, write_durations_tsv, write_strong_tsv
    from sedkit.synth.dataset import write_manifest
    from sedkit.synth.dynamic.dataset import DynamicMixDataset
    from sedkit.synth.dynamic.gpu import BatchMixer
    from sedkit.synth.io import atomic_write_json, safe_join

    out = Path(out)
    ds = DynamicMixDataset(spec, pool, rirs, seed=seed)
    mixer = BatchMixer(spec, pool.labels, rirs, device=device)
    batch = mixer([ds[i] for i in range(n)])
    events, durations, images, draws = [], {}, [], []
    for i in range(n):
        name = f"mix_{i:03d}.wav"
        x = batch.audio[i].cpu().numpy()
        audio.write(safe_join(out, f"audio/preview/{name}"), x, spec.sr)
        durations[name] = len(x) / spec.sr
        events += [{"filename": name, "onset": on, "offset": off, "event_label": lab} for on, off, lab in batch.events[i]]
        png = f"mix_{i:03d}.png"
        spectrogram_png(safe_join(out, png), x, spec.sr, batch.events[i], f"{name} (seed {seed}, item {i})")
        images.append((name, png))
        draws.append(batch.draws[i].to_dict())
    write_strong_tsv(safe_join(out, "metadata/preview.tsv"), events)
    write_durations_tsv(safe_join(out, "metadata/preview_durations.tsv"), durations)
    write_classes(safe_join(out, "metadata/classes.txt"), pool.labels)
    atomic_write_json(safe_join(out, "draws.json"), draws)
    table = pd.DataFrame(events, columns=["filename", "onset", "offset", "event_label"])
    write_card(out, "Dynamic mixing preview", [
        ("What this is", f"{n} clips drawn by `sedkit.synth.dynamic` exactly as training would draw items 0..{n - 1} "
                         f"of epoch 0; every draw (files, RIRs, effects, levels) is in `draws.json`."),
        ("Events", md_table(table))], images, spec_hash(spec), seed,
        f"sedkit synth preview-dynamic --n {n} --seed {seed} --out {out.name}")
    write_manifest(out, "preview-dynamic", resolved(spec), spec_hash(spec), seed)
    return out


@click.command("preview-dynamic", help="Render a few dynamic mixtures (wav), their strong labels (TSV) and "
                                       "spectrograms with the labels drawn over them (PNG).\n\n"
                                       "Example: sedkit synth preview-dynamic --n 8 --out preview")
@click.option("--n", "n", default=8, show_default=True, type=click.IntRange(1, 1000), help="Number of clips.")
@click.option("--out", required=True, type=click.Path(file_okay=False, path_type=Path), help="Output folder.")
@click.option("--soundbank", type=click.Path(file_okay=False, path_type=Path),
              help="Soundbank root (default: the built-in bank, small scale).")
@click.option("--strong-dir", type=click.Path(file_okay=False, path_type=Path),
              help="A strong data dir whose events are added to the foregrounds.")
@click.option("--rirs", type=click.Path(file_okay=False, path_type=Path),
              help="RIR bank (`sedkit rir make` / `sedkit rir import`); without it nothing is reverberated.")
@click.option("--seed", default=0, show_default=True, type=click.IntRange(min=0))
@click.option("--spec", "spec_path", type=click.Path(dir_okay=False, path_type=Path),
              help="YAML spec (default: the built-in specs/dynamic.yaml).")
@click.option("--levels", type=click.Choice(["paper", "authors"]), help="Level variant (overrides the spec).")
@click.option("--split", type=click.Choice(["train", "validation", "eval"]), help="Source split (overrides the spec).")
@click.option("--device", default="auto", show_default=True, help="auto | cpu | cuda[:i]")
def preview_cmd(n, out, soundbank, strong_dir, rirs, seed, spec_path, levels, split, device):
    from sedkit.synth.dynamic.dataset import build_pool, load_rirs
    from sedkit.synth.dynamic.spec import load_dynamic_spec

    spec = load_dynamic_spec(spec_path, {"levels.variant": levels, "split": split})
    if soundbank is None and strong_dir is None:
        from sedkit.synth.builtin import default_bank

        soundbank = default_bank(seed=0, scale="small")
    pool = build_pool(spec, soundbank, strong_dir)
    write_preview(out, n, spec, pool, load_rirs(spec, rirs), seed, device)
    click.echo(f"wrote {n} mixtures, metadata/preview.tsv and spectrograms to {out}")
