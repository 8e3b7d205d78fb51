"""Every explainer × every metric on one dataset: the measuring loop.

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
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

import captum
import datasets
import numpy as np
import torch
import transformers
from datasets import Dataset
from tqdm.auto import tqdm

from ..checkpoint import fingerprint
from ..data.parallel import gather_shares, my_share
from ..errors import InvalidInputError, SSXAIError
from ..explainers import (
    EXPLAINER_NAMES,
    EXPLAINER_REGISTRY,
    AttributionOutput,
    BaselineSetExplainer,
    Explainer,
    count_forwards,
    get_explainer,
    supported_explainers,
)
from ..metrics import (
    auc,
    average_drop,
    complexity,
    compute_perturbations,
    entropy_complexity,
    gini_sparseness,
    only_modality,
    pointing_game,
    random_rationale_f1,
    rationale_auprc,
    rationale_coverage,
    rationale_overlap,
    sparsity,
)
from ..modalities import EvidenceReading
from ..modeling import AutoModelWithScorer
from ..version import __version__
from .batching import (
    batch_evidence,
    collate,
    draw_samples,
    formatted,
    has_class_labels,
    model_input_columns,
    require_columns,
    same_features,
)
from .results import BenchmarkResult


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
    """The faithfulness metrics of one batch of maps (one, or one per modality ranked together)."""
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
    """Every metric of :data:`~hf_ssxai.metrics.MEASURES` for one batch of maps, one value per sample (pointing game
    and the rationale metrics with evidence).

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
    """The metrics of one map alone (no forward): its complexity and sparsity; with evidence, the pointing game, the
    overlap of the map's top features (as many as the evidence has) with the evidence (F1, F1 over its per-row random
    reference, IoU) and the AUPRC of the map's scores against the evidence."""
    values = {
        "complexity": complexity(attributions, feature_mask),
        "sparsity": sparsity(attributions, feature_mask),
        "entropy_complexity": entropy_complexity(attributions, feature_mask),
        "gini_sparseness": gini_sparseness(attributions, feature_mask),
    }
    if evidence is not None:
        values["pointing_game"] = pointing_game(attributions, evidence, feature_mask)
        values["rationale_f1"], values["rationale_iou"] = rationale_overlap(attributions, evidence, feature_mask)
        values["rationale_f1_over_random"] = values["rationale_f1"] - random_rationale_f1(evidence, feature_mask)
        values["rationale_auprc"] = rationale_auprc(attributions, evidence, feature_mask)
    return values


def _coverage(evidence: Any, feature_mask: Any) -> dict[str, torch.Tensor]:
    """Each row's rationale coverage per column group: ``""`` for one map, each part's name for a dict of maps."""
    if isinstance(evidence, Mapping):
        return {part: rationale_coverage(evidence[part], feature_mask[part]).cpu() for part in evidence}
    return {"": rationale_coverage(evidence, feature_mask).cpu()}


def _merged(shares: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """The processes' shares of a run (in process order: their batches in order) as one: per-sample values, predictions,
    labels and coverage concatenated, seconds and forwards summed."""
    shares = [share for share in shares if share["predictions"]]  # with fewer batches than processes, some get none

    def joined(*keys: str) -> list[Any]:
        parts = []
        for share in shares:
            for key in keys:
                share = share[key]
            parts.extend(share)
        return parts

    first = shares[0]
    return {
        "values": {
            name: {metric: joined("values", name, metric) for metric in first["values"][name]}
            for name in first["values"]
        },
        "seconds": {name: sum(share["seconds"][name] for share in shares) for name in first["seconds"]},
        "forwards": {name: sum(share["forwards"][name] for share in shares) for name in first["forwards"]},
        "predictions": joined("predictions"),
        "labels": joined("labels"),
        "coverage": {group: joined("coverage", group) for group in first["coverage"]},
    }


def needs_baselines(name: str) -> bool:
    """Whether the method registered as ``name`` explains against baseline samples (the SHAP family)."""
    return issubclass(EXPLAINER_REGISTRY.get(name, Explainer), BaselineSetExplainer)


def build_explainers(
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
        if needs_baselines(name) and "baselines" not in kwargs:
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
        evidence_column: per-sample ground truth, a feature position or a 0/1 mask per feature (text: one entry per
            token of the row, special tokens included), checked row by row: adds the pointing game and the rationale
            metrics (F1, F1 over random, IoU, AUPRC), and each row's rationale coverage to the result. Text spans,
            character offsets, words and boxes are mapped to features by :func:`prepare_dataset`.
            Text-image models: one column per modality, ``{"text": ..., "image": ...}``.
        metric_batch_size: perturbed inputs per classifier call in the metric engine.
        progress: show a progress bar over methods × batches.

    Each batch: the prediction is computed once (one no-grad forward, not counted), then every method explains it
    for that target. Cost is the wall clock of ``attribute`` alone (after one untimed warm-up call per method on the
    first batch; the metric engine excluded) and the samples that went through the classifier, per sample.

    Under ``accelerate launch`` (N processes, :mod:`hf_ssxai.data.parallel`) each process measures a contiguous share
    of the batches and every process returns the whole result, gathered in order: the per-sample values are those of
    a one-process run; the cost adds up the processes' seconds and forwards.
    """
    if batch_size < 1 or steps < 1:
        raise InvalidInputError(f"batch_size and steps must be positive, got {batch_size} and {steps}.")
    model.eval()
    device = model.device
    methods = supported_explainers(model) if methods is None else methods
    explainers = build_explainers(model, methods, explainer_kwargs or {}, baseline_inputs)
    explainers.update(extra_explainers or {})
    columns = model_input_columns(model, dataset, input_columns)
    evidence_columns = evidence_column.values() if isinstance(evidence_column, Mapping) else [evidence_column]
    require_columns(dataset, list(evidence_columns), "evidence_column")
    sample_indices = draw_samples(len(dataset), num_samples, seed)
    rows_source = formatted(model, dataset.select(sample_indices))
    has_labels = has_class_labels(dataset)
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
    predictions, labels, coverage = [], [], []
    # under accelerate launch each process measures its contiguous share of the batches: the same batches as in one
    # process, so every per-sample value is the same (the tie-breaking draws and padding are per batch)
    starts = my_share(range(0, len(sample_indices), batch_size))
    with tqdm(total=len(starts) * len(explainers), desc="benchmark", disable=not progress) as bar:
        for start in starts:
            rows = rows_source[start : start + batch_size]
            batch = {key: value.to(device) for key, value in collate(model, rows, columns).items()}
            feature_mask = model.modality.feature_mask(batch, model.scorer_config)
            reading = EvidenceReading(evidence_column, row_ids=sample_indices[start : start + batch_size])
            evidence = batch_evidence(model, rows, reading, feature_mask) if evidence_column else None
            if evidence is not None:
                coverage.append(_coverage(evidence, feature_mask))
            with torch.no_grad():
                target = model.classifier(**model.modality.classifier_inputs(batch)).logits.argmax(dim=-1)
            predictions.append(target.cpu())
            if has_labels:
                labels.append(torch.as_tensor(rows["label"]))
            for name, explainer in explainers.items():
                bar.set_postfix_str(name)
                if start == starts[0]:
                    _timed_attribution(explainer, batch, target, seed)  # warm-up: one-time costs are not timed
                output, elapsed, samples = _timed_attribution(explainer, batch, target, seed)
                if not same_features(output.feature_mask, feature_mask):
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

    shares = gather_shares(
        {
            "values": {
                name: {metric: torch.cat(parts).tolist() for metric, parts in chunks[name].items()} for name in chunks
            },
            "seconds": seconds,
            "forwards": forwards,
            "predictions": torch.cat(predictions).tolist() if predictions else [],
            "labels": torch.cat(labels).tolist() if labels else [],
            "coverage": {group: torch.cat([c[group] for c in coverage]).tolist() for group in coverage[0]}
            if coverage
            else {},
        }
    )
    share = _merged(shares)
    seconds, forwards = share["seconds"], share["forwards"]
    count = len(sample_indices)
    predicted = torch.tensor(share["predictions"])
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
        "accuracy": float((predicted == torch.tensor(share["labels"])).float().mean()) if has_labels else None,
    }
    return BenchmarkResult(
        values=share["values"],
        cost={
            name: {"ms_per_sample": 1000 * seconds[name] / count, "forwards_per_sample": forwards[name] / count}
            for name in explainers
        },
        metadata=metadata,
        sample_indices=sample_indices,
        predictions=predicted.tolist(),
        labels=share["labels"],
        evidence_coverage=share["coverage"],
    )
