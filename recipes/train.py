"""Two-phase training recipe: fine-tune a classifier (phase 1), then train its scorer (phase 2).

    accelerate launch recipes/train.py --config recipes/configs/sst2_local.yaml --output-dir runs/sst2
    python recipes/train.py --config recipes/configs/mnist_local.yaml --phase scorer --classifier runs/mnist/classifier

Writes OUTPUT_DIR/classifier (phase 1: classifier + processor, loadable by plain transformers),
OUTPUT_DIR/model (phase 2: classifier + scorer, AutoModelWithScorer.from_pretrained) and
OUTPUT_DIR/metrics.json. The same phases run as `hf-ssxai train-classifier` / `hf-ssxai train-scorer`, with the same
options and the same code (hf_ssxai.commands.train). See docs/recipes.md for the config format.
"""

from __future__ import annotations

import argparse

from accelerate import PartialState

from hf_ssxai.commands.train import PHASES, add_training_arguments, run_training


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_training_arguments(parser, tuple(PHASES))
    parser.add_argument("--phase", choices=[*PHASES, "all"], default="all", help="the phase to run (default: all)")
    args = parser.parse_args()
    run_training(args, tuple(PHASES) if args.phase == "all" else (args.phase,))
    # leave the process group together: a rank that exits with it alive can abort in teardown (seen under gloo)
    state = PartialState()
    state.wait_for_everyone()
    state.destroy_process_group()


if __name__ == "__main__":
    main()
