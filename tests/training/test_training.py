"""The trainer on tiny real data: metrics, curves, determinism."""

import math
from dataclasses import replace

import torch

from ablation.data.datasets import make_splits
from ablation.training.batches import random_affine
from ablation.training.fit import fit
from ablation.training.schedules import lr_lambda


def test_fit_reports_every_epoch_and_measures_the_test_set(tiny_config, tmp_path):
    seen = []
    result = fit(replace(tiny_config, epochs=2), 0, data_dir=tmp_path, on_epoch=seen.append)
    m = result.metrics
    assert [r.epoch for r in seen] == [1, 2] and seen[-1].seconds >= seen[0].seconds
    assert 0 <= m.test_accuracy <= 1 and math.isfinite(m.test_loss)
    n_test = len(make_splits("digits", tmp_path, 0.1).test_y)  # 20% of 1,797 held out
    assert sum(map(sum, m.confusion)) == n_test and 355 <= n_test <= 365
    assert m.params == sum(p.numel() for p in result.model.parameters())
    assert m.state_bytes > 4 * m.params and m.infer_ms_per_image > 0


def test_same_seed_same_result_other_seed_differs(tiny_config, tmp_path):
    a = fit(tiny_config, 1, data_dir=tmp_path).metrics
    b = fit(tiny_config, 1, data_dir=tmp_path).metrics
    c = fit(tiny_config, 2, data_dir=tmp_path).metrics
    assert (a.test_loss, a.confusion) == (b.test_loss, b.confusion)
    assert a.test_loss != c.test_loss


def test_learns_digits(tmp_path):
    from ablation.config.trainconfig import TrainConfig

    cfg = TrainConfig(dataset="digits", model="resnet-lite", width=8, epochs=4, lr=5e-3)
    assert fit(cfg, 0, data_dir=tmp_path).metrics.test_accuracy > 0.9


def test_options_run_clipping_smoothing_augmentation_bf16_losses(tiny_config, tmp_path):
    for change in ({"grad_clip": 1.0, "label_smoothing": 0.1}, {"augment": True},
                   {"precision": "bf16"}, {"loss": "focal"}, {"loss": "class-weighted"},
                   {"schedule": "step"}, {"schedule": "cosine"}):
        m = fit(replace(tiny_config, **change), 0, data_dir=tmp_path).metrics
        assert math.isfinite(m.test_loss), change


def test_onecycle_warms_up_then_anneals_to_zero():
    f = lr_lambda("onecycle", 100, 10, 0.2)
    assert f(0) < f(19) == 1.0 and f(99) < 0.01


def test_augmentation_changes_images_but_keeps_shape():
    x = torch.zeros(4, 1, 28, 28)
    x[:, :, 10:18, 10:18] = 1
    y = random_affine(x, torch.Generator().manual_seed(0))
    assert y.shape == x.shape and not torch.allclose(x, y)
