"""What the bundled ``evaluate`` modules share: input features, conversion to tensors, the result dict.

The math lives in :mod:`hf_ssxai.metrics.functional`; a module only turns the rows ``evaluate`` stored
into tensors, calls the function, and aggregates. Attribution maps arrive flattened (one list of
floats per sample, any length, e.g. tokens or ``height * width`` pixels) with a flattened boolean
feature mask of the same length, optional for maps without padding (:class:`MapMetric`: every feature valid);
ragged maps are padded with invalid features, which never count.
"""

from __future__ import annotations

import inspect
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import datasets
import evaluate
import torch
from torch.nn.utils.rnn import pad_sequence

from ..errors import InvalidInputError, SSXAIError

#: inputs of the map metrics: a flattened map and its flattened valid-feature mask per sample
MAP_FEATURES = {
    "attributions": datasets.Sequence(datasets.Value("float32")),
    "feature_mask": datasets.Sequence(datasets.Value("bool")),
}
#: the human rationale of each sample, one flag per feature of its map (the rationale metrics)
RATIONALE_FEATURES = {"rationale_mask": datasets.Sequence(datasets.Value("bool"))}
#: inputs of the curve metrics (deletion/insertion AUC): one curve per sample, equally spaced over [0, 1]
CURVE_FEATURES = {"curves": datasets.Sequence(datasets.Value("float32"))}

RATIONALE_INPUT_DOC = (
    "    rationale_mask (`list` of `list` of `bool`): the human rationale of each sample, one flag per feature (same "
    "lengths); from text spans, offsets or words: `hf_ssxai.evidence_masks`.\n"
)
ERASER_CITATION = """\
@inproceedings{deyoung2020eraser,
  title={{ERASER}: A Benchmark to Evaluate Rationalized {NLP} Models},
  author={DeYoung, Jay and Jain, Sarthak and Rajani, Nazneen Fatema and Lehman, Eric and Xiong, Caiming and
          Socher, Richard and Wallace, Byron C.},
  booktitle={Proceedings of the 58th Annual Meeting of the Association for Computational Linguistics},
  pages={4443--4458},
  year={2020}
}
"""
RETURN_PER_SAMPLE_DOC = "    return_per_sample (`bool`, default False): also return the value of every sample.\n"
MAP_INPUTS_DOC = (
    "    attributions (`list` of `list` of `float`): one flattened attribution map per sample (any length).\n"
    "    feature_mask (`list` of `list` of `bool`, optional): which features of each map are valid (same lengths);\n"
    "        default: every feature of every map.\n"
)


@contextmanager
def _typed_errors(name: str) -> Iterator[None]:
    """Turn what ``evaluate`` and the conversions raise for bad rows (empty, ragged or length-mismatched columns,
    values of the wrong type) into an :class:`InvalidInputError` naming the module."""
    try:
        yield
    except SSXAIError:
        raise
    except (ValueError, TypeError, RuntimeError, IndexError, KeyError) as error:
        raise InvalidInputError(
            f"The {name} metric cannot take these inputs: {error}. Give one row per sample, every column with the "
            "same number of rows, and the value types its card lists."
        ) from error


class CheckedMetric(evaluate.Metric, ABC):
    """An ``evaluate.Metric`` whose bad inputs raise :class:`InvalidInputError` (every bundled module is one).
    Abstract, so ``evaluate.load`` picks the module's own class."""

    @abstractmethod
    def _info(self) -> evaluate.MetricInfo:
        """The module's features and card."""

    def add_batch(self, *, predictions: Any = None, references: Any = None, **kwargs: Any) -> None:
        """As ``evaluate.Metric.add_batch``, with typed errors."""
        with _typed_errors(self.name):
            super().add_batch(predictions=predictions, references=references, **kwargs)

    def add(self, *, prediction: Any = None, reference: Any = None, **kwargs: Any) -> None:
        """As ``evaluate.Metric.add``, with typed errors."""
        with _typed_errors(self.name):
            super().add(prediction=prediction, reference=reference, **kwargs)

    def compute(self, *, predictions: Any = None, references: Any = None, **kwargs: Any) -> dict[str, Any] | None:
        """As ``evaluate.Metric.compute``, with typed errors; no samples at all is an error, not NaN."""
        with _typed_errors(self.name):
            return super().compute(predictions=predictions, references=references, **kwargs)


class MapMetric(CheckedMetric, ABC):
    """An ``evaluate.Metric`` of flattened maps whose ``feature_mask`` may be left out: every feature of each map is
    then valid (maps without padding, e.g. images). Abstract, so ``evaluate.load`` picks the module's own class."""

    @abstractmethod
    def _info(self) -> evaluate.MetricInfo:
        """The module's features and card."""

    def add_batch(self, *, predictions: Any = None, references: Any = None, **kwargs: Any) -> None:
        """Add a batch of maps (``feature_mask`` optional), as ``evaluate.Metric.add_batch``."""
        if kwargs.get("feature_mask") is None and kwargs.get("attributions") is not None:
            kwargs["feature_mask"] = [[True] * len(row) for row in kwargs["attributions"]]
        super().add_batch(predictions=predictions, references=references, **kwargs)

    def add(self, *, prediction: Any = None, reference: Any = None, **kwargs: Any) -> None:
        """Add one map (``feature_mask`` optional), as ``evaluate.Metric.add``."""
        if kwargs.get("feature_mask") is None and kwargs.get("attributions") is not None:
            kwargs["feature_mask"] = [True] * len(kwargs["attributions"])
        super().add(prediction=prediction, reference=reference, **kwargs)


def metric_info(function: Callable[..., Any], citation: str, inputs_description: str, **features: Any) -> Any:
    """``evaluate.MetricInfo`` whose description is the docstring of the functional ``function``."""
    return evaluate.MetricInfo(
        description=inspect.cleandoc(function.__doc__ or ""),
        citation=citation,
        inputs_description=inputs_description,
        features=datasets.Features(features),
    )


#: inputs of the map-and-rationale modules
RATIONALE_INPUTS_DOC = MAP_INPUTS_DOC + RATIONALE_INPUT_DOC


def rationale_info(function: Callable[..., Any], inputs_description: str, maps: bool = True) -> Any:
    """``evaluate.MetricInfo`` of a rationale module (ERASER's citation): flattened maps (unless not ``maps``), their
    valid-feature masks and the rationale masks."""
    features = MAP_FEATURES if maps else {"feature_mask": MAP_FEATURES["feature_mask"]}
    return metric_info(function, ERASER_CITATION, inputs_description, **features, **RATIONALE_FEATURES)


def padded(rows: Sequence[Sequence[Any]], dtype: torch.dtype) -> torch.Tensor:
    """Ragged rows -> ``[B, longest]`` tensor padded with 0 / False."""
    return pad_sequence([torch.as_tensor(row, dtype=dtype) for row in rows], batch_first=True)


def map_tensors(attributions: Sequence[Sequence[float]], *masks: Sequence[Sequence[bool]]) -> list[torch.Tensor]:
    """Flattened maps and their boolean masks as padded tensors (padding is an invalid feature)."""
    if len(attributions) == 0:
        raise InvalidInputError("No samples: give at least one attribution map.")
    for mask in masks:
        if [len(row) for row in mask] != [len(row) for row in attributions]:
            raise InvalidInputError("Every mask must have the same length as its attribution map, sample by sample.")
    return [padded(attributions, torch.float32), *(padded(mask, torch.bool) for mask in masks)]


def stacked(rows: Sequence[Any], name: str) -> torch.Tensor:
    """Equal-length rows (or scalars) as one float tensor, with a clear error for ragged input."""
    if len(rows) == 0:
        raise InvalidInputError(f"No samples: give at least one value of {name}.")
    lengths = {len(row) for row in rows if isinstance(row, Sequence)}
    if len(lengths) > 1:
        raise InvalidInputError(f"All {name} must have the same number of points; got lengths {sorted(lengths)}.")
    return torch.as_tensor(rows, dtype=torch.float32)


def summarize(name: str, values: torch.Tensor, return_per_sample: bool) -> dict[str, Any]:
    """``{name: mean over samples}``, plus ``per_sample`` (the values in input order) when asked."""
    result: dict[str, Any] = {name: values.double().mean().item()}
    if return_per_sample:
        result["per_sample"] = values.tolist()
    return result
