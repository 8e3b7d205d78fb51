"""What every ``hf-ssxai`` command is: a name, its arguments, and what it runs.

As in ``transformers.commands`` and ``accelerate.commands``, each command lives in its own module of this package.
A command module imports only what building its parser needs; the heavy parts of the toolkit (benchmark, captum,
matplotlib, datasets) are imported inside :meth:`Command.run`, so ``hf-ssxai --help`` stays quick.
"""

from __future__ import annotations

import argparse
import inspect
import os
from abc import ABC, abstractmethod
from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar

from ..errors import InvalidInputError


class Command(ABC):
    """One ``hf-ssxai`` subcommand."""

    #: the subcommand's name (``hf-ssxai NAME``)
    name: ClassVar[str]
    #: one line for ``hf-ssxai --help``
    help: ClassVar[str]
    #: the text under the usage line of ``hf-ssxai NAME --help``
    description: ClassVar[str]
    #: examples shown after the options (kept as written)
    epilog: ClassVar[str | None] = None

    @classmethod
    def register(cls, commands: argparse._SubParsersAction) -> argparse.ArgumentParser:
        """Add this command's parser to ``commands`` (the ``hf-ssxai`` subparsers)."""
        parser = commands.add_parser(
            cls.name,
            help=cls.help,
            description=cls.description,
            epilog=cls.epilog,
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        cls.add_arguments(parser)
        parser.set_defaults(command_class=cls)
        return parser

    @classmethod
    @abstractmethod
    def add_arguments(cls, parser: argparse.ArgumentParser) -> None:
        """Declare the command's options."""

    @classmethod
    @abstractmethod
    def run(cls, args: argparse.Namespace) -> int:
        """Do the work; returns the exit status (errors are raised as :class:`~hf_ssxai.errors.SSXAIError`)."""


def call_with_options(function: Callable[..., Any], args: argparse.Namespace, *positional: Any, **given: Any) -> Any:
    """``function(*positional, **given, **options)``, ``options`` being every command-line option named like one of
    the function's keyword parameters (``--num-samples`` -> ``num_samples``) and not in ``given``."""
    parameters = inspect.signature(function).parameters
    options = {name: getattr(args, name) for name in parameters if name not in given and hasattr(args, name)}
    return function(*positional, **given, **options)


def method_list(value: str | None) -> list[str] | None:
    """``--methods a,b`` as a list (None when not given)."""
    return None if value is None else [name.strip() for name in value.split(",") if name.strip()]


#: the help of every command's ``--methods``
METHODS_HELP = (
    "comma-separated explainer names, e.g. scorer,saliency,integrated_gradients (default: every one that supports "
    "the classifier; an unknown name lists them all)"
)
DEVICE_HELP = "torch device (default: cuda if available, else cpu)"
#: the help of the ``--dataset`` of the commands that read a split by name (benchmark, explain-dataset)
DATASET_HELP = (
    "a Hub dataset id, a local folder (data files, or one subfolder of images per class) or one local "
    ".csv/.tsv/.json/.jsonl/.parquet file (which then is the split read)"
)


def add_launch_options(parser: argparse.ArgumentParser) -> None:
    """``--device`` and ``--quiet``, the options of the commands that run under ``accelerate launch`` too."""
    parser.add_argument("--device", help=DEVICE_HELP)
    parser.add_argument("--quiet", action="store_true", help="no progress bars")


def quiet_datasets(args: argparse.Namespace) -> None:
    """Silence ``datasets``' progress bars with ``--quiet``."""
    if args.quiet:
        import datasets  # lazy: keeps --help quick

        datasets.disable_progress_bars()


def check_command_line(args: argparse.Namespace) -> None:
    """Refuse, before any work, the options every command shares when they cannot work: an ``--output`` or
    ``--output-dir`` that is of the wrong kind or cannot be written, a ``--device`` that is none or is not here."""
    if getattr(args, "output", None) is not None:
        check_writable(args.output, "--output", folder=False)
    if getattr(args, "output_dir", None) is not None:
        check_writable(args.output_dir, "--output-dir", folder=True)
    if getattr(args, "device", None) is not None:
        check_device(args.device)


def check_writable(path: str, flag: str, *, folder: bool) -> None:
    """``path`` can be written as a folder (``folder``) or a file: it is of that kind or missing, and the folder it
    is in, or the nearest existing one above (where missing folders will be made), is a folder we may write to."""
    target, kind = Path(path), "folder" if folder else "file"
    if target.exists():
        if target.is_dir() != folder:
            raise InvalidInputError(f"{flag} {path} is a {'file' if folder else 'folder'}; give a {kind} path.")
        if not os.access(target, os.W_OK):
            raise InvalidInputError(f"{flag} {path}: permission denied; give a {kind} you can write to.")
        return
    ancestor = target.absolute().parent
    while not ancestor.exists():
        ancestor = ancestor.parent
    if not ancestor.is_dir():
        raise InvalidInputError(f"{flag} {path}: {ancestor} is a file, so nothing can be written under it.")
    if not os.access(ancestor, os.W_OK | os.X_OK):
        raise InvalidInputError(
            f"{flag} {path}: cannot create anything in {ancestor} (permission denied); give a {kind} you can write to."
        )


def check_device(name: str) -> None:
    """``--device`` names a torch device that this machine has (``cpu``, ``cuda``, ``cuda:1``, ``mps``, ...)."""
    import torch  # lazy: keeps --help quick

    try:
        device = torch.device(name)
    except (RuntimeError, TypeError, ValueError) as error:
        raise InvalidInputError(f"--device {name!r} names no torch device ({error}); give e.g. cpu or cuda.") from error
    if device.type == "cpu":
        return
    if device.type == "mps":
        available, count = torch.backends.mps.is_available(), 1
    else:
        backend = getattr(torch, device.type, None)
        available = bool(backend is not None and hasattr(backend, "is_available") and backend.is_available())
        count = backend.device_count() if available and hasattr(backend, "device_count") else 1
    if not available:
        raise InvalidInputError(f"--device {name}: this machine has no {device.type} device; use --device cpu.")
    if device.index is not None and device.index >= count:
        raise InvalidInputError(
            f"--device {name}: this machine has {count} {device.type} device(s), numbered from 0; pick one of them."
        )
