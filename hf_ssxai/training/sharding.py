"""Full (unsharded) weights in and out of a model whose parameters FSDP2 shards into DTensors.

Under FSDP2 every parameter of the prepared model is a DTensor holding one shard per process. Checkpoints hold the
full tensors (Trainer gathers them for :meth:`ScorerTrainer._save`); resuming puts each full tensor back as the
shard this process owns.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import nn
from torch.distributed.tensor import DTensor, distribute_tensor


def load_full_state_dict(module: nn.Module, state_dict: Mapping[str, torch.Tensor]) -> None:
    """Load full tensors into ``module``, sharding each one like the DTensor parameter it replaces (every process
    holds the full tensors, so each keeps its own shard without communication); plain parameters load as they are.
    Strict: missing or unexpected keys raise, as ``load_state_dict`` does."""
    own = module.state_dict()
    placed = {}
    for name, tensor in state_dict.items():
        target = own.get(name)
        if isinstance(target, DTensor):
            tensor = tensor.to(device=target.device, dtype=target.dtype)
            tensor = distribute_tensor(tensor, target.device_mesh, target.placements, src_data_rank=None)
        placed[name] = tensor
    module.load_state_dict(placed)
