"""Two-phase training recipe: fine-tune a classifier (phase 1), then train its scorer (phase 2).

    accelerate launch recipes/train.py --config recipes/configs/sst2_local.yaml --output-dir runs/sst2
    python recipes/train.py --config recipes/configs/mnist_local.yaml --phase scorer --classifier runs/mnist/classifier

Writes OUTPUT_DIR/classifier (phase 1: classifier + processor, loadable by plain transformers),
OUTPUT_DIR/model (phase 2: classifier + scorer, AutoModelWithScorer.from_pretrained) and
OUTPUT_DIR/metrics.json. The same phases run as `hf-ssxai train-classifier` / `hf-ssxai train-scorer`.
See docs/recipes.md for the config format.
"""

from __future__ import annotations

import argparse
import json

from accelerate import PartialState

from hf_ssxai.training.recipe import (
    load_recipe,
    parse_scorer_options,
    run_classifier_phase,
    run_scorer_phase,
    write_metrics,
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", required=True, help="YAML recipe (see recipes/configs/)")
    parser.add_argument("--output-dir", required=True)
    parser.add_argument("--phase", choices=["classifier", "scorer", "all"], default="all")
    parser.add_argument("--classifier", help="an existing phase-1 folder to train the scorer of (skips phase 1)")
    parser.add_argument("--max-train-samples", type=int, help="use at most this many training samples")
    parser.add_argument("--resume-from-checkpoint", help="a checkpoint folder of the phase being run")
    parser.add_argument(
        "--scorer-option",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a ScorerConfig field, e.g. use_relu=false or target=prediction (repeatable)",
    )
    args = parser.parse_args()
    recipe = load_recipe(args.config)
    common = {"max_train_samples": args.max_train_samples, "resume_from_checkpoint": args.resume_from_checkpoint}
    metrics = {}
    if args.phase in ("classifier", "all") and not args.classifier:
        metrics["classifier"] = run_classifier_phase(recipe, args.output_dir, **common)
    if args.phase in ("scorer", "all"):
        options = parse_scorer_options(args.scorer_option)
        metrics["scorer"] = run_scorer_phase(
            recipe, args.output_dir, classifier_dir=args.classifier, scorer_options=options, **common
        )
    state = PartialState()
    if state.is_main_process:
        write_metrics(args.output_dir, metrics)
        print(json.dumps(metrics, indent=2, default=str))
    # leave the process group together: a rank that exits with it alive can abort in teardown (seen under gloo)
    state.wait_for_everyone()
    state.destroy_process_group()


if __name__ == "__main__":
    main()
