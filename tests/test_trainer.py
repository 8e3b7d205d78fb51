"""ScorerTrainer: what it logs and evaluates, how it stops on NaN, how it saves and resumes."""

import pytest
import torch
from transformers import DataCollatorWithPadding

from hf_ssxai import AutoModelWithScorer, NonFiniteLossError, ScorerConfig, ScorerTrainer
from hf_ssxai.data.synthetic import planted_text_dataset
from tests.helpers import tiny_text_classifier, training_args

SMALL = ScorerConfig(hidden_size=16, num_hidden_layers=1, num_attention_heads=2)
COLUMNS = ["input_ids", "attention_mask", "label"]


@pytest.fixture
def setup(word_tokenizer):
    torch.manual_seed(0)
    classifier = tiny_text_classifier("bert", len(word_tokenizer))
    train = planted_text_dataset(word_tokenizer, 64, seed=0)
    return classifier, train, DataCollatorWithPadding(word_tokenizer)


def _trainer(classifier, train, collator, output_dir, **args):
    torch.manual_seed(0)  # the same initial scorer every time
    model = AutoModelWithScorer.from_classifier(classifier, SMALL)
    return ScorerTrainer(
        model=model,
        args=training_args(output_dir, **args),
        train_dataset=train,
        eval_dataset=train.select(range(16)),
        data_collator=collator,
    )


def test_logs_loss_terms_and_evaluates_masked_agreement(setup, tmp_path):
    trainer = _trainer(*setup, tmp_path, max_steps=4, logging_steps=2, per_device_train_batch_size=8)
    trainer.train()
    logged = [entry for entry in trainer.state.log_history if "loss" in entry]
    assert logged, "no training log lines"
    for name in ("task_loss", "delta", "gamma", "mean_score", "binariness"):
        assert name in logged[-1], f"{name} not logged"
    assert 0 < logged[-1]["gamma"] <= 1
    metrics = trainer.evaluate()
    assert 0 <= metrics["eval_masked_agreement"] <= 1
    assert "eval_masked_accuracy" in metrics and "eval_accuracy" in metrics
    # the unused text column was dropped and labels were kept
    assert trainer._signature_columns is not None and "special_tokens_mask" in trainer._signature_columns


def test_classifier_stays_in_eval_mode_while_scorer_trains(setup, tmp_path):
    trainer = _trainer(*setup, tmp_path, max_steps=1, per_device_train_batch_size=8)
    trainer.model.train()
    assert trainer.model.scorer.training and not trainer.model.classifier.training
    assert not any(p.requires_grad for p in trainer.model.classifier.parameters())


def test_non_finite_loss_stops_training_and_keeps_saved_work(setup, tmp_path):
    trainer = _trainer(*setup, tmp_path, max_steps=2, per_device_train_batch_size=8)
    trainer.model.save_pretrained(tmp_path / "good")
    saved = (tmp_path / "good" / "scorer" / "model.safetensors").read_bytes()
    with torch.no_grad():
        trainer.model.scorer.to_logit.bias.fill_(float("nan"))
    with pytest.raises(NonFiniteLossError, match="step 1"):
        trainer.train()
    assert (tmp_path / "good" / "scorer" / "model.safetensors").read_bytes() == saved
    AutoModelWithScorer.from_pretrained(tmp_path / "good")


def test_resume_from_checkpoint_ends_with_the_same_scorer(setup, tmp_path):
    classifier, train, collator = setup
    common = {"max_steps": 4, "per_device_train_batch_size": 8, "save_strategy": "steps", "save_steps": 2}
    straight = _trainer(classifier, train, collator, tmp_path / "straight", **common)
    straight.train()
    expected = {k: v.clone() for k, v in straight.model.scorer.state_dict().items()}

    resumed = _trainer(classifier, train, collator, tmp_path / "resumed", **common)
    resumed.train()  # writes checkpoint-2 and checkpoint-4; resume from the middle one
    checkpoint = tmp_path / "resumed" / "checkpoint-2"
    assert (checkpoint / "scorer" / "model.safetensors").is_file()
    AutoModelWithScorer.from_pretrained(checkpoint)  # every checkpoint is a loadable model
    again = _trainer(classifier, train, collator, tmp_path / "resumed", **common)
    again.train(resume_from_checkpoint=str(checkpoint))
    for name, value in again.model.scorer.state_dict().items():
        assert torch.allclose(value, expected[name], atol=1e-6), name


def test_bf16_and_gradient_accumulation_run_through_the_trainer_unchanged(setup, tmp_path):
    trainer = _trainer(
        *setup, tmp_path, max_steps=2, per_device_train_batch_size=4, gradient_accumulation_steps=2, bf16=True
    )
    before = {k: v.clone() for k, v in trainer.model.scorer.state_dict().items()}
    result = trainer.train()
    assert result.global_step == 2 and torch.isfinite(torch.tensor(result.training_loss))
    assert any(not torch.equal(before[k], v) for k, v in trainer.model.scorer.state_dict().items())
    assert trainer.model.scorer.to_logit.weight.dtype == torch.float32  # autocast, not a cast of the weights


# ---------------------------------------------------------------- what a transformers user writes


def _tokenized_texts(tokenizer, size=24):
    """A plain tokenized dataset, as users make one: texts of different lengths, unpadded, a label column."""
    from datasets import Dataset

    texts = [" ".join(["the movie was great"] * (1 + i % 4)) if i % 2 else "awful" for i in range(size)]
    raw = Dataset.from_dict({"text": texts, "label": [i % 2 for i in range(size)]})
    return raw.map(lambda batch: tokenizer(batch["text"]), batched=True)


def test_trains_from_a_plain_tokenized_dataset_with_the_scorer_defaults(word_tokenizer, tmp_path, caplog):
    from hf_ssxai import ScorerTrainingArguments
    from hf_ssxai.training.arguments import SCORER_DEFAULTS

    torch.manual_seed(0)
    classifier = tiny_text_classifier("bert", len(word_tokenizer))
    model = AutoModelWithScorer.from_classifier(classifier, SMALL, processor=word_tokenizer)
    args = ScorerTrainingArguments(tmp_path / "out", max_steps=2, per_device_train_batch_size=8, report_to="none")
    assert (args.learning_rate, args.num_train_epochs, args.logging_steps) == (
        SCORER_DEFAULTS["learning_rate"],
        SCORER_DEFAULTS["num_train_epochs"],
        SCORER_DEFAULTS["logging_steps"],
    )
    before = {k: v.clone() for k, v in model.scorer.state_dict().items()}
    trainer = ScorerTrainer(model=model, args=args, train_dataset=_tokenized_texts(word_tokenizer))
    assert trainer.processing_class is word_tokenizer  # taken from the model: batches are padded
    with caplog.at_level("WARNING", logger="hf_ssxai.training.trainer"):
        trainer.train()
    assert "fine-tuning learning rate" not in caplog.text
    assert any(not torch.equal(before[k], v) for k, v in model.scorer.state_dict().items())


def test_plain_training_arguments_with_the_fine_tuning_rate_get_a_warning_naming_the_fix(
    word_tokenizer, tmp_path, caplog
):
    from transformers import TrainingArguments

    model = AutoModelWithScorer.from_classifier(tiny_text_classifier("bert", len(word_tokenizer)), SMALL)
    with caplog.at_level("WARNING", logger="hf_ssxai.training.trainer"):
        ScorerTrainer(model=model, args=TrainingArguments(tmp_path / "out", report_to="none"))
    assert "fine-tuning learning rate 5e-05" in caplog.text and "ScorerTrainingArguments" in caplog.text
    caplog.clear()
    with caplog.at_level("WARNING", logger="hf_ssxai.training.trainer"):
        ScorerTrainer(model=model, args=TrainingArguments(tmp_path / "out", learning_rate=1e-3, report_to="none"))
    assert "learning rate" not in caplog.text
    assert isinstance(ScorerTrainer(model=model).args.learning_rate, float)  # no args: the scorer defaults


def test_trainer_pushes_carry_the_hf_ssxai_card_and_the_scorer(word_tokenizer, tmp_path, monkeypatch):
    from huggingface_hub import ModelCard

    from hf_ssxai import ScorerTrainingArguments
    from tests.checkpoint_helpers import HubRecorder

    hub = HubRecorder().install(monkeypatch)
    torch.manual_seed(0)
    model = AutoModelWithScorer.from_classifier(
        tiny_text_classifier("bert", len(word_tokenizer)), SMALL, processor=word_tokenizer
    )
    args = ScorerTrainingArguments(
        tmp_path / "out",
        max_steps=2,
        per_device_train_batch_size=8,
        save_strategy="steps",
        save_steps=2,
        push_to_hub=True,
        hub_model_id="user/text-ssxai",
        report_to="none",
    )
    trainer = ScorerTrainer(model=model, args=args, train_dataset=_tokenized_texts(word_tokenizer))
    trainer.train()  # pushes at its save
    assert {"scorer/model.safetensors", "scorer/config.json", "README.md"} <= set(hub.files)
    assert ModelCard(hub.readme).data.library_name == "hf_ssxai" and "# user/text-ssxai" in hub.readme
    trainer.push_to_hub(license="apache-2.0", dataset="stanfordnlp/sst2")
    card = ModelCard(hub.readme)
    assert card.data.library_name == "hf_ssxai" and card.data.license == "apache-2.0"
    assert card.data.datasets == ["stanfordnlp/sst2"]
    assert "# user/text-ssxai" in hub.readme and "trained from scratch" not in hub.readme
    assert {"scorer/model.safetensors", "model.safetensors", "tokenizer.json"} <= set(hub.files)
