"""Realism benchmark of the built-in soundbank: is the 10-class problem well posed?

    python -m sedkit.benchmarks.bank_realism --scale paper --out DIR [--seed 0] [--workers 2] [--bank ROOT]

A logistic regression is trained on the clip-mean log-mel (16 kHz, 25 ms windows, 10 ms hop, 64 bands) of the
isolated foregrounds of the train groups and tested on those of the eval groups (disjoint recordist groups).
The bank is well posed when the accuracy is clearly above chance but not trivial: within [0.60, 0.95].
Writes ``DIR/realism_confusion.png`` and ``DIR/realism.json``; prints the accuracy and the confusion matrix.
Without ``--bank`` the cached default bank (``sedkit.synth.builtin.default_bank``) is used, built if absent.
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

WELL_POSED = (0.60, 0.95)
FEATURE_SR = 16000


def clip_features(path: Path) -> np.ndarray:
    from sedkit.synth import audio
    x, sr = audio.read(path, sr=FEATURE_SR)
    return 10 * audio.log10_mel(x, sr, n_mels=64, n_fft=512, hop_length=160).mean(axis=1)


def features(bank, df, workers: int = 1) -> np.ndarray:
    paths = [bank.abspath(p) for p in df.path]
    if workers > 1:
        from concurrent.futures import ProcessPoolExecutor
        from multiprocessing import get_context

        with ProcessPoolExecutor(workers, mp_context=get_context("fork")) as ex:
            return np.stack(list(ex.map(clip_features, paths, chunksize=16)))
    return np.stack([clip_features(p) for p in paths])


def evaluate(root: Path, workers: int = 1) -> dict:
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import confusion_matrix
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from sedkit.synth.soundbank.index import load_soundbank

    bank = load_soundbank(root)
    labels = bank.labels
    tr, ev = bank.foregrounds("train"), bank.foregrounds("eval")
    shared = set(tr.source_group) & set(ev.source_group)
    if shared:
        raise SystemExit(f"train and eval share groups {sorted(shared)[:3]}: the benchmark needs disjoint groups")
    t0 = time.perf_counter()
    xtr, xev = features(bank, tr, workers), features(bank, ev, workers)
    t_feat = time.perf_counter() - t0
    clf = make_pipeline(StandardScaler(), LogisticRegression(max_iter=3000, C=1.0))
    clf.fit(xtr, tr.label.to_numpy())
    pred = clf.predict(xev)
    acc = float(np.mean(pred == ev.label.to_numpy()))
    cm = confusion_matrix(ev.label, pred, labels=labels)
    return dict(bank=str(root), accuracy=acc, chance=float(1 / len(labels)), n_train=len(tr), n_eval=len(ev),
                labels=labels, confusion=cm.tolist(), well_posed=bool(WELL_POSED[0] <= acc <= WELL_POSED[1]),
                train_accuracy=float(np.mean(clf.predict(xtr) == tr.label.to_numpy())), feature_s=t_feat)


def plot_confusion(res: dict, path: Path) -> None:
    from sedkit.synth.card import figure

    from sedkit.synth.io import atomic_path

    cm = np.asarray(res["confusion"], dtype=float)
    norm = cm / np.maximum(cm.sum(1, keepdims=True), 1)
    fig, ax = figure(figsize=(7.5, 7.5))
    ax.imshow(norm, cmap="Blues", vmin=0, vmax=1)
    n = len(res["labels"])
    for i in range(n):
        for j in range(n):
            ax.text(j, i, int(cm[i, j]), ha="center", va="center", fontsize=8,
                    color="white" if norm[i, j] > 0.5 else "black")
    ax.set_xticks(range(n), res["labels"], rotation=60, ha="right", fontsize=8)
    ax.set_yticks(range(n), res["labels"], fontsize=8)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true (eval groups)")
    ax.set_title(f"Built-in bank realism: clip-mean log-mel + logistic regression\n"
                 f"accuracy {res['accuracy']:.3f} (chance {res['chance']:.2f}; well posed in {list(WELL_POSED)})")
    fig.subplots_adjust(left=0.3, bottom=0.3, right=0.98, top=0.9)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=90, metadata={"Software": None})


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scale", default="paper")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--bank", type=Path, default=None, help="an existing bank root (default: the cached bank)")
    ap.add_argument("--out", type=Path, required=True)
    a = ap.parse_args(argv)
    from sedkit.synth.builtin import default_bank
    from sedkit.synth.io import atomic_write_json

    t0 = time.perf_counter()
    root = a.bank or default_bank(a.seed, a.scale, a.workers)
    t_bank = time.perf_counter() - t0
    res = evaluate(root, a.workers)
    res["bank_s"] = t_bank
    a.out.mkdir(parents=True, exist_ok=True)
    plot_confusion(res, a.out / "realism_confusion.png")
    atomic_write_json(a.out / "realism.json", res)
    w = max(len(x) for x in res["labels"])
    print(f"bank {root} (ready in {t_bank:.1f} s); features in {res['feature_s']:.1f} s")
    print(f"train {res['n_train']} files, eval {res['n_eval']} files (disjoint groups)")
    print(" " * (w + 1) + " ".join(f"{x[:5]:>5}" for x in res["labels"]))
    for lab, row in zip(res["labels"], res["confusion"]):
        print(f"{lab:<{w}} " + " ".join(f"{v:>5d}" for v in row))
    print(f"train accuracy {res['train_accuracy']:.3f}")
    print(f"accuracy {res['accuracy']:.3f} (chance {res['chance']:.3f}); well posed in {list(WELL_POSED)}: "
          f"{'yes' if res['well_posed'] else 'NO'}")
    print(f"confusion matrix: {a.out / 'realism_confusion.png'}")
    return res


if __name__ == "__main__":
    main()
