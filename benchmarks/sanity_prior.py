"""How much of a method's cascading-randomization similarity is the dataset's average map, not the image.

The cascading sanity check compares each map on the intact classifier with the map of the *same* image once every
layer is random. A method whose maps are mostly one fixed shape (a blob where objects usually lie) scores high
there whatever it reads. This script separates the two: with every layer random, it reports the Spearman
correlation of each randomized map with the original map of the same image (the sanity check's number), with the
original map of another image (the next one in the sample: what a fixed shape alone earns), and how close the
original maps are to their own mean map.

    python benchmarks/sanity_prior.py --model runs/imagenette/model --dataset ../shared/data/imagenette \
        --split validation --num-samples 40 --methods scorer,saliency,integrated_gradients,gradient_shap,deeplift

Results and the reading are in docs/benchmarks.md ("Quality levers", sanity).
"""

from __future__ import annotations

import argparse
import copy
import json

import torch

from hf_ssxai import AutoModelWithScorer
from hf_ssxai.benchmark import build_explainers, dataset_to_batch, draw_samples, needs_baselines, prepare_dataset
from hf_ssxai.data.loading import load_dataset_splits
from hf_ssxai.evaluation.sanity import randomization_steps, randomize_
from hf_ssxai.evaluation.similarity import spearman
from hf_ssxai.explainers import ScorerExplainer


def explain(model, methods, baselines, batches, targets) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    """``{method: (maps, feature masks)}`` over all batches, for fixed targets."""
    explainers = build_explainers(model, methods, {}, baselines)
    maps = {}
    for name, explainer in explainers.items():
        # a scorer that explains the prediction only takes no target (as in the sanity checks)
        fixed = not isinstance(explainer, ScorerExplainer) or explainer.scorer_config.class_conditional
        outputs = [
            explainer.attribute(dict(batch), target=target if fixed else None)
            for batch, target in zip(batches, targets, strict=True)
        ]
        maps[name] = (
            torch.cat([output.attributions.float() for output in outputs]),
            torch.cat([output.feature_mask for output in outputs]),
        )
    return maps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True)
    parser.add_argument("--dataset", required=True)
    parser.add_argument("--split", default="test")
    parser.add_argument("--num-samples", type=int, default=40)
    parser.add_argument("--baseline-samples", type=int, default=20)
    parser.add_argument("--methods", default="scorer,saliency,integrated_gradients,gradient_shap,deeplift")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--output", help="write the table as JSON here")
    args = parser.parse_args()
    torch.manual_seed(args.seed)

    model = AutoModelWithScorer.from_pretrained(args.model).eval()
    methods = args.methods.split(",")
    split = load_dataset_splits(args.dataset, args.split)[args.split]
    rows = prepare_dataset(model, split, model.modality.raw_columns())
    first = args.baseline_samples if any(needs_baselines(name) for name in methods) else 0
    baselines = dataset_to_batch(model, rows.select(range(first))) if first else None
    chosen = rows.select([first + index for index in draw_samples(len(rows) - first, args.num_samples, args.seed)])
    batches = [
        dataset_to_batch(model, chosen.select(range(start, min(start + args.batch_size, len(chosen)))))
        for start in range(0, len(chosen), args.batch_size)
    ]
    with torch.no_grad():
        targets = [
            model.classifier(**model.modality.classifier_inputs(dict(batch))).logits.argmax(-1) for batch in batches
        ]
    original = explain(model, methods, baselines, batches, targets)
    randomized = copy.deepcopy(model)
    generator = torch.Generator().manual_seed(args.seed)
    for _, modules in randomization_steps(randomized.classifier):
        randomize_(modules, generator)
    random = explain(randomized, methods, baselines, batches, targets)

    table = {}
    for name in methods:
        (maps, mask), (random_maps, _) = original[name], random[name]
        mean_map = maps.mean(dim=0, keepdim=True).expand_as(maps)
        table[name] = {
            "same image": spearman(maps, random_maps, mask).mean().item(),
            "another image": spearman(maps, random_maps.roll(1, dims=0), mask).mean().item(),
            "original vs mean map": spearman(maps, mean_map, mask).mean().item(),
        }
    print("| method | same image | another image | original vs mean map |\n|---|---:|---:|---:|")
    for name, values in table.items():
        print(f"| {name} | " + " | ".join(f"{value:.3f}" for value in values.values()) + " |")
    if args.output:
        with open(args.output, "w") as handle:
            json.dump({"arguments": vars(args), "spearman": table}, handle, indent=2)


if __name__ == "__main__":
    main()
