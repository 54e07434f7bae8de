"""`sedkit soundbank import` and `sedkit soundbank info`."""
from __future__ import annotations

from pathlib import Path

import click

from sedkit import SedkitError
from sedkit.synth.soundbank.importers import IMPORTERS, MIN_DURATION_S, SILENCE_DB, import_soundbank
from sedkit.synth.soundbank.index import load_soundbank


def _ratios(value: str) -> tuple[float, float, float]:
    try:
        parts = tuple(float(x) for x in value.split(","))
    except ValueError:
        parts = ()
    if len(parts) != 3:
        raise SedkitError(f"--ratios {value!r}: expected three comma-separated numbers train,validation,eval")
    return parts  # type: ignore[return-value]


@click.command("import", help="Index a corpus in place (writes sedkit_index.csv and sedkit_rejected.csv into ROOT; "
                              "never copies or modifies audio).\n\nKIND: folder | desed | esc50 | urbansound8k | fsd50k "
                              "| fsdkaggle2018 | tut-scenes (backgrounds)."
                              "\n\nExample: sedkit soundbank import esc50 ./ESC-50-master --ratios 0.7,0.1,0.2")
@click.argument("kind", type=click.Choice(sorted(IMPORTERS)))
@click.argument("root", type=click.Path(path_type=Path))
@click.option("--ratios", default="0.7,0.1,0.2", show_default=True,
              help="train,validation,eval shares for corpora without splits (assigned by source group).")
@click.option("--seed", default=0, show_default=True, type=click.IntRange(min=0), help="Seed of the group-to-split assignment.")
@click.option("--background-label", "background_labels", multiple=True,
              help="Treat this label as background (repeatable), e.g. ESC-50's 'rain'.")
@click.option("--small-classes", type=click.Choice(["drop", "train-only", "error"]), default="drop", show_default=True,
              help="A class with fewer source groups than splits: leave it out (named in the warnings), keep it "
                   "in train only, or stop.")
@click.option("--group-by", default="auto", show_default=True,
              help="Source groups: auto (the corpus's own: source clip, recording, uploader, <source>__ prefix), "
                   "prefix, folder, none (one file, one group) or column:NAME of --metadata.")
@click.option("--metadata", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="CSV with a path column (relative to ROOT), for --group-by column:NAME.")
@click.option("--silence-db", type=float, default=SILENCE_DB, show_default=True,
              help="Files whose RMS is below this (dBFS) are rejected as silent.")
@click.option("--min-duration", type=click.FloatRange(min=0), default=MIN_DURATION_S, show_default=True,
              help="Files shorter than this (s) are rejected.")
@click.option("--rehash", is_flag=True, help="Index a corpus that is already indexed again (after its files changed).")
def import_cmd(kind, root, ratios, seed, background_labels, small_classes, group_by, metadata, silence_db,
               min_duration, rehash):
    from sedkit.synth.soundbank.index import INDEX_NAME

    if (Path(root) / INDEX_NAME).is_file() and not rehash:
        raise SedkitError(f"{root}: already indexed ({INDEX_NAME}); pass --rehash to index it again")
    path, n_ok, n_bad = import_soundbank(kind, root, _ratios(ratios), seed, tuple(background_labels), small_classes,
                                         group_by, metadata, min_duration, silence_db)
    click.echo(f"{path}: {n_ok} usable file(s), {n_bad} rejected")
    for line in rejection_warnings(path.parent):
        click.echo(line, err=True)
    import pandas as pd

    idx = pd.read_csv(path, dtype=str).fillna("")
    flagged = idx[idx.get("audit", pd.Series("", index=idx.index)) != ""]
    if len(flagged):
        click.echo(f"sedkit: warning: {len(flagged)} kept file(s) have audit notes (DC offset, clipping), e.g. "
                   f"{flagged.path.iloc[0]}: {flagged.audit.iloc[0]}; see the audit column of {path}", err=True)


def rejection_warnings(root: Path) -> list[str]:
    """One warning line per empty class folder (the class is left out) and one summing up the rejected files."""
    import pandas as pd

    from sedkit.synth.soundbank.index import REJECTED_NAME

    rej = pd.read_csv(root / REJECTED_NAME, dtype=str).fillna("")
    out = [f"sedkit: warning: {p}: empty class folder; the class is left out of the bank"
           for p, why in zip(rej.path, rej.reason) if why.startswith("empty class folder")]
    small = rej[rej.reason.str.contains("fewer than the splits", regex=False)]
    if len(small):
        names = sorted(set(small.reason.str.extract(r"^class (.+) has (\d+) source")[[0, 1]].itertuples(index=False,
                                                                                                     name=None)))
        out.append("sedkit: warning: class(es) with fewer source groups than splits left out: "
                   + ", ".join(f"{c} ({n} group{'s' if n != '1' else ''})" for c, n in names))
    files = rej[~rej.reason.str.startswith("empty class folder")
                & ~rej.reason.str.contains("fewer than the splits", regex=False)]
    if len(files):
        reasons = files.reason.str.split("(").str[0].str.strip().value_counts()
        out.append(f"sedkit: warning: {len(files)} file(s) rejected ({', '.join(f'{n} {r}' for r, n in reasons.items())}); "
                   f"see {root / REJECTED_NAME}")
    return out


def coverage_warnings(df) -> list[str]:
    """What would stop or skew the generators: a class missing from a split, a split without backgrounds, or
    backgrounds shorter than the generators' clip length (``specs/strong.yaml`` ``scene.duration``)."""
    from sedkit.specs import builtin_section
    from sedkit.synth.soundbank.index import SPLITS

    clip_s = float(builtin_section("strong#scene")["duration"])
    fg, bg = df[df.role == "foreground"], df[df.role == "background"]
    out = []
    for label, sub in fg.groupby("label", sort=True):
        missing = [s for s in SPLITS if s not in set(sub.split)]
        if missing:
            out.append(f"class {label} has no file in split(s) {', '.join(missing)}")
    for s in SPLITS:
        b = bg[bg.split == s]
        if b.empty:
            out.append(f"split {s} has no background")
        elif (b.duration_s < clip_s).all():
            out.append(f"split {s}: every background is shorter than the {clip_s:g} s clips the generators make "
                       f"(longest {b.duration_s.max():.1f} s)")
        elif (b.duration_s < clip_s).any():
            out.append(f"split {s}: {int((b.duration_s < clip_s).sum())} of {len(b)} backgrounds are shorter than "
                       f"{clip_s:g} s (left out of {clip_s:g} s clips)")
    return out


def info_table(root: Path) -> str:
    bank = load_soundbank(root)
    df = bank.index
    lines = [f"soundbank {root}: {len(df)} files, {df.duration_s.sum() / 3600:.2f} h"]
    for role in ("foreground", "background"):
        sub = df[df.role == role]
        if sub.empty:
            continue
        lines.append("")
        lines.append(f"{role}s:")
        hdr = f"{'label':<28} {'split':<10} {'count':>6} {'total_s':>9} {'median_s':>9} {'groups':>7}"
        lines.append(hdr)
        lines.append("-" * len(hdr))
        for (label, split), g in sub.groupby(["label", "split"], sort=True):
            lines.append(f"{label:<28} {split:<10} {len(g):>6} {g.duration_s.sum():>9.1f} "
                         f"{g.duration_s.median():>9.2f} {g.source_group.nunique():>7}")
        tot = sub.groupby("label").size()
        lines.append(f"{'(total per label)':<28} {'':<10} " + ", ".join(f"{k}={v}" for k, v in tot.items()))
    lines.append("")
    warnings = coverage_warnings(df)
    lines += [f"warning: {w}" for w in warnings] or ["coverage: every class in every split, backgrounds long enough"]
    lines.append("")
    if bank.rejected.empty:
        lines.append("rejected: none")
    else:
        lines.append(f"rejected ({len(bank.rejected)}):")
        lines += [f"  {r.path}: {r.reason}" for r in bank.rejected.itertuples()]
    return "\n".join(lines)


@click.command("info", help="Per-class table of a soundbank: count, total and median duration, groups per split; "
                            "coverage warnings (a class missing from a split, a split without backgrounds, "
                            "backgrounds shorter than the clips); and the rejected files.\n\n"
                            "Example: sedkit soundbank info ./my_sounds")
@click.argument("root", type=click.Path(path_type=Path))
def info_cmd(root):
    click.echo(info_table(root))
