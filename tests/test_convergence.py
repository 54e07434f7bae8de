"""Validation curves of a suite: read from the runs' logs, averaged over seeds, and judged at their end."""
import math

import numpy as np

from sedkit.benchmarks.convergence import convergence_md, curves, end_state, mean_curve, plot, read_curve


def log(run, values):
    run.mkdir(parents=True)
    rows = "".join(f"{i},0.5,{'' if v is None else v},1.0\n" for i, v in enumerate(values))
    (run / "log.csv").write_text("epoch,train_loss,select_metric,time_s\n" + rows)
    return run


def test_end_states():
    rising = [np.linspace(0, 1, 12) ** 2]
    assert end_state(rising)["state"] == "still rising" and end_state(rising)["epochs"] == 12
    flat = [np.r_[np.linspace(0, 0.8, 6), np.full(6, 0.8)], np.r_[np.linspace(0, 0.7, 6), np.full(6, 0.72)]]
    e = end_state(flat)
    assert e["state"] == "flat" and abs(e["change"]) < 0.05 and 4 <= e["best_epoch"] <= 11
    assert end_state([np.r_[0.2, np.zeros(11)]])["state"] == "no gain over epoch 0"
    assert end_state([np.array([0.1])])["state"] == "too short to tell"
    # rose through the quarter before, then levelled off: flat (it was not rising when training stopped)
    levelled = [np.r_[np.linspace(0, 0.6, 18), np.full(6, 0.62)]]
    assert end_state(levelled)["state"] == "flat"
    # a curve that barely moves is flat, whatever its own tiny range
    assert end_state([np.r_[0.0, 0.0, np.linspace(0.001, 0.003, 22)]])["state"] == "flat"
    # unscored first epochs (tri-training's phase 1) are skipped: the first scored epoch is the reference
    assert end_state([np.r_[np.full(10, np.nan), np.linspace(0.1, 0.3, 4), np.full(6, 0.3)]])["state"] == "flat"
    # still climbing at the end of a cosine schedule: still rising
    assert end_state([np.linspace(0, 0.5, 24)])["state"] == "still rising"


def test_mean_over_seeds_is_as_long_as_the_shortest_and_skips_missing_epochs():
    m = mean_curve([np.array([0.0, 1.0, np.nan, 3.0]), np.array([2.0, 3.0, 4.0])])
    assert np.allclose(m, [1.0, 2.0, 4.0])


def test_curves_from_run_logs_to_the_report_section(tmp_path):
    a = log(tmp_path / "a", [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8])
    b = log(tmp_path / "b", [0.1, 0.3, 0.5, 0.6, 0.6, 0.6, 0.6, 0.6])
    c = log(tmp_path / "c", [0.0, None, 0.2, 0.2])
    assert math.isnan(read_curve(c)[1]) and read_curve(tmp_path / "none") is None
    cells = [{"model": "m", "train": "set", "sources": [{"run": str(a)}, {"run": str(b)}]},
             {"model": "m", "train": "set", "sources": [{"run": str(a)}]},  # the same run in another cell: once
             {"model": "n", "train": "set", "sources": [{"run": str(c)}]}]
    found = curves(cells)
    assert sorted(found) == ["m on set", "n on set"] and len(found["m on set"]) == 2
    png = plot(tmp_path / "v.png", found, "validation")
    assert png.read_bytes()[:4] == b"\x89PNG"
    md = convergence_md(found, "figures/v.png")
    assert "| m on set | 2 | 8 |" in md and "![Validation curves](figures/v.png)" in md
    assert md.startswith("### Validation curves (") and "still rising" in md
