"""The ``hf-ssxai`` command: parses the command line and runs one of :mod:`hf_ssxai.commands`."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

from .commands import COMMANDS
from .errors import SSXAIError


def build_parser() -> argparse.ArgumentParser:
    """The parser of every command in :data:`~hf_ssxai.commands.COMMANDS`."""
    parser = argparse.ArgumentParser(prog="hf-ssxai", description="Learned explainers for Hugging Face classifiers.")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for command in COMMANDS:
        command.register(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point: returns the exit status (0 on success, 1 on a clear error, 2 on bad usage)."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    try:
        return args.command_class.run(args)
    except SSXAIError as error:
        print(f"hf-ssxai {args.command}: error: {error}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
