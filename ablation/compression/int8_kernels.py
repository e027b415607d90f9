"""int8 inference on the CPU: an int8 artifact's model rebuilt as a graph of quantized kernels.

PyTorch's x86 quantized backend (``torch.ao.quantization``, FX graph mode, static post-training
quantization) runs conv and linear layers as u8 x s8 kernels (fbgemm / oneDNN, VNNI where the
CPU has it). FX handles every model family here, residual adds included, without edits to the
models. The artifact stays the source of truth: it stores the int8 weight codes with one scale
per output channel, and the activation ranges measured on a few training batches when it was
written (:func:`calibrate`). Loading (:func:`int8_module`) traces the fp32 model, folds
BatchNorm into the convolutions, sets each activation observer to its stored range and converts.
The weight observer is symmetric over [-127, 127] like the stored codes, so after BN folding
(a per-channel factor) the kernels run exactly the stored codes, sign-flipped where a BN scale
is negative, with that channel's scale times the BN factor (tested).

Where no x86 quantized engine exists (another architecture, a torch build without fbgemm) or
the file holds no activation ranges (an old ``ABLT`` file), the model runs dequantized in fp32;
:func:`int8_module` says which path it took.
"""

from __future__ import annotations

import copy
import platform
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import torch
from torch import nn

ENGINES = ("x86", "fbgemm")  # the quantized engines with x86 int8 conv/linear kernels
X86_MACHINES = ("x86_64", "amd64", "i386", "i686")
DEQUANTIZED = "fp32 (dequantized int8)"


def supported_engines() -> list[str]:
    """The quantized engines this torch build has (a function, so tests can take them away)."""
    return list(torch.backends.quantized.supported_engines)


def quant_engine() -> str | None:
    """The x86 quantized engine this process can use, or None (another CPU, a torch without)."""
    if platform.machine().lower() not in X86_MACHINES:
        return None
    engines = supported_engines()
    return next((e for e in ENGINES if e in engines), None)


@contextmanager
def _quiet() -> Iterator[None]:
    # torch 2.14 marks torch.ao.quantization deprecated (in favour of torchao, which has no int8
    # convolution path on the CPU); the warning would repeat for every reloaded artifact.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield


def _qconfig_mapping() -> Any:
    from torch.ao.quantization import MinMaxObserver, QConfig, QConfigMapping
    from torch.ao.quantization.observer import per_channel_weight_observer_range_neg_127_to_127

    # reduce_range: 7-bit activations, as PyTorch's own x86 default, so the u8 x s8 pair sums of
    # CPUs without VNNI cannot saturate: a file written here runs the same on any x86 CPU.
    act = MinMaxObserver.with_args(dtype=torch.quint8, reduce_range=True)
    return QConfigMapping().set_global(
        QConfig(activation=act, weight=per_channel_weight_observer_range_neg_127_to_127))


def _prepared(model: nn.Module, example: torch.Tensor) -> Any:
    from torch.ao.quantization.quantize_fx import prepare_fx

    with _quiet():
        return prepare_fx(copy.deepcopy(model).eval(), _qconfig_mapping(), (example,))


def _observers(prepared: nn.Module) -> dict[str, Any]:
    return {n: m for n, m in prepared.named_modules()
            if n.startswith("activation_post_process")}


def calibrate(model: nn.Module, batches: list[torch.Tensor]) -> dict[str, tuple[float, float]]:
    """Activation ranges (observer name -> (min, max)) of ``model`` over normalised ``batches``."""
    if not batches:
        return {}
    prepared = _prepared(model, batches[0][:1])
    with torch.no_grad():
        for x in batches:
            prepared(x)
    return {n: (float(o.min_val), float(o.max_val)) for n, o in _observers(prepared).items()}


def int8_module(model: nn.Module, calibration: dict[str, tuple[float, float]],
                input_shape: tuple[int, ...]) -> tuple[nn.Module, str]:
    """(module, path taken): ``model`` (dequantized int8 weights) on int8 kernels where it can.

    The fallback returns ``model`` itself and a label saying why it runs in fp32.
    """
    engine = quant_engine()
    if engine is None:
        return model, f"{DEQUANTIZED}: no x86 quantized engine on {platform.machine()}"
    if not calibration:
        return model, f"{DEQUANTIZED}: the artifact holds no activation ranges"
    from torch.ao.quantization.quantize_fx import convert_fx

    if torch.backends.quantized.engine not in ENGINES:
        torch.backends.quantized.engine = engine
    prepared = _prepared(model, torch.zeros(1, *input_shape))
    observers = _observers(prepared)
    if set(observers) != set(calibration):
        return model, f"{DEQUANTIZED}: the stored activation ranges do not fit this torch's graph"
    for name, (low, high) in calibration.items():
        observers[name].min_val.fill_(low)
        observers[name].max_val.fill_(high)
    with _quiet():
        quantized = convert_fx(prepared)
    return quantized.eval(), f"int8 ({torch.backends.quantized.engine} kernels)"


def kernel_codes(module: nn.Module) -> dict[str, torch.Tensor]:
    """State-dict weight name -> the int8 codes each quantized conv/linear kernel runs."""
    out = {}
    for name, m in module.named_modules():
        weight = getattr(m, "weight", None)
        if callable(weight):
            w = weight()
            if isinstance(w, torch.Tensor) and w.is_quantized:
                out[f"{name}.weight"] = w.int_repr()
    return out
