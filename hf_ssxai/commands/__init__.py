"""The ``hf-ssxai`` commands, one module each (as in transformers and accelerate); :data:`COMMANDS` lists them in the
order ``hf-ssxai --help`` shows them. A new command is a :class:`Command` subclass in a new module, added here."""

from .base import Command
from .benchmark import BenchmarkCommand
from .demo import DemoCommand
from .explain import ExplainCommand
from .explain_dataset import ExplainDatasetCommand
from .grid_pointing_game import GridPointingGameCommand
from .push import PushCommand
from .sanity_check import SanityCheckCommand
from .train import TrainClassifierCommand, TrainScorerCommand

COMMANDS: tuple[type[Command], ...] = (
    DemoCommand,
    TrainClassifierCommand,
    TrainScorerCommand,
    BenchmarkCommand,
    GridPointingGameCommand,
    SanityCheckCommand,
    ExplainCommand,
    ExplainDatasetCommand,
    PushCommand,
)

__all__ = ["COMMANDS", "Command"]
