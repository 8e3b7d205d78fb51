"""Explain raw inputs in one call: ``pipeline("user/repo")("a great movie")``, a ``transformers.Pipeline``.

Each registered modality has its pipeline class, a subclass of :class:`ExplanationPipeline` registered with
transformers' ``PIPELINE_REGISTRY`` under the modality's task (``text-explanation``, ``image-explanation``,
``text-image-explanation``), so ``transformers.pipeline("text-explanation", model=...)`` builds it too. The pipeline
works as transformers' own do: ``preprocess`` turns one raw input into model inputs (the modality's
:meth:`~hf_ssxai.modalities.Modality.prepare_inputs`: texts tokenized and truncated to the model's maximum, images
converted to the mode the processor expects and processed), transformers' collator pads a batch of them, ``_forward``
runs :class:`AutoModelWithScorer` once per batch under ``torch.inference_mode``, and ``postprocess`` shapes each
input's result (the modality's :meth:`~hf_ssxai.modalities.Modality.explanations`) with the predicted label and its
probability. Results are plain JSON values unless ``return_tensors=True``.
"""

from __future__ import annotations

import functools
import os
import sys
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import torch
from torch.utils.data import Dataset
from transformers import Pipeline
from transformers.pipelines import PIPELINE_REGISTRY

from .data.preprocess import truncation_length
from .errors import InvalidInputError
from .modalities import MODALITY_REGISTRY, Modality, each_map
from .modeling import AutoModelWithScorer

#: the key that carries each input's :class:`_Prepared` through transformers' collator and the forward
PREPARED = "ssxai_prepared"


@dataclass(frozen=True)
class _Numbered:
    """One raw input and its position in what the pipeline was given (for messages)."""

    position: int
    value: Any


@dataclass(frozen=True)
class _Prepared:
    """What ``postprocess`` needs of one input besides the model's outputs: its position and the modality's context
    (for text: the text, its own encoding and the tokenizer)."""

    position: int
    context: Any


@dataclass(frozen=True)
class _Explained:
    """One input's model outputs, cut from its batch, on the CPU: class probabilities, maps and feature mask."""

    prepared: _Prepared
    probabilities: torch.Tensor
    attributions: Any
    feature_mask: Any


class _NumberedDataset(Dataset):
    """A dataset's items, each with its index (a ``KeyDataset``, or the rows of a ``datasets.Dataset``)."""

    def __init__(self, dataset: Any):
        self.dataset = dataset

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, index: int) -> _Numbered:
        return _Numbered(index, self.dataset[index])


class _RawInputs(Dataset):
    """The raw inputs of a ``datasets.Dataset``: each row's column named after the modality (``text``, ``image``),
    or a dict of them for a modality of several parts."""

    def __init__(self, dataset: Any, modality: Modality):
        if missing := [column for column in modality.columns if column not in dataset.column_names]:
            raise InvalidInputError(
                f"The dataset has columns {dataset.column_names}, but this {modality.name} pipeline reads the raw "
                f"inputs from {', '.join(repr(column) for column in modality.columns)} ({missing[0]!r} is missing). "
                f"Rename the column (dataset.rename_column(...)) or pass KeyDataset(dataset, 'your_column')."
            )
        self.dataset, self.columns = dataset, modality.columns

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, index: int) -> Any:
        row = self.dataset[index]
        return row[self.columns[0]] if len(self.columns) == 1 else {column: row[column] for column in self.columns}


def _numbered(inputs: Any, modality: Modality) -> Any:
    """Each input with its position, in the form transformers' ``Pipeline.__call__`` streams or batches: a list
    (results in a list), a torch ``Dataset`` or a generator (results as an iterator), or one input (one result)."""
    datasets = sys.modules.get("datasets")  # a datasets.Dataset exists only once the library is imported
    if datasets is not None and isinstance(inputs, datasets.Dataset):
        inputs = _RawInputs(inputs, modality)
    if isinstance(inputs, (list, tuple)):
        if not inputs:
            raise InvalidInputError(
                f"Nothing to explain: the list is empty. Give at least one {modality.input_description}."
            )
        return [_Numbered(position, item) for position, item in enumerate(inputs)]
    if isinstance(inputs, Dataset):
        return _NumberedDataset(inputs)
    if isinstance(inputs, Iterator):
        return (_Numbered(position, item) for position, item in enumerate(inputs))
    return _Numbered(0, inputs)


def _json_ready(value: Any) -> Any:
    """``value`` with tensors and numpy arrays as (nested) lists and numpy scalars as Python numbers."""
    if isinstance(value, Mapping):
        return {key: _json_ready(item) for key, item in value.items()}
    if isinstance(value, (torch.Tensor, np.ndarray, np.generic)):
        return value.tolist()
    return value


class ExplanationPipeline(Pipeline):
    """Predict and explain raw texts, images or (text, image) pairs with an :class:`AutoModelWithScorer`; build it
    with :func:`pipeline` (or ``transformers.pipeline("text-explanation", model=...)``).

    Call it as any transformers pipeline: one input gives one result dict; a list gives a list of results, in order;
    a generator, a ``datasets.Dataset`` (its ``text`` / ``image`` column, or both) or a ``KeyDataset`` gives an
    iterator of results, computed ``batch_size`` inputs at a time as it is consumed. Text results hold ``label``,
    ``score`` (the predicted label's softmax probability), ``tokens`` and ``token_scores`` (special tokens and
    padding excluded), ``words`` and ``word_scores`` (sub-token scores summed per word, the top word at 1),
    ``attributions`` (the scores over the text's tokens as the model saw them, special tokens scoring 0) and
    ``truncated``. Image results hold ``label``, ``score``, ``attributions`` (``[H, W]`` at the processed resolution)
    and ``map`` (resized to the original image's ``[height, width]``). A text-image input is a dict ``{"text":
    caption, "image": image}``; its result holds ``label``, ``score``, ``text`` (the fields of a text result but the
    prediction) and ``image`` (those of an image result). Results are JSON-serializable (``json.dumps`` takes them);
    with ``return_tensors=True`` ``attributions`` are float tensors and ``map`` a float32 numpy array.
    """

    _load_processor = False
    _load_image_processor = False
    _load_feature_extractor = False
    _load_tokenizer = False
    _load_video_processor = False
    #: the modality this class explains (each registered subclass sets it; None: any)
    modality_name: ClassVar[str | None] = None

    def __init__(self, model: AutoModelWithScorer, processor: Any = None, *, batch_size: int = 8, **kwargs: Any):
        """``processor`` defaults to the model's (``tokenizer=`` or ``image_processor=``, as transformers names them,
        are taken for it too); ``device`` defaults to where the model is; other keywords are transformers' pipeline
        options (``num_workers``) or this pipeline's (``return_tensors``)."""
        if not isinstance(model, AutoModelWithScorer):
            raise InvalidInputError(
                f"The explanation pipeline takes an AutoModelWithScorer, a checkpoint folder or a Hub repo id of one, "
                f"not {type(model).__name__}. Attach a scorer with AutoModelWithScorer.from_classifier(classifier)."
            )
        if self.modality_name is not None and model.modality.name != self.modality_name:
            raise InvalidInputError(
                f"This is the {self.modality_name} explanation pipeline, but the model is {model.modality.description} "
                f"classifier: use the task {model.modality.pipeline_task!r}, or hf_ssxai.pipeline(model)."
            )
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise InvalidInputError(f"batch_size must be a positive integer, got {batch_size!r}.")
        given = [processor, kwargs.pop("tokenizer", None), kwargs.pop("image_processor", None)]
        processor = next((p for p in given if p is not None), model.processor)
        device = kwargs.pop("device", None)
        if processor is None:
            raise InvalidInputError(
                "The model has no tokenizer or image processor. Save it with one (from_classifier(..., "
                "processor=...)) or pass pipeline(model, processor=...)."
            )
        model.modality.check_processor(processor)
        self.max_length = truncation_length(model, processor)
        super().__init__(
            model.eval(),
            **{model.modality.processor_attribute: processor},
            device=model.device if device is None else device,
            batch_size=batch_size,
            **kwargs,
        )
        self.processor = processor

    @property
    def modality(self) -> str:
        """The model's modality: ``"text"``, ``"image"``, ``"text-image"`` (or another registered one)."""
        return self._modality.name

    @property
    def _modality(self) -> Modality:
        return self.model.modality

    def __repr__(self) -> str:
        return f"{type(self).__name__}(modality={self.modality!r}, device={self.device}, batch_size={self._batch_size})"

    def __call__(self, inputs: Any, **kwargs: Any) -> Any:
        """Explain one input (a result dict), a list (a list of results) or a generator, ``datasets.Dataset`` or
        ``KeyDataset`` (an iterator of results); ``return_tensors=True`` keeps tensors in the results."""
        return super().__call__(_numbered(inputs, self._modality), **kwargs)

    def save_pretrained(self, save_directory: str | os.PathLike, **kwargs: Any) -> None:
        """Save the model (and its processor) as :meth:`AutoModelWithScorer.save_pretrained` does."""
        self.model.save_pretrained(save_directory, **kwargs)

    def get_inference_context(self) -> Any:
        return torch.inference_mode

    def _sanitize_parameters(self, return_tensors: bool | None = None, **unknown: Any) -> tuple[dict, dict, dict]:
        if unknown:
            raise InvalidInputError(
                f"The explanation pipeline takes no {', '.join(sorted(unknown))}; its options are batch_size, "
                "device and return_tensors."
            )
        return {}, {}, ({} if return_tensors is None else {"return_tensors": bool(return_tensors)})

    def preprocess(self, numbered: _Numbered) -> dict[str, Any]:
        """One raw input as model inputs (a batch of one), with what ``postprocess`` needs to shape its result."""
        inputs, context = self._modality.prepare_inputs(
            [numbered.value], self.processor, numbered.position, self.max_length
        )
        return {**inputs, PREPARED: _Prepared(numbered.position, context)}

    def _forward(self, model_inputs: dict[str, Any]) -> dict[str, list[_Explained]]:
        """One (padded) batch through the model; each input's outputs cut out, on the CPU."""
        prepared = model_inputs.pop(PREPARED)
        prepared = prepared if isinstance(prepared, list) else [prepared]  # batches of one come uncollated
        dtype = next(self.model.classifier.parameters()).dtype
        inputs = {key: value.to(dtype) if value.is_floating_point() else value for key, value in model_inputs.items()}
        out = self.model(**inputs)
        probabilities = out.logits.float().softmax(-1).cpu()
        attributions = each_map(lambda maps: maps.float().cpu(), out.attributions)
        feature_mask = each_map(lambda mask: mask.cpu(), out.feature_mask)
        return {
            "explained": [
                _Explained(
                    item,
                    probabilities[index],
                    each_map(lambda maps, i=index: maps[i], attributions),
                    each_map(lambda mask, i=index: mask[i], feature_mask),
                )
                for index, item in enumerate(prepared)
            ]
        }

    def postprocess(self, model_outputs: dict[str, Any], return_tensors: bool = False) -> dict[str, Any]:
        """The result of one input: the prediction, then the modality's explanation of it."""
        explained = model_outputs["explained"]
        explained = explained[0] if isinstance(explained, list) else explained  # unbatched by transformers, or not
        modality, prepared = self._modality, explained.prepared
        maps, mask = modality.item_maps(prepared.context, explained.attributions, explained.feature_mask)
        add_batch = functools.partial(each_map, lambda tensor: tensor.unsqueeze(0))
        [explanation] = modality.explanations(
            prepared.context, add_batch(maps), add_batch(mask), prepared.position, self.max_length
        )
        probabilities = explained.probabilities
        index = int(probabilities.argmax())
        result = {"label": self.model.config.id2label[index], "score": float(probabilities[index]), **explanation}
        return result if return_tensors else _json_ready(result)


@functools.cache
def explanation_pipeline_class(modality_name: str) -> type[ExplanationPipeline]:
    """The pipeline class of a registered modality (``TextExplanationPipeline``), registered with transformers'
    ``PIPELINE_REGISTRY`` under the modality's task when first asked for (the built-in modalities' at import)."""
    modality = MODALITY_REGISTRY[modality_name]
    name = "".join(part.capitalize() for part in modality.name.replace("_", "-").split("-")) + "ExplanationPipeline"
    doc = f"{ExplanationPipeline.__doc__.splitlines()[0]} For {modality.description} classifier."
    cls = type(name, (ExplanationPipeline,), {"modality_name": modality.name, "__doc__": doc, "__module__": __name__})
    PIPELINE_REGISTRY.register_pipeline(modality.pipeline_task, pipeline_class=cls, pt_model=AutoModelWithScorer)
    return cls


for _name in MODALITY_REGISTRY:
    explanation_pipeline_class(_name)


def pipeline(
    model: AutoModelWithScorer | str | os.PathLike,
    *,
    processor: Any = None,
    device: str | torch.device | None = None,
    dtype: torch.dtype | None = None,
    batch_size: int = 8,
    return_tensors: bool = False,
    **loading: Any,
) -> ExplanationPipeline:
    """An "explain this input" pipeline (the :class:`ExplanationPipeline` of the model's modality) for a model, a
    checkpoint folder or a Hub repo id.

    Args:
        model: an :class:`AutoModelWithScorer` (moved, cast and put in eval mode in place) or where to load one.
        processor: tokenizer, image processor or (text-image) :class:`~hf_ssxai.fusion.FusionProcessor`; defaults
            to the one saved with the model.
        device: where to run (e.g. ``"cuda"``); by default the model stays where it is.
        dtype: cast the model, e.g. ``torch.bfloat16``. The classifier's fingerprint is checked when loading, before
            the cast, so casting never trips it; but save a model before casting it (see ``docs/hub.md``).
        batch_size: inputs run through the model at once; texts are padded per batch.
        return_tensors: keep ``attributions`` as tensors (and image ``map`` as a numpy array) instead of lists.
        loading: what :meth:`AutoModelWithScorer.from_pretrained` takes when ``model`` is a folder or repo id
            (``revision``, ``cache_dir``, ``token``, ``local_files_only``, ...).

    Example::

        explain = pipeline("user/imdb-roberta-ssxai")
        explain("a great movie")  # {'label': 'POSITIVE', 'score': 0.98, 'words': [...], 'word_scores': [...], ...}

        explain = pipeline("user/caption-matching-ssxai")  # a text-image checkpoint: inputs are dicts
        explain({"text": "a dog on the beach", "image": "dog.jpg"})
        # {'label': 'MATCH', 'score': 0.91, 'text': {'words': [...], 'word_scores': [...], ...},
        #  'image': {'attributions': [[...]], 'map': [[...]]}}
    """
    if isinstance(model, (str, os.PathLike)):
        model = AutoModelWithScorer.from_pretrained(model, **loading)
    elif not isinstance(model, AutoModelWithScorer):
        raise InvalidInputError(
            "pipeline() takes an AutoModelWithScorer, a checkpoint folder or a Hub repo id, "
            f"not {type(model).__name__}."
        )
    if device is not None or dtype is not None:
        model.to(device=device, dtype=dtype)
    pipeline_class = explanation_pipeline_class(model.modality.name)
    return pipeline_class(
        model, processor, batch_size=batch_size, return_tensors=return_tensors, task=model.modality.pipeline_task
    )
