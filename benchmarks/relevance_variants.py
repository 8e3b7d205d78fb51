"""The relevance methods beyond their defaults, on the rows `hf-ssxai benchmark` evaluates: AGF with each term of its
factorized rule switched off, AGF's positive part alone, and either relevance method inside ClassDistribution.

    python benchmarks/relevance_variants.py --model runs/imagenette/model --dataset DIR --split validation \
        --variants ablation,class_distribution_agf --output-dir runs/relevance_variants_imagenette

Rows, seed and batches are those of `hf-ssxai benchmark` with the same --num-samples and --seed, so the result merges
with its results.json (benchmarks/merge_results.py). The table is in docs/relevance.md.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

import torch

from hf_ssxai import AutoModelWithScorer, ClassDistribution
from hf_ssxai.benchmark import benchmark_from_pretrained, write_report
from hf_ssxai.explainers import AttributionGuidedFactorization, Explainer, get_explainer

Factory = Callable[[AutoModelWithScorer], Explainer]
RELEVANCE = ("agf", "transformer_relevance")

#: AGF with one term of the factorized convolution rule off (all off: the absolute rule alone)
ABLATION: dict[str, dict[str, bool]] = {
    "agf (no M)": {"mask": False},
    "agf (no F_x)": {"activation_factors": False},
    "agf (no F_∇x)": {"gradient_factors": False},
    "agf (no A)": {"uniform": False},
    "agf (no gate)": {"gate": False},
    "agf (absolute rule only)": dict.fromkeys(
        ("mask", "activation_factors", "gradient_factors", "uniform", "gate"), False
    ),
}


def _agf(switches: dict[str, bool]) -> Factory:
    return lambda model: AttributionGuidedFactorization(model, **switches)


class PositivePart(Explainer):
    """Another explainer's map with its negative values set to 0.

    The benchmark's metrics rank features by |attribution|, so a signed method's evidence *against* the class counts
    as much as its evidence for it; AGF's published evaluation orders pixels by the signed map. This shows the
    difference.
    """

    def __init__(self, base: Explainer) -> None:
        super().__init__(base.model)
        self.base = base

    def _attribute(
        self, inputs: dict[str, Any], feature_mask: torch.Tensor, target: torch.Tensor | None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        out = self.base.attribute(inputs, target)
        return out.attributions.clamp(min=0), out.logits


def _class_distribution(name: str) -> Factory:
    """ClassDistribution, with its defaults, around the method registered as ``name``."""
    return lambda model: ClassDistribution(get_explainer(name, model))


#: variant groups selectable with --variants: row label -> explainer factory
GROUPS: dict[str, dict[str, Factory]] = {
    "ablation": {label: _agf(switches) for label, switches in ABLATION.items()},
    "positive": {"agf (positive part)": lambda model: PositivePart(AttributionGuidedFactorization(model))},
    **{f"class_distribution_{name}": {f"class_distribution({name})": _class_distribution(name)} for name in RELEVANCE},
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True)
    parser.add_argument("--dataset", required=True)
    parser.add_argument("--split", default="test")
    parser.add_argument("--text-column")
    parser.add_argument("--num-samples", type=int, default=500)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--variants", required=True, help=f"comma-separated groups of {', '.join(GROUPS)}")
    parser.add_argument("--output-dir", required=True)
    args = parser.parse_args()
    if unknown := set(args.variants.split(",")) - set(GROUPS):
        parser.error(f"unknown variant groups {sorted(unknown)}; choose from {', '.join(GROUPS)}")
    result = benchmark_from_pretrained(
        args.model,
        args.dataset,
        split=args.split,
        text_column=args.text_column,
        num_samples=args.num_samples,
        methods=(),
        extra_explainers={label: build for group in args.variants.split(",") for label, build in GROUPS[group].items()},
        seed=args.seed,
        device="cpu",
        progress=False,
    )
    for name, path in write_report(result, args.output_dir).items():
        print(name, path)


if __name__ == "__main__":
    main()
