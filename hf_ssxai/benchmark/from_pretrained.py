"""The benchmark from names: a checkpoint and a dataset by name or path, prepared and measured (the CLI's work)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

from datasets import Dataset, Value

from ..data.loading import load_dataset_splits
from ..errors import InvalidInputError
from ..explainers import Explainer, check_methods
from ..modeling import AutoModelWithScorer, default_device
from .batching import dataset_to_batch, draw_samples, require_columns
from .results import BenchmarkResult
from .runner import needs_baselines, run_benchmark


def prepare_dataset(
    model: AutoModelWithScorer,
    dataset: Dataset,
    columns: Mapping[str, str],
    *,
    label_column: str | None = None,
    evidence_column: str | None = None,
) -> Dataset:
    """Raw inputs -> model inputs, with ``model.processor`` (text truncated to the model's maximum length: not
    padded for a text model, padded to it for a text-image one); ``columns`` maps each of the model's modalities
    (``text``, ``image``) to its column. Keeps ``label_column`` (renamed ``label``) and ``evidence_column``."""
    for kind, column in columns.items():
        require_columns(dataset, [column], f"the {kind} column")
    require_columns(dataset, [label_column], "the label column")
    require_columns(dataset, [evidence_column], "the evidence column")
    renames = {**{column: kind for kind, column in columns.items()}, label_column: "label"}
    kept = list(dict.fromkeys(c for c in (*columns.values(), label_column, evidence_column) if c))
    dataset = dataset.select_columns(kept).rename_columns(
        {old: new for old, new in renames.items() if old and old != new}
    )
    plain = [kind for kind in columns if isinstance(dataset.features.get(kind), Value)]  # texts, not images
    if empty := [kind for kind in plain if None in dataset[kind]]:
        raise InvalidInputError(
            f"Column {columns[empty[0]]!r} has empty rows; drop them or fill them before benchmarking."
        )
    modality = model.modality
    max_length = modality.input_length_limit(model.processor, model.config)
    return modality.preprocess(dataset, model.processor, max_length=max_length)


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
    model = AutoModelWithScorer.from_pretrained(model_name_or_path)
    model.to(default_device(device))
    methods = check_methods(methods, model, allow_empty=bool(extra_explainers))
    try:
        columns = model.modality.raw_columns(text=text_column, image=image_column)
    except InvalidInputError as error:
        raise InvalidInputError(f"{model_name_or_path}: {error}") from error
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
    elif any(needs_baselines(name) for name in methods):
        raise InvalidInputError(
            f"The {split} split has {len(evaluated)} rows: too few to keep {baseline_samples} rows apart as "
            "baseline samples and still evaluate; lower --baseline-samples."
        )
    else:  # too small to keep rows apart, and no method needs them
        pool, rows, first, source = evaluated, [], 0, f"none (the {split} split is too small to keep rows apart)"
    baseline_inputs, baselines = None, f"none (no SHAP method benchmarked; reserved: {source})"
    if any(needs_baselines(name) for name in methods):
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
