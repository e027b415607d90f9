"""Contract tests over every registered model, optimizer and activation."""

import pytest
import torch
from torch import nn

from ablation.models import MODELS, build_model
from ablation.models.layers import ACTIVATIONS, Dropout, make_activation
from ablation.training.optim import OPTIMIZERS, make_optimizer

SHAPES = [(1, 8, 8), (1, 28, 28), (3, 32, 32)]


@pytest.mark.parametrize("name", MODELS.names())
@pytest.mark.parametrize("shape", SHAPES)
def test_every_model_maps_a_batch_to_logits(name, shape):
    torch.manual_seed(0)
    model = build_model(name, shape, 7, "relu", width=8, blocks=2, dropout=0.1)
    model.train()
    out = model(torch.randn(3, *shape))
    assert out.shape == (3, 7)
    assert torch.isfinite(out).all()
    out.sum().backward()  # gradients flow to every parameter
    assert all(p.grad is not None for p in model.parameters())


@pytest.mark.parametrize("blocks", [1, 2, 3, 4])
def test_resnet_lite_block_count_changes_depth(blocks):
    model = build_model("resnet-lite", (1, 28, 28), 10, width=8, blocks=blocks)
    convs = sum(isinstance(m, nn.Conv2d) for m in model.modules())
    assert convs == 1 + 3 * blocks  # stem + (two block convs + one 1x1 transition) per block


def test_resnet_lite_stem_gives_32_maps_of_14x14():
    model = build_model("resnet-lite", (1, 28, 28), 10, width=32)
    assert model[:3](torch.zeros(1, 1, 28, 28)).shape == (1, 32, 14, 14)  # as in study 002


@pytest.mark.parametrize("name", ACTIVATIONS.names())
def test_every_activation_keeps_shape(name):
    x = torch.randn(4, 3, 5, 5)
    y = make_activation(name)(x.clone())
    assert y.shape == x.shape and torch.isfinite(y).all()
    assert not torch.equal(y, x)


@pytest.mark.parametrize("name", OPTIMIZERS.names())
def test_every_optimizer_lowers_a_toy_loss(name):
    torch.manual_seed(0)
    w = nn.Parameter(torch.randn(10))
    target = torch.linspace(-1, 1, 10)
    opt = make_optimizer(name, [w], lr=0.05, weight_decay=0.0, momentum=0.9)

    def loss() -> torch.Tensor:
        return ((w - target) ** 2).sum()

    start = float(loss().detach())
    for _ in range(50):
        opt.zero_grad()
        loss().backward()
        opt.step()
    assert float(loss().detach()) < 0.5 * start


def test_sgd_nesterov_is_nesterov_with_momentum():
    opt = make_optimizer("sgd-nesterov", [nn.Parameter(torch.zeros(1))], lr=0.1, momentum=0.0)
    group = opt.param_groups[0]
    assert group["nesterov"] and group["momentum"] > 0


@pytest.mark.parametrize("p", [0.1, 0.5, 0.9])
def test_fast_dropout_drops_at_rate_p_and_keeps_the_expectation(p):
    torch.manual_seed(0)
    x = torch.ones(64, 16, 14, 14)
    out = Dropout(p).train()(x)
    dropped = (out == 0).float().mean().item()
    assert abs(dropped - p) < 0.005  # 200k elements: std of the rate ~0.001
    assert torch.allclose(out[out != 0], torch.tensor(1 / (1 - p)))
    assert abs(out.mean().item() - 1.0) < 0.02


def test_fast_dropout_is_seeded_identity_in_eval_and_masks_gradients():
    x = torch.randn(8, 4, 5, 5, requires_grad=True)
    layer = Dropout(0.3)
    assert layer.eval()(x) is x
    layer.train()
    torch.manual_seed(1)
    a = layer(x)
    torch.manual_seed(1)
    b = layer(x)
    assert torch.equal(a, b)
    torch.manual_seed(2)
    assert not torch.equal(a, layer(x))
    a.sum().backward()
    assert torch.equal(x.grad == 0, a == 0)  # the dropped elements get no gradient
    assert torch.equal(Dropout(0.0).train()(x), x)
    assert torch.equal(Dropout(1.0).train()(x), torch.zeros_like(x))
