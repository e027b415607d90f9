"""nn.Module -> nn.Module compression transforms: magnitude pruning, fp16, int8. No I/O.

Pruning uses ``torch.nn.utils.prune`` (L1 unstructured, per layer or one global threshold).
:func:`prune_model` leaves the pruning masks attached (so fine-tuning keeps pruned weights at
zero); :func:`make_permanent` folds them into plain weights. Quantization here is weight-only:
:func:`quantize_int8` turns each conv/linear weight into int8 codes with one fp32 scale per
output channel (symmetric, zero-point 0); :func:`dequantize` gives the fp32 tensor inference runs
on. See docs/compression.md for why inference stays in fp32.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn
from torch.nn.utils import prune

from ablation.errors import UserError
from ablation.models.layers import prunable, weight_of
from ablation.registry import Registry

# "layer": each conv/linear layer loses the pruning ratio; "global": one threshold over all of
# them; "conv": each conv layer loses the ratio and linear layers are kept (study 000's pruning).
PRUNE_SCOPES = ("layer", "global", "conv")


def prune_model(model: nn.Module, ratio: float, scope: str = "layer") -> nn.Module:
    """Zero the ``ratio`` smallest-|w| weights of every conv/linear layer (masks stay attached).

    ``scope="layer"`` removes ``ratio`` of each layer; ``"global"`` ranks all weights together,
    so layers with small weights lose more; ``"conv"`` removes ``ratio`` of each conv layer only.
    """
    if not 0.0 <= ratio <= 0.99:
        raise ValueError(f"pruning ratio must be in [0, 0.99], got {ratio}")
    if scope not in PRUNE_SCOPES:
        raise ValueError(f"unknown pruning scope {scope!r}")
    targets = prunable(model)
    if scope == "conv":
        targets = [(m, name) for m, name in targets if isinstance(m, nn.Conv2d)]
    if ratio == 0 or not targets:
        return model
    if scope == "global":
        prune.global_unstructured(targets, pruning_method=prune.L1Unstructured, amount=ratio)
    else:
        for module, name in targets:
            prune.l1_unstructured(module, name, amount=ratio)
    return model


def make_permanent(model: nn.Module) -> nn.Module:
    """Fold attached pruning masks into the weights (weight_orig * mask -> weight)."""
    for module, name in prunable(model):
        if prune.is_pruned(module) and hasattr(module, f"{name}_mask"):
            prune.remove(module, name)
    return model


def sparsity(model: nn.Module) -> float:
    """Share of exactly-zero entries over all conv/linear weights."""
    total = zeros = 0
    for module, name in prunable(model):
        w = getattr(module, name)
        total += w.numel()
        zeros += w.numel() - int(torch.count_nonzero(w))
    return zeros / total if total else 0.0


def layer_sparsity(module: nn.Module) -> float:
    """Share of exactly-zero entries of one layer's weight."""
    w = weight_of(module)
    return 1.0 - int(torch.count_nonzero(w)) / w.numel()


def to_fp16(model: nn.Module) -> nn.Module:
    """Round every floating parameter and buffer to fp16 and back (values as stored on disk)."""
    with torch.no_grad():
        for t in list(model.parameters()) + list(model.buffers()):
            if t.is_floating_point():
                t.copy_(t.half().float())
    return model


@dataclass(frozen=True)
class Int8Tensor:
    """Symmetric per-output-channel int8: ``w ~= codes * scales[:, None, ...]``."""

    codes: torch.Tensor  # int8, the weight's shape
    scales: torch.Tensor  # float32, one per output channel (dim 0)


def quantize_int8(w: torch.Tensor) -> Int8Tensor:
    """Per-channel symmetric int8 codes and scales of ``w`` (dim 0 = output channel)."""
    flat = w.detach().float().reshape(w.shape[0], -1)
    scales = flat.abs().amax(dim=1) / 127.0
    scales = torch.where(scales > 0, scales, torch.ones_like(scales))  # all-zero rows stay 0
    codes = torch.round(flat / scales[:, None]).clamp_(-127, 127).to(torch.int8)
    return Int8Tensor(codes.reshape(w.shape), scales)


def dequantize(q: Int8Tensor) -> torch.Tensor:
    """fp32 weights from int8 codes and per-channel scales."""
    shape = (-1,) + (1,) * (q.codes.dim() - 1)
    return q.codes.float() * q.scales.view(shape)


def to_int8(model: nn.Module) -> nn.Module:
    """Replace every conv/linear weight by its int8 round trip; other tensors round to fp16.

    This is exactly what :mod:`ablation.artifact` stores for ``quantize="int8"``, so the
    in-memory model and the reloaded artifact predict alike.
    """
    to_fp16(model)
    with torch.no_grad():
        for module, name in prunable(model):
            w = getattr(module, name)
            w.copy_(dequantize(quantize_int8(w)))
    return model


def quantize_model(model: nn.Module, mode: str) -> nn.Module:
    """Apply the weight format ``mode`` (fp32 leaves the model as it is)."""
    try:
        return QUANTIZE_MODES.get(mode)(model)
    except UserError:
        raise ValueError(f"unknown quantization {mode!r}") from None


# The weight formats of an artifact (``quantize``), each as its transform of a trained model.
QUANTIZE_MODES: Registry[Callable[[nn.Module], nn.Module]] = Registry("quantize mode")
QUANTIZE_MODES.add("fp32", lambda model: model)
QUANTIZE_MODES.add("fp16", to_fp16)
QUANTIZE_MODES.add("int8", to_int8)


def compress(model: nn.Module, ratio: float = 0.0, scope: str = "layer",
             quantize: str = "fp32") -> nn.Module:
    """Prune (permanently) then quantize: the whole post-training transform in one call."""
    return quantize_model(make_permanent(prune_model(model, ratio, scope)), quantize)
