"""Interrupted work loses nothing: a checkpoint save killed midway leaves the last good checkpoint loadable, and
resuming skips the broken one and ends where an uninterrupted run ends.

(An interrupted ``save_pretrained`` over an existing folder and a NaN loss mid-training are in
tests/test_modeling.py and tests/test_trainer.py.)
"""

import pytest
import torch
from transformers import DataCollatorWithPadding

from hf_ssxai import AutoModelWithScorer, CheckpointError, ScorerConfig, ScorerTrainer
from hf_ssxai.data.synthetic import planted_text_dataset
from hf_ssxai.training.trainer import checkpoint_problem
from tests.helpers import tiny_text_classifier, training_args

SMALL = ScorerConfig(hidden_size=16, num_hidden_layers=1, num_attention_heads=2)
COMMON = {"max_steps": 6, "per_device_train_batch_size": 8, "save_strategy": "steps", "save_steps": 2}


class KilledDuringSave(BaseException):
    """Stands for SIGKILL: not an Exception, so nothing on the way up can catch and tidy."""


@pytest.fixture
def setup(word_tokenizer):
    torch.manual_seed(0)
    classifier = tiny_text_classifier("bert", len(word_tokenizer))
    return classifier, planted_text_dataset(word_tokenizer, 64, seed=0), DataCollatorWithPadding(word_tokenizer)


def _trainer(setup, output_dir):
    classifier, train, collator = setup
    torch.manual_seed(0)  # the same initial scorer every time
    model = AutoModelWithScorer.from_classifier(classifier, SMALL)
    return ScorerTrainer(
        model=model, args=training_args(output_dir, **COMMON), train_dataset=train, data_collator=collator
    )


def test_a_save_killed_midway_costs_only_the_steps_since_the_last_good_checkpoint(setup, tmp_path, monkeypatch):
    straight = _trainer(setup, tmp_path / "straight")
    straight.train()
    expected = {name: value.clone() for name, value in straight.model.scorer.state_dict().items()}

    run = tmp_path / "run"
    interrupted = _trainer(setup, run)
    save_rng_state = ScorerTrainer._save_rng_state

    def killed_at_step_four(self, output_dir):  # model and optimizer are written, the trainer state is not
        if str(output_dir).endswith("checkpoint-4"):
            raise KilledDuringSave
        return save_rng_state(self, output_dir)

    monkeypatch.setattr(ScorerTrainer, "_save_rng_state", killed_at_step_four)
    with pytest.raises(KilledDuringSave):
        interrupted.train()
    monkeypatch.undo()

    assert checkpoint_problem(run / "checkpoint-4") is not None  # half written ...
    assert checkpoint_problem(run / "checkpoint-2") is None  # ... the previous one is whole and loads
    AutoModelWithScorer.from_pretrained(run / "checkpoint-2")
    with pytest.raises(CheckpointError, match="Cannot resume from .*checkpoint-4: trainer_state.json"):
        _trainer(setup, run).train(resume_from_checkpoint=str(run / "checkpoint-4"))

    resumed = _trainer(setup, run)
    resumed.train(resume_from_checkpoint=True)  # picks checkpoint-2, skipping the broken checkpoint-4
    for name, value in resumed.model.scorer.state_dict().items():
        torch.testing.assert_close(value, expected[name], atol=1e-6, rtol=0)
    assert checkpoint_problem(run / "checkpoint-6") is None


def test_resume_without_any_complete_checkpoint_is_a_clear_error(setup, tmp_path):
    (tmp_path / "run" / "checkpoint-2").mkdir(parents=True)  # a save that died before writing anything
    with pytest.raises(CheckpointError, match="No complete checkpoint"):
        _trainer(setup, tmp_path / "run").train(resume_from_checkpoint=True)
