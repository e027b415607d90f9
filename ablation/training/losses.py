"""LOSSES registry: the training losses a study can choose (study 002 tried class weights and
focal loss)."""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

from ablation.config.trainconfig import TrainConfig
from ablation.registry import Registry

# (config, training labels, number of classes) -> the loss module
LOSSES: Registry[Callable[[TrainConfig, torch.Tensor, int], nn.Module]] = Registry("loss")


@LOSSES.register("cross-entropy")
def _cross_entropy(config: TrainConfig, train_y: torch.Tensor, n_classes: int) -> nn.Module:
    return nn.CrossEntropyLoss(label_smoothing=config.label_smoothing)


@LOSSES.register("class-weighted")
def _class_weighted(config: TrainConfig, train_y: torch.Tensor, n_classes: int) -> nn.Module:
    """Cross-entropy weighted by inverse training-label frequency."""
    counts = torch.bincount(train_y, minlength=n_classes).float().clamp(min=1)
    weights = counts.sum() / (n_classes * counts)
    return nn.CrossEntropyLoss(weight=weights, label_smoothing=config.label_smoothing)


@LOSSES.register("focal")
def _focal(config: TrainConfig, train_y: torch.Tensor, n_classes: int) -> nn.Module:
    return FocalLoss(gamma=2.0)


def make_loss(config: TrainConfig, train_y: torch.Tensor, n_classes: int) -> nn.Module:
    """The configured loss; class weights come from training-label frequencies."""
    return LOSSES.get(config.loss)(config, train_y, n_classes)


class FocalLoss(nn.Module):
    """Focal loss (Lin et al. 2017): cross-entropy scaled by (1 - p_true) ** gamma."""

    def __init__(self, gamma: float) -> None:
        super().__init__()
        self.gamma = gamma

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        logp = F.log_softmax(logits.float(), dim=1).gather(1, target[:, None]).squeeze(1)
        return (-(1 - logp.exp()) ** self.gamma * logp).mean()
