"""``sedkit dataset export DIR --format hf|webdataset|zenodo --out OUT``: the command over
:func:`sedkit.synth.export.export_dataset`."""
from __future__ import annotations

from pathlib import Path

import click

from sedkit.synth.export import DEFAULT_SHARD, FORMATS, export_dataset


@click.command("export", help="Export a dataset folder (or a data dir in it, e.g. waa_1s/segments/1s) for other "
               "researchers: hf (Hugging Face datasets: load_from_disk, and Parquet), webdataset (tar shards) or "
               "zenodo (one reproducible tar.gz with CITATION.cff, licences and SHA256SUMS). Every export writes "
               "Croissant metadata (croissant.json), validated with mlcroissant when it is installed. Each clip is "
               "checked against the manifest's sha256; OUT must be empty (--force replaces an earlier export).\n\n"
               "Example: sedkit dataset export waa_1s/segments/1s --format webdataset --out waa_1s_wds")
@click.argument("root", type=click.Path(path_type=Path))
@click.option("--format", "fmt", required=True, type=click.Choice(list(FORMATS)), help="The export format.")
@click.option("--out", required=True, type=click.Path(path_type=Path), help="Output folder (empty or new).")
@click.option("--shard-size", default=None,
              help=f"hf and webdataset: shard size, in kB/MB/GB (e.g. 500MB) or clips (e.g. 1000) "
                   f"[default: {DEFAULT_SHARD}].")
@click.option("--name", default=None, help="zenodo: the archive's name [default: the dataset folder's name].")
@click.option("--author", "authors", multiple=True, help="An author for CITATION.cff (repeat for several).")
@click.option("--force", is_flag=True, help="Replace an earlier export in OUT.")
def export_cmd(root, fmt, out, shard_size, name, authors, force):
    r = export_dataset(root, fmt, out, shard_size=shard_size, force=force, name=name, authors=list(authors) or None)
    splits = ", ".join(f"{s} {n}" for s, n in r.splits.items())
    click.echo(f"{r.out}: {fmt} export of {r.clips} clips ({splits}) from {r.data_dir}: {len(r.files)} files, "
               f"{r.bytes / 1e6:.1f} MB in {r.seconds:.1f} s")
    status, detail = r.croissant
    click.echo(f"Croissant: croissant.json validation {status}" + (f" ({detail})" if detail else ""))
