"""Penultimate-layer features of a trained model and their 2-D t-SNE map (for `ablate embed`)."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
from sklearn.manifold import TSNE
from torch import nn

from ablation.training.fit import EVAL_BATCH


def sample_indices(n: int, k: int, seed: int = 0) -> np.ndarray:
    """``min(k, n)`` distinct indices of ``n`` items, sorted, the same for the same seed."""
    rng = np.random.default_rng(seed)
    return np.sort(rng.choice(n, size=min(k, n), replace=False))


def penultimate_features(model: nn.Module, normalise: Callable[[torch.Tensor], torch.Tensor],
                         x: torch.Tensor) -> np.ndarray:
    """What the model's last linear layer receives for uint8 images ``x`` (N x D).

    ``normalise`` is the transform the model was trained with (LoadedModel.normalise).
    """
    heads = [m for m in model.modules() if isinstance(m, nn.Linear)]
    if not heads:
        raise ValueError("model has no linear layer to take features before")
    seen: list[torch.Tensor] = []
    hook = heads[-1].register_forward_pre_hook(
        lambda _m, args: seen.append(args[0].detach().flatten(1).float()))
    model.eval()
    try:
        with torch.inference_mode():
            for i in range(0, len(x), EVAL_BATCH):
                model(normalise(x[i:i + EVAL_BATCH]))
    finally:
        hook.remove()
    return torch.cat(seen).numpy()


def tsne_2d(features: np.ndarray, seed: int = 0) -> np.ndarray:
    """2-D t-SNE of the features (PCA initialisation; perplexity capped for small samples)."""
    perplexity = float(min(30, max(2, (len(features) - 1) // 3)))
    tsne = TSNE(n_components=2, perplexity=perplexity, init="pca", random_state=seed)
    return np.asarray(tsne.fit_transform(features))
