"""``hf-ssxai sanity-check``: do the maps change when the classifier's weights or its training labels are random?"""

from __future__ import annotations

import argparse
from pathlib import Path

from .base import DEVICE_HELP, METHODS_HELP, Command, call_with_options, method_list
from .evaluation import write_evaluation


class SanityCheckCommand(Command):
    name = "sanity-check"
    help = "randomization sanity checks: do the maps change when the classifier's weights or labels are random?"
    description = (
        "Cascading model randomization (default): re-draws the classifier's layers from the head down and, after "
        "each step, measures how similar every method's maps stay to the original ones (Spearman rank correlation; "
        "1 = unchanged, which a faithful method must not stay). With --randomized-model: data randomization against "
        "a checkpoint of the same classifier trained on shuffled labels. A text-image classifier gets one row per "
        "map, METHOD (text) and METHOD (image). Writes DIR/*.json and a plot. See docs/evaluation.md."
    )
    epilog = (
        "Examples:\n  hf-ssxai sanity-check --model ./checkpoint --dataset ./images --split validation\n"
        "  hf-ssxai sanity-check --model ./checkpoint --randomized-model ./shuffled-checkpoint --dataset ./images\n"
    )

    @classmethod
    def add_arguments(cls, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--model", required=True, help="an hf_ssxai checkpoint: a folder or a Hub repo")
        parser.add_argument("--dataset", required=True, help="a Hub dataset id, a local folder or a data file")
        parser.add_argument("--randomized-model", help="a checkpoint trained on shuffled labels: data randomization")
        parser.add_argument("--split", default="test", help="the split to explain (default: test)")
        parser.add_argument(
            "--text-column", help="column with the raw texts, for text and text-image classifiers (default: text)"
        )
        parser.add_argument(
            "--image-column", help="column with the images, for image and text-image classifiers (default: image)"
        )
        parser.add_argument("--num-samples", type=int, default=100, help="samples explained (default: 100)")
        parser.add_argument("--methods", help=METHODS_HELP)
        parser.add_argument("--batch-size", type=int, default=16, help="samples explained at once (default: 16)")
        parser.add_argument("--output-dir", default="sanity_output", help="default: sanity_output")
        parser.add_argument("--seed", type=int, default=0, help="seed of the samples and random weights (default: 0)")
        parser.add_argument("--device", help=DEVICE_HELP)

    @classmethod
    def run(cls, args: argparse.Namespace) -> int:
        # lazy: the evaluation imports captum, datasets and matplotlib (keeps --help quick)
        from ..evaluation.from_pretrained import sanity_check_from_pretrained

        methods = method_list(args.methods)
        result = call_with_options(sanity_check_from_pretrained, args, args.model, args.dataset, methods=methods)
        name = "cascading" if args.randomized_model is None else "data_randomization"
        legend = "Spearman rank correlation with the original maps (1: unchanged)."
        return write_evaluation(result, Path(args.output_dir), name, legend)
