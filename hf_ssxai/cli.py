"""The ``hf-ssxai`` command: parses the command line and runs one of :mod:`hf_ssxai.commands`."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

from .commands import COMMANDS
from .commands.base import check_command_line
from .errors import SSXAIError
from .markup import terminal_text
from .version import __version__

#: the exit status of a command stopped with Ctrl-C (128 + SIGINT, as shells report it)
INTERRUPTED = 130


def build_parser() -> argparse.ArgumentParser:
    """The parser of every command in :data:`~hf_ssxai.commands.COMMANDS`."""
    parser = argparse.ArgumentParser(prog="hf-ssxai", description="Learned explainers for Hugging Face classifiers.")
    parser.add_argument("--version", action="version", version=f"hf-ssxai {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for command in COMMANDS:
        command.register(commands)
    return parser


def _one_line(error: BaseException) -> str:
    """The error's message on one line (messages from other libraries may span several), control characters from
    file names or labels shown as escapes."""
    return terminal_text(" ".join(str(error).split()))


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point: returns the exit status (0 on success, 1 on an error, 2 on bad usage, 130 when interrupted).

    Every error ends the command with one line on stderr: hf_ssxai's own errors say what is wrong and how to fix it;
    anything else (a failure no check foresaw) is named by its type.
    """
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    prefix = f"hf-ssxai {args.command}:"
    try:
        check_command_line(args)
        return args.command_class.run(args)
    except SSXAIError as error:
        print(f"{prefix} error: {_one_line(error)}", file=sys.stderr)
    except KeyboardInterrupt:
        print(f"{prefix} interrupted", file=sys.stderr)
        return INTERRUPTED
    except Exception as error:  # the last resort: still one line, never a traceback
        print(f"{prefix} error: {type(error).__name__}: {_one_line(error)}", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
