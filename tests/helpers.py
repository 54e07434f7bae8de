"""Helpers shared by test modules (no test module imports another): tiny SED configs and data dirs."""
from __future__ import annotations

from pathlib import Path

from toydata import make_toy_datadir

# A CRNN small enough to train in seconds on 2 s clips at 8 kHz.
TINY_SED = {
    "frontend": {"sr": 8000, "n_fft": 256, "hop_length": 64, "n_mels": 32, "compression": "log",
                 "norm": "minmax"},
    "net": {"filters": [8, 8, 8], "pooling": [[2, 2], [2, 2], [1, 2]], "rnn_hidden": 16, "rnn_layers": 1},
    "strategy": {"rampup_epochs": 1, "tri_training": {"phase1_epochs": 1}},
    "data": {"batch": {"synthetic": 4, "weak": 2, "unlabel": 2}, "clip_seconds": 2.0, "eval_batch_size": 8},
    "train": {"epochs": 2},
    "postprocess": {"median": 3, "hmm": {"n_calls": 4, "n_silence": 2}},
}


def make_semi(root: Path, n: int = 2) -> Path:
    """synthetic (strong, clean) / weak + unlabel (target domain: lower SNR) / validation + eval (strong, target);
    ``n`` clips per class in synthetic, weak and unlabel."""
    kw = dict(classes=("a", "b", "c"), sr=8000, duration_s=2.0, event_s=(0.4, 1.0))
    make_toy_datadir(root, per_class={"synthetic": n}, labels="strong", seed=0, snr_db=20, **kw)
    make_toy_datadir(root, per_class={"validation": 2, "eval": 2}, labels="strong", seed=2, snr_db=8, **kw)
    make_toy_datadir(root, per_class={"weak": n, "unlabel": n}, labels="weak", seed=1, snr_db=8, **kw)
    u = root / "metadata" / "unlabel.tsv"
    names = [r.split("\t")[0] for r in u.read_text().splitlines()[1:]]
    u.write_text("filename\n" + "".join(f"{n}\n" for n in names))
    return root
