"""``hf-ssxai benchmark``: every explainer × every metric on a dataset, written as JSON, Markdown and radar plots."""

from __future__ import annotations

import argparse

from .base import (
    DATASET_HELP,
    METHODS_HELP,
    Command,
    add_launch_options,
    call_with_options,
    method_list,
    quiet_datasets,
)


class BenchmarkCommand(Command):
    name = "benchmark"
    help = "compare the scorer with the attribution baselines on a dataset (faithfulness, clarity, cost)"
    description = (
        "Explain the same samples with every method (target: the classifier's prediction), measure every map on "
        "the same features (padding and special tokens excluded) and write DIR/results.json (per-sample values, "
        "summary, cost, metadata), DIR/results.md (table: mean ± std, best per column in bold; Pareto statement; "
        "setup) and DIR/radar.png. Works offline with local checkpoints and data files. Under `accelerate launch` "
        "the processes share the samples and the main process writes the one report."
    )
    epilog = (
        "Examples:\n"
        "  hf-ssxai benchmark --model user/sst2-bert-ssxai --dataset stanfordnlp/sst2 --split validation "
        "--text-column sentence\n"
        "  hf-ssxai benchmark --model ./checkpoint --dataset data/test.tsv --text-column content "
        "--methods scorer,saliency,integrated_gradients\n"
        "  hf-ssxai benchmark --model ./vit-checkpoint --dataset ./images --split validation\n"
        "  hf-ssxai benchmark --model ./checkpoint --dataset tweets.csv --evidence-column selected_text "
        "--where \"sentiment != 'neutral'\" --correct-only\n"
        "  accelerate launch --num_processes 4 -m hf_ssxai.cli benchmark --model ./checkpoint --dataset data/test.tsv\n"
    )

    @classmethod
    def add_arguments(cls, parser: argparse.ArgumentParser) -> None:
        parser.add_argument(
            "--model",
            required=True,
            help="an hf_ssxai checkpoint: a folder or a Hub repo (classifier, processor, scorer)",
        )
        parser.add_argument(
            "--dataset",
            required=True,
            help=DATASET_HELP,
        )
        parser.add_argument("--split", default="test", help="the split to evaluate (default: test)")
        parser.add_argument(
            "--text-column", help="column with the raw texts, for text and text-image classifiers (default: text)"
        )
        parser.add_argument(
            "--image-column", help="column with the images, for image and text-image classifiers (default: image)"
        )
        parser.add_argument(
            "--label-column",
            help="column with class indices, for the accuracy in the metadata (default: label, if any)",
        )
        parser.add_argument(
            "--evidence-column",
            help="column with each row's evidence (human rationale): text spans of the input, character offsets "
            "[[start, end], ...], words or a token mask for text; boxes [x0, y0, x1, y1] at the image's own size or a "
            "pixel mask for images; a list in a CSV cell is written as JSON. Adds the pointing game and the rationale "
            "metrics (F1, F1 over random, IoU, AUPRC) and reports how much of each input the rationales cover",
        )
        parser.add_argument(
            "--evidence-format",
            default="auto",
            help="what the evidence column holds when its values do not say: span, offsets, words, mask or boxes "
            "(default: auto; a list of strings needs span or words)",
        )
        parser.add_argument(
            "--label",
            dest="labels",
            action="append",
            metavar="LABEL",
            help="evaluate only rows with this label (a class index or name); repeat for several labels",
        )
        parser.add_argument(
            "--where",
            help="evaluate only rows for which this condition holds, e.g. \"label != 'neutral'\" or "
            "\"source in ['a', 'b'] and len(text) > 20\" (columns, literals, == != < <= > >= in, len(), and/or/not)",
        )
        parser.add_argument(
            "--correct-only",
            action="store_true",
            help="report the rows the classifier gets right first, then all evaluated rows (both cuts; needs labels)",
        )
        parser.add_argument(
            "--num-samples", type=int, default=500, help="samples evaluated, drawn at random with --seed (default: 500)"
        )
        parser.add_argument(
            "--methods",
            help=f"{METHODS_HELP}; agf needs a ResNet, transformer_relevance a ViT, DeiT or BERT-family model",
        )
        parser.add_argument("--batch-size", type=int, default=16, help="samples explained at once (default: 16)")
        parser.add_argument(
            "--baseline-samples",
            type=int,
            default=20,
            help="baseline samples for deeplift_shap and gradient_shap, from the train split if there is one, else "
            "the first rows of the evaluated split, which are then not evaluated (default: 20)",
        )
        parser.add_argument("--output-dir", default="benchmark_output", help="default: benchmark_output")
        parser.add_argument("--seed", type=int, default=0, help="seed of sample draws and methods (default: 0)")
        add_launch_options(parser)

    @classmethod
    def run(cls, args: argparse.Namespace) -> int:
        # lazy: the benchmark imports captum, datasets and matplotlib (keeps --help quick)
        from ..benchmark import benchmark_from_pretrained, report_markdown, write_report
        from ..data.parallel import end_processes

        quiet_datasets(args)
        methods, progress = method_list(args.methods), not args.quiet
        result = call_with_options(
            benchmark_from_pretrained, args, args.model, args.dataset, methods=methods, progress=progress
        )
        if not end_processes():  # under accelerate launch every process holds the result: the main one reports
            return 0
        paths = write_report(result, args.output_dir)
        print(report_markdown(result))  # both cuts of the rows with --correct-only
        print("\nWrote " + ", ".join(str(path) for path in paths.values()))
        return 0
