"""``hf-ssxai grid-pointing-game``: does each method's map for a class point at that class' tile of a 2x2 grid?"""

from __future__ import annotations

import argparse
from pathlib import Path

from .base import DEVICE_HELP, METHODS_HELP, Command, call_with_options, method_list
from .evaluation import write_evaluation


class GridPointingGameCommand(Command):
    name = "grid-pointing-game"
    help = "score how well each method's map for a class points at the tile of that class in 2x2 image grids"
    description = (
        "Tiles images the classifier gets right into 2x2 grids of four distinct classes, asks every method for the "
        "map of each tile's class and scores the share of positive attribution inside that tile (1: perfect, 0.25: "
        "blind to the class). Writes DIR/grid_pointing_game.json. See docs/evaluation.md."
    )
    epilog = (
        "Example:\n  hf-ssxai grid-pointing-game --model runs/mnist_resnet/model --dataset data/mnist --num-grids 200\n"
    )

    @classmethod
    def add_arguments(cls, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--model", required=True, help="an hf_ssxai image checkpoint: a folder or a Hub repo")
        parser.add_argument("--dataset", required=True, help="a Hub dataset id or a local folder with a label column")
        parser.add_argument("--split", default="test", help="the split the images come from (default: test)")
        parser.add_argument("--image-column", help="column with the images (default: image)")
        parser.add_argument("--label-column", default="label", help="column with the classes (default: label)")
        parser.add_argument("--num-grids", type=int, default=200, help="grids evaluated (default: 200)")
        parser.add_argument(
            "--grid-size",
            type=int,
            help="grid side in pixels (default: twice the image side; give the classifier's own size for a ViT)",
        )
        parser.add_argument("--methods", help=METHODS_HELP)
        parser.add_argument(
            "--no-class-distribution", action="store_true", help="skip the rows of each method in ClassDistribution"
        )
        parser.add_argument("--output-dir", default="grid_output", help="default: grid_output")
        parser.add_argument("--seed", type=int, default=0, help="seed of the grids (default: 0)")
        parser.add_argument("--device", help=DEVICE_HELP)

    @classmethod
    def run(cls, args: argparse.Namespace) -> int:
        # lazy: the evaluation imports captum, datasets and matplotlib (keeps --help quick)
        from ..evaluation.from_pretrained import grid_pointing_game_from_pretrained

        result = call_with_options(
            grid_pointing_game_from_pretrained,
            args,
            args.model,
            args.dataset,
            methods=method_list(args.methods),
            class_distribution=not args.no_class_distribution,
        )
        legend = "Share of positive attribution in the tile of the class asked for (0.25: blind to the class)."
        return write_evaluation(result, Path(args.output_dir), "grid_pointing_game", legend)
