"""What a modality must know so that a scorer, an explainer, a metric, the benchmark or the pipeline can work on it.

A modality turns classifier inputs into a *maskable* tensor (word embeddings, normalized pixels), says which
features are valid, runs the classifier on a masked copy, and shapes the classifier's hidden states for the scorer.
It also declares everything else that differs between modalities: the Auto classes that load its classifiers and
processors, its scorer network, how raw datasets become model inputs and rows become batches, how the pipeline
turns raw inputs into model inputs and explanations into results, and what a model card says about it. Every other
part of the toolkit goes through this interface, so a new modality (audio, time series) is one new file in this
folder and one :func:`~hf_ssxai.modalities.register_modality` call.
"""

from __future__ import annotations

import logging
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import torch
from torch import nn
from transformers import PretrainedConfig
from transformers.utils import ModelOutput

from ..configuration import ScorerConfig
from ..errors import InvalidInputError, UnsupportedClassifierError
from .evidence import EvidenceReading, check_format, decode_cell, feature_flags, quote, row_error

if TYPE_CHECKING:
    from datasets import Dataset

logger = logging.getLogger(__name__)

NO_PROCESSOR = "No tokenizer or image processor: save one with the classifier or pass processor=."
#: how to pass evidence that is not yet per feature (spans, boxes), for messages
CONVERT_FIRST = (
    "Evidence as text spans, character offsets, words or boxes is mapped to features when the raw inputs are "
    "processed: pass the raw dataset through hf_ssxai.benchmark.prepare_dataset(model, raw, columns, "
    "evidence_column=...), as the command line does."
)
#: in the masked logits of a multimodal classifier, the key of those with every modality masked (the other keys are
#: modality names, each masked alone)
ALL_MASKED = "all"
#: what a classifier raises when it cannot run on the probe (it needs other inputs, or other sizes)
PROBE_FAILURES = (RuntimeError, ValueError, TypeError, IndexError, KeyError, AttributeError, NotImplementedError)
#: how an explained dataset stores a map over pixels: a float16 array, or an 8-bit greyscale PNG (both at the
#: processed resolution; see :meth:`Modality.explanation_columns`)
MAP_FORMATS = ("float16", "png")
#: ``masked(part, maskable, feature_mask)``: a random masking of one part's maskable tensor (masking augmentation)
Masking = Callable[["Modality", torch.Tensor, torch.Tensor], torch.Tensor]


def each_map(function: Callable[..., Any], *maps: Any) -> Any:
    """``function`` applied to one map, or to each modality's map when the maps are dicts (one per modality)."""
    if isinstance(maps[0], Mapping):
        return {name: function(*(m[name] for m in maps)) for name in maps[0]}
    return function(*maps)


def first_map(maps: Any) -> torch.Tensor:
    """A map, or the first modality's map of a dict: for the batch size and the device."""
    return next(iter(maps.values())) if isinstance(maps, Mapping) else maps


def article(word: str) -> str:
    """``word`` with its indefinite article: ``a text``, ``an image``."""
    return f"{'an' if word[0] in 'aeiou' else 'a'} {word}"


@dataclass(frozen=True)
class ModalityCard:
    """What the model card of a checkpoint says about its modality (``hf_ssxai/model_cards/scorer_card.md``).

    Args:
        scorer_kind: what the scorer network is.
        feature: what one feature is (``token``, ``pixel``).
        limit: the modality's own limit, one bullet of the card's "Limits".
        example: the arguments of ``model.processor(...)`` in the usage snippet.
        attribution_shape: the shape of ``out.attributions``.
        pipeline_fields: what the pipeline returns.
        example_import: imports the snippet needs (e.g. PIL).
        pipeline_example: the argument of ``explain(...)``; ``example`` when None.
        pipeline_tag: the Hub's task for this modality (None: the Hub has none).
        hidden_config_fields: ScorerConfig fields the card's table leaves out (unused by this scorer).
    """

    scorer_kind: str
    feature: str
    limit: str
    example: str
    attribution_shape: str
    pipeline_fields: str
    example_import: str = ""
    pipeline_example: str | None = None
    pipeline_tag: str | None = None
    hidden_config_fields: tuple[str, ...] = ()


class Modality(ABC):
    """One kind of classifier input. Subclasses set the class attributes and implement the abstract methods."""

    name: str
    #: the argument of the classifier's forward that receives the maskable tensor
    maskable_argument: str
    #: the dimension of the maskable tensor that one feature spans (summed when reducing to features)
    feature_channel_dim: int
    #: inputs the modality reads itself and never passes to the classifier
    extra_input_names: tuple[str, ...] = ()
    #: the transformers Auto classes that load this modality's classifiers and processors
    auto_model_class: type
    processor_class: type
    #: a file a saved processor of this modality writes: its presence means the checkpoint has one
    processor_file: str
    #: the attribute of a multimodal processor (a ``ProcessorMixin``) that holds this modality's processor, and how
    #: messages call that processor
    processor_attribute: str = "processor"
    processor_description: str = "a processor"
    #: what one pipeline input is, for messages ("Give at least one ...")
    input_description: str
    #: what its model card says
    card: ModalityCard
    #: how a prepared dataset is read into batches: ``None`` (Python lists, padded per batch) or ``"torch"``
    dataset_format: str | None = "torch"
    #: the kinds of evidence :meth:`evidence_to_masks` reads (besides ``auto``: each row's value says)
    evidence_formats: tuple[str, ...] = ("mask",)
    #: whether prepared inputs are padded to one length (``max_length``), which then travels with the processor
    pads_to_max_length: bool = False
    #: the ScorerConfig fields of the thesis' reference scorer for this modality (:meth:`ScorerConfig.thesis`)
    thesis_options: dict[str, Any] = {}
    #: what this modality's scorer uses for the fields a config leaves None (:meth:`ScorerConfig.fill_defaults`),
    #: chosen by measurement (docs/training.md, "Defaults per modality")
    default_options: dict[str, Any] = {}

    @property
    def parts(self) -> dict[str, Modality]:
        """The single-modality parts, by name: the modality itself, or each modality of a multimodal one."""
        return {self.name: self}

    @property
    def description(self) -> str:
        """``a text``, ``an image``: as in "This is an image classifier"."""
        return article(self.name)

    @property
    def pipeline_task(self) -> str:
        """The task its explanation pipeline is registered under with transformers (``text-explanation``)."""
        return f"{self.name}-explanation"

    # ---------------------------------------------------------------- classifier checks
    @abstractmethod
    def check_classifier(self, classifier: nn.Module) -> None:
        """Raise :class:`UnsupportedClassifierError` if the classifier cannot carry a scorer."""

    @abstractmethod
    def dummy_inputs(self, classifier: nn.Module, config: ScorerConfig) -> dict[str, torch.Tensor]:
        """A tiny valid batch, used once to read the shapes of the classifier's hidden states."""

    @abstractmethod
    def attach(self, classifier: nn.Module, config: ScorerConfig, processor: Any = None) -> None:
        """Fill the config fields that depend on the classifier: which hidden states feed the scorer and their widths
        (and what else the modality needs, e.g. special tokens or input channels)."""

    def hidden_states(self, outputs: Any) -> Any:
        """What the scorer reads from the classifier's output (run with ``output_hidden_states=True``)."""
        return getattr(outputs, "hidden_states", None)

    # ---------------------------------------------------------------- the scorer
    @abstractmethod
    def build_scorer(self, config: ScorerConfig) -> nn.Module:
        """The scorer network a complete (attached) config describes."""

    @abstractmethod
    def scorer_features(self, hidden_states: Any, layers: Any, inputs: dict[str, Any], classifier: nn.Module) -> Any:
        """The selected hidden states, shaped as the modality's scorer expects them."""

    # ---------------------------------------------------------------- inputs and features
    @abstractmethod
    def validate_inputs(self, classifier: nn.Module, inputs: dict[str, Any]) -> None:
        """Raise :class:`InvalidInputError` with a fix when the inputs cannot go through the classifier."""

    def classifier_inputs(self, inputs: dict[str, Any]) -> dict[str, Any]:
        """The inputs without the extras only the modality reads."""
        return {key: value for key, value in inputs.items() if key not in self.extra_input_names}

    @abstractmethod
    def feature_mask(self, inputs: dict[str, Any], config: ScorerConfig) -> Any:
        """Boolean mask of valid features, shape ``[batch, *feature_shape]`` (a dict of them for multimodal)."""

    @abstractmethod
    def split_inputs(self, classifier: nn.Module, inputs: dict[str, Any]) -> tuple[Any, dict[str, Any]]:
        """Return ``(maskable, forward_kwargs)``: the tensor scores act on and the other classifier arguments."""

    @abstractmethod
    def expand_scores(self, scores: Any) -> Any:
        """Broadcast a ``[batch, *feature_shape]`` map to the shape of the maskable tensor."""

    @abstractmethod
    def random_keep_mask(self, feature_mask: Any, generator: torch.Generator | None = None) -> Any:
        """A random map of 0/1 scores over the features (for masking augmentation), ``feature_mask``'s shape."""

    def reduce_to_features(self, attribution: torch.Tensor) -> torch.Tensor:
        """Sum an attribution over the maskable space's channel dimension: one value per feature."""
        return attribution.sum(dim=self.feature_channel_dim)

    def apply_scores(self, maskable: torch.Tensor, scores: torch.Tensor, feature_mask: torch.Tensor) -> torch.Tensor:
        """Weight each valid feature by its score; features that are not valid are left untouched."""
        keep = torch.where(feature_mask, scores, torch.ones_like(scores)).to(maskable.dtype)
        return maskable * self.expand_scores(keep)

    def run_from_maskable(
        self, classifier: nn.Module, maskable: Any, forward_kwargs: dict[str, Any], **options: Any
    ) -> Any:
        """The classifier's output on a (possibly masked) maskable tensor; ``options`` go to its forward
        (``output_attentions=True``, ...)."""
        return classifier(**forward_kwargs, **{self.maskable_argument: maskable}, **options, return_dict=True)

    def forward_from_maskable(self, classifier: nn.Module, maskable: Any, forward_kwargs: dict[str, Any]) -> Any:
        """Logits of the classifier on a (possibly masked) maskable tensor."""
        return self.run_from_maskable(classifier, maskable, forward_kwargs).logits

    def masked_logits(self, classifier: nn.Module, inputs: dict[str, Any], scores: Any, feature_mask: Any) -> Any:
        """Logits of the classifier on ``inputs`` (its own arguments) weighted feature by feature by ``scores``."""
        maskable, forward_kwargs = self.split_inputs(classifier, inputs)
        return self.forward_from_maskable(classifier, self.apply_scores(maskable, scores, feature_mask), forward_kwargs)

    def align_baselines(self, baselines: torch.Tensor, maskable: torch.Tensor) -> torch.Tensor:
        """Baseline samples in the masking space shaped like ``maskable``'s samples where the modality allows it
        (text pads or truncates to the explained length); checked against ``maskable`` by the caller."""
        return baselines

    @abstractmethod
    def masking_hooks(self, classifier: nn.Module, masked: Masking, config: ScorerConfig) -> list[Any]:
        """Hooks on ``classifier`` that mask its training-mode inputs with ``masked`` (masking augmentation);
        returns their handles."""

    # ---------------------------------------------------------------- datasets and batches
    @property
    def columns(self) -> tuple[str, ...]:
        """The dataset columns of raw inputs a prepared dataset starts from, one per part (named after it)."""
        return tuple(self.parts)

    def raw_columns(self, **given: str | None) -> dict[str, str]:
        """Each part's raw-input column: ``given[part]`` (e.g. ``text="sentence"``) or the part's own name."""
        if unused := [name for name, column in given.items() if column and name not in self.parts]:
            raise InvalidInputError(f"This is {self.description} classifier: it takes no {unused[0]} column.")
        return {name: given.get(name) or name for name in self.parts}

    def preprocess(
        self, dataset: Dataset, processor: Any, *, max_length: int | None = None, batch_size: int = 256
    ) -> Dataset:
        """Raw inputs (the :attr:`columns`) -> model inputs with the classifier's own processor; other columns kept."""
        if processor is None:
            raise InvalidInputError(NO_PROCESSOR)
        return self.encode_dataset(dataset, processor, max_length=max_length, batch_size=batch_size)

    @abstractmethod
    def encode_dataset(self, dataset: Dataset, processor: Any, *, max_length: int | None, batch_size: int) -> Dataset:
        """:meth:`preprocess` once the processor is known to exist."""

    def collate(
        self, rows: Mapping[str, Any], columns: Sequence[str], processor: Any, classifier_config: Any
    ) -> dict[str, torch.Tensor]:
        """One batch of model inputs from a slice of a prepared dataset (``rows[column]``: one entry per sample)."""
        return {column: torch.as_tensor(rows[column]) for column in columns}

    # ---------------------------------------------------------------- evidence
    def evidence_to_masks(
        self, inputs: Sequence[Any], values: Sequence[Any], processor: Any, reading: EvidenceReading
    ) -> tuple[list[Any], list[int]]:
        """``(masks, cut rows)``: each row's evidence (as the user has it) as a mask over the features the raw input
        ``inputs[i]`` becomes, checked row by row, and the rows whose evidence preprocessing (truncation, cropping)
        cut. By default evidence is already per feature (a flat feature position or a 0/1 mask, a JSON list in a CSV
        cell): decoded here and checked against the batch's features by :meth:`evidence_mask`."""
        return [decode_cell(value) for value in values], []

    def encode_evidence(self, dataset: Dataset, processor: Any, reading: EvidenceReading) -> Dataset:
        """The raw dataset with its evidence column (``reading.column``) replaced by one mask per row over that row's
        features (:meth:`evidence_to_masks`); call it before :meth:`preprocess`, which drops the raw inputs. Rows
        whose evidence was cut are logged."""
        check_format(reading.evidence_format, self.evidence_formats, self.description)
        if processor is None:
            raise InvalidInputError(NO_PROCESSOR)
        masks, cut = self.evidence_to_masks(dataset[self.name], dataset[reading.column], processor, reading)
        if cut:
            logger.warning(
                "Evidence column %r: %d of %d rows lost evidence to truncation or cropping (rows %s); their "
                "plausibility scores count only what is left.",
                reading.column,
                len(cut),
                len(masks),
                ", ".join(map(str, cut[:10])) + (", ..." if len(cut) > 10 else ""),
            )
        return dataset.remove_columns(reading.column).add_column(reading.column, masks)

    def evidence_mask(
        self, rows: Mapping[str, Any], reading: EvidenceReading, feature_mask: Any, processor: Any, main_input: str
    ) -> Any:
        """The evidence of each sample of a batch (column ``reading.column``, rows numbered ``reading.row_ids``) as a
        boolean mask over its features, checked row by row.

        A sample's evidence is a flat feature position or a 0/1 mask with one entry per feature (of the feature
        shape, or flattened).
        """
        masks = []
        column = reading.column
        for index, (value, row) in enumerate(zip(rows[column], reading.rows(len(rows[column])), strict=True)):
            flags = feature_flags(decode_cell(value), feature_mask[index], column, row, "feature")
            if flags is None:
                shape = tuple(feature_mask.shape[1:])
                raise row_error(
                    column, row, f"a flat feature position or a 0/1 mask of shape {shape}", quote(value), CONVERT_FIRST
                )
            masks.append(flags)
        return torch.stack(masks).to(feature_mask.device)

    def input_length_limit(self, processor: Any, classifier_config: Any) -> int | None:
        """The longest input the processor and the classifier allow (texts: tokens), None when unbounded."""
        return None

    # ---------------------------------------------------------------- the pipeline
    def check_processor(self, processor: Any) -> None:  # noqa: B027  (most modalities take any processor)
        """Raise :class:`InvalidInputError` when ``processor`` cannot prepare this modality's raw inputs."""

    def part_processor(self, processor: Any, part: Modality) -> Any:
        """The processor of one part: the processor itself, or its part's attribute of a multimodal processor."""
        return processor

    @abstractmethod
    def prepare_inputs(
        self, items: list[Any], processor: Any, offset: int, max_length: int | None, within: Modality | None = None
    ) -> tuple[dict[str, torch.Tensor], Any]:
        """Raw pipeline inputs (item ``i`` is input ``offset + i``) -> ``(model inputs, context)``; ``within`` is the
        multimodal modality whose part this is (for messages)."""

    @abstractmethod
    def explanations(
        self, context: Any, attributions: Any, feature_mask: Any, offset: int, max_length: int | None
    ) -> list[dict[str, Any]]:
        """The explanation part of each result, from :meth:`prepare_inputs`'s ``context`` and the model's maps
        (float32 on the CPU)."""

    def explanation_columns(self, explanation: dict[str, Any], map_format: str) -> dict[str, Any]:
        """One input's explanation (an item of :meth:`explanations`) as the columns of its row in an explained
        dataset (:func:`hf_ssxai.explain_dataset`); ``map_format`` (one of :data:`MAP_FORMATS`) says how a map over
        pixels is stored. By default every field, tensors as float32 arrays."""
        return {
            key: value.float().numpy() if isinstance(value, torch.Tensor) else value
            for key, value in explanation.items()
        }

    def item_maps(self, context: Any, attributions: Any, feature_mask: Any) -> tuple[Any, Any]:
        """One input's maps from its row of a batch the pipeline padded together from inputs prepared one by one
        (``context``: what :meth:`prepare_inputs` returned for that input alone); by default the row as it is."""
        return attributions, feature_mask

    def wrong_input(self, item: Any, position: int, within: Modality | None, one: str, many: str) -> InvalidInputError:
        """The error for input ``position`` (its part, inside a multimodal input) of the wrong type: give ``one``
        (in a multimodal input) or ``many`` (alone)."""
        whole = within or self
        what, give = (f"the {self.name} of input {position}", one) if within else (f"input {position}", many)
        return InvalidInputError(
            f"This is {whole.description} classifier: {what} is a {type(item).__name__}; give {give}."
        )


def check_transformers_classifier(classifier: nn.Module, kind: str) -> None:
    """:class:`UnsupportedClassifierError` unless ``classifier`` has a transformers config, which says its sizes,
    special tokens and labels; ``kind`` names the classifiers to use instead (``"text"``)."""
    if not isinstance(getattr(classifier, "config", None), PretrainedConfig):
        raise UnsupportedClassifierError(
            f"{type(classifier).__name__} has no transformers config; hf_ssxai reads the classifier's sizes, special "
            f"tokens and labels from it. Use a transformers {kind} classifier (a PreTrainedModel)."
        )


def class_scores(outputs: Any, num_labels: int) -> torch.Tensor | None:
    """A classifier output's class scores: its ``logits``, or else a ``last_hidden_state`` of one score per class
    (PP-LCNet returns its class scores that way); None when it has neither."""
    logits = getattr(outputs, "logits", None)
    if logits is None:
        scores = getattr(outputs, "last_hidden_state", None)
        if isinstance(scores, torch.Tensor) and scores.dim() == 2 and scores.shape[-1] == num_labels:
            logits = scores
    return logits


def complete_outputs(classifier: nn.Module) -> None:
    """Make the classifier's output carry what transformers classifiers return and the scorer reads, where it lacks
    them: ``logits`` (PP-LCNet returns its class scores as ``last_hidden_state``, see :func:`class_scores`) and,
    when asked for, the ``hidden_states`` of the model it wraps (ShieldGemma2 drops them). Forward hooks, registered
    once per classifier."""
    if getattr(classifier, "_hf_ssxai_completes_outputs", False):
        return
    inner: dict[str, Any] = {}
    base = getattr(classifier, "base_model", None)
    if isinstance(base, nn.Module) and base is not classifier:

        def keep_hidden_states(module: nn.Module, args: tuple[Any, ...], output: Any) -> None:
            inner["hidden_states"] = getattr(output, "hidden_states", None)

        base.register_forward_hook(keep_hidden_states)

    def complete(module: nn.Module, args: tuple[Any, ...], kwargs: dict[str, Any], output: Any) -> Any:
        wrapped = inner.pop("hidden_states", None)
        if not isinstance(output, ModelOutput):
            return output
        if output.get("logits") is None and (scores := class_scores(output, module.config.num_labels)) is not None:
            output["logits"] = scores
        if kwargs.get("output_hidden_states") and not output.get("hidden_states") and wrapped:
            output["hidden_states"] = wrapped
        return output

    classifier.register_forward_hook(complete, with_kwargs=True)
    classifier._hf_ssxai_completes_outputs = True


class SingleModality(Modality):
    """A modality of one kind of feature: its hidden states are one tuple, its maps one tensor."""

    #: the classifier's ``main_input_name`` this modality feeds (how :func:`infer_modality` recognizes it)
    main_input: str

    def attach(self, classifier: nn.Module, config: ScorerConfig, processor: Any = None) -> None:
        hidden_states = self.probe_hidden_states(classifier, config)
        layers = list(config.hidden_state_layers or self.default_layers(hidden_states))
        self.check_layers(classifier, hidden_states, layers)
        config.hidden_state_layers = layers
        config.classifier_hidden_sizes = [self.hidden_width(h) for h in self.select(hidden_states, layers)]

    def probe_hidden_states(self, classifier: nn.Module, config: ScorerConfig) -> tuple[torch.Tensor, ...]:
        """Run the classifier once on dummy inputs and return its hidden states (checking they exist)."""
        complete_outputs(classifier)
        probe = self.dummy_inputs(classifier, config)
        try:
            with torch.no_grad():
                outputs = classifier(**probe, output_hidden_states=True, return_dict=True)
        except PROBE_FAILURES as error:
            shapes = {name: tuple(value.shape) for name, value in probe.items()}
            raise UnsupportedClassifierError(
                f"{type(classifier).__name__} fails on the probe that measures its hidden states ({shapes}, sized "
                f"from its config): {type(error).__name__}: {error}. hf_ssxai calls a classifier with "
                f"{', '.join(probe)} only; use one that runs on those inputs."
            ) from error
        if class_scores(outputs, classifier.config.num_labels) is None:
            raise UnsupportedClassifierError(
                f"{type(classifier).__name__} returned no logits (nor one score per class as last_hidden_state); "
                "the scorer explains the class scores. Use a classifier whose output has logits."
            )
        hidden_states = self.hidden_states(outputs)
        if not hidden_states:
            raise UnsupportedClassifierError(
                f"{type(classifier).__name__} returned no hidden_states with output_hidden_states=True; "
                "the scorer reads them. Use a classifier whose forward supports output_hidden_states."
            )
        return hidden_states if isinstance(hidden_states, tuple) else tuple(hidden_states)

    @abstractmethod
    def default_layers(self, hidden_states: tuple[torch.Tensor, ...]) -> list[int]:
        """Which hidden states feed the scorer when the config does not say."""

    def check_layers(self, classifier: nn.Module, hidden_states: tuple[torch.Tensor, ...], layers: list[int]) -> None:
        """Raise :class:`UnsupportedClassifierError` when the chosen hidden states (of the probe) cannot feed the
        scorer; by default every hidden state can."""
        self.select(hidden_states, layers)

    @abstractmethod
    def hidden_width(self, hidden_state: torch.Tensor) -> int:
        """Width (channels) of one hidden state as the scorer will see it."""

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
