"""Data parallelism under ``accelerate launch``: which share of the work is this process's, and the gathering of
every process's results back into one list in the order of the work.

Outside ``accelerate launch`` (or ``torchrun``) there is one process and every helper is the identity. Under it,
accelerate's :class:`~accelerate.PartialState` says how many processes there are and which one this is; the work is
split with its ``split_between_processes`` (contiguous, in order) and results are gathered with
``accelerate.utils.gather_object`` (in process order), so that concatenating the gathered shares gives the results
of a one-process run in the same order.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, TypeVar

import torch
from accelerate import PartialState
from accelerate.utils import gather_object

Item = TypeVar("Item")


def process_state() -> PartialState:
    """accelerate's state of this process (one process, number 0, outside a distributed launch). Without a GPU the
    processes of a launch are CPU processes (gloo), as ``TrainingArguments(use_cpu=True)`` makes them."""
    return PartialState(cpu=not torch.cuda.is_available())


def process_device(device: str | torch.device | None = None) -> torch.device:
    """Where this process runs: ``device`` when given; else, under several processes, the process's own device
    (``cuda:<local rank>``, or the CPU); else ``cuda`` when a GPU is available, otherwise the CPU."""
    if device is not None:
        return torch.device(device)
    state = process_state()
    if state.num_processes > 1:
        return state.device
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def my_share(items: Sequence[Item]) -> list[Item]:
    """This process's contiguous share of ``items`` (all of them in a one-process run); the shares of the processes,
    in process order, are ``items`` in order (the first processes take one more item when they do not divide)."""
    state = process_state()
    if state.num_processes == 1:
        return list(items)
    with state.split_between_processes(list(items)) as mine:
        return list(mine)


def gather_shares(share: Any) -> list[Any]:
    """Every process's ``share`` (any picklable object), in process order; ``[share]`` in a one-process run.
    Every process must call it (it is a collective)."""
    if process_state().num_processes == 1:
        return [share]
    return gather_object([share])


def end_processes() -> bool:
    """At the end of a launched run, wait for every process and leave the process group together (a process that
    exits with the group alive can abort in teardown under gloo); returns whether this is the main process (the one
    that reports). A one-process run only returns True."""
    state = process_state()
    main = state.is_main_process
    if state.num_processes > 1:
        state.wait_for_everyone()
        state.destroy_process_group()
    return main
