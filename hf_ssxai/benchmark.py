"""Every explainer × every metric on one dataset: per-sample values, a Markdown table, a Pareto statement, a radar plot.

    from hf_ssxai import run_benchmark

    result = run_benchmark(model, test_dataset, baseline_inputs=train_batch, num_samples=500)
    print(result.to_markdown())                     # mean ± std per method and metric, best per column in bold
    print(result.pareto_front().to_markdown())      # which methods no other beats on faithfulness and clarity at once
    result.to_json("results.json")
    result.radar("radar.png")

Fairness rules (``docs/benchmarks.md``): every method explains the same samples in the same batches, for the same
target (the classifier's prediction, computed once per batch); its maps are measured on the same feature units under
the same valid-feature mask (padding and special tokens excluded; checked batch by batch); the perturbation engine
removes features of every method's map the same way, with the same tie-breaking seed.
"""

from __future__ import annotations

import datetime
import html
import json
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from datasets import ClassLabel, Dataset, DatasetDict, Value, load_dataset, load_from_disk
from datasets.exceptions import DatasetsError
from matplotlib.figure import Figure
from torch.nn.utils.rnn import pad_sequence
from tqdm.auto import tqdm

from .checkpoint import fingerprint
from .data.preprocess import model_max_length, preprocess
from .errors import InvalidInputError, SSXAIError
from .explainers import (
    EXPLAINER_NAMES,
    EXPLAINER_REGISTRY,
    AttributionOutput,
    BaselineSetExplainer,
    Explainer,
    count_forwards,
    get_explainer,
    supported_explainers,
)
from .metrics import (
    auc,
    average_drop,
    complexity,
    compute_perturbations,
    entropy_complexity,
    gini_sparseness,
    only_modality,
    pointing_game,
    rationale_overlap,
    sparsity,
)
from .modeling import AutoModelWithScorer
from .visualization import radar_plot


@dataclass(frozen=True)
class Measure:
    """How one column of the benchmark is labelled, compared and shown."""

    label: str
    higher_is_better: bool
    digits: int = 3

    @property
    def heading(self) -> str:
        """The label with its direction: ``↑`` higher is better, ``↓`` lower is better."""
        return f"{self.label} {'↑' if self.higher_is_better else '↓'}"

    def display(self, value: float) -> str:
        return f"{value:.{self.digits}f}"

    def shown(self, value: float) -> float:
        """``value`` rounded as :meth:`display` shows it: the precision at which methods are compared."""
        return float(self.display(value))


#: every metric the benchmark reports and which way is better: the single source of truth for tables, Pareto and radar
METRICS: dict[str, Measure] = {
    "average_drop": Measure("average drop", higher_is_better=False),
    "deletion_auc": Measure("deletion AUC", higher_is_better=False),
    "insertion_auc": Measure("insertion AUC", higher_is_better=True),
    "complexity": Measure("complexity", higher_is_better=False),
    "sparsity": Measure("sparsity", higher_is_better=True),
    "entropy_complexity": Measure("entropy complexity", higher_is_better=False),
    "gini_sparseness": Measure("Gini sparseness", higher_is_better=True),
    "pointing_game": Measure("pointing game", higher_is_better=True),
    "rationale_f1": Measure("rationale F1", higher_is_better=True),
    "rationale_iou": Measure("rationale IoU", higher_is_better=True),
}
#: the faithfulness metrics, measured by removing features (for text-image models also on both modalities at once)
FAITHFULNESS = ("average_drop", "deletion_auc", "insertion_auc")
#: text-image models: every metric per modality (the other modality left whole), then the faithfulness metrics with
#: the features of both modalities ranked together after per-modality normalization (``joint_*``)
MULTIMODAL_PARTS = ("text", "image")
MULTIMODAL_METRICS: dict[str, Measure] = {
    **{
        f"{part}_{name}": Measure(f"{part} {measure.label}", measure.higher_is_better)
        for part in MULTIMODAL_PARTS
        for name, measure in METRICS.items()
    },
    **{
        f"joint_{name}": Measure(f"joint {METRICS[name].label}", METRICS[name].higher_is_better)
        for name in FAITHFULNESS
    },
}
#: the column groups of a text-image result, one table each
MODALITY_GROUPS = (*MULTIMODAL_PARTS, "joint")
#: every column a result may hold, in table order
MEASURES: dict[str, Measure] = {**METRICS, **MULTIMODAL_METRICS}
#: cost columns (``BenchmarkResult.cost[method]``), lower is better
COSTS: dict[str, Measure] = {
    "ms_per_sample": Measure("ms / sample", higher_is_better=False, digits=2),
    "forwards_per_sample": Measure("forwards / sample", higher_is_better=False, digits=1),
}
#: dataset columns passed to the classifier besides its main input (``input_ids``, ``pixel_values``), when present
OPTIONAL_INPUTS = ("attention_mask", "token_type_ids", "special_tokens_mask", "pixel_values")
#: single local files ``datasets`` reads with a packaged builder: extension -> (builder, builder options)
FILE_BUILDERS: dict[str, tuple[str, dict[str, Any]]] = {
    ".csv": ("csv", {}),
    ".tsv": ("csv", {"sep": "\t"}),
    ".json": ("json", {}),
    ".jsonl": ("json", {}),
    ".parquet": ("parquet", {}),
}


# ---------------------------------------------------------------------------------------------- samples and batches
def draw_samples(size: int, num_samples: int | None, seed: int = 0) -> list[int]:
    """Rows to evaluate: all ``size`` rows, or ``num_samples`` of them drawn at random with ``seed`` (in row order)."""
    if size < 1 or (num_samples is not None and num_samples < 1):
        raise InvalidInputError(f"Nothing to evaluate: {size} rows available, num_samples={num_samples}.")
    if num_samples is None or num_samples >= size:
        return list(range(size))
    return sorted(np.random.default_rng(seed).choice(size, num_samples, replace=False).tolist())


def _require_columns(dataset: Dataset, columns: Sequence[str | None], role: str) -> None:
    """Raise :class:`InvalidInputError`, naming the available columns, if one of ``columns`` (None: skip) is missing."""
    missing = [column for column in columns if column is not None and column not in dataset.column_names]
    if missing:
        raise InvalidInputError(
            f"No column {', '.join(map(repr, missing))} ({role}) in the dataset; available columns: "
            f"{', '.join(dataset.column_names)}."
        )


def _input_columns(model: AutoModelWithScorer, dataset: Dataset, columns: Sequence[str] | None) -> list[str]:
    """The dataset columns that are model inputs: ``columns`` if given, else the main input and the optional ones."""
    if columns is None:
        main = model.classifier.main_input_name
        _require_columns(dataset, [main], "the classifier's main input; prepare the dataset with its processor")
        return [main, *(name for name in OPTIONAL_INPUTS if name in dataset.column_names and name != main)]
    _require_columns(dataset, columns, "input_columns")
    return list(columns)


def _is_text(model: AutoModelWithScorer) -> bool:
    return model.modality.name == "text"


def _pads_left(model: AutoModelWithScorer) -> bool:
    """Whether text batches are padded on the left (the tokenizer's choice; without a tokenizer on the right)."""
    return hasattr(model.processor, "pad") and getattr(model.processor, "padding_side", "right") == "left"


def _pad_rows(rows: Sequence[Sequence[Any]], value: int, left: bool) -> torch.Tensor:
    """Rows of different lengths as one ``[rows, longest]`` tensor, filled with ``value`` on the padding side."""
    tensors = [torch.as_tensor(row) for row in rows]
    return pad_sequence(tensors, batch_first=True, padding_value=value, padding_side="left" if left else "right")


def _formatted(model: AutoModelWithScorer, dataset: Dataset) -> Dataset:
    """Text rows as Python lists (padded per batch), anything else as tensors (stacked)."""
    return dataset.with_format(None) if _is_text(model) else dataset.with_format("torch")


def collate(model: AutoModelWithScorer, rows: Mapping[str, Any], columns: Sequence[str]) -> dict[str, torch.Tensor]:
    """One batch of model inputs from a slice of a dataset (``rows[column]``: one entry per sample).

    Text is padded to the batch's longest sequence by the model's tokenizer (``model.processor``) or, without one,
    with the classifier config's ``pad_token_id`` (``attention_mask`` 0, ``special_tokens_mask`` 1). Other inputs
    (``pixel_values``) are stacked.
    """
    if not _is_text(model):
        return {column: torch.as_tensor(rows[column]) for column in columns}
    if hasattr(model.processor, "pad"):
        return dict(model.processor.pad({column: rows[column] for column in columns}, return_tensors="pt"))
    pad_values = {"input_ids": model.config.pad_token_id or 0, "special_tokens_mask": 1}
    return {column: _pad_rows(rows[column], pad_values.get(column, 0), left=False) for column in columns}


def dataset_to_batch(
    model: AutoModelWithScorer, dataset: Dataset, input_columns: Sequence[str] | None = None
) -> dict[str, torch.Tensor]:
    """A whole (small) dataset as one batch of model inputs, e.g. the ``baseline_inputs`` of :func:`run_benchmark`."""
    columns = _input_columns(model, dataset, input_columns)
    return collate(model, _formatted(model, dataset)[:], columns)


def _has_class_labels(dataset: Dataset) -> bool:
    """Whether the dataset has a ``label`` column of class indices (then the metadata reports the accuracy)."""
    feature = dataset.features.get("label")
    return isinstance(feature, ClassLabel) or (isinstance(feature, Value) and feature.dtype.startswith("int"))


def _evidence_mask(
    model: AutoModelWithScorer, rows: Mapping[str, Any], column: str, feature_mask: torch.Tensor
) -> torch.Tensor:
    """The evidence of each sample as a boolean mask over the batch's features.

    A sample's evidence is a feature index (a token position, a flat pixel index) or a mask with one entry per
    feature (per token of its unpadded sequence, or ``[height, width]``); text is aligned with the batch padding.
    """
    values, shape = rows[column], feature_mask.shape
    if not _is_text(model):
        values = torch.as_tensor(values)
        mask = values if values.dim() > 1 else F.one_hot(values.long(), shape[1:].numel()).view(shape)
    elif isinstance(values[0], Sequence):
        mask = _pad_rows(values, 0, _pads_left(model))
    else:
        index = torch.as_tensor(values).long()
        if _pads_left(model):
            index = index + shape[1] - torch.as_tensor([len(ids) for ids in rows[model.classifier.main_input_name]])
        mask = F.one_hot(index, shape[1])
    if mask.shape != shape:
        raise InvalidInputError(
            f"Evidence column {column!r} gives masks of shape {tuple(mask.shape[1:])} but the samples have "
            f"{tuple(shape[1:])} features: give one feature index or one mask entry per feature per sample."
        )
    return mask.bool().to(feature_mask.device)


def _same_features(mask: Any, other: Any) -> bool:
    """Whether two feature masks (or dicts of them, one per modality) are equal."""
    if isinstance(mask, Mapping):
        return mask.keys() == other.keys() and all(torch.equal(mask[name], other[name]) for name in mask)
    return torch.equal(mask, other)


def _evidence(
    model: AutoModelWithScorer, rows: Mapping[str, Any], column: str | Mapping[str, str], feature_mask: Any
) -> torch.Tensor | dict[str, torch.Tensor]:
    """:func:`_evidence_mask`, or one per modality for a text-image model (``column`` maps modality -> column)."""
    if isinstance(feature_mask, Mapping):
        if not isinstance(column, Mapping):
            raise InvalidInputError(
                "A text-image model takes evidence_column as a dict per modality, e.g. {'text': 'evidence_tokens', "
                f"'image': 'evidence_pixels'}}; got {column!r}."
            )
        return {part: _evidence_mask(model, rows, name, feature_mask[part]) for part, name in column.items()}
    return _evidence_mask(model, rows, column, feature_mask)


# ---------------------------------------------------------------------------------------------- measuring
@contextmanager
def _seeded(seed: int, device: torch.device) -> Iterator[None]:
    """Seed torch's and numpy's global generators inside the block and restore them after.

    Captum's GradientShap draws from them; seeding every call makes a method's maps independent of the other
    methods run before it and of the batch order.
    """
    numpy_state = np.random.get_state()
    with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
        torch.manual_seed(seed)
        np.random.seed(seed)
        try:
            yield
        finally:
            np.random.set_state(numpy_state)


def _synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _timed_attribution(
    explainer: Explainer, batch: dict[str, torch.Tensor], target: torch.Tensor, seed: int
) -> tuple[AttributionOutput, float, int]:
    """``(maps, wall-clock seconds, samples through the classifier)`` of explaining one batch."""
    device = target.device
    with _seeded(seed, device), count_forwards(explainer.classifier) as count:
        _synchronize(device)
        start = time.perf_counter()
        output = explainer.attribute(batch, target=target)
        _synchronize(device)
        seconds = time.perf_counter() - start
    return output, seconds, count.samples


def _faithfulness(
    model: AutoModelWithScorer, batch: dict[str, torch.Tensor], attributions: Any, feature_mask: Any, **engine: Any
) -> dict[str, torch.Tensor]:
    """The :data:`FAITHFULNESS` metrics of one batch of maps (one, or one per modality ranked together)."""
    perturbed = compute_perturbations(model, batch, attributions, feature_mask, **engine)
    return {
        "average_drop": average_drop(perturbed.probabilities, perturbed.masked_probabilities),
        "deletion_auc": auc(perturbed.deletion_curve),
        "insertion_auc": auc(perturbed.insertion_curve),
    }


def _batch_metrics(
    model: AutoModelWithScorer,
    batch: dict[str, torch.Tensor],
    attributions: torch.Tensor | Mapping[str, torch.Tensor],
    feature_mask: torch.Tensor | Mapping[str, torch.Tensor],
    evidence: torch.Tensor | Mapping[str, torch.Tensor] | None,
    *,
    steps: int,
    metric_batch_size: int,
    seed: int,
) -> dict[str, torch.Tensor]:
    """Every metric of :data:`METRICS` for one batch of maps, one value per sample (pointing game, rationale F1 and
    IoU with evidence).

    One map per modality (a dict): every metric per modality, ``text_*`` and ``image_*``, with the other modality
    left whole, and the faithfulness metrics of both ranked together, ``joint_*``."""
    engine = {"steps": steps, "batch_size": metric_batch_size, "seed": seed}
    if isinstance(attributions, Mapping):
        values = {
            f"joint_{name}": value
            for name, value in _faithfulness(model, batch, attributions, feature_mask, **engine).items()
        }
        for part in attributions:
            alone = _faithfulness(model, batch, attributions, only_modality(feature_mask, part), **engine)
            clear = _clarity(attributions[part], feature_mask[part], None if evidence is None else evidence.get(part))
            values.update({f"{part}_{name}": value for name, value in {**alone, **clear}.items()})
    else:
        values = {
            **_faithfulness(model, batch, attributions, feature_mask, **engine),
            **_clarity(attributions, feature_mask, evidence),
        }
    return {name: value.detach().float().cpu() for name, value in values.items()}


def _clarity(
    attributions: torch.Tensor, feature_mask: torch.Tensor, evidence: torch.Tensor | None
) -> dict[str, torch.Tensor]:
    """The metrics of one map alone (no forward): its complexity and sparsity; with evidence, the pointing game and
    the overlap of the map's top features (as many as the evidence has) with the evidence (F1 and IoU)."""
    values = {
        "complexity": complexity(attributions, feature_mask),
        "sparsity": sparsity(attributions, feature_mask),
        "entropy_complexity": entropy_complexity(attributions, feature_mask),
        "gini_sparseness": gini_sparseness(attributions, feature_mask),
    }
    if evidence is not None:
        values["pointing_game"] = pointing_game(attributions, evidence, feature_mask)
        values["rationale_f1"], values["rationale_iou"] = rationale_overlap(attributions, evidence, feature_mask)
    return values


def _needs_baselines(name: str) -> bool:
    """Whether the method registered as ``name`` explains against baseline samples (the SHAP family)."""
    return issubclass(EXPLAINER_REGISTRY.get(name, Explainer), BaselineSetExplainer)


def _build_explainers(
    model: AutoModelWithScorer,
    methods: Sequence[str],
    explainer_kwargs: Mapping[str, Mapping[str, Any]],
    baseline_inputs: Mapping[str, torch.Tensor] | None,
) -> dict[str, Explainer]:
    """One explainer per method; the SHAP methods get ``baseline_inputs`` unless their kwargs name baselines."""
    if unknown := sorted(set(explainer_kwargs) - set(EXPLAINER_NAMES)):
        raise InvalidInputError(
            f"explainer_kwargs names unknown methods {unknown}; known: {', '.join(EXPLAINER_NAMES)}."
        )
    explainers = {}
    for name in methods:
        kwargs = dict(explainer_kwargs.get(name, {}))
        if _needs_baselines(name) and "baselines" not in kwargs:
            if baseline_inputs is None:
                raise InvalidInputError(
                    f"{name} needs baseline samples: pass baseline_inputs= (e.g. dataset_to_batch(model, "
                    "train_dataset.select(range(20)))) or leave the method out."
                )
            kwargs["baselines"] = {key: value.to(model.device) for key, value in baseline_inputs.items()}
        explainers[name] = get_explainer(name, model, **kwargs)
    return explainers


def _describe(value: Any) -> Any:
    """A JSON-friendly stand-in for an explainer argument (tensors and other objects by type name)."""
    return value if isinstance(value, (bool, int, float, str, type(None))) else type(value).__name__


def _environment(model: AutoModelWithScorer) -> dict[str, Any]:
    """What a result was measured on: model, classifier fingerprint, device, torch threads, date, library versions."""
    import captum
    import datasets
    import transformers

    from . import __version__

    device = model.device
    return {
        "model": model.config.name_or_path or type(model.classifier).__name__,
        "classifier_fingerprint": fingerprint(model.classifier),
        "modality": model.modality.name,
        "device": str(device),
        "device_name": torch.cuda.get_device_name(device) if device.type == "cuda" else None,
        "torch_threads": torch.get_num_threads(),
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "versions": {
            "hf_ssxai": __version__,
            "torch": torch.__version__,
            "transformers": transformers.__version__,
            "captum": captum.__version__,
            "datasets": datasets.__version__,
        },
    }


def run_benchmark(
    model: AutoModelWithScorer,
    dataset: Dataset,
    *,
    methods: Sequence[str] | None = None,
    explainer_kwargs: Mapping[str, Mapping[str, Any]] | None = None,
    extra_explainers: Mapping[str, Explainer] | None = None,
    baseline_inputs: Mapping[str, torch.Tensor] | None = None,
    batch_size: int = 16,
    steps: int = 10,
    num_samples: int | None = None,
    seed: int = 0,
    input_columns: Sequence[str] | None = None,
    evidence_column: str | Mapping[str, str] | None = None,
    metric_batch_size: int = 256,
    progress: bool = False,
) -> BenchmarkResult:
    """Explain the same samples with every method and measure every map on the same features.

    Args:
        model: the classifier with its scorer (on the device to run on; put in eval mode here).
        dataset: model inputs (``input_ids``/``attention_mask``/... or ``pixel_values``), optionally ``label`` (for
            the accuracy in the metadata) and an evidence column. Text need not be padded: batches are padded here.
        methods: names from :data:`~hf_ssxai.explainers.EXPLAINER_NAMES` (default: every method that supports
            the classifier, :func:`~hf_ssxai.explainers.supported_explainers`).
        explainer_kwargs: constructor arguments per method, e.g. ``{"integrated_gradients": {"n_steps": 20}}``.
        extra_explainers: explainers built by the caller, measured under their key after the named methods (a
            ``ClassDistribution`` wrapper, an ablation variant); give ``methods=()`` to measure only these.
        baseline_inputs: a batch of (training) samples for the SHAP methods (see :func:`dataset_to_batch`).
        batch_size: samples explained at once.
        steps: deletion/insertion steps (``steps + 1`` points per curve).
        num_samples: evaluate this many rows drawn at random with ``seed`` (default: every row).
        seed: seed of the sample draw, of the metric engine's tie-breaking and of every explainer call.
        input_columns: the dataset columns to feed the classifier (default: its main input and the optional ones).
        evidence_column: per-sample ground truth (a feature index or a per-feature mask): adds the pointing game and
            rationale F1 / IoU.
            Text-image models: one column of per-feature masks per modality, ``{"text": ..., "image": ...}``.
        metric_batch_size: perturbed inputs per classifier call in the metric engine.
        progress: show a progress bar over methods × batches.

    Each batch: the prediction is computed once (one no-grad forward, not counted), then every method explains it
    for that target. Cost is the wall clock of ``attribute`` alone (after one untimed warm-up call per method on the
    first batch; the metric engine excluded) and the samples that went through the classifier, per sample.
    """
    if batch_size < 1 or steps < 1:
        raise InvalidInputError(f"batch_size and steps must be positive, got {batch_size} and {steps}.")
    model.eval()
    device = model.device
    methods = supported_explainers(model) if methods is None else methods
    explainers = _build_explainers(model, methods, explainer_kwargs or {}, baseline_inputs)
    explainers.update(extra_explainers or {})
    columns = _input_columns(model, dataset, input_columns)
    evidence_columns = evidence_column.values() if isinstance(evidence_column, Mapping) else [evidence_column]
    _require_columns(dataset, list(evidence_columns), "evidence_column")
    sample_indices = draw_samples(len(dataset), num_samples, seed)
    rows_source = _formatted(model, dataset.select(sample_indices))
    has_labels = _has_class_labels(dataset)
    if has_labels:
        evaluated_labels = dataset.select(sample_indices)["label"]
        num_labels = model.classifier.config.num_labels
        if any(not 0 <= int(label) < num_labels for label in evaluated_labels):
            raise InvalidInputError(
                f"Labels must be class indices in [0, {num_labels}) for this classifier; the evaluated rows hold "
                f"{sorted(set(map(int, evaluated_labels)))}. Map the dataset's labels to the classifier's "
                "label2id, or leave the label column out (it only feeds the accuracy in the metadata)."
            )

    chunks: dict[str, dict[str, list[torch.Tensor]]] = {name: {} for name in explainers}
    seconds, forwards = dict.fromkeys(explainers, 0.0), dict.fromkeys(explainers, 0)
    predictions, labels = [], []
    starts = range(0, len(sample_indices), batch_size)
    with tqdm(total=len(starts) * len(explainers), desc="benchmark", disable=not progress) as bar:
        for start in starts:
            rows = rows_source[start : start + batch_size]
            batch = {key: value.to(device) for key, value in collate(model, rows, columns).items()}
            feature_mask = model.modality.feature_mask(batch, model.scorer_config)
            evidence = _evidence(model, rows, evidence_column, feature_mask) if evidence_column else None
            with torch.no_grad():
                target = model.classifier(**model.modality.classifier_inputs(batch)).logits.argmax(dim=-1)
            predictions.append(target.cpu())
            if has_labels:
                labels.append(torch.as_tensor(rows["label"]))
            for name, explainer in explainers.items():
                bar.set_postfix_str(name)
                if start == 0:
                    _timed_attribution(explainer, batch, target, seed)  # warm-up: one-time costs are not timed
                output, elapsed, samples = _timed_attribution(explainer, batch, target, seed)
                if not _same_features(output.feature_mask, feature_mask):
                    raise SSXAIError(
                        f"{name} returned a feature mask different from the modality's: its maps would not be "
                        "measured on the same features as the other methods'."
                    )
                seconds[name] += elapsed
                forwards[name] += samples
                metrics = _batch_metrics(
                    model,
                    batch,
                    output.attributions,
                    feature_mask,
                    evidence,
                    steps=steps,
                    metric_batch_size=metric_batch_size,
                    seed=seed,
                )
                for metric, value in metrics.items():
                    chunks[name].setdefault(metric, []).append(value)
                bar.update(1)

    count = len(sample_indices)
    predicted = torch.cat(predictions)
    metadata: dict[str, Any] = {
        **_environment(model),
        "num_samples": count,
        "methods": list(explainers),
        "explainer_kwargs": {
            name: {key: _describe(value) for key, value in kwargs.items()}
            for name, kwargs in (explainer_kwargs or {}).items()
        },
        "baseline_samples": 0 if baseline_inputs is None else len(next(iter(baseline_inputs.values()))),
        "batch_size": batch_size,
        "metric_batch_size": metric_batch_size,
        "steps": steps,
        "seed": seed,
        "evidence_column": evidence_column,
        "accuracy": float((predicted == torch.cat(labels)).float().mean()) if has_labels else None,
    }
    return BenchmarkResult(
        values={name: {metric: torch.cat(parts).tolist() for metric, parts in chunks[name].items()} for name in chunks},
        cost={
            name: {"ms_per_sample": 1000 * seconds[name] / count, "forwards_per_sample": forwards[name] / count}
            for name in explainers
        },
        metadata=metadata,
        sample_indices=sample_indices,
        predictions=predicted.tolist(),
    )


# ---------------------------------------------------------------------------------------------- results
def _is_better(value: float, other: float, measure: Measure) -> bool:
    """Whether ``value`` is strictly better than ``other`` as the table shows them (rounded to ``measure.digits``)."""
    value, other = measure.shown(value), measure.shown(other)
    return value > other if measure.higher_is_better else value < other


def best_methods(values: Mapping[str, float], measure: Measure) -> set[str]:
    """The methods with the best value of a column, compared as displayed (rounded to ``measure.digits``).

    Methods that tie at the shown precision are all best, so the bold cells of a table never contradict its numbers.
    """
    return {
        method for method, value in values.items() if not any(_is_better(v, value, measure) for v in values.values())
    }


@dataclass
class ParetoFront:
    """Which methods no other method beats on a faithfulness metric and a clarity metric at once.

    Method A *beats* B on a metric when A's mean is strictly better in the metric's direction, compared as the table
    shows them (rounded to the column's digits, so equal-looking means never beat each other). A *dominates* B
    when, for some faithfulness metric f and some clarity metric c, A beats B on both f and c. The front is the
    methods no other method dominates. This relation need not be a partial order (A may dominate B on one pair of
    metrics and B dominate A on another), so the front can be empty.

    Args:
        faithfulness, clarity: the metrics compared.
        front: the methods not dominated, in the result's order.
        dominated_by: for each method, the methods that dominate it.
        reference: the method the per-pair report is about (normally ``"scorer"``).
        beats_reference: for each (faithfulness, clarity) pair, the methods that beat ``reference`` on both
            (empty when ``reference`` was not benchmarked).
    """

    faithfulness: tuple[str, ...]
    clarity: tuple[str, ...]
    front: list[str]
    dominated_by: dict[str, list[str]]
    reference: str
    beats_reference: dict[tuple[str, str], list[str]] = field(default_factory=dict)

    def to_markdown(self) -> str:
        """The statement for a report: the front, who dominates whom, and the per-pair grid for the reference."""
        faithfulness = ", ".join(MEASURES[m].heading for m in self.faithfulness)
        clarity = ", ".join(MEASURES[m].heading for m in self.clarity)
        lines = [
            f"**Pareto front** (faithfulness: {faithfulness}; clarity: {clarity}): "
            f"{', '.join(self.front) or 'empty (every method is dominated)'}.",
            "A method is dominated when another method has a better mean on at least one faithfulness metric "
            "and at least one clarity metric at once.",
        ]
        dominated = [f"{method} (by {', '.join(by)})" for method, by in self.dominated_by.items() if by]
        if dominated:
            lines.append(f"Dominated: {'; '.join(dominated)}.")
        if self.beats_reference:
            lines += [
                "",
                f"Methods better than {self.reference} on both metrics of a pair (rows: faithfulness, "
                "columns: clarity):",
                "",
                "| | " + " | ".join(MEASURES[c].heading for c in self.clarity) + " |",
                "|---|" + "---|" * len(self.clarity),
            ]
            for f in self.faithfulness:
                cells = [", ".join(self.beats_reference[f, c]) or "none" for c in self.clarity]
                lines.append(f"| {MEASURES[f].heading} | " + " | ".join(cells) + " |")
        return "\n".join(lines)


@dataclass
class BenchmarkResult:
    """Per-sample metric values, cost and metadata of a benchmark run.

    Args:
        values: ``values[method][metric]``: one float per evaluated sample, in ``sample_indices`` order.
        cost: ``cost[method]``: ``ms_per_sample`` (wall clock of explaining) and ``forwards_per_sample``
            (samples through the classifier while explaining).
        metadata: model name and fingerprint, number of samples, device, torch threads, steps, seed, date, ...
        sample_indices: the dataset rows evaluated, the same for every method.
        predictions: the class every method explained, per sample.
    """

    values: dict[str, dict[str, list[float]]]
    cost: dict[str, dict[str, float]]
    metadata: dict[str, Any] = field(default_factory=dict)
    sample_indices: list[int] = field(default_factory=list)
    predictions: list[int] = field(default_factory=list)

    def __post_init__(self) -> None:
        if not self.values:
            raise InvalidInputError("A benchmark result needs at least one method.")
        metrics = set(next(iter(self.values.values())))
        if not metrics <= set(MEASURES) or any(set(values) != metrics for values in self.values.values()):
            reported = {method: sorted(values) for method, values in self.values.items()}
            raise InvalidInputError(
                f"Every method must report the same metrics, all among {', '.join(MEASURES)}; got {reported}."
            )
        if missing := [method for method in self.values if set(self.cost.get(method, {})) != set(COSTS)]:
            raise InvalidInputError(f"Methods {missing} need exactly the cost entries {', '.join(COSTS)}.")

    @property
    def methods(self) -> list[str]:
        return list(self.values)

    @property
    def metrics(self) -> list[str]:
        """The metrics measured, in the order of :data:`MEASURES`."""
        return [metric for metric in MEASURES if metric in next(iter(self.values.values()))]

    def select(self, metrics: Sequence[str]) -> BenchmarkResult:
        """The same result with only ``metrics`` (e.g. one modality's columns of a text-image run, for one table)."""
        return BenchmarkResult(
            values={method: {m: values[m] for m in metrics} for method, values in self.values.items()},
            cost=self.cost,
            metadata=self.metadata,
            sample_indices=self.sample_indices,
            predictions=self.predictions,
        )

    def groups(self) -> dict[str, BenchmarkResult]:
        """The result per column group: ``text``, ``image`` and ``joint`` for a text-image run (one table, radar
        and Pareto front each), else ``{"": self}``."""
        parts = {
            group: [metric for metric in self.metrics if metric.startswith(f"{group}_")] for group in MODALITY_GROUPS
        }
        return {group: self.select(metrics) for group, metrics in parts.items() if metrics} or {"": self}

    def pareto_fronts(self) -> dict[str, ParetoFront]:
        """:meth:`pareto_front` of each group that has faithfulness and clarity metrics (``joint`` has no clarity)."""
        fronts = {}
        for group in self.groups():
            prefix = f"{group}_" if group else ""
            faithfulness = [f"{prefix}average_drop", f"{prefix}deletion_auc"]
            clarity = [f"{prefix}complexity", f"{prefix}sparsity"]
            if set(faithfulness + clarity) <= set(self.metrics):
                fronts[group] = self.pareto_front(faithfulness, clarity)
        return fronts

    def summary(self) -> dict[str, dict[str, dict[str, float]]]:
        """``summary[method][metric] = {"mean": ..., "std": ...}`` over the samples (population std, ddof 0)."""
        return {
            method: {
                metric: {"mean": float(np.mean(values[metric])), "std": float(np.std(values[metric]))}
                for metric in self.metrics
            }
            for method, values in self.values.items()
        }

    def _means(self) -> dict[str, dict[str, float]]:
        return {
            method: {m: stats["mean"] for m, stats in metrics.items()} for method, metrics in self.summary().items()
        }

    def _table(self) -> tuple[list[str], dict[str, list[tuple[str, bool]]]]:
        """Column headings and, per method, ``(text, is_best)`` cells: metrics ("mean ± std") then cost.

        Best is judged on the means as displayed, so methods that tie at the shown precision are all best.
        """
        summary = self.summary()
        columns = []
        for metric in self.metrics:
            measure = MEASURES[metric]
            stats = {method: summary[method][metric] for method in self.methods}
            texts = {m: f"{measure.display(s['mean'])} ± {measure.display(s['std'])}" for m, s in stats.items()}
            columns.append((measure, {m: s["mean"] for m, s in stats.items()}, texts))
        for name, measure in COSTS.items():
            values = {method: self.cost[method][name] for method in self.methods}
            columns.append((measure, values, {m: measure.display(v) for m, v in values.items()}))
        cells: dict[str, list[tuple[str, bool]]] = {method: [] for method in self.methods}
        for measure, values, texts in columns:
            best = best_methods(values, measure)
            for method in self.methods:
                cells[method].append((texts[method], method in best))
        return [measure.heading for measure, _, _ in columns], cells

    def to_markdown(self) -> str:
        """A table: one row per method; metric columns ("mean ± std") then cost columns; best per column in bold.

        Arrows give the direction (↑ higher is better, ↓ lower). Best is judged on the means as displayed, so
        methods that tie at the shown precision are all bold (see :func:`best_methods`).
        """
        headings, cells = self._table()
        lines = ["| method | " + " | ".join(headings) + " |", "|---|" + "---:|" * len(headings)]
        for method, row in cells.items():
            lines.append(f"| {method} | " + " | ".join(f"**{t}**" if best else t for t, best in row) + " |")
        return "\n".join(lines)

    def to_html(self) -> str:
        """The table of :meth:`to_markdown` as an HTML ``<table>`` (best cells in ``<b>``; every text escaped)."""
        headings, cells = self._table()
        head = "".join(f"<th>{html.escape(h)}</th>" for h in ["method", *headings])
        rows = "".join(
            f"<tr><td>{html.escape(method)}</td>"
            + "".join(f"<td><b>{html.escape(t)}</b></td>" if best else f"<td>{html.escape(t)}</td>" for t, best in row)
            + "</tr>"
            for method, row in cells.items()
        )
        return f"<table><tr>{head}</tr>{rows}</table>"

    def pareto_front(
        self,
        faithfulness: Sequence[str] = ("average_drop", "deletion_auc"),
        clarity: Sequence[str] = ("complexity", "sparsity"),
        reference: str = "scorer",
    ) -> ParetoFront:
        """The methods not dominated on (faithfulness, clarity) pairs of metrics; see :class:`ParetoFront`."""
        if missing := [m for m in (*faithfulness, *clarity) if m not in self.metrics]:
            raise InvalidInputError(f"Metrics {missing} were not measured; measured: {', '.join(self.metrics)}.")
        means = self._means()
        pairs = [(f, c) for f in faithfulness for c in clarity]

        def beats(a: str, b: str, pair: tuple[str, str]) -> bool:
            return all(_is_better(means[a][m], means[b][m], MEASURES[m]) for m in pair)

        def beaten_by(method: str, pair: tuple[str, str]) -> list[str]:
            return [other for other in self.methods if other != method and beats(other, method, pair)]

        dominated_by = {
            method: [other for other in self.methods if other != method and any(beats(other, method, p) for p in pairs)]
            for method in self.methods
        }
        return ParetoFront(
            faithfulness=tuple(faithfulness),
            clarity=tuple(clarity),
            front=[method for method in self.methods if not dominated_by[method]],
            dominated_by=dominated_by,
            reference=reference,
            beats_reference={pair: beaten_by(reference, pair) for pair in pairs} if reference in self.values else {},
        )

    def radar(self, path: str | Path | None = None, title: str | None = None) -> Figure:
        """A radar plot of the means (each metric rescaled across methods, outward = better); PNG at ``path``.

        Means are rounded as the table shows them first, so methods tied in the table share a radius.
        """
        measures = {metric: MEASURES[metric] for metric in self.metrics}
        means = {
            method: {measures[m].label: measures[m].shown(value) for m, value in metrics.items()}
            for method, metrics in self._means().items()
        }
        higher_is_better = {measure.label: measure.higher_is_better for measure in measures.values()}
        return radar_plot(means, higher_is_better=higher_is_better, path=path, title=title)

    def to_dict(self) -> dict[str, Any]:
        return {
            "metadata": self.metadata,
            "cost": self.cost,
            "summary": self.summary(),
            "sample_indices": self.sample_indices,
            "predictions": self.predictions,
            "values": self.values,
        }

    def to_json(self, path: str | Path) -> None:
        """Write per-sample values, summary, cost and metadata as JSON."""
        Path(path).write_text(json.dumps(self.to_dict(), indent=2, ensure_ascii=False, default=str) + "\n")

    @classmethod
    def from_json(cls, path: str | Path) -> BenchmarkResult:
        """Read a result written by :meth:`to_json` (the summary is recomputed from the values)."""
        data = json.loads(Path(path).read_text())
        return cls(
            values=data["values"],
            cost=data["cost"],
            metadata=data.get("metadata", {}),
            sample_indices=data.get("sample_indices", []),
            predictions=data.get("predictions", []),
        )


def report_markdown(result: BenchmarkResult, radar_names: Mapping[str, str] | None = None) -> str:
    """The benchmark's tables and Pareto fronts as markdown, one section per group of a text-image run (text,
    image, joint), with the radar plot of each group when ``radar_names`` (group -> file name) are given."""
    sections = []
    fronts = result.pareto_fronts()
    for group, part in result.groups().items():
        if group:
            sections += [f"## {group.capitalize()}", ""]
        sections += [part.to_markdown(), ""]
        if group in fronts:
            sections += [fronts[group].to_markdown(), ""]
        if radar_names:
            sections += [f"![radar {group}]({radar_names[group]})", ""]
    return "\n".join(sections)


def write_report(result: BenchmarkResult, output_dir: str | Path) -> dict[str, Path]:
    """Write ``results.json``, ``results.md`` (tables, Pareto fronts, cost, setup) and ``radar.png`` (a text-image
    run: ``radar_text.png``, ``radar_image.png``, ``radar_joint.png``)."""
    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    radar_names = {group: f"radar_{group}.png" if group else "radar.png" for group in result.groups()}
    paths = {name: output_dir / name for name in ("results.json", "results.md", *radar_names.values())}
    meta = result.metadata
    heading = f"{meta.get('model', 'model')}" + (f" on {meta['dataset']}" if meta.get("dataset") else "")
    timing = (
        f"on {meta.get('device_name') or meta.get('device', '?')} with {meta.get('torch_threads', '?')} torch threads"
    )
    setup = [f"- {key}: {json.dumps(value, ensure_ascii=False, default=str)}" for key, value in meta.items()]
    report = [
        f"# Benchmark: {heading} ({len(result.sample_indices)} samples)",
        "",
        "Mean ± standard deviation over the samples; ↑ higher is better, ↓ lower is better; the best value per "
        "column is bold (ties at the shown precision are all bold). Cost: wall-clock milliseconds of explaining "
        f"per sample {timing} (after one warm-up batch, metrics excluded) and classifier forwards per sample.",
        "",
        report_markdown(result, radar_names),
        "## Setup",
        "",
        *setup,
    ]
    result.to_json(paths["results.json"])
    paths["results.md"].write_text("\n".join(report) + "\n")
    for group, part in result.groups().items():
        part.radar(output_dir / radar_names[group], title=f"{heading}: {group}" if group else heading)
    return paths


# ---------------------------------------------------------------------------------------------- from names to results
def load_dataset_splits(name_or_path: str, split: str) -> DatasetDict:
    """All splits of a Hub dataset, a local folder (data files, ``imagefolder`` class subfolders or a
    ``save_to_disk`` dataset) or a local file.

    A single file (csv, tsv, json, jsonl, parquet) becomes the split named ``split``. ``datasets`` errors (not
    found, offline, unreadable files) become :class:`InvalidInputError`, as does a missing ``split``.
    """
    path = Path(name_or_path)
    if path.is_file() and path.suffix.lower() not in FILE_BUILDERS:
        raise InvalidInputError(
            f"Cannot read {path.name}: a single file must be one of {', '.join(FILE_BUILDERS)}; for images give a "
            "folder with one subfolder per class."
        )
    try:
        if path.is_file():
            builder, options = FILE_BUILDERS[path.suffix.lower()]
            splits = load_dataset(builder, data_files={split: str(path)}, **options)
        elif (path / "dataset_dict.json").is_file():  # written by DatasetDict.save_to_disk
            splits = load_from_disk(str(path))
        else:
            splits = load_dataset(name_or_path)
    except (DatasetsError, OSError, ValueError) as error:
        raise InvalidInputError(f"Could not load dataset {name_or_path!r}: {error}") from error
    if split not in splits:
        raise InvalidInputError(f"Dataset {name_or_path!r} has no split {split!r}; its splits: {', '.join(splits)}.")
    return splits


def prepare_dataset(
    model: AutoModelWithScorer,
    dataset: Dataset,
    columns: Mapping[str, str],
    *,
    label_column: str | None = None,
    evidence_column: str | None = None,
) -> Dataset:
    """Raw texts, images or both -> model inputs, with ``model.processor`` (text truncated to the model's maximum
    length: not padded for a text model, padded to it for a text-image one); ``columns`` maps each of the model's
    modalities (``text``, ``image``) to its column. Keeps ``label_column`` (renamed ``label``) and
    ``evidence_column``."""
    for kind, column in columns.items():
        _require_columns(dataset, [column], f"the {kind} column")
    _require_columns(dataset, [label_column], "the label column")
    _require_columns(dataset, [evidence_column], "the evidence column")
    renames = {**{column: kind for kind, column in columns.items()}, label_column: "label"}
    kept = list(dict.fromkeys(c for c in (*columns.values(), label_column, evidence_column) if c))
    dataset = dataset.select_columns(kept).rename_columns(
        {old: new for old, new in renames.items() if old and old != new}
    )
    if "text" in columns and None in dataset["text"]:
        raise InvalidInputError(
            f"Column {columns['text']!r} has empty rows; drop them or fill them before benchmarking."
        )
    return preprocess(dataset, model.processor, max_length=model_max_length(model))


def benchmark_from_pretrained(
    model_name_or_path: str,
    dataset_name_or_path: str,
    *,
    split: str = "test",
    text_column: str | None = None,
    image_column: str | None = None,
    label_column: str | None = None,
    evidence_column: str | None = None,
    num_samples: int | None = 500,
    methods: Sequence[str] | None = None,
    extra_explainers: Mapping[str, Callable[[AutoModelWithScorer], Explainer]] | None = None,
    batch_size: int = 16,
    baseline_samples: int = 20,
    seed: int = 0,
    device: str | None = None,
    progress: bool = True,
) -> BenchmarkResult:
    """Load a checkpoint and a dataset by name, prepare the inputs and run :func:`run_benchmark` (the CLI's work).

    The SHAP methods' ``baseline_samples`` are drawn at random (``seed``) from the ``train`` split when there is one
    and it is not the evaluated split; otherwise they are the first rows of the evaluated split, which are then left
    out of the evaluation, whichever methods run (so runs of different methods evaluate the same rows).
    ``metadata["baselines"]`` says which. ``sample_indices`` are rows of the evaluated split.
    ``label_column`` defaults to ``label`` when the split has one; text and image columns to ``text`` and ``image``.
    ``extra_explainers`` (name -> function building an explainer from the loaded model) are measured after
    ``methods`` on the same rows, e.g. ablation variants or a ``ClassDistribution`` wrapper.
    """
    if methods is not None and (
        not (methods or extra_explainers) or any(name not in EXPLAINER_NAMES for name in methods)
    ):
        raise InvalidInputError(f"Methods {list(methods)}: choose one or more of {', '.join(EXPLAINER_NAMES)}.")
    model = AutoModelWithScorer.from_pretrained(model_name_or_path)
    model.to(device or ("cuda" if torch.cuda.is_available() else "cpu"))
    methods = supported_explainers(model) if methods is None else methods
    kinds = model.modality.name.split("-")  # text, image or both
    given = {"text": text_column, "image": image_column}
    if unused := [kind for kind, column in given.items() if column and kind not in kinds]:
        raise InvalidInputError(
            f"{model_name_or_path} is a {model.modality.name} classifier: it takes no {unused[0]} column."
        )
    columns = {kind: given[kind] or kind for kind in kinds}
    splits = load_dataset_splits(dataset_name_or_path, split)
    evaluated = splits[split]
    label_column = label_column or ("label" if "label" in evaluated.column_names else None)

    def prepare(rows: Dataset) -> Dataset:
        return prepare_dataset(model, rows, columns, label_column=label_column, evidence_column=evidence_column)

    # Where baselines would come from is settled whatever the methods, so that runs of different method sets
    # (e.g. in parallel processes) evaluate the same rows.
    if "train" in splits and split != "train":
        pool, rows, first = splits["train"], draw_samples(len(splits["train"]), baseline_samples, seed), 0
        source = f"{len(rows)} rows of the train split drawn at random (seed {seed})"
    elif len(evaluated) > baseline_samples:
        pool, rows, first = evaluated, list(range(baseline_samples)), baseline_samples
        source = f"the first {baseline_samples} rows of the {split} split (no train split), not evaluated"
    elif any(_needs_baselines(name) for name in methods):
        raise InvalidInputError(
            f"The {split} split has {len(evaluated)} rows: too few to keep {baseline_samples} rows apart as "
            "baseline samples and still evaluate; lower --baseline-samples."
        )
    else:  # too small to keep rows apart, and no method needs them
        pool, rows, first, source = evaluated, [], 0, f"none (the {split} split is too small to keep rows apart)"
    baseline_inputs, baselines = None, f"none (no SHAP method benchmarked; reserved: {source})"
    if any(_needs_baselines(name) for name in methods):
        baseline_inputs, baselines = dataset_to_batch(model, prepare(pool.select(rows))), source
    indices = [first + index for index in draw_samples(len(evaluated) - first, num_samples, seed)]
    result = run_benchmark(
        model,
        prepare(evaluated.select(indices)),
        methods=methods,
        extra_explainers={name: build(model) for name, build in (extra_explainers or {}).items()},
        baseline_inputs=baseline_inputs,
        batch_size=batch_size,
        seed=seed,
        evidence_column=evidence_column,
        progress=progress,
    )
    result.sample_indices = indices
    result.metadata.update(
        model=str(model_name_or_path), dataset=str(dataset_name_or_path), split=split, baselines=baselines
    )
    return result
