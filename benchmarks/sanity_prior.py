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
import torch.nn.functional as F

from hf_ssxai.benchmark import build_explainers, dataset_to_batch, needs_baselines
from hf_ssxai.evaluation.from_pretrained import _load, _rows
from hf_ssxai.evaluation.sanity import _explain_all, _targets, per_map, randomization_steps, randomize_
from hf_ssxai.evaluation.similarity import spearman


def concatenated(per_batch: list[tuple[torch.Tensor, torch.Tensor]]) -> tuple[torch.Tensor, torch.Tensor]:
    """(maps, feature masks) of all batches, one row per sample; token maps padded to the longest batch (padding
    is no feature)."""
    width = max(maps.shape[-1] for maps, _ in per_batch)

    def padded(values: torch.Tensor) -> torch.Tensor:
        return F.pad(values, (0, width - values.shape[-1])) if values.dim() == 2 else values

    return torch.cat([padded(maps) for maps, _ in per_batch]), torch.cat([padded(mask) for _, mask in per_batch])


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

    # the rows, baselines, targets and maps of `hf-ssxai sanity-check`
    model = _load(args.model, "cpu")
    methods = args.methods.split(",")
    first = args.baseline_samples if any(needs_baselines(name) for name in methods) else 0
    rows, baseline_rows = _rows(
        model, args.dataset, args.split, model.modality.raw_columns(), None, args.num_samples, first, args.seed
    )
    batches = [
        dataset_to_batch(model, rows.select(range(start, min(start + args.batch_size, len(rows)))))
        for start in range(0, len(rows), args.batch_size)
    ]
    baselines = dataset_to_batch(model, baseline_rows) if baseline_rows is not None else None
    factories = {name: (lambda m, n=name: build_explainers(m, [n], {}, baselines)[n]) for name in methods}
    targets = _targets(model, batches)
    original = _explain_all(model, factories, batches, targets)
    randomized = copy.deepcopy(model)
    generator = torch.Generator().manual_seed(args.seed)
    for _, items in randomization_steps(randomized.classifier):
        randomize_(items, generator)
    random = _explain_all(randomized, factories, batches, targets)

    table = {}
    for name in methods:
        for row, (first, second) in per_map(name, original[name], random[name]).items():
            (maps, mask), (random_maps, _) = concatenated(first), concatenated(second)
            mean_map = maps.mean(dim=0, keepdim=True).expand_as(maps)
            table[row] = {
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
