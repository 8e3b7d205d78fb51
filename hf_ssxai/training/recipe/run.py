"""Run a training recipe: phase 1 fine-tunes a classifier, phase 2 trains its scorer.

Shared by ``recipes/train.py`` (the script ``accelerate launch`` runs) and the ``hf-ssxai train-classifier`` /
``train-scorer`` commands (both through :mod:`hf_ssxai.commands.train`). The recipe's format is
:class:`~hf_ssxai.training.recipe.schema.Recipe`; see docs/recipes.md.

Output folder: ``classifier/`` (classifier + processor, loadable by plain transformers), ``model/``
(classifier + scorer, :meth:`AutoModelWithScorer.from_pretrained`) and ``metrics.json``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from accelerate.utils import gather_object

from ...checkpoint import fingerprint, load_classifier
from ...configuration import ScorerConfig, build_config
from ...data.loading import label_names, load_splits
from ...errors import ConfigError, InvalidInputError
from ...modalities import get_modality
from ..phases import fine_tune_classifier, train_scorer, training_arguments
from .build import freeze, new_classifier, new_processor
from .schema import Recipe


def as_recipe(recipe: Recipe | Mapping[str, Any]) -> Recipe:
    """A :class:`Recipe`, parsing (and checking) a mapping."""
    return recipe if isinstance(recipe, Recipe) else Recipe.from_dict(recipe)


def keep_max_length(processor: Any, recipe: Recipe) -> Any:
    """``processor`` with the recipe's ``max_length`` as its tokenizer's ``model_max_length`` (when the recipe sets
    one): saved with the checkpoint, the length the model trained with travels with it, and the benchmark, the
    pipeline and ``explain`` truncate to it (:func:`~hf_ssxai.data.preprocess.truncation_length`)."""
    if recipe.max_length is not None:
        modality = get_modality(recipe.modality)
        for part in modality.parts.values():
            tokenizer = modality.part_processor(processor, part)
            if hasattr(tokenizer, "model_max_length"):
                tokenizer.model_max_length = recipe.max_length
    return processor


def prepare(recipe: Recipe, processor: Any, max_train_samples: int | None) -> tuple[dict[str, Any], list[str]]:
    """Load, subsample and preprocess every split of the recipe's data; also returns the label names.

    ``max_train_samples`` and ``max_eval_samples`` draw random subsets (seed 0), the same in every run."""
    splits = load_splits(recipe.data)
    ids = sorted(set(splits["train"]["label"]))
    labels = [str(name) for name in recipe.labels or label_names(splits["train"]) or ids]
    if recipe.labels and not set(ids) <= set(range(len(recipe.labels))):
        raise ConfigError(
            f"The recipe names {len(recipe.labels)} classes ({', '.join(map(str, recipe.labels))}), but the training "
            f"labels are {ids}: give one name per label id 0..{max(ids)}, in id order."
        )
    limit = max_train_samples or recipe.max_train_samples
    if limit:
        splits["train"] = splits["train"].shuffle(seed=0).select(range(min(limit, len(splits["train"]))))
    if recipe.max_eval_samples:  # a random subset (seed 0): the first rows of a sorted split mislead
        for name in [n for n in splits if n != "train"]:
            count = min(recipe.max_eval_samples, len(splits[name]))
            splits[name] = splits[name].shuffle(seed=0).select(range(count))
    modality = get_modality(recipe.modality)
    processed = {
        name: modality.preprocess(split, processor, max_length=recipe.max_length) for name, split in splits.items()
    }
    return processed, labels


def _evaluation_split(data: dict[str, Any]) -> Any:
    """The validation split, else the test split, else none."""
    return data.get("validation", data.get("test"))


def _summarize(trainer: Any, eval_dataset: Any) -> dict[str, Any]:
    """Evaluation metrics, the optimizer steps taken and the first and last logged training loss (the mean
    per-sample loss of the logging interval over every process: cross-entropy for phase 1, the scorer loss for
    phase 2)."""
    losses = [entry["loss"] for entry in trainer.state.log_history if "loss" in entry]
    summary = {
        "steps": trainer.state.global_step,
        "first_loss": losses[0] if losses else None,
        "last_loss": losses[-1] if losses else None,
    }
    if eval_dataset is not None:
        summary.update(trainer.evaluate(eval_dataset))
    return summary


def run_classifier_phase(
    recipe: Recipe | Mapping[str, Any],
    output_dir: str | Path,
    *,
    max_train_samples: int | None = None,
    resume_from_checkpoint: str | None = None,
) -> dict[str, Any]:
    """Phase 1: fine-tune the recipe's classifier, save it to ``output_dir/classifier``; returns its metrics."""
    recipe = as_recipe(recipe)
    recipe.require("classifier", "classifier_training", phase="classifier")
    output, modality = Path(output_dir), get_modality(recipe.modality)
    processor = keep_max_length(new_processor(recipe.classifier, modality), recipe)
    data, labels = prepare(recipe, processor, max_train_samples)
    classifier = new_classifier(recipe.classifier, modality, labels)
    freeze(classifier, recipe.classifier.freeze)
    training = training_arguments(output / "classifier_run", **recipe.classifier_training)
    trainer = fine_tune_classifier(
        classifier,
        processor,
        training,
        data["train"],
        _evaluation_split(data),
        mask_probability=recipe.mask_probability,
        resume_from_checkpoint=resume_from_checkpoint,
    )
    metrics = _summarize(trainer, _evaluation_split(data))
    if training.should_save:
        classifier.save_pretrained(output / "classifier")
        processor.save_pretrained(output / "classifier")
    trainer.accelerator.wait_for_everyone()
    return metrics


def run_scorer_phase(
    recipe: Recipe | Mapping[str, Any],
    output_dir: str | Path,
    *,
    classifier_dir: str | Path | None = None,
    max_train_samples: int | None = None,
    resume_from_checkpoint: str | None = None,
) -> dict[str, Any]:
    """Phase 2: train a scorer for the classifier in ``classifier_dir`` (default ``output_dir/classifier``) and
    save classifier + scorer to ``output_dir/model``; returns its metrics with every rank's scorer fingerprint."""
    recipe = as_recipe(recipe)
    recipe.require("scorer_training", phase="scorer")
    output, modality = Path(output_dir), get_modality(recipe.modality)
    classifier_dir = Path(classifier_dir) if classifier_dir is not None else output / "classifier"
    if not (classifier_dir / "config.json").is_file():
        raise InvalidInputError(
            f"No classifier at {classifier_dir}: run the classifier phase first or give the folder of one."
        )
    classifier = load_classifier(str(classifier_dir), modality, {})  # safetensors only; pickles are refused
    processor = keep_max_length(modality.processor_class.from_pretrained(classifier_dir), recipe)
    data, _ = prepare(recipe, processor, max_train_samples)
    config = build_config(ScorerConfig, recipe.scorer, "scorer")
    training = training_arguments(output / "scorer_run", **recipe.scorer_training)
    trainer = train_scorer(
        classifier,
        processor,
        config,
        training,
        data["train"],
        _evaluation_split(data),
        resume_from_checkpoint=resume_from_checkpoint,
    )
    metrics = _summarize(trainer, _evaluation_split(data))
    # every rank's scorer weights, to show data-parallel training kept them identical
    scorer = trainer.accelerator.unwrap_model(trainer.model).scorer
    metrics["fingerprint_per_rank"] = gather_object([fingerprint(scorer)])
    trainer.save_model(output / "model")  # full weights also when FSDP or ZeRO-3 shard them
    return metrics


def write_metrics(output_dir: str | Path, metrics: dict[str, Any]) -> Path:
    """Merge ``metrics`` into ``output_dir/metrics.json`` (one key per phase) and return its path."""
    path = Path(output_dir) / "metrics.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    existing = json.loads(path.read_text()) if path.is_file() else {}
    path.write_text(json.dumps({**existing, **metrics}, indent=2, default=str))
    return path
