"""What a modality of several parts (text-image) does part by part: every map and mask is a dict, one per part."""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Mapping
from dataclasses import replace
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

from ..configuration import ScorerConfig
from ..errors import InvalidInputError
from ..scorers import MultimodalScorer
from .base import Masking, Modality
from .evidence import AUTO, EvidenceReading

if TYPE_CHECKING:
    from datasets import Dataset


class MultimodalModality(Modality):
    """A classifier of several inputs at once; ``parts`` are the single modalities it is made of."""

    #: the single-modality parts, by name, in the order their maps are built and reported
    part_modalities: dict[str, Modality]

    @property
    def parts(self) -> dict[str, Modality]:
        return self.part_modalities

    @property
    def thesis_options(self) -> dict[str, Any]:
        """The parts' thesis options; the head normalization, which differs between parts, one per part."""
        options = {key: value for part in self.parts.values() for key, value in part.thesis_options.items()}
        options["head_normalization"] = {
            name: part.thesis_options.get("head_normalization") for name, part in self.parts.items()
        }
        return options

    # ---------------------------------------------------------------- the scorer
    def build_scorer(self, config: ScorerConfig) -> nn.Module:
        """One scorer per part, each built by its modality from the part's slice of the config."""
        return MultimodalScorer(config, {name: part.build_scorer for name, part in self.parts.items()})

    # ---------------------------------------------------------------- features, part by part
    def feature_mask(self, inputs: dict[str, Any], config: ScorerConfig) -> dict[str, torch.Tensor]:
        return {name: part.feature_mask(inputs, config) for name, part in self.parts.items()}

    def expand_scores(self, scores: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        return {name: part.expand_scores(scores[name]) for name, part in self.parts.items()}

    def random_keep_mask(
        self, feature_mask: Mapping[str, torch.Tensor], generator: torch.Generator | None = None
    ) -> dict[str, torch.Tensor]:
        return {name: part.random_keep_mask(feature_mask[name], generator) for name, part in self.parts.items()}

    def reduce_to_features(self, attribution: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        return {name: part.reduce_to_features(attribution[name]) for name, part in self.parts.items()}

    def apply_scores(
        self,
        maskable: Mapping[str, torch.Tensor],
        scores: Mapping[str, torch.Tensor],
        feature_mask: Mapping[str, torch.Tensor],
    ) -> dict[str, torch.Tensor]:
        """Each part weighted by its own map (features that are not valid are left untouched)."""
        return {
            name: part.apply_scores(maskable[name], scores[name], feature_mask[name])
            for name, part in self.parts.items()
        }

    def run_from_maskable(
        self,
        classifier: nn.Module,
        maskable: Mapping[str, torch.Tensor],
        forward_kwargs: dict[str, Any],
        **options: Any,
    ) -> Any:
        """Each part's maskable tensor passed as the argument its modality names (``inputs_embeds``,
        ``pixel_values``)."""
        arguments = {part.maskable_argument: maskable[name] for name, part in self.parts.items()}
        return classifier(**forward_kwargs, **arguments, **options, return_dict=True)

    def masking_hooks(self, classifier: nn.Module, masked: Masking, config: ScorerConfig) -> list[Any]:
        """Every part is masked where its own modality masks it, drawn independently."""
        return [handle for part in self.parts.values() for handle in part.masking_hooks(classifier, masked, config)]

    # ---------------------------------------------------------------- evidence, part by part
    def evidence_columns(self, column: Any) -> dict[str, str]:
        """``column`` as a dict part -> evidence column, or :class:`InvalidInputError` saying how to give it."""
        if not isinstance(column, Mapping) or any(name not in self.parts for name in column):
            example = ", ".join(f"{name!r}: 'evidence_{name}'" for name in self.parts)
            raise InvalidInputError(
                f"{self.description.capitalize()} model takes evidence_column as a dict per modality, e.g. "
                f"{{{example}}}; got {column!r}."
            )
        return dict(column)

    def encode_evidence(self, dataset: Dataset, processor: Any, reading: EvidenceReading) -> Dataset:
        """Each part's evidence column encoded by that part with its own processor; ``reading.evidence_format`` is
        one format for every part or a dict part -> format."""
        columns, formats = self.evidence_columns(reading.column), reading.evidence_format
        for name, column in columns.items():
            part = self.parts[name]
            part_format = formats.get(name, AUTO) if isinstance(formats, Mapping) else formats
            part_reading = replace(reading, column=column, evidence_format=part_format)
            dataset = part.encode_evidence(dataset, self.part_processor(processor, part), part_reading)
        return dataset

    def evidence_mask(
        self, rows: Mapping[str, Any], reading: EvidenceReading, feature_mask: Any, processor: Any, main_input: str
    ) -> dict[str, torch.Tensor]:
        """One evidence mask per part named in ``reading.column`` (a dict part -> column), each read by its part."""
        masks = {}
        for name, column in self.evidence_columns(reading.column).items():
            part = self.parts[name]
            part_main_input = getattr(part, "main_input", main_input)
            part_processor = self.part_processor(processor, part)
            part_reading = replace(reading, column=column)
            masks[name] = part.evidence_mask(rows, part_reading, feature_mask[name], part_processor, part_main_input)
        return masks

    # ---------------------------------------------------------------- the pipeline
    def input_length_limit(self, processor: Any, classifier_config: Any) -> int | None:
        limits = [
            part.input_length_limit(self.part_processor(processor, part), classifier_config)
            for part in self.parts.values()
        ]
        limits = [limit for limit in limits if limit is not None]
        return min(limits) if limits else None

    def part_processor(self, processor: Any, part: Modality) -> Any:
        return getattr(processor, part.processor_attribute, None)

    def check_processor(self, processor: Any) -> None:
        """A processor with one processor per part (a ``ProcessorMixin`` such as the FusionProcessor)."""
        if any(self.part_processor(processor, part) is None for part in self.parts.values()):
            needed = " and ".join(part.processor_description for part in self.parts.values())
            raise InvalidInputError(
                f"{self.description.capitalize()} model needs a processor with {needed} (a ProcessorMixin such as "
                f"hf_ssxai.FusionProcessor); got {type(processor).__name__}."
            )
        for part in self.parts.values():
            part.check_processor(self.part_processor(processor, part))

    @abstractmethod
    def split_items(self, items: list[Any], offset: int) -> dict[str, list[Any]]:
        """The raw inputs of each part (input ``offset + i`` is ``items[i]``), or :class:`InvalidInputError`."""

    def prepare_inputs(
        self, items: list[Any], processor: Any, offset: int, max_length: int | None, within: Modality | None = None
    ) -> tuple[dict[str, torch.Tensor], Any]:
        inputs: dict[str, torch.Tensor] = {}
        contexts = {}
        for name, part_items in self.split_items(items, offset).items():
            part = self.parts[name]
            part_processor = self.part_processor(processor, part)
            part_inputs, contexts[name] = part.prepare_inputs(part_items, part_processor, offset, max_length, self)
            inputs.update(part_inputs)
        return inputs, contexts

    def item_maps(self, context: Any, attributions: Any, feature_mask: Any) -> tuple[Any, Any]:
        """Each part's maps as that part cuts them."""
        cut = {
            name: part.item_maps(context[name], attributions[name], feature_mask[name])
            for name, part in self.parts.items()
        }
        return {name: maps for name, (maps, _) in cut.items()}, {name: mask for name, (_, mask) in cut.items()}

    def explanation_columns(self, explanation: dict[str, Any], map_format: str) -> dict[str, Any]:
        """Each part's columns, named ``<part>_<column>`` (``text_words``, ``image_map``)."""
        return {
            f"{name}_{column}": value
            for name, part in self.parts.items()
            for column, value in part.explanation_columns(explanation[name], map_format).items()
        }

    def explanations(
        self, context: Any, attributions: Any, feature_mask: Any, offset: int, max_length: int | None
    ) -> list[dict[str, Any]]:
        """Per input: one part of the result per modality, each as that modality explains it alone."""
        per_part = {
            name: part.explanations(context[name], attributions[name], feature_mask[name], offset, max_length)
            for name, part in self.parts.items()
        }
        count = len(next(iter(per_part.values())))
        return [{name: results[index] for name, results in per_part.items()} for index in range(count)]
