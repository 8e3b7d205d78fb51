"""The grid pointing game and the sanity checks from names: a checkpoint and a dataset (the CLI's work).

Samples are drawn at random (``seed``) from the evaluated split. The SHAP methods' baselines are the first
``baseline_samples`` rows of that split, which are then never evaluated (for the grid game: grids of them).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from ..benchmark import build_explainers, dataset_to_batch, draw_samples, needs_baselines, prepare_dataset
from ..data.loading import load_dataset_splits
from ..errors import InvalidInputError
from ..explainers import check_methods
from ..modalities import ImageModality
from ..modeling import AutoModelWithScorer, default_device
from .grid import GridPointingGameResult, make_grids, run_grid_pointing_game
from .sanity import SanityCheckResult, cascading_randomization, data_randomization


def _load(model_name_or_path: str, device: str | None) -> AutoModelWithScorer:
    return AutoModelWithScorer.from_pretrained(model_name_or_path).to(default_device(device)).eval()


def _rows(
    model: AutoModelWithScorer,
    dataset: str,
    split: str,
    columns: dict[str, str],
    label_column: str | None,
    num_samples: int | None,
    baseline_samples: int,
    seed: int,
):
    """(evaluated rows, baseline rows or None), prepared for ``model``; baseline rows are kept apart."""
    evaluated = load_dataset_splits(dataset, split)[split]
    prepared = prepare_dataset(model, evaluated, columns, label_column=label_column)
    first = baseline_samples if baseline_samples else 0
    if len(prepared) <= first:
        raise InvalidInputError(
            f"The {split} split has {len(prepared)} rows: too few to keep {first} apart as baselines; lower "
            "baseline_samples."
        )
    rows = [first + index for index in draw_samples(len(prepared) - first, num_samples, seed)]
    baselines = prepared.select(range(first)) if first else None
    return prepared.select(rows), baselines


def grid_pointing_game_from_pretrained(
    model_name_or_path: str,
    dataset_name_or_path: str,
    *,
    split: str = "test",
    image_column: str | None = None,
    label_column: str = "label",
    methods: Sequence[str] | None = None,
    num_grids: int = 200,
    grid_size: int | None = None,
    class_distribution: bool = True,
    baseline_samples: int = 20,
    seed: int = 0,
    device: str | None = None,
) -> GridPointingGameResult:
    """The grid pointing game on grids of images the classifier gets right alone: every method in ``methods`` (None:
    every one that supports the classifier), and with ``class_distribution`` each also inside the class-distribution
    wrapper. ``grid_size`` as in :func:`make_grids`."""
    model = _load(model_name_or_path, device)
    methods = check_methods(methods, model)
    if not isinstance(model.modality, ImageModality):
        raise InvalidInputError(
            f"The grid pointing game tiles images; {model_name_or_path} is {model.modality.description} classifier."
        )
    needs = any(needs_baselines(name) for name in methods)
    pool, baseline_rows = _rows(
        model,
        dataset_name_or_path,
        split,
        model.modality.raw_columns(image=image_column),
        label_column,
        None,
        baseline_samples if needs else 0,
        seed,
    )
    pool = pool.with_format("torch")[:]  # every row at once, as stacked tensors
    pixel_values, labels = pool["pixel_values"].float(), pool["label"].long()
    with torch.no_grad():
        predicted = torch.cat(
            [
                model.classifier(pixel_values=chunk.to(model.device)).logits.argmax(-1).cpu()
                for chunk in pixel_values.split(64)
            ]
        )
    correct = predicted == labels
    grids = make_grids(pixel_values[correct], labels[correct], num_grids, grid_size=grid_size, seed=seed)
    baseline_grids = None
    if baseline_rows is not None:  # baselines must look like what is explained: grids of the baseline rows
        rows = baseline_rows.with_format("torch")[:]
        tiles = make_grids(
            rows["pixel_values"].float(), rows["label"].long(), len(baseline_rows), grid_size=grid_size, seed=seed
        )
        baseline_grids = {"pixel_values": tiles.pixel_values}
    explainers = build_explainers(model, methods, {}, baseline_grids)
    result = run_grid_pointing_game(explainers, grids, class_distribution=class_distribution)
    result.metadata.update(
        model=str(model_name_or_path),
        dataset=str(dataset_name_or_path),
        split=split,
        seed=seed,
        correctly_classified_pool=int(correct.sum()),
    )
    return result


def sanity_check_from_pretrained(
    model_name_or_path: str,
    dataset_name_or_path: str,
    *,
    randomized_model: str | None = None,
    split: str = "test",
    text_column: str | None = None,
    image_column: str | None = None,
    methods: Sequence[str] | None = None,
    num_samples: int = 100,
    batch_size: int = 16,
    baseline_samples: int = 20,
    seed: int = 0,
    device: str | None = None,
) -> SanityCheckResult:
    """Cascading model randomization of the checkpoint's classifier or, with ``randomized_model`` (a checkpoint of
    the same architecture trained on shuffled labels), data randomization. The scorer is applied unchanged; for
    a scorer retrained on each randomized classifier call :func:`cascading_randomization` with ``retrain_scorer``."""
    model = _load(model_name_or_path, device)
    methods = check_methods(methods, model)
    needs = any(needs_baselines(name) for name in methods)
    rows, baseline_rows = _rows(
        model,
        dataset_name_or_path,
        split,
        model.modality.raw_columns(text=text_column, image=image_column),
        None,
        num_samples,
        baseline_samples if needs else 0,
        seed,
    )
    batches = [
        {
            key: value.to(model.device)
            for key, value in dataset_to_batch(
                model, rows.select(range(start, min(start + batch_size, len(rows))))
            ).items()
        }
        for start in range(0, len(rows), batch_size)
    ]
    baselines = dataset_to_batch(model, baseline_rows) if baseline_rows is not None else None
    factories = {name: (lambda m, n=name: build_explainers(m, [n], {}, baselines)[n]) for name in methods}
    if randomized_model is None:
        result = cascading_randomization(model, batches, factories, seed=seed)
    else:
        result = data_randomization(model, _load(randomized_model, device), batches, factories)
    result.metadata.update(model=str(model_name_or_path), dataset=str(dataset_name_or_path), split=split)
    return result
