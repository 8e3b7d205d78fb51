"""YAML training recipes: the schema (:mod:`.schema`), the classifier and processor they build (:mod:`.build`) and
the two phases they run (:mod:`.run`)."""

from .build import PACKAGED_MODELS, freeze, new_classifier, new_processor, resolve
from .run import as_recipe, prepare, run_classifier_phase, run_scorer_phase, write_metrics
from .schema import OVERRIDABLE_SECTIONS, ClassifierSpec, Recipe, load_recipe, parse_overrides

__all__ = [
    "OVERRIDABLE_SECTIONS",
    "PACKAGED_MODELS",
    "ClassifierSpec",
    "Recipe",
    "as_recipe",
    "freeze",
    "load_recipe",
    "new_classifier",
    "new_processor",
    "parse_overrides",
    "prepare",
    "resolve",
    "run_classifier_phase",
    "run_scorer_phase",
    "write_metrics",
]
