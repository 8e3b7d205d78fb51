"""``hf-ssxai explain-dataset``: explain every row of a dataset into parquet shards (resumable, data-parallel under
``accelerate launch``), optionally uploaded as a Hub dataset."""

from __future__ import annotations

import argparse

from .base import DATASET_HELP, Command, add_launch_options, call_with_options, quiet_datasets


class ExplainDatasetCommand(Command):
    name = "explain-dataset"
    help = "explain every row of a dataset into parquet shards (resumable; data-parallel under accelerate launch)"
    description = (
        "Predict and explain each row of a dataset with a checkpoint and write one output row per input row (id, "
        "prediction, probability; tokens, words and their scores for text; the map for images; both for "
        "text-image) to DIR/data/shard-*.parquet, each shard visible only once complete, with DIR/manifest.json and "
        "a dataset card DIR/README.md. Run it again with the same DIR to resume: complete shards are kept. Under "
        "`accelerate launch` the processes share the shards; the result is one dataset, the rows of a one-process "
        "run."
    )
    epilog = (
        "Examples:\n"
        "  hf-ssxai explain-dataset --model user/sst2-bert-ssxai --dataset stanfordnlp/sst2 --split train "
        "--text-column sentence --output-dir sst2_explained\n"
        "  hf-ssxai explain-dataset --model ./vit-checkpoint --dataset ./images --map-format png --output-dir out\n"
        "  hf-ssxai explain-dataset --model ./checkpoint --dataset big.parquet --streaming --output-dir out "
        "--push-to-hub user/big-explained\n"
        "  accelerate launch --num_processes 8 -m hf_ssxai.cli explain-dataset --model ./checkpoint "
        "--dataset data.csv --output-dir out\n"
    )

    @classmethod
    def add_arguments(cls, parser: argparse.ArgumentParser) -> None:
        add_launch_options(parser)  # --device, --quiet
        parser.add_argument("--output-dir", required=True, help="where the shards go; an unfinished run there resumes")
        parser.add_argument("--model", required=True, help="an hf_ssxai checkpoint (classifier, processor, scorer)")
        parser.add_argument("--dataset", required=True, help=DATASET_HELP)
        parser.add_argument("--split", default="train", help="the split to explain (default: train)")
        parser.add_argument("--text-column", help="column with the raw texts (default: text)")
        parser.add_argument("--image-column", help="column with the images (default: image)")
        parser.add_argument("--id-column", help="column identifying each row (default: the row's position)")
        parser.add_argument(
            "--method",
            default="scorer",
            help="scorer (default: one forward per batch) or an explainer name such as saliency or "
            "integrated_gradients (maps made comparable: absolute value, min-max per row)",
        )
        parser.add_argument(
            "--map-format",
            default="float16",
            choices=("float16", "png"),
            help="how image maps are stored, at the processed resolution (default: float16)",
        )
        parser.add_argument("--batch-size", type=int, default=32, help="rows explained at once (default: 32)")
        parser.add_argument(
            "--shard-size", type=int, default=1000, help="rows per shard, the unit of writing and resuming"
        )
        parser.add_argument(
            "--streaming", action="store_true", help="read the dataset as it is explained (memory holds one shard)"
        )
        parser.add_argument("--push-to-hub", metavar="USER/NAME", help="upload the result as this Hub dataset")
        parser.add_argument("--private", action="store_true", default=None, help="create the Hub dataset private")

    @classmethod
    def run(cls, args: argparse.Namespace) -> int:
        # lazy: explaining imports torch, transformers, datasets and captum (keeps --help quick)
        from ..data.parallel import end_processes
        from ..dataset_explanation import explain_dataset

        quiet_datasets(args)
        explained = call_with_options(explain_dataset, args, progress=not args.quiet)  # --model etc. by name
        if end_processes():  # under accelerate launch every process holds the result: the main one reports
            where = f" and uploaded to {args.push_to_hub}" if args.push_to_hub else ""
            print(f"Explained {len(explained)} rows into {args.output_dir}{where}.")
        return 0
