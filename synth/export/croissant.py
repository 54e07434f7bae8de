"""Croissant 1.0 metadata (JSON-LD) of an export, and its validation with ``mlcroissant`` when installed.

Every export writes ``clips.csv`` (one row per clip: split, filename, labels, events as JSON, sampling rate,
duration, sha256) and ``croissant.json``: the dataset's name, description, licence and citation, every data file
the export wrote as a FileObject with its sha256, and a record set ``clips`` whose fields are the columns of
``clips.csv``.
"""
from __future__ import annotations

import csv
import io
import json
import warnings
from pathlib import Path

from sedkit.synth.io import atomic_write_text, sha256_file

CROISSANT_FILE = "croissant.json"
INDEX_FILE = "clips.csv"
CONFORMS_TO = "http://mlcommons.org/croissant/1.0"
CONTEXT = {
    "@language": "en", "@vocab": "https://schema.org/", "sc": "https://schema.org/",
    "cr": "http://mlcommons.org/croissant/", "rai": "http://mlcommons.org/croissant/RAI/",
    "dct": "http://purl.org/dc/terms/", "citeAs": "cr:citeAs", "column": "cr:column",
    "conformsTo": "dct:conformsTo", "data": {"@id": "cr:data", "@type": "@json"},
    "dataType": {"@id": "cr:dataType", "@type": "@vocab"}, "examples": {"@id": "cr:examples", "@type": "@json"},
    "extract": "cr:extract", "field": "cr:field", "fileProperty": "cr:fileProperty", "fileObject": "cr:fileObject",
    "fileSet": "cr:fileSet", "format": "cr:format", "includes": "cr:includes", "isLiveDataset": "cr:isLiveDataset",
    "jsonPath": "cr:jsonPath", "key": "cr:key", "md5": "cr:md5", "parentField": "cr:parentField",
    "path": "cr:path", "recordSet": "cr:recordSet", "references": "cr:references", "regex": "cr:regex",
    "repeated": "cr:repeated", "replace": "cr:replace", "separator": "cr:separator", "source": "cr:source",
    "subField": "cr:subField", "transform": "cr:transform", "samplingRate": "cr:samplingRate",
    "equivalentProperty": "cr:equivalentProperty",
}
# column of clips.csv -> (Croissant data type, description)
COLUMNS = {
    "split": ("sc:Text", "The dataset split of the clip."),
    "filename": ("sc:Text", "The clip's file name in audio/<split>/ of the dataset folder."),
    "label_kind": ("sc:Text", "strong, weak or unlabelled: the labels the clip's split has."),
    "weak_labels": ("sc:Text", "The classes present in the clip, comma-separated."),
    "events": ("sc:Text", "Strong events as a JSON list of {onset, offset, label}, seconds."),
    "sampling_rate": ("sc:Integer", "Sampling rate of the audio in Hz."),
    "duration": ("sc:Float", "Duration of the clip in seconds."),
    "sha256": ("sc:Text", "sha256 of the clip's WAV file, as in the dataset's manifest.json."),
}
FORMATS = {".parquet": "application/x-parquet", ".tar": "application/x-tar", ".gz": "application/gzip",
           ".csv": "text/csv", ".arrow": "application/vnd.apache.arrow.stream", ".json": "application/json"}


def index_csv(records: list[dict]) -> str:
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=list(COLUMNS), lineterminator="\n")
    w.writeheader()
    for r in records:
        w.writerow({**{k: r[k] for k in COLUMNS}, "weak_labels": ",".join(r["weak_labels"]),
                    "events": json.dumps(r["events"], separators=(",", ":"))})
    return buf.getvalue()


def _file_object(stage: Path, rel: str) -> dict:
    suffix = Path(rel).suffix
    return {"@type": "cr:FileObject", "@id": rel, "name": rel, "contentUrl": rel,
            "encodingFormat": FORMATS.get(suffix, "application/octet-stream"), "sha256": sha256_file(stage / rel)}


def croissant(stage: Path, data_files: list[str], name: str, description: str, licence, cite_as: str,
              version: str) -> dict:
    """The Croissant document of an export staged in ``stage``: ``data_files`` (relative to it) plus the clip index."""
    fields = [{"@type": "cr:Field", "@id": f"clips/{c}", "name": c, "description": d, "dataType": t,
               "source": {"fileObject": {"@id": INDEX_FILE}, "extract": {"column": c}}}
              for c, (t, d) in COLUMNS.items()]
    return {
        "@context": CONTEXT, "@type": "sc:Dataset", "conformsTo": CONFORMS_TO,
        "name": name, "description": description, "license": licence, "citeAs": cite_as, "version": version,
        "distribution": [_file_object(stage, rel) for rel in [*data_files, INDEX_FILE]],
        "recordSet": [{"@type": "cr:RecordSet", "@id": "clips", "name": "clips", "description": "One record per clip.",
                       "key": [{"@id": "clips/split"}, {"@id": "clips/filename"}], "field": fields}],
    }


def write(stage: Path, records: list[dict], data_files: list[str], **meta) -> Path:
    atomic_write_text(stage / INDEX_FILE, index_csv(records))
    doc = croissant(stage, data_files, **meta)
    return atomic_write_text(stage / CROISSANT_FILE, json.dumps(doc, indent=2, ensure_ascii=False) + "\n")


def validate(path: Path) -> tuple[str, str]:
    """``(status, detail)``: ``passed`` (with mlcroissant's warnings, if any), ``failed`` (its report) or
    ``skipped`` (mlcroissant not installed). mlcroissant's own logging is kept quiet meanwhile."""
    try:
        import mlcroissant as mlc
        from absl import logging as absl_logging
    except ImportError:
        return "skipped", "mlcroissant is not installed (pip install 'sedkit-weak-sed[export]')"
    level = absl_logging.get_verbosity()
    absl_logging.set_verbosity(absl_logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ds = mlc.Dataset(jsonld=str(path))
    except Exception as e:  # noqa: BLE001 - mlcroissant raises ValidationError and others; report its message
        return "failed", " ".join(str(e).split())[:300]
    finally:
        absl_logging.set_verbosity(level)
    found = sorted(ds.metadata.ctx.issues.warnings)
    return "passed", (f"{len(found)} warning(s): " + "; ".join(" ".join(w.split()) for w in found)) if found else ""
