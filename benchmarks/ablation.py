"""Ablation rows: scorers that differ by ScorerConfig flags alone, measured on the benchmark's own rows.

Trains one scorer per variant against the same phase-1 classifier (made by recipes/train.py), each with the recipe's
scorer training settings, then measures it exactly as ``hf-ssxai benchmark`` does (same rows, seed, metrics), so
every row sits beside the benchmark's table of the other methods. The variants of the thesis' tables 5.10 and 5.11
start from a base: the library's default scorer (``--base default``) or the thesis' reference scorer
(``--base thesis``, ``ScorerConfig.thesis``). With ``--baselines`` (a benchmark's results.json on the same rows)
each row also names the methods that dominate it (a better faithfulness and clarity metric at once).

    python benchmarks/ablation.py --config recipes/configs/sst2_local.yaml --classifier runs/sst2/classifier \
        --dataset ../shared/data/sst2/test.tsv --text-column content --base thesis \
        --train-samples 3000 --output-dir benchmarks/results/sst2_ablation_thesis

Writes OUTPUT_DIR/ablation.json (per variant: its options, mean ± std per metric, dominated by) and ablation.md.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

import torch

from hf_ssxai import ScorerConfig
from hf_ssxai.benchmark import COLUMNS, BenchmarkResult, benchmark_from_pretrained
from hf_ssxai.modalities import get_modality
from hf_ssxai.training.phases import train_scorer, training_arguments
from hf_ssxai.training.recipe import load_recipe, prepare

OFF = False
#: the deletion term's weight of the image default, which put the scorer on the MNIST and Imagenette fronts
DELETION_WEIGHT = get_modality("image").default_options["deletion_weight"]
#: the switches of the thesis' tables 5.10 and 5.11, and the target modes
VARIANTS = {
    "full method": {},
    "no ReLU": {"use_relu": OFF},
    "no sigmoid": {"use_sigmoid": OFF},
    "no rescale": {"use_rescale": OFF},
    "no binary penalty": {"use_binary_penalty": OFF},
    "no magnitude penalty": {"use_magnitude_penalty": OFF},
    "no penalty": {"use_binary_penalty": OFF, "use_magnitude_penalty": OFF},
    "nothing": {
        "use_relu": OFF,
        "use_sigmoid": OFF,
        "use_rescale": OFF,
        "use_binary_penalty": OFF,
        "use_magnitude_penalty": OFF,
        "use_gamma": OFF,
    },
    "target = prediction": {"target": "prediction"},
    "target = distribution": {"target": "distribution"},
    # levers beyond the thesis (docs/training.md)
    "deletion term": {"deletion_weight": DELETION_WEIGHT},
    "no deletion term": {"deletion_weight": 0.0},
    "binary penalty": {"use_binary_penalty": True},
    "deletion + insertion terms": {"deletion_weight": DELETION_WEIGHT, "insertion_weight": 1.0},
    "confidence floor 0.9": {"confidence_floor": 0.9},
    "pixel skip": {"pixel_skip": True},
    "no pixel skip": {"pixel_skip": False},
    "U-Net decoder": {"image_decoder": "unet"},
    "bilinear decoder": {"image_decoder": "bilinear"},
    "head normalization": {"head_normalization": "thesis"},
    "no head normalization": {"head_normalization": None},
}
#: what the thesis' variants show of the benchmark (its tables' columns, plus insertion)
METRICS = ("average_drop", "deletion_auc", "insertion_auc", "complexity", "sparsity")


def variant_options(base: dict, modality: str, changes: dict) -> dict:
    """The base options with one variant's changes (``"thesis"`` head normalization: the modality's own)."""
    changes = dict(changes)
    if changes.get("head_normalization") == "thesis":
        changes["head_normalization"] = get_modality(modality).thesis_options.get("head_normalization")
    return {**base, **changes}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", required=True, help="the recipe (its data, scorer size and scorer training)")
    parser.add_argument("--classifier", required=True, help="phase-1 folder (classifier + processor)")
    parser.add_argument("--dataset", required=True, help="the benchmark's dataset (as for hf-ssxai benchmark)")
    parser.add_argument("--split", default="test")
    parser.add_argument("--text-column")
    parser.add_argument("--image-column")
    parser.add_argument("--num-samples", type=int, default=500)
    parser.add_argument("--base", choices=["default", "thesis"], default="default")
    parser.add_argument("--train-samples", type=int, help="train each scorer on at most this many rows")
    parser.add_argument("--baselines", help="a results.json of the other methods on the same rows")
    parser.add_argument("--output-dir", required=True)
    parser.add_argument("--variants", default=",".join(list(VARIANTS)[:10]), help=f"among: {', '.join(VARIANTS)}")
    args = parser.parse_args()
    recipe = load_recipe(args.config)
    modality = get_modality(recipe.modality)
    processor = modality.processor_class.from_pretrained(args.classifier)
    data, _ = prepare(recipe, processor, args.train_samples)
    base = dict(recipe.scorer)
    if args.base == "thesis":
        base = {**ScorerConfig.thesis_options(recipe.modality), **base}
    baselines = BenchmarkResult.from_json(args.baselines) if args.baselines else None
    output = Path(args.output_dir)
    output.mkdir(parents=True, exist_ok=True)

    rows = {}
    for name in args.variants.split(","):
        options = variant_options(base, recipe.modality, VARIANTS[name])
        torch.manual_seed(0)
        classifier = modality.auto_model_class.from_pretrained(args.classifier, dtype=torch.float32)
        with tempfile.TemporaryDirectory() as folder:
            settings = {"num_train_epochs": 1, **(recipe.scorer_training or {}), "logging_strategy": "no"}
            model = train_scorer(
                classifier, processor, ScorerConfig(**options), training_arguments(folder, **settings), data["train"]
            ).model
            model.save_pretrained(folder)
            result = benchmark_from_pretrained(
                folder,
                args.dataset,
                split=args.split,
                text_column=args.text_column,
                image_column=args.image_column,
                num_samples=args.num_samples,
                methods=["scorer"],
                progress=False,
            )
        summary = result.summary()["scorer"]
        rows[name] = {"options": options, **{metric: summary[metric] for metric in METRICS}}
        if baselines is not None:
            if result.sample_indices != baselines.sample_indices:
                raise SystemExit(f"{args.baselines} measured other rows; run both with the same dataset and seed.")
            others = {method: values for method, values in baselines.values.items() if method != "scorer"}
            merged = BenchmarkResult(
                values={"scorer": result.values["scorer"], **others},
                cost={"scorer": result.cost["scorer"], **{m: baselines.cost[m] for m in others}},
                metadata=baselines.metadata,
                sample_indices=baselines.sample_indices,
                predictions=baselines.predictions,
            )
            rows[name]["dominated_by"] = merged.pareto_front().dominated_by["scorer"]
        print(name, {m: round(rows[name][m]["mean"], 4) for m in METRICS}, rows[name].get("dominated_by"), flush=True)
        (output / "ablation.json").write_text(json.dumps(rows, indent=2))

    header = " | ".join(COLUMNS[metric].heading for metric in METRICS)
    dominated = " | dominated by" if baselines is not None else ""
    lines = [f"| variant | {header}{dominated} |", "|---" * (len(METRICS) + 1 + bool(baselines)) + "|"]
    for name, values in rows.items():
        cells = " | ".join(f"{values[m]['mean']:.3f} ± {values[m]['std']:.3f}" for m in METRICS)
        if baselines is not None:
            cells += " | " + (", ".join(values["dominated_by"]) or "none")
        lines.append(f"| {name} | {cells} |")
    (output / "ablation.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
