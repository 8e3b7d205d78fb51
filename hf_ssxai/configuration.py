"""ScorerConfig: everything needed to rebuild a scorer and to check it sits on the right classifier.

Importing this module registers it with ``AutoConfig`` (model type ``ssxai_scorer``), so
``AutoConfig.from_pretrained(checkpoint, subfolder="scorer")`` reads a scorer's config as any transformers config.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any, TypeVar

from huggingface_hub.dataclasses import strict
from huggingface_hub.errors import StrictDataclassError
from transformers import AutoConfig, PreTrainedConfig

from .errors import ConfigError, UnknownKeyError
from .registry import MODALITY_REGISTRY, nearest
from .schema import check_keys

C = TypeVar("C", bound=PreTrainedConfig)

TARGETS = ("label", "prediction", "distribution")
HEAD_NORMALIZATIONS = ("layer", "batch")
IMAGE_DECODERS = ("bilinear", "unet")
#: the pixel skip that may only reorder the classifier's map where the classifier opens a gate (scorers/image.py)
GATED_PIXEL_SKIP = "gated"
#: what a field that each modality chooses (left None) becomes when the modality chooses nothing: for a modality
#: registered without defaults, and for configs saved before the field existed (they reload as they were built)
FALLBACK_OPTIONS = {"image_decoder": "bilinear", "pixel_skip": True, "deletion_weight": 0.0, "use_binary_penalty": True}
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
        head_normalization: a normalization between the ReLU and the sigmoid, as in the thesis' reference code:
            ``"layer"`` standardizes each map over its valid features (the reference code's LayerNorm for text),
            ``"batch"`` over the valid features of the whole batch with running statistics at inference (its
            BatchNorm for images); both with a learned scale and shift. ``None`` (default): no normalization.
            Text-image scorers may take one value per modality, ``{"text": "layer", "image": "batch"}``.
        image_decoder: ``"bilinear"``: feature maps of one resolution (all layers of a ViT) are merged at
            that level and levels are joined by bilinear upsampling. ``"unet"``: the thesis' decoder (section 4.4):
            levels are joined by transposed convolutions, and selected ViT layers (four, evenly spaced, unless
            ``hidden_state_layers`` says) become skips at successively finer levels, the deepest at the patch grid.
        unet_skip_levels: for the U-Net decoder, how many doublings finer than its own resolution each selected
            hidden state joins the decoder (0 for feature maps; ViT layers, which share one resolution, spread over
            finer levels, the deepest at 0); filled when attaching. Levels finer than the classifier's own halve
            the decoder's width per doubling.
        pixel_skip: the image decoder also reads the input pixels through a narrow convolution at full
            resolution. The thesis (section 3.2) argues against it: the scorer can then follow the image instead of
            the classifier (docs/training.md has the measurements). ``"gated"``: the pixels only add a bounded term
            to each logit, ``gate * tanh(...)`` in [-1, 1] with the gate read from the classifier's path, so they can
            reorder pixels the classifier marks alike (which pixel of a patch) but not draw a map of their own.
        confidence_floor: the task terms see each sample's logits sharpened (one temperature per sample, no
            prediction changes) so that the full input's top probability is at least this; 0 switches it off.
            Without it, a classifier that is right but under-confident gives a task loss that masking barely moves,
            and the penalties collapse the map (see :func:`hf_ssxai.losses.loss.sharpening_factor`).
        deletion_weight, insertion_weight: weights of the order terms (see
            :mod:`hf_ssxai.losses.ranking_loss`): with the top q of the map removed the class must be lost, with
            only the top q kept it must stay, q drawn per sample. 0 switches a term off (no extra forward).
            Insertion is off by default.
        contrast_weight: weight of the contrast term: another sample's map, its top q removed from this input, must
            not lose this input's class. A map of one fixed shape (a blob where objects usually lie) fits every
            input and pays for it; a map drawn from this input's evidence does not. One extra classifier forward.
            Off by default: it assumes the evidence lies in different places in different inputs, and where it
            does not (centred digits, overlapping planted squares) it pushes maps off the evidence. The MNIST and
            Imagenette recipes set 1, which passes their cascading sanity checks (docs/training.md).
        image_decoder, pixel_skip, deletion_weight, use_binary_penalty: ``None`` (default) lets the modality choose
            when the scorer is attached (``Modality.default_options``, chosen by measurement in docs/training.md):
            images take the U-Net decoder without the pixel skip, deletion weight 3 and the binary penalty; text no
            deletion term and no binary penalty; text-image the image's decoder and deletion term without the
            binary penalty. A value you set is kept.
        use_magnitude_penalty: the ``mean(S)^2`` penalty that keeps maps small.
        use_binary_penalty: the ``mean((S(1-S))^2)`` penalty that pushes maps towards a binary mask (the thesis'
            eq. 3.4). Without it a text map grades its tokens, and on SST-2 it is then clearer than every other
            method's (docs/training.md).
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
    head_normalization: str | dict[str, str | None] | None = None
    image_decoder: str | None = None
    unet_skip_levels: list[int] | None = None
    pixel_skip: bool | str | None = None
    use_magnitude_penalty: bool = True
    use_binary_penalty: bool | None = None
    use_gamma: bool = True
    confidence_floor: float = 0.0
    deletion_weight: float | None = None
    insertion_weight: float = 0.0
    contrast_weight: float = 0.0
    target: str = "label"
    class_conditional: bool = False
    base_model_name_or_path: str | None = None
    base_model_revision: str | None = None
    base_model_fingerprint: str | None = None
    classifier_hidden_sizes: list[int] | dict[str, list[int]] | None = None
    input_channels: int | None = None
    special_token_ids: list[int] | None = None

    @classmethod
    def thesis(cls, modality: str, **overrides: Any) -> ScorerConfig:
        """The scorer of the thesis' reference code for a registered ``modality`` (e.g. ``"text"``, ``"image"``).

        Each modality declares what its reference scorer did (``Modality.thesis_options``): the text head
        normalizes between the ReLU and the sigmoid with a LayerNorm, the image head with a BatchNorm, and the image
        scorer is the section 4.4 decoder (several ViT layers as skips, transposed convolutions, no input pixels).
        Everything else is this library's default; ``overrides`` change any field. (The thesis trained it with
        AdamW at learning rate 2e-4 for up to 5 epochs with early stopping: training settings, not scorer ones.)
        """
        return cls(**{"modality": modality, **cls.thesis_options(modality), **overrides})

    @staticmethod
    def thesis_options(modality: str) -> dict[str, Any]:
        """The fields in which :meth:`thesis` differs from the defaults: the modality's reference scorer and the
        thesis' loss (eq. 3.4 with its binary penalty, no order term)."""
        if modality not in MODALITY_REGISTRY:
            raise ConfigError(
                f"ScorerConfig.thesis needs a registered modality ({', '.join(MODALITY_REGISTRY)}), got "
                f"{modality!r}{nearest(str(modality), list(MODALITY_REGISTRY))}."
            )
        return {"deletion_weight": 0.0, "use_binary_penalty": True, **MODALITY_REGISTRY[modality].thesis_options}

    def fill_defaults(self, modality_defaults: Mapping[str, Any]) -> None:
        """Set each field left None that a modality chooses (``Modality.default_options``, measured per modality in
        docs/training.md) from ``modality_defaults``, else from :data:`FALLBACK_OPTIONS`. Fields already set stay."""
        for name, fallback in FALLBACK_OPTIONS.items():
            if getattr(self, name) is None:
                setattr(self, name, modality_defaults.get(name, fallback))

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
        norms = self.head_normalization
        for norm in norms.values() if isinstance(norms, dict) else [norms]:
            if norm is not None and norm not in HEAD_NORMALIZATIONS:
                raise ConfigError(
                    f"ScorerConfig.head_normalization must be one of {HEAD_NORMALIZATIONS} or None (or one per "
                    f"modality in a dict), got {norms!r}."
                )
        if isinstance(self.pixel_skip, str) and self.pixel_skip != GATED_PIXEL_SKIP:
            raise ConfigError(
                f"ScorerConfig.pixel_skip must be True, False, {GATED_PIXEL_SKIP!r} or None, got {self.pixel_skip!r}."
            )
        if self.image_decoder is not None and self.image_decoder not in IMAGE_DECODERS:
            raise ConfigError(
                f"ScorerConfig.image_decoder must be one of {IMAGE_DECODERS}, got {self.image_decoder!r}."
            )
        for name in ("deletion_weight", "insertion_weight", "contrast_weight"):
            value = getattr(self, name)
            if value is None and name == "deletion_weight":
                continue
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not value >= 0:
                raise ConfigError(f"ScorerConfig.{name} must be a number >= 0, got {value!r}.")
        floor = self.confidence_floor
        if isinstance(floor, bool) or not isinstance(floor, (int, float)) or not 0 <= floor < 1:
            raise ConfigError(f"ScorerConfig.confidence_floor must lie in [0, 1), got {floor!r}.")
        if self.class_conditional and self.target == "distribution":
            raise ConfigError(
                "ScorerConfig.class_conditional needs target='label' or 'prediction': the 'distribution' target "
                "compares whole output distributions, so it names no class to explain."
            )
        for name in ("hidden_size", "num_hidden_layers", "num_attention_heads"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ConfigError(f"ScorerConfig.{name} must be a positive integer, got {value!r}.")
        sizes = self.classifier_hidden_sizes
        for width in _flat(sizes.values() if isinstance(sizes, dict) else [sizes]):
            if not isinstance(width, int) or isinstance(width, bool) or width < 1:
                raise ConfigError(
                    f"ScorerConfig.classifier_hidden_sizes must hold positive integers (the classifier's hidden "
                    f"widths, filled by from_classifier), got {sizes!r}."
                )
        if self.input_channels is not None and (isinstance(self.input_channels, bool) or self.input_channels < 1):
            raise ConfigError(f"ScorerConfig.input_channels must be a positive integer, got {self.input_channels!r}.")
        if self.hidden_size % self.num_attention_heads:
            raise ConfigError(
                f"ScorerConfig.hidden_size ({self.hidden_size}) must be divisible by "
                f"num_attention_heads ({self.num_attention_heads})."
            )


def _flat(values: Any) -> list[Any]:
    """The leaves of nested lists (None and empty lists give none)."""
    leaves = []
    for value in values:
        if isinstance(value, list):
            leaves.extend(_flat(value))
        elif value is not None:
            leaves.append(value)
    return leaves


AutoConfig.register(ScorerConfig.model_type, ScorerConfig, exist_ok=True)


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
