"""hf_ssxai: a learned explainer for any Hugging Face classifier.

A small scorer reads the classifier's hidden states and returns an attribution map in the same
forward pass as the prediction. It is trained self-supervised against the frozen classifier.
"""

from .benchmark import BenchmarkResult, run_benchmark
from .configuration import ScorerConfig
from .errors import (
    CheckpointError,
    FingerprintMismatchError,
    InvalidInputError,
    NonFiniteLossError,
    SSXAIError,
    UnsafeCheckpointError,
    UnsupportedClassifierError,
)
from .evaluation import (
    cascading_randomization,
    data_randomization,
    grid_pointing_game,
    make_grids,
    run_grid_pointing_game,
)
from .explainers import EXPLAINER_NAMES, ClassDistribution, count_forwards, get_explainer
from .fusion import FusionConfig, FusionForSequenceClassification, FusionProcessor
from .modeling import AutoModelWithScorer, ScorerModelOutput
from .pipelines import ExplanationPipeline, pipeline
from .training import ScorerTrainer, scorer_loss

__version__ = "0.1.0"

__all__ = [
    "ClassDistribution",
    "EXPLAINER_NAMES",
    "AutoModelWithScorer",
    "BenchmarkResult",
    "CheckpointError",
    "ExplanationPipeline",
    "FingerprintMismatchError",
    "FusionConfig",
    "FusionForSequenceClassification",
    "FusionProcessor",
    "InvalidInputError",
    "NonFiniteLossError",
    "SSXAIError",
    "ScorerConfig",
    "ScorerModelOutput",
    "ScorerTrainer",
    "UnsafeCheckpointError",
    "UnsupportedClassifierError",
    "cascading_randomization",
    "count_forwards",
    "data_randomization",
    "get_explainer",
    "grid_pointing_game",
    "make_grids",
    "pipeline",
    "run_benchmark",
    "run_grid_pointing_game",
    "scorer_loss",
]
