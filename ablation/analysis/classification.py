"""Pure classification metrics on label tensors: accuracy, confusion matrix, macro-F1."""

from __future__ import annotations

import torch


def accuracy(y_true: torch.Tensor, y_pred: torch.Tensor) -> float:
    """Share of predictions equal to the labels (0 for an empty set)."""
    if y_true.numel() == 0:
        return 0.0
    return float((y_true == y_pred).float().mean())


def confusion_matrix(y_true: torch.Tensor, y_pred: torch.Tensor, n_classes: int) -> torch.Tensor:
    """n x n counts; row = true class, column = predicted class."""
    flat = y_true.long() * n_classes + y_pred.long()
    return torch.bincount(flat, minlength=n_classes * n_classes).reshape(n_classes, n_classes)


def macro_f1(confusion: torch.Tensor) -> float:
    """Unweighted mean of per-class F1 over the classes that occur in labels or predictions."""
    cm = confusion.double()
    tp = cm.diag()
    support = cm.sum(1)
    predicted = cm.sum(0)
    present = (support + predicted) > 0
    if not bool(present.any()):
        return 0.0
    f1 = torch.where(support + predicted > 0, 2 * tp / (support + predicted).clamp(min=1), 0.0)
    return float(f1[present].mean())
