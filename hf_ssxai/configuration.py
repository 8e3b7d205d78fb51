"""ScorerConfig: everything needed to rebuild a scorer and to check it sits on the right classifier."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any, TypeVar

from huggingface_hub.dataclasses import strict
from huggingface_hub.errors import StrictDataclassError
from transformers import PreTrainedConfig

from .errors import ConfigError, UnknownKeyError
from .registry import MODALITY_REGISTRY, nearest
from .schema import check_keys

C = TypeVar("C", bound=PreTrainedConfig)

TARGETS = ("label", "prediction", "distribution")
#: keys every transformers config may carry (a saved config.json holds some of them)
_GENERIC_CONFIG_KEYS = frozenset(PreTrainedConfig().to_dict()) | {"model_type"}


@strict
class ScorerConfig(PreTrainedConfig):
    r"""Configuration of a scorer attached to a frozen classifier.

    Args:
        modality: a registered modality (``"text"``, ``"image"``, ``"text-image"``: a fusion classifier, two
            scorers; see :mod:`hf_ssxai.modalities`); ``None`` lets :meth:`AutoModelWithScorer.from_classifier`
            infer it.
        hidden_size: width of the scorer network.
        num_hidden_layers: depth of the scorer (transformer layers for text, convolution blocks per
            decoder level for images).
        num_attention_heads: attention heads of the text scorer.
        hidden_state_layers: indices into the classifier's ``hidden_states`` that feed the scorer
            (negative indices count from the end). ``None`` picks a default when attaching: the last
            layer for text, the deepest map of every resolution for images. Text-image scorers take one list per
            modality, ``{"text": [...], "image": [...]}``, indexing that modality's encoder.
        use_relu, use_sigmoid, use_rescale: the head, logit -> ReLU -> sigmoid -> min-max over valid
            features. Each step can be switched off for the ablation of the thesis (tables 5.10, 5.11).
        use_magnitude_penalty: the ``mean(S)^2`` penalty that keeps maps small.
        use_binary_penalty: the ``mean((S(1-S))^2)`` penalty that pushes maps towards a binary mask.
        use_gamma: self-calibration of both penalties by ``gamma = min(1, 1/max(delta, 0))``; off means
            ``gamma = 1`` always.
        target: what the task loss compares against: the dataset ``"label"``, the classifier's own
            ``"prediction"`` (needs no labels), or its full output ``"distribution"`` (KL divergence).
        class_conditional: the class to explain is an input of the scorer (``model(**inputs, target_class=c)``),
            so it can explain any class, not only the prediction. Training draws the class from ``target`` (label
            or prediction) for half the samples and from the other classes for the rest; needs ``target`` to be
            ``"label"`` or ``"prediction"``. ``num_labels`` (the classifier's class count) is filled when attaching.
        base_model_name_or_path, base_model_revision: where the classifier comes from, so a
            scorer-only checkpoint can find it (as PEFT adapters do).
        base_model_fingerprint: hash of the classifier weights the scorer was trained against.
        classifier_hidden_sizes: widths (channels) of the selected hidden states; filled when attaching (text-image:
            one list per modality, ending with the width of the fusion layers that condition it).
        input_channels: channels of the image input; filled when attaching an image classifier.
        special_token_ids: token ids that are never features (``[CLS]``, ``[SEP]``, padding, ...).
    """

    model_type = "ssxai_scorer"

    modality: str | None = None
    hidden_size: int = 128
    num_hidden_layers: int = 2
    num_attention_heads: int = 4
    hidden_state_layers: list[int] | dict[str, list[int]] | None = None
    use_relu: bool = True
    use_sigmoid: bool = True
    use_rescale: bool = True
    use_magnitude_penalty: bool = True
    use_binary_penalty: bool = True
    use_gamma: bool = True
    target: str = "label"
    class_conditional: bool = False
    base_model_name_or_path: str | None = None
    base_model_revision: str | None = None
    base_model_fingerprint: str | None = None
    classifier_hidden_sizes: list[int] | dict[str, list[int]] | None = None
    input_channels: int | None = None
    special_token_ids: list[int] | None = None

    def validate_choices(self) -> None:
        """Refuse values that would only fail later, deep inside training, and names that are no field."""
        fields = {field.name for field in dataclasses.fields(self)}
        allowed = fields | _GENERIC_CONFIG_KEYS
        if unknown := sorted(name for name in vars(self) if not name.startswith("_") and name not in allowed):
            raise UnknownKeyError(
                f"ScorerConfig has no field {unknown[0]!r}{nearest(unknown[0], fields)} (a typo, or a config written "
                f"by a newer hf_ssxai?). Fields: {', '.join(sorted(fields))}."
            )
        if self.modality is not None and self.modality not in MODALITY_REGISTRY:
            raise ConfigError(
                f"ScorerConfig.modality must be a registered modality ({', '.join(MODALITY_REGISTRY)}) or None, got "
                f"{self.modality!r}{nearest(self.modality, list(MODALITY_REGISTRY))}."
            )
        if self.target not in TARGETS:
            raise ConfigError(f"ScorerConfig.target must be one of {TARGETS}, got {self.target!r}.")
        if self.class_conditional and self.target == "distribution":
            raise ConfigError(
                "ScorerConfig.class_conditional needs target='label' or 'prediction': the 'distribution' target "
                "compares whole output distributions, so it names no class to explain."
            )
        for name in ("hidden_size", "num_hidden_layers", "num_attention_heads"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ConfigError(f"ScorerConfig.{name} must be a positive integer, got {value!r}.")
        if self.hidden_size % self.num_attention_heads:
            raise ConfigError(
                f"ScorerConfig.hidden_size ({self.hidden_size}) must be divisible by "
                f"num_attention_heads ({self.num_attention_heads})."
            )


def build_config(cls: type[C], values: Mapping[str, Any], section: str, extra_keys: tuple[str, ...] = ()) -> C:
    """``cls(**values)`` from user data (a recipe section, command-line options): a key that is no field of ``cls``
    (``extra_keys`` allowed too) is an :class:`UnknownKeyError` naming the nearest field, and a value the strict
    dataclass refuses a :class:`ConfigError` (not ``huggingface_hub``'s wrapper)."""
    fields = {field.name for field in dataclasses.fields(cls)}
    check_keys(values, fields | set(extra_keys), section)
    try:
        return cls(**values)
    except StrictDataclassError as error:
        cause = error.__cause__ if isinstance(error.__cause__, ConfigError) else error
        raise ConfigError(f"{section}: {cause}") from error
