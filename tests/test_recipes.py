"""The recipe runs as two data-parallel CPU processes, launched the way docs/recipes.md tells users."""

import json

from hf_ssxai import AutoModelWithScorer
from tests.launch_helpers import ROOT, launch_two_processes


def test_two_process_recipe_keeps_ranks_identical_and_lowers_the_loss(text_recipe, tmp_path):
    arguments = [
        str(ROOT / "recipes" / "train.py"),
        "--config",
        str(text_recipe),
        "--output-dir",
        str(tmp_path / "run"),
    ]
    finished = launch_two_processes(arguments)
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
