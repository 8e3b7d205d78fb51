"""The benchmark from names: a checkpoint and a dataset by name or path, prepared and measured (the CLI's work)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

from datasets import Dataset, Value

from ..data.loading import load_dataset_splits
from ..data.parallel import process_device
from ..data.preprocess import truncation_length
from ..data.row_filter import matching_rows
from ..errors import InvalidInputError
from ..explainers import Explainer, check_methods
from ..modalities import EvidenceReading
from ..modeling import AutoModelWithScorer
from .batching import dataset_to_batch, draw_samples, require_columns
from .results import BenchmarkResult
from .runner import needs_baselines, run_benchmark


def prepare_dataset(
    model: AutoModelWithScorer,
    dataset: Dataset,
    columns: Mapping[str, str],
    *,
    label_column: str | None = None,
    evidence_column: str | Mapping[str, str] | None = None,
    evidence_format: str | Mapping[str, str] = "auto",
    row_ids: Sequence[int] | None = None,
) -> Dataset:
    """Raw inputs -> model inputs, with ``model.processor`` (text truncated to :func:`truncation_length`: not
    padded for a text model, padded to it for a text-image one); ``columns`` maps each of the model's modalities
    (``text``, ``image``) to its column. Keeps ``label_column`` (renamed ``label``).

    ``evidence_column`` (a dict modality -> column for a text-image model) holds each row's evidence as the user
    has it: text spans, character offsets ``[[start, end], ...]``, words or token masks for text; boxes
    ``[x0, y0, x1, y1]`` at the image's own size or pixel masks for images (lists in CSV cells as JSON). It is
    replaced by one 0/1 mask per row over that row's features, under the same tokenization (truncation, special
    tokens) or image processing as the inputs; ``evidence_format`` says which kind it is when the values do not
    (``"span"``, ``"offsets"``, ``"words"``, ``"mask"``, ``"boxes"``). Every row is checked on its own; a wrong
    row raises :class:`InvalidInputError` naming it (``row_ids[i]`` for row ``i``, default its position)."""
    evidence_columns = list(evidence_column.values()) if isinstance(evidence_column, Mapping) else [evidence_column]
    for kind, column in columns.items():
        require_columns(dataset, [column], f"the {kind} column")
    require_columns(dataset, [label_column], "the label column")
    require_columns(dataset, evidence_columns, "the evidence column")
    renames = {**{column: kind for kind, column in columns.items()}, label_column: "label"}
    kept = list(dict.fromkeys(c for c in (*columns.values(), label_column, *evidence_columns) if c))
    dataset = dataset.select_columns(kept).rename_columns(
        {old: new for old, new in renames.items() if old and old != new}
    )
    plain = [kind for kind in columns if isinstance(dataset.features.get(kind), Value)]  # texts, not images
    if empty := [kind for kind in plain if None in dataset[kind]]:
        raise InvalidInputError(
            f"Column {columns[empty[0]]!r} has empty rows; drop them or fill them before benchmarking."
        )
    modality, max_length = model.modality, truncation_length(model)
    if evidence_column:
        reading = EvidenceReading(evidence_column, evidence_format, row_ids, max_length)
        dataset = modality.encode_evidence(dataset, model.processor, reading)
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
    evidence_format: str = "auto",
    labels: Sequence[str | int] | None = None,
    where: str | None = None,
    correct_only: bool = False,
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

    Evidence (``evidence_column``, ``evidence_format``) is read as :func:`prepare_dataset` reads it; messages about
    a row name its row of the split. Only rows whose label is one of ``labels`` (class indices or names) and for
    which the condition ``where`` holds (:mod:`hf_ssxai.data.row_filter`, e.g. ``"label != 'neutral'"``) are
    drawn from. ``correct_only`` marks the result so that its report puts the rows the classifier gets right
    first, then all evaluated rows (both cuts; :meth:`BenchmarkResult.correct`); it needs labels.

    Under ``accelerate launch`` the processes share the samples (:func:`run_benchmark`), each on its own device
    unless ``device`` names one; every process returns the whole result.
    """
    model = AutoModelWithScorer.from_pretrained(model_name_or_path)
    model.to(process_device(device))
    methods = check_methods(methods, model, allow_empty=bool(extra_explainers))
    try:
        columns = model.modality.raw_columns(text=text_column, image=image_column)
    except InvalidInputError as error:
        raise InvalidInputError(f"{model_name_or_path}: {error}") from error
    splits = load_dataset_splits(dataset_name_or_path, split)
    evaluated = splits[split]
    label_column = label_column or ("label" if "label" in evaluated.column_names else None)
    if correct_only and label_column is None:
        raise InvalidInputError(
            f"Keeping the rows the classifier gets right needs labels; the {split} split has no label column "
            f"({', '.join(evaluated.column_names)}): name one with --label-column."
        )
    candidates = (
        matching_rows(evaluated, where=where, labels=labels, label_column=label_column, label2id=model.config.label2id)
        if where or labels
        else range(len(evaluated))
    )

    def prepare(rows: Dataset, row_ids: Sequence[int] | None = None) -> Dataset:
        """Model inputs of some rows; with ``row_ids`` (the rows of the split) also their evidence."""
        evidence = evidence_column if row_ids is not None else None
        return prepare_dataset(
            model,
            rows,
            columns,
            label_column=label_column,
            evidence_column=evidence,
            evidence_format=evidence_format,
            row_ids=row_ids,
        )

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
    candidates = [row for row in candidates if row >= first]
    if not candidates:
        raise InvalidInputError(
            f"No row of the {split} split is left to evaluate: {len(evaluated)} rows, {first} kept apart as baseline "
            f"samples, filters: labels {list(labels or [])}, where {where!r}."
        )
    indices = [candidates[index] for index in draw_samples(len(candidates), num_samples, seed)]
    result = run_benchmark(
        model,
        prepare(evaluated.select(indices), row_ids=indices),
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
        model=str(model_name_or_path),
        dataset=str(dataset_name_or_path),
        split=split,
        baselines=baselines,
        truncation_length=truncation_length(model),
        evidence_format=evidence_format if evidence_column else None,
        row_filter={"labels": list(labels or []), "where": where, "matching_rows": len(candidates)},
        correct_only=correct_only,
    )
    return result
