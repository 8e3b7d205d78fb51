"""The model cards of the reference checkpoints (SST-2, MNIST, Imagenette, Flickr8k), rendered by the library.

    python benchmarks/make_model_cards.py                 # writes model_cards/<name>/README.md
    python benchmarks/make_model_cards.py --runs runs     # reads each checkpoint's own scorer config when present

Each card is what ``AutoModelWithScorer.push_to_hub`` (or ``hf-ssxai push``) would upload with the checkpoint: the
library's card renderer (:func:`hf_ssxai.model_card.render_card`, the package template
``hf_ssxai/model_cards/scorer_card.md``) filled with the checkpoint's benchmark result
(``benchmarks/results/<name>/results.json``) and the training facts of its recipe. The scorer config is the one
saved with the checkpoint (``<runs>/<name>/model/scorer/config.json``) when ``--runs`` holds it, else the recipe's
``scorer`` settings with the classifier fingerprint the benchmark recorded. Re-run after regenerating the results.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path

from hf_ssxai import ScorerConfig
from hf_ssxai.benchmark import BenchmarkResult
from hf_ssxai.configuration import build_config
from hf_ssxai.model_card import render_card
from hf_ssxai.training.recipe import Recipe, load_recipe

ROOT = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class Reference:
    """A reference checkpoint: its recipe, its Hub datasets and the id its card names."""

    recipe: str
    datasets: tuple[str, ...]
    repo_id: str


REFERENCES = {
    "sst2": Reference("sst2_local.yaml", ("stanfordnlp/sst2",), "hf-ssxai/sst2-minilm-ssxai"),
    "mnist": Reference("mnist_local.yaml", ("ylecun/mnist",), "hf-ssxai/mnist-vit-ssxai"),
    "imagenette": Reference("imagenette_local.yaml", ("frgfm/imagenette",), "hf-ssxai/imagenette-resnet-ssxai"),
    "flickr8k": Reference("flickr8k_local.yaml", ("jxie/flickr8k",), "hf-ssxai/flickr8k-fusion-ssxai"),
}


def scorer_config(name: str, recipe: Recipe, result: BenchmarkResult, runs: Path | None) -> ScorerConfig:
    """The checkpoint's own scorer config if ``runs`` has it, else the recipe's (and the benchmark's fingerprint)."""
    saved = runs / name / "model" / "scorer" / "config.json" if runs is not None else None
    if saved is not None and saved.is_file():
        return ScorerConfig.from_json_file(saved)
    settings = {
        **recipe.scorer,
        "modality": recipe.modality,
        "base_model_fingerprint": result.metadata.get("classifier_fingerprint"),
    }
    return build_config(ScorerConfig, settings, f"{name} scorer")


def recipe_data_name(reference: Reference) -> str:
    """The reference's folder in the shared data (its recipe's name without ``_local``)."""
    return reference.recipe.removesuffix(".yaml").removesuffix("_local")


def training_info(reference: Reference, recipe: Recipe, result: BenchmarkResult) -> dict[str, object]:
    """The training facts a card lists: datasets, the recipe, each phase's schedule, the test accuracy."""
    info: dict[str, object] = {
        "datasets": list(reference.datasets),
        "data": f"the copy described in shared/data/{recipe_data_name(reference)}/README.md (see docs/benchmarks.md)",
        "recipe": f"recipes/configs/{reference.recipe}",
    }
    for phase in ("classifier_training", "scorer_training"):
        settings = getattr(recipe, phase) or {}
        schedule = {key: settings[key] for key in ("num_train_epochs", "learning_rate") if key in settings}
        info[phase.replace("_", " ")] = ", ".join(f"{key} {value}" for key, value in schedule.items())
    if recipe.max_train_samples:
        info["training samples"] = recipe.max_train_samples
    if result.metadata.get("accuracy") is not None:
        info["classifier accuracy on the benchmarked samples"] = round(result.metadata["accuracy"], 4)
    return info


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=Path, help="the folder the recipes trained into (e.g. runs), if present")
    parser.add_argument("--output-dir", type=Path, default=ROOT / "model_cards")
    parser.add_argument("--names", default=",".join(REFERENCES), help="comma-separated reference names")
    args = parser.parse_args()
    for name in args.names.split(","):
        reference = REFERENCES[name]
        recipe = load_recipe(ROOT / "recipes" / "configs" / reference.recipe)
        result = BenchmarkResult.from_json(ROOT / "benchmarks" / "results" / name / "results.json")
        config = scorer_config(name, recipe, result, args.runs)
        card = render_card(
            config, reference.repo_id, benchmark=result, training_info=training_info(reference, recipe, result)
        )
        path = args.output_dir / name / "README.md"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(card, encoding="utf-8")
        print(f"Wrote {path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}")


if __name__ == "__main__":
    main()
