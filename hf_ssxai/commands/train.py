"""``hf-ssxai train-classifier`` and ``hf-ssxai train-scorer``: the two phases of a YAML training recipe.

The options and the run are those of ``recipes/train.py`` (the script ``accelerate launch`` starts for several
processes or GPUs), which imports :func:`add_training_arguments` and :func:`run_training` from here: one
implementation for both.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from .base import Command

#: the phases in the order they run, and the folder each writes under OUTPUT_DIR
PHASES = {"classifier": "classifier", "scorer": "model"}


#: the command-line option that overrides each overridable recipe section key by key, and the phase it belongs to
OVERRIDE_OPTIONS = {
    "classifier_training": ("--classifier-training", "classifier"),
    "scorer_training": ("--scorer-training", "scorer"),
    "scorer": ("--scorer-option", "scorer"),
}
OVERRIDE_HELP = {
    "classifier_training": "override a TrainingArguments field of phase 1, e.g. learning_rate=1e-4 (repeatable)",
    "scorer_training": "override a TrainingArguments field of phase 2, e.g. learning_rate=1e-3 (repeatable)",
    "scorer": "override a ScorerConfig field, e.g. use_relu=false or target=prediction (repeatable)",
}


def add_training_arguments(parser: argparse.ArgumentParser, phases: tuple[str, ...]) -> None:
    """The options of a recipe run of ``phases`` (each phase's overrides only when it is among them)."""
    parser.add_argument("--config", required=True, metavar="RECIPE", help="YAML recipe (see recipes/configs/)")
    parser.add_argument("--output-dir", required=True, help="folder for the checkpoint, runs and metrics.json")
    parser.add_argument("--max-train-samples", type=int, help="use at most this many training samples")
    parser.add_argument(
        "--resume-from-checkpoint", metavar="CHECKPOINT", help="a checkpoint folder of the phase being run"
    )
    if "scorer" in phases:
        parser.add_argument(
            "--classifier",
            metavar="DIR",
            help="the classifier folder to train the scorer of (default: OUTPUT_DIR/classifier; skips phase 1)",
        )
    for section, (flag, phase) in OVERRIDE_OPTIONS.items():
        if phase in phases:
            parser.add_argument(
                flag, dest=section, action="append", default=[], metavar="KEY=VALUE", help=OVERRIDE_HELP[section]
            )


def run_training(args: argparse.Namespace, phases: tuple[str, ...]) -> dict[str, Any]:
    """Run ``phases`` of the recipe ``args.config``, with the command line's overrides (the classifier phase is
    skipped when ``args.classifier`` names an existing one); the main process merges the metrics into
    OUTPUT_DIR/metrics.json and prints them."""
    # lazy: training imports accelerate, datasets and the models (keeps --help quick)
    from accelerate import PartialState

    from ..training.recipe import load_recipe, parse_overrides, run_classifier_phase, run_scorer_phase, write_metrics

    overrides = {
        section: parse_overrides(getattr(args, section, []), flag) for section, (flag, _) in OVERRIDE_OPTIONS.items()
    }
    recipe = load_recipe(args.config).overridden(overrides)
    common = {"max_train_samples": args.max_train_samples, "resume_from_checkpoint": args.resume_from_checkpoint}
    classifier_dir = getattr(args, "classifier", None)
    metrics = {}
    if "classifier" in phases and not classifier_dir:
        metrics["classifier"] = run_classifier_phase(recipe, args.output_dir, **common)
    if "scorer" in phases:
        metrics["scorer"] = run_scorer_phase(recipe, args.output_dir, classifier_dir=classifier_dir, **common)
    if PartialState().is_main_process:
        path = write_metrics(args.output_dir, metrics)
        print(json.dumps(metrics, indent=2, default=str))
        written = ", ".join(str(Path(args.output_dir) / PHASES[phase]) for phase in metrics)
        print(f"Wrote {written} and {path}")
    return metrics


class _TrainPhaseCommand(Command):
    """One phase of a recipe as a command."""

    phase: str
    epilog = (
        "Examples:\n"
        "  hf-ssxai train-classifier --config recipes/configs/sst2_local.yaml --output-dir runs/sst2\n"
        "  hf-ssxai train-scorer --config recipes/configs/sst2_local.yaml --output-dir runs/sst2 "
        "--scorer-option target=prediction --scorer-training learning_rate=1e-3 --scorer-training num_train_epochs=2\n"
    )
    common_description = (
        " Metrics go to OUTPUT_DIR/metrics.json. Recipes: recipes/configs/, format in docs/recipes.md. For several "
        "processes or GPUs run recipes/train.py with accelerate launch."
    )

    @classmethod
    def add_arguments(cls, parser: argparse.ArgumentParser) -> None:
        add_training_arguments(parser, (cls.phase,))

    @classmethod
    def run(cls, args: argparse.Namespace) -> int:
        run_training(args, (cls.phase,))
        return 0


class TrainClassifierCommand(_TrainPhaseCommand):
    name = "train-classifier"
    phase = "classifier"
    help = "run the classifier phase of a YAML training recipe"
    description = (
        "Phase 1 of a recipe: fine-tune the classifier (with masking augmentation unless the recipe sets "
        "mask_probability: 0) and save it with its processor to OUTPUT_DIR/classifier."
        + _TrainPhaseCommand.common_description
    )


class TrainScorerCommand(_TrainPhaseCommand):
    name = "train-scorer"
    phase = "scorer"
    help = "run the scorer phase of a YAML training recipe"
    description = (
        "Phase 2 of a recipe: train a scorer against the frozen classifier in --classifier (default: "
        "OUTPUT_DIR/classifier) and save classifier + scorer to OUTPUT_DIR/model."
        + _TrainPhaseCommand.common_description
    )
