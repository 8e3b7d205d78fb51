"""The thesis' ablation (its tables 5.10 and 5.11) and the three target modes, with flags alone.

Trains one scorer per variant against the same phase-1 classifier (made by recipes/train.py), then
evaluates each with the benchmark's metrics on the same held-out samples.

    python benchmarks/ablation.py --config recipes/configs/sst2_local.yaml --classifier runs/sst2/classifier \
        --output-dir runs/sst2_ablation --train-samples 4000 --eval-samples 500

Writes OUTPUT_DIR/ablation.json and OUTPUT_DIR/ablation.md (mean ± std per variant and metric).
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

import torch

from hf_ssxai import ScorerConfig, run_benchmark
from hf_ssxai.benchmark import METRICS as MEASURES
from hf_ssxai.data.loading import load_splits
from hf_ssxai.modalities import get_modality
from hf_ssxai.training.phases import train_scorer, training_arguments
from hf_ssxai.training.recipe import load_recipe

OFF = False
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
}
#: levers tried to move the scorer towards the Pareto front: (scorer options, training settings) -> changed copies
LEVERS = {
    "wider scorer (2x hidden size)": lambda scorer, training: (
        {**scorer, "hidden_size": 2 * ScorerConfig(**scorer).hidden_size},
        training,
    ),
    "3x training": lambda scorer, training: (
        scorer,
        {**training, "num_train_epochs": 3 * training["num_train_epochs"]},
    ),
}
METRICS = ("average_drop", "deletion_auc", "insertion_auc", "complexity", "sparsity")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", required=True)
    parser.add_argument("--classifier", required=True, help="phase-1 folder (classifier + processor)")
    parser.add_argument("--output-dir", required=True)
    parser.add_argument("--train-samples", type=int, default=4000)
    parser.add_argument("--eval-samples", type=int, default=500)
    parser.add_argument(
        "--variants",
        default=",".join(VARIANTS),
        help=f"comma-separated variants (default: the ablation); also: {', '.join(LEVERS)}",
    )
    args = parser.parse_args()
    recipe = load_recipe(args.config)
    modality = get_modality(recipe.modality)
    processor = modality.processor_class.from_pretrained(args.classifier)
    splits = load_splits(recipe.data)
    train = splits["train"].shuffle(seed=0).select(range(min(args.train_samples, len(splits["train"]))))
    evaluation = splits["test"].select(range(min(args.eval_samples, len(splits["test"]))))
    train = modality.preprocess(train, processor, max_length=recipe.max_length)
    evaluation = modality.preprocess(evaluation, processor, max_length=recipe.max_length)
    output = Path(args.output_dir)
    output.mkdir(parents=True, exist_ok=True)

    rows = {}
    for name in args.variants.split(","):
        torch.manual_seed(0)
        scorer, settings = dict(recipe.scorer), {"num_train_epochs": 1, **recipe.scorer_training}
        if name in LEVERS:
            options, settings = LEVERS[name](scorer, settings)
        else:
            options = {**scorer, **VARIANTS[name]}
        classifier = modality.auto_model_class.from_pretrained(args.classifier, dtype=torch.float32)
        with tempfile.TemporaryDirectory() as folder:
            training = training_arguments(folder, **{**settings, "logging_strategy": "no"})
            model = train_scorer(classifier, processor, ScorerConfig(**options), training, train).model
        result = run_benchmark(model, evaluation, methods=["scorer"])
        summary = result.summary()["scorer"]
        rows[name] = {metric: summary[metric] for metric in METRICS}
        print(name, {m: round(v["mean"], 4) for m, v in rows[name].items()}, flush=True)
        (output / "ablation.json").write_text(json.dumps(rows, indent=2))

    header = " | ".join(MEASURES[metric].heading for metric in METRICS)
    lines = [f"| variant | {header} |", "|---" * (len(METRICS) + 1) + "|"]
    for name, values in rows.items():
        cells = " | ".join(f"{values[m]['mean']:.3f} ± {values[m]['std']:.3f}" for m in METRICS)
        lines.append(f"| {name} | {cells} |")
    (output / "ablation.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
