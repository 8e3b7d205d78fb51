"""The recipe runs as two data-parallel CPU processes, launched the way docs/recipes.md tells users."""

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

from hf_ssxai import AutoModelWithScorer

ROOT = Path(__file__).resolve().parents[1]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_two_process_recipe_keeps_ranks_identical_and_lowers_the_loss(text_recipe, tmp_path):
    command = [
        sys.executable, "-m", "accelerate.commands.launch",
        "--config_file", str(ROOT / "recipes" / "accelerate" / "cpu_ddp.yaml"),
        "--main_process_port", str(_free_port()),  # not the default 29500, which an earlier run may still hold
        str(ROOT / "recipes" / "train.py"),
        "--config", str(text_recipe),
        "--output-dir", str(tmp_path / "run"),
    ]  # fmt: skip
    environment = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"}
    finished = subprocess.run(command, cwd=ROOT, env=environment, capture_output=True, text=True, timeout=600)
    assert finished.returncode == 0, finished.stderr[-3000:]

    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    # the true per-sample cross-entropy, about ln 2 = 0.69 for a fresh binary classifier; transformers' token
    # averaging across devices would record it times the number of processes (about 1.4)
    assert 0.4 < metrics["classifier"]["first_loss"] < 1.0
    ranks = metrics["scorer"]["fingerprint_per_rank"]
    assert len(ranks) == 2, "expected two data-parallel processes"
    assert ranks[0] == ranks[1], "the ranks' scorers diverged"
    assert metrics["scorer"]["last_loss"] < metrics["scorer"]["first_loss"]
    assert "eval_masked_agreement" in metrics["scorer"]
    model = AutoModelWithScorer.from_pretrained(tmp_path / "run" / "model")
    assert model.scorer_config.hidden_size == 16
