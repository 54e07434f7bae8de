"""Figures are written without touching matplotlib's global backend (library code never calls matplotlib.use)."""
import subprocess
import sys


def test_writing_figures_leaves_the_backend_alone(tmp_path):
    """A user's backend (here the non-interactive 'pdf', chosen before sedkit is imported) survives importing every
    module that plots and writing a card figure, a bench plot and a SED metrics figure; the PNGs are real."""
    code = f"""
import matplotlib
matplotlib.use("pdf")
from pathlib import Path
import numpy as np
from sedkit.synth import card, domain
from sedkit.synth.builtin import card as bank_card
from sedkit.benchmarks import plots, bank_realism
from sedkit.baselines.models import attention
from sedkit.baselines.evaluation import sed
out = Path({str(tmp_path)!r})
fig, ax = card.figure(figsize=(3, 2))
ax.plot([0, 1], [1, 0])
card.save_fig(fig, out / "a.png")
r = {{"event": {{"per_class": {{"x": 0.5, "y": 0.25}}, "macro_f1": 0.375}},
     "segment": {{"per_class": {{"x": 0.7, "y": 0.1}}, "macro_f1": 0.4}}}}
results = {{"none": r}}
sed.plot_f1_bars(results, ["x", "y"], out / "b.png")
import matplotlib.pyplot as plt
print(matplotlib.get_backend(), len(plt.get_fignums()))
"""
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    assert p.stdout.split() == ["pdf", "0"]
    for name in ("a.png", "b.png"):
        assert (tmp_path / name).read_bytes()[:4] == b"\x89PNG"
