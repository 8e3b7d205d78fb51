"""Adding a modality is one file and one registration: a toy time-series modality, defined here and nowhere else.

The modality below explains a 1-D signal classifier (also defined here): each time step is a feature, the signal
itself is the maskable tensor, and the scorer is the library's sequence scorer over the classifier's per-step hidden
states. Registered with :func:`hf_ssxai.register_modality`, it goes through the public API like the built-in ones:
attach, forward, a ScorerTrainer step, save and load, a Captum explainer and the perturbation metrics. This is the
worked example of docs/architecture.md.
"""

from __future__ import annotations

from typing import Any

import pytest
import torch
from torch import nn
from transformers import PretrainedConfig, PreTrainedModel
from transformers.modeling_outputs import SequenceClassifierOutput

from hf_ssxai import (
    AutoModelWithScorer,
    InvalidInputError,
    ScorerConfig,
    ScorerTrainer,
    UnsupportedClassifierError,
    get_explainer,
)
from hf_ssxai.metrics import auc, compute_perturbations
from hf_ssxai.modalities import MODALITY_REGISTRY, ModalityCard, SingleModality, register_modality
from hf_ssxai.scorers import TextScorer
from tests.helpers import training_args

LENGTH = 24


# ---------------------------------------------------------------- a 1-D signal classifier, as a transformers model
class SignalConfig(PretrainedConfig):
    model_type = "toy_signal"

    def __init__(self, hidden_size: int = 16, **kwargs: Any):
        self.hidden_size = hidden_size
        super().__init__(**kwargs)


class SignalClassifier(PreTrainedModel):
    """Two 1-D convolutions over ``signal`` ``[batch, steps]``; hidden states are ``[batch, steps, hidden]``."""

    config_class = SignalConfig
    main_input_name = "signal"

    def __init__(self, config: SignalConfig):
        super().__init__(config)
        self.first = nn.Conv1d(1, config.hidden_size, 5, padding=2)
        self.second = nn.Conv1d(config.hidden_size, config.hidden_size, 5, padding=2)
        self.head = nn.Linear(config.hidden_size, config.num_labels)
        self.post_init()

    def forward(
        self,
        signal: torch.Tensor,
        labels: torch.Tensor | None = None,
        output_hidden_states: bool = False,
        **kwargs: Any,
    ):
        first = torch.relu(self.first(signal.unsqueeze(1)))
        second = torch.relu(self.second(first))
        logits = self.head(second.mean(dim=-1))
        loss = nn.functional.cross_entropy(logits, labels) if labels is not None else None
        states = (first.transpose(1, 2), second.transpose(1, 2)) if output_hidden_states else None
        return SequenceClassifierOutput(loss=loss, logits=logits, hidden_states=states)


# ---------------------------------------------------------------- the modality: everything the toolkit needs to know
class SignalModality(SingleModality):
    """Time series: features are time steps; the maskable space is the signal itself (a score of 0 gives 0)."""

    name = "signal"
    main_input = "signal"
    maskable_argument = "signal"
    feature_channel_dim = -1
    auto_model_class = SignalClassifier
    processor_class = PretrainedConfig  # no processor: checkpoints never hold one
    processor_file = "signal_processor.json"
    input_description = "signal (a list of floats)"
    card = ModalityCard(
        scorer_kind="a few self-attention layers over the classifier's per-step hidden states",
        feature="time step",
        limit="Signals are explained at the length they are given.",
        example="signal=torch.randn(1, 24)",
        attribution_shape="[batch, steps]",
        pipeline_fields="[{'label': ..., 'score': ..., 'attributions': <[steps]>}]",
    )

    def check_classifier(self, classifier: nn.Module) -> None:
        if getattr(classifier, "main_input_name", None) != "signal":
            raise UnsupportedClassifierError(f"{type(classifier).__name__} takes no signal.")

    def dummy_inputs(self, classifier: nn.Module, config: ScorerConfig) -> dict[str, torch.Tensor]:
        return {"signal": torch.zeros(1, LENGTH)}

    def default_layers(self, hidden_states: tuple[torch.Tensor, ...]) -> list[int]:
        return [-1]

    def hidden_width(self, hidden_state: torch.Tensor) -> int:
        return hidden_state.shape[-1]

    def build_scorer(self, config: ScorerConfig) -> nn.Module:
        return TextScorer(config)  # the library's scorer of sequences of hidden states

    def scorer_features(self, hidden_states, layers, inputs, classifier) -> list[torch.Tensor]:
        return self.select(hidden_states, layers)

    def validate_inputs(self, classifier: nn.Module, inputs: dict[str, Any]) -> None:
        signal = inputs.get("signal")
        if not isinstance(signal, torch.Tensor) or signal.dim() != 2 or not signal.is_floating_point():
            raise InvalidInputError("signal must be a float tensor [batch, steps].")

    def feature_mask(self, inputs: dict[str, Any], config: ScorerConfig) -> torch.Tensor:
        return torch.ones_like(inputs["signal"], dtype=torch.bool)

    def split_inputs(self, classifier: nn.Module, inputs: dict[str, Any]) -> tuple[torch.Tensor, dict[str, Any]]:
        return inputs["signal"], {key: value for key, value in inputs.items() if key != "signal"}

    def expand_scores(self, scores: torch.Tensor) -> torch.Tensor:
        return scores

    def reduce_to_features(self, attribution: torch.Tensor) -> torch.Tensor:
        return attribution  # one value per step already

    def random_keep_mask(self, feature_mask: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        return (torch.rand(feature_mask.shape, generator=generator) < 0.5).float()

    def masking_hooks(self, classifier, masked, config) -> list[Any]:
        def hook(module, args, kwargs):
            if module.training and kwargs.get("signal") is not None:
                kwargs["signal"] = masked(self, kwargs["signal"], self.feature_mask(kwargs, config))
            return args, kwargs

        return [classifier.register_forward_pre_hook(hook, with_kwargs=True)]

    def encode_dataset(self, dataset, processor, *, max_length, batch_size):
        return dataset.with_format("torch")

    def prepare_inputs(self, items, processor, offset, max_length, within=None):
        return {"signal": torch.tensor(items, dtype=torch.float32)}, len(items)

    def explanations(self, context, attributions, feature_mask, offset, max_length) -> list[dict[str, Any]]:
        return [{"attributions": attributions[index]} for index in range(context)]


@pytest.fixture
def signal_modality():
    """The one registration (a test unregisters it again, so other tests see only the built-in modalities)."""
    modality = register_modality(SignalModality())
    yield modality
    MODALITY_REGISTRY.unregister(modality.name)


def _signals(count: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Noise with a bump in the first (label 0) or the second half (label 1): the evidence is where the bump is."""
    generator = torch.Generator().manual_seed(seed)
    labels = torch.randint(2, (count,), generator=generator)
    signals = 0.1 * torch.randn(count, LENGTH, generator=generator)
    for index, label in enumerate(labels.tolist()):
        start = int(torch.randint(0, LENGTH // 2 - 4, (1,), generator=generator)) + label * LENGTH // 2
        signals[index, start : start + 4] += 1.0
    return signals, labels


def test_a_registered_modality_attaches_trains_saves_loads_and_is_explained(signal_modality, tmp_path):
    torch.manual_seed(0)
    classifier = SignalClassifier(SignalConfig(num_labels=2))
    config = ScorerConfig(hidden_size=16, num_hidden_layers=1, num_attention_heads=2)
    model = AutoModelWithScorer.from_classifier(classifier, config)  # the modality is inferred from main_input
    assert model.scorer_config.modality == "signal" and model.modality is signal_modality

    signals, labels = _signals(8, seed=0)
    out = model(signal=signals)
    assert out.attributions.shape == (8, LENGTH)
    assert out.attributions.min() >= 0.0 and out.attributions.max() <= 1.0
    torch.testing.assert_close(out.logits, classifier(signal=signals).logits)  # the prediction is the classifier's

    from datasets import Dataset

    train = Dataset.from_dict({"signal": signals.tolist(), "labels": labels.tolist()})
    before = {name: value.clone() for name, value in model.scorer.state_dict().items()}
    trainer = ScorerTrainer(model=model, args=training_args(tmp_path / "run", max_steps=2), train_dataset=train)
    trainer.train()
    assert any(not torch.equal(before[name], value) for name, value in model.scorer.state_dict().items())
    assert all(not p.requires_grad for p in model.classifier.parameters())

    model.eval().save_pretrained(tmp_path / "checkpoint")
    loaded = AutoModelWithScorer.from_pretrained(tmp_path / "checkpoint")
    assert isinstance(loaded.classifier, SignalClassifier) and loaded.modality is signal_modality
    with torch.no_grad():
        torch.testing.assert_close(loaded(signal=signals).attributions, model(signal=signals).attributions)

    saliency = get_explainer("saliency", loaded).attribute({"signal": signals})
    assert saliency.attributions.shape == (8, LENGTH)
    curves = compute_perturbations(loaded, {"signal": signals}, saliency.attributions)
    assert auc(curves.deletion_curve).shape == (8,)


def test_an_unregistered_modality_is_refused_by_name():
    with pytest.raises(Exception, match="signal"):
        ScorerConfig(modality="signal")
