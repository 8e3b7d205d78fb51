"""What a modality must know so that a scorer, an explainer or a metric can work on it.

A modality turns classifier inputs into a *maskable* tensor (word embeddings, normalized pixels),
says which features are valid, runs the classifier on a masked copy, and shapes the classifier's
hidden states for the scorer. Every other part of the toolkit goes through this interface, so a
new modality (audio, time series) is one new file in this folder.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from typing import Any

import torch
from torch import nn

from ..configuration import ScorerConfig
from ..errors import UnsupportedClassifierError

#: in the masked logits of a multimodal classifier, the key of those with every modality masked (the other keys are
#: modality names, each masked alone)
ALL_MASKED = "all"


def each_map(function: Callable[..., Any], *maps: Any) -> Any:
    """``function`` applied to one map, or to each modality's map when the maps are dicts (one per modality)."""
    if isinstance(maps[0], Mapping):
        return {name: function(*(m[name] for m in maps)) for name in maps[0]}
    return function(*maps)


def first_map(maps: Any) -> torch.Tensor:
    """A map, or the first modality's map of a dict: for the batch size and the device."""
    return next(iter(maps.values())) if isinstance(maps, Mapping) else maps


class Modality(ABC):
    """Shared behaviour of the text and image modalities."""

    name: str
    #: the argument of the classifier's forward that receives the maskable tensor
    maskable_argument: str
    #: the dimension of the maskable tensor that one feature spans (summed when reducing to features)
    feature_channel_dim: int
    #: inputs the modality reads itself and never passes to the classifier
    extra_input_names: tuple[str, ...] = ()

    @property
    def parts(self) -> dict[str, Modality]:
        """The single-modality parts, by name: the modality itself, or each modality of a multimodal one."""
        return {self.name: self}

    # ---------------------------------------------------------------- classifier checks
    @abstractmethod
    def check_classifier(self, classifier: nn.Module) -> None:
        """Raise :class:`UnsupportedClassifierError` if the classifier cannot carry a scorer."""

    @abstractmethod
    def dummy_inputs(self, classifier: nn.Module, config: ScorerConfig) -> dict[str, torch.Tensor]:
        """A tiny valid batch, used once to read the shapes of the classifier's hidden states."""

    def attach(self, classifier: nn.Module, config: ScorerConfig, processor: Any = None) -> None:
        """Fill the config fields that depend on the classifier: which hidden states feed the scorer and their widths
        (the modalities add what else they need, e.g. special tokens or input channels)."""
        hidden_states = self.probe_hidden_states(classifier, config)
        layers = list(config.hidden_state_layers or self.default_layers(hidden_states))
        config.hidden_state_layers = layers
        config.classifier_hidden_sizes = [self.hidden_width(h) for h in self.select(hidden_states, layers)]

    def hidden_states(self, outputs: Any) -> Any:
        """What the scorer reads from the classifier's output (run with ``output_hidden_states=True``)."""
        return getattr(outputs, "hidden_states", None)

    def probe_hidden_states(self, classifier: nn.Module, config: ScorerConfig) -> tuple[torch.Tensor, ...]:
        """Run the classifier once on dummy inputs and return its hidden states (checking they exist)."""
        with torch.no_grad():
            outputs = classifier(**self.dummy_inputs(classifier, config), output_hidden_states=True, return_dict=True)
        hidden_states = self.hidden_states(outputs)
        if not hidden_states:
            raise UnsupportedClassifierError(
                f"{type(classifier).__name__} returned no hidden_states with output_hidden_states=True; "
                "the scorer reads them. Use a classifier whose forward supports output_hidden_states."
            )
        return tuple(hidden_states)

    @abstractmethod
    def default_layers(self, hidden_states: tuple[torch.Tensor, ...]) -> list[int]:
        """Which hidden states feed the scorer when the config does not say."""

    @abstractmethod
    def hidden_width(self, hidden_state: torch.Tensor) -> int:
        """Width (channels) of one hidden state as the scorer will see it."""

    # ---------------------------------------------------------------- inputs and features
    @abstractmethod
    def validate_inputs(self, classifier: nn.Module, inputs: dict[str, Any]) -> None:
        """Raise :class:`InvalidInputError` with a fix when the inputs cannot go through the classifier."""

    def classifier_inputs(self, inputs: dict[str, Any]) -> dict[str, Any]:
        """The inputs without the extras only the modality reads."""
        return {key: value for key, value in inputs.items() if key not in self.extra_input_names}

    @abstractmethod
    def feature_mask(self, inputs: dict[str, Any], config: ScorerConfig) -> torch.Tensor:
        """Boolean mask of valid features, shape ``[batch, *feature_shape]``."""

    @abstractmethod
    def split_inputs(self, classifier: nn.Module, inputs: dict[str, Any]) -> tuple[torch.Tensor, dict[str, Any]]:
        """Return ``(maskable, forward_kwargs)``: the tensor scores act on and the other classifier arguments."""

    @abstractmethod
    def expand_scores(self, scores: torch.Tensor) -> torch.Tensor:
        """Broadcast a ``[batch, *feature_shape]`` map to the shape of the maskable tensor."""

    @abstractmethod
    def random_keep_mask(self, feature_mask: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """A random map of 0/1 scores over the features (for masking augmentation), ``feature_mask``'s shape."""

    def reduce_to_features(self, attribution: torch.Tensor) -> torch.Tensor:
        """Sum an attribution over the maskable space's channel dimension: one value per feature."""
        return attribution.sum(dim=self.feature_channel_dim)

    def apply_scores(self, maskable: torch.Tensor, scores: torch.Tensor, feature_mask: torch.Tensor) -> torch.Tensor:
        """Weight each valid feature by its score; features that are not valid are left untouched."""
        keep = torch.where(feature_mask, scores, torch.ones_like(scores)).to(maskable.dtype)
        return maskable * self.expand_scores(keep)

    def forward_from_maskable(
        self, classifier: nn.Module, maskable: torch.Tensor, forward_kwargs: dict[str, Any]
    ) -> torch.Tensor:
        """Logits of the classifier on a (possibly masked) maskable tensor."""
        return classifier(**forward_kwargs, **{self.maskable_argument: maskable}, return_dict=True).logits

    def masked_logits(
        self, classifier: nn.Module, inputs: dict[str, Any], scores: torch.Tensor, feature_mask: torch.Tensor
    ) -> torch.Tensor:
        """Logits of the classifier on ``inputs`` (its own arguments) weighted feature by feature by ``scores``."""
        maskable, forward_kwargs = self.split_inputs(classifier, inputs)
        return self.forward_from_maskable(classifier, self.apply_scores(maskable, scores, feature_mask), forward_kwargs)

    # ---------------------------------------------------------------- scorer inputs
    @abstractmethod
    def scorer_features(
        self,
        hidden_states: tuple[torch.Tensor, ...],
        layers: list[int],
        inputs: dict[str, Any],
        classifier: nn.Module,
    ) -> list[torch.Tensor]:
        """The selected hidden states, shaped as the modality's scorer expects them."""

    def select(self, hidden_states: tuple[torch.Tensor, ...], layers: list[int]) -> list[torch.Tensor]:
        """Pick hidden states by (possibly negative) index, with a clear error when out of range."""
        count = len(hidden_states)
        for index in layers:
            if not -count <= index < count:
                raise UnsupportedClassifierError(
                    f"ScorerConfig.hidden_state_layers asks for hidden state {index}, but this classifier "
                    f"returns {count} (valid indices: {-count}..{count - 1})."
                )
        return [hidden_states[index] for index in layers]
