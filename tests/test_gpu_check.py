"""``benchmarks/gpu_check.sh --dry-run``: the prepared GPU check runs its steps at tiny sizes on the CPU, in an
environment like the GPU machine's (none of sedkit's audio, synthesis or metric libraries importable)."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ABSENT_ON_THE_GPU_MACHINE = ["librosa", "soundfile", "scaper", "jams", "sed_eval", "sed_scores_eval", "psds_eval",
                             "pyroomacoustics", "soxr", "click", "ray", "numba", "dcase_util"]

BLOCKER = f'''
import importlib.abc, sys
class _Absent(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in {ABSENT_ON_THE_GPU_MACHINE!r}:
            raise ImportError("not on the GPU machine: " + name)
sys.meta_path.insert(0, _Absent())
'''


def test_gpu_check_dry_run(tmp_path):
    (tmp_path / "site").mkdir()
    (tmp_path / "site" / "sitecustomize.py").write_text(BLOCKER)
    env = {**os.environ, "PYTHONPATH": str(tmp_path / "site"), "PYTHON": sys.executable, "OUT": str(tmp_path / "out")}
    r = subprocess.run(["bash", str(ROOT / "benchmarks" / "gpu_check.sh"), "--dry-run"], env=env,
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    res = json.loads((tmp_path / "out" / "gpu_check.json").read_text())
    assert res["info"]["dry_run"] and res["info"]["device"].startswith("cpu")
    for key in ("waa_classifier_1s", "waa_classifier_10s", "crnn"):
        r = res[key]
        assert r["epochs_run"] == 1 and r["epochs_per_s"] > 0 and r["clips_per_s"] > 0
        assert r["loader_batches_per_s"] > r["steps_per_s"] > 0  # the loader outpaces the model
    assert res["waa_classifier_1s"]["train_clips"] == 10 * res["waa_classifier_10s"]["train_clips"]
    assert 0 <= res["waa_classifier_10s"]["eval"]["f1_macro"] <= 1 and 0 <= res["crnn"]["validation"]["frame_f1"] <= 1
    assert res["steps_wler"]["steps_per_s"] > 0 and res["steps_gap"]["steps_per_s"] > 0
    hours = res["paper_scale_hours"]
    assert set(hours) == {"waa", "wler", "semi", "dcase20", "remix", "total"}
    assert all(v > 0 for v in hours.values()) and abs(hours["total"] - sum(v for k, v in hours.items()
                                                                            if k != "total")) < 1e-6
    # the modules were absent indeed
    probe = subprocess.run([sys.executable, "-c", "import soundfile"], env=env, capture_output=True, text=True)
    assert probe.returncode != 0 and "not on the GPU machine" in probe.stderr
