"""Large classifiers: activation checkpointing of the frozen classifier's masked forward keeps the loss and the
gradients and far fewer activations for the backward (measured by the bytes autograd saves), in eval mode, switched on
by TrainingArguments; a bf16 classifier trains in bf16 and reloads as it was."""

import pytest
import torch
from transformers import (
    BertConfig,
    BertForSequenceClassification,
    Qwen2Config,
    Qwen2ForSequenceClassification,
    TrainingArguments,
)

from hf_ssxai import AutoModelWithScorer, ScorerConfig, ScorerTrainer
from hf_ssxai.errors import ConfigError, UnsupportedClassifierError
from tests.helpers import tiny_image_classifier

SIZES = {"hidden_size": 64, "num_hidden_layers": 4, "num_attention_heads": 4, "intermediate_size": 128}
SCORER = ScorerConfig(hidden_size=16, num_hidden_layers=1, num_attention_heads=2, target="prediction")


def _classifier(family: str) -> torch.nn.Module:
    torch.manual_seed(0)
    if family == "qwen2":  # a decoder with a key/value cache, which a recomputed layer must not write twice
        config = Qwen2Config(vocab_size=100, num_key_value_heads=2, pad_token_id=0, **SIZES)
        return Qwen2ForSequenceClassification(config)
    return BertForSequenceClassification(BertConfig(vocab_size=100, **SIZES))


def _step(model: AutoModelWithScorer, batch: dict) -> tuple[torch.Tensor, dict, int]:
    """Loss, scorer gradients and the bytes autograd keeps for the backward in one training step."""
    model.zero_grad()
    kept = []

    def pack(tensor: torch.Tensor) -> torch.Tensor:
        kept.append(tensor.numel() * tensor.element_size())
        return tensor

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda tensor: tensor):
        outputs = model(**batch, return_loss=True)
    outputs.loss.backward()
    gradients = {name: p.grad.clone() for name, p in model.scorer.named_parameters() if p.grad is not None}
    return outputs.loss.detach(), gradients, sum(kept)


@pytest.mark.parametrize("family", ["bert", "qwen2"])
def test_checkpointing_keeps_the_loss_and_gradients_and_keeps_far_fewer_activations(family):
    model = AutoModelWithScorer.from_classifier(_classifier(family), SCORER).train()
    torch.manual_seed(1)
    batch = {"input_ids": torch.randint(5, 100, (2, 48)), "attention_mask": torch.ones(2, 48, dtype=torch.long)}
    loss, gradients, kept = _step(model, batch)

    model.activation_checkpointing_enable()
    assert not model.classifier.training, "the classifier must stay in eval mode (no dropout, frozen norms)"
    checkpointed_loss, checkpointed_gradients, checkpointed_kept = _step(model, batch)
    assert torch.equal(loss, checkpointed_loss)
    assert gradients.keys() == checkpointed_gradients.keys() and gradients
    for name, gradient in gradients.items():
        torch.testing.assert_close(checkpointed_gradients[name], gradient, rtol=0, atol=1e-7, msg=name)
    # four layers keep only their inputs: well under half of the activations are kept
    assert checkpointed_kept < 0.4 * kept, (checkpointed_kept, kept)

    model.activation_checkpointing_enable(offload=True)  # the kept inputs wait in host memory (here: already there)
    offloaded_loss, offloaded_gradients, _ = _step(model, batch)
    assert torch.equal(loss, offloaded_loss)
    for name, gradient in gradients.items():
        torch.testing.assert_close(offloaded_gradients[name], gradient, rtol=0, atol=1e-7, msg=name)

    model.activation_checkpointing_enable(every_n_layers=2)  # half the layers: in between
    _, _, half_kept = _step(model, batch)
    assert checkpointed_kept < half_kept < kept

    model.activation_checkpointing_disable()
    assert not model.is_activation_checkpointing
    assert _step(model, batch)[2] == kept


def test_predictions_without_gradients_are_unchanged():
    model = AutoModelWithScorer.from_classifier(_classifier("bert"), SCORER).eval()
    batch = {"input_ids": torch.randint(5, 100, (3, 20))}
    with torch.no_grad():
        before = model(**batch)
        model.activation_checkpointing_enable()
        after = model(**batch)
    assert torch.equal(before.logits, after.logits)
    assert torch.equal(before.attributions, after.attributions)


def test_training_arguments_switch_it_on(tmp_path):
    model = AutoModelWithScorer.from_classifier(_classifier("bert"), SCORER)
    args = TrainingArguments(
        tmp_path, activation_checkpointing=True, use_cpu=True, report_to="none", max_steps=2, learning_rate=2e-3
    )
    train = [{"input_ids": torch.randint(5, 100, (12,)), "attention_mask": torch.ones(12, dtype=torch.long)}] * 8
    before = {name: p.detach().clone() for name, p in model.scorer.named_parameters()}
    ScorerTrainer(model=model, args=args, train_dataset=train).train()
    assert model.is_activation_checkpointing
    assert any(not torch.equal(before[name], p) for name, p in model.scorer.named_parameters()), "nothing trained"


def test_a_classifier_without_checkpointable_layers_is_refused_clearly():
    model = AutoModelWithScorer.from_classifier(tiny_image_classifier("resnet"), SCORER)
    with pytest.raises(UnsupportedClassifierError, match="ResNetForImageClassification has no layers .* without"):
        model.activation_checkpointing_enable()
    model.activation_checkpointing_disable()  # nothing to undo: no error
    bert = AutoModelWithScorer.from_classifier(_classifier("bert"), SCORER)
    with pytest.raises(ConfigError, match="every_n_layers must be 1 or more"):
        bert.activation_checkpointing_enable(every_n_layers=0)


def test_fsdp_wraps_each_classifier_layer():
    model = AutoModelWithScorer.from_classifier(_classifier("qwen2"), SCORER)
    assert model._no_split_modules == ["Qwen2DecoderLayer"]


def test_a_bf16_classifier_trains_in_bf16_with_checkpointing_and_reloads_as_it_was(tmp_path):
    """bf16 throughout: the frozen classifier stored in bf16, the scorer's weights in float32 under bf16 autocast
    (TrainingArguments(bf16=True)); the checkpoint keeps both dtypes and reproduces the trained model's outputs."""
    model = AutoModelWithScorer.from_classifier(_classifier("bert").to(torch.bfloat16), SCORER)
    args = TrainingArguments(
        tmp_path,
        bf16=True,
        activation_checkpointing=True,
        use_cpu=True,
        report_to="none",
        max_steps=3,
        learning_rate=2e-3,
        save_strategy="steps",
        save_steps=3,
    )
    torch.manual_seed(0)
    train = [{"input_ids": torch.randint(5, 100, (12,)), "attention_mask": torch.ones(12, dtype=torch.long)}] * 8
    ScorerTrainer(model=model, args=args, train_dataset=train).train()
    reloaded = AutoModelWithScorer.from_pretrained(tmp_path / "checkpoint-3")
    assert {p.dtype for p in reloaded.classifier.parameters()} == {torch.bfloat16}
    assert {p.dtype for p in reloaded.scorer.parameters()} == {torch.float32}
    trained = model.scorer.state_dict()
    assert all(torch.equal(tensor, trained[name]) for name, tensor in reloaded.scorer.state_dict().items())
    batch = {"input_ids": torch.randint(5, 100, (3, 16))}
    # accelerate runs the trained model's forward under bf16 autocast from here on: compare under the same
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
        expected, actual = model.eval()(**batch), reloaded(**batch)
    assert torch.equal(expected.logits, actual.logits)
    assert torch.equal(expected.attributions, actual.attributions)
