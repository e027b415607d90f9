"""Per-epoch checkpoints: a resumed run equals an uninterrupted one; writes are atomic."""

import dataclasses
import errno
from pathlib import Path

import pytest
import torch

from ablation.errors import UserError
from ablation.training import checkpoint as ckpt_mod
from ablation.training.checkpoint import EpochCheckpoint, checkpoint_path
from ablation.training.fit import fit


def assert_same_weights(a, b) -> None:
    """Every tensor of model ``a``'s state equals ``b``'s bit for bit."""
    theirs = b.state_dict()
    for name, value in a.state_dict().items():
        assert torch.equal(value, theirs[name]), name


class Stop(Exception):
    pass


def _config(tiny_config):
    # Augmentation and dropout draw from the trainer's generator and torch's global RNG, so a
    # resume that lost either state would train on different batches and differ.
    return dataclasses.replace(tiny_config, epochs=3, augment=True, dropout=0.2,
                               optimizer="nadam", schedule="onecycle")


def test_resumed_run_equals_uninterrupted_run(tiny_config, tmp_path):
    config = _config(tiny_config)
    whole = fit(config, 3, data_dir=tmp_path)

    ck = EpochCheckpoint(tmp_path / "c.pt")

    def die_after_epoch_2(record):
        if record.epoch == 2:
            raise Stop  # as if the worker were killed right after epoch 2's checkpoint

    with pytest.raises(Stop):
        fit(config, 3, data_dir=tmp_path, on_epoch=die_after_epoch_2, checkpoint=ck)
    torch.manual_seed(12345)  # a fresh process would start from another global RNG state
    seen = []
    again = EpochCheckpoint(tmp_path / "c.pt")
    resumed = fit(config, 3, data_dir=tmp_path, on_epoch=seen.append, checkpoint=again)
    assert again.resumed_from == 2
    assert [r.epoch for r in seen] == [1, 2, 3]  # stored epochs replayed, then epoch 3 trained
    assert [r.val_loss for r in resumed.curve] == [r.val_loss for r in whole.curve]
    assert resumed.metrics.test_loss == whole.metrics.test_loss
    assert_same_weights(whole.model, resumed.model)


def test_checkpoint_is_plain_tensors_and_loads_weights_only(tiny_config, tmp_path):
    ck = EpochCheckpoint(tmp_path / "c.pt")
    fit(tiny_config, 0, data_dir=tmp_path, checkpoint=ck)
    state = torch.load(tmp_path / "c.pt", weights_only=True)
    assert state["epoch"] == 1 and state["torch_rng"].dtype == torch.uint8
    assert state["generator"].dtype == torch.uint8 and len(state["curve"]) == 1


def test_disk_full_keeps_the_previous_checkpoint_and_leaves_no_temp_file(tiny_config, tmp_path,
                                                                         monkeypatch):
    ck = EpochCheckpoint(tmp_path / "c.pt")
    config = dataclasses.replace(tiny_config, epochs=2)
    calls = []
    real_write = ckpt_mod._write

    def write_then_fill_disk(state, path):
        calls.append(path)
        if len(calls) == 2:
            with open(path, "wb") as f:
                f.write(b"half")  # a partial write before the disk filled up
            raise OSError(errno.ENOSPC, "No space left on device")
        real_write(state, path)

    monkeypatch.setattr(ckpt_mod, "_write", write_then_fill_disk)
    with pytest.raises(UserError, match="disk full"):
        fit(config, 0, data_dir=tmp_path, checkpoint=ck)
    assert [p.name for p in tmp_path.iterdir() if p.suffix == ".part"] == []
    assert torch.load(tmp_path / "c.pt", weights_only=True)["epoch"] == 1


def test_truncated_checkpoint_is_ignored_with_a_warning(tiny_config, tmp_path):
    ck = EpochCheckpoint(tmp_path / "c.pt")
    fit(tiny_config, 0, data_dir=tmp_path, checkpoint=ck)
    blob = (tmp_path / "c.pt").read_bytes()
    (tmp_path / "c.pt").write_bytes(blob[: len(blob) // 2])
    again = EpochCheckpoint(tmp_path / "c.pt")
    with pytest.warns(UserWarning, match="ignoring unreadable checkpoint"):
        result = fit(tiny_config, 0, data_dir=tmp_path, checkpoint=again)
    assert again.resumed_from is None and result.metrics.epochs_run == 1


def test_checkpoint_paths_separate_studies_and_points():
    root = Path("/x")
    a = checkpoint_path(root, "study-a", "k1")
    assert a != checkpoint_path(root, "study-b", "k1") != checkpoint_path(root, "study-a", "k2")
    assert a.name == "k1.pt" and a.parent.parent == root / "checkpoints"


@pytest.mark.parametrize("changes", [{"swa_epochs": 2, "swa_lr": 0.01},
                                     {"dst_sparsity": 0.5, "dst_interval": 2}],
                         ids=["swa", "dynamic-sparsity"])
def test_resume_restores_swa_and_sparsity_state(tiny_config, tmp_path, changes):
    # Killed after epoch 2 of 3: the SWA average already holds epoch 2 and the sparse masks have
    # moved; a resume that restarted either would end with different weights.
    config = dataclasses.replace(_config(tiny_config), **changes)
    whole = fit(config, 5, data_dir=tmp_path)

    def die_after_epoch_2(record):
        if record.epoch == 2:
            raise Stop

    with pytest.raises(Stop):
        fit(config, 5, data_dir=tmp_path, on_epoch=die_after_epoch_2,
            checkpoint=EpochCheckpoint(tmp_path / "c.pt"))
    saved = torch.load(tmp_path / "c.pt", weights_only=True)["extras"]
    assert set(saved) == ({"swa"} if "swa_epochs" in changes else {"sparsity"})
    again = EpochCheckpoint(tmp_path / "c.pt")
    resumed = fit(config, 5, data_dir=tmp_path, checkpoint=again)
    assert again.resumed_from == 2
    assert resumed.metrics.test_loss == whole.metrics.test_loss
    assert_same_weights(whole.model, resumed.model)


def test_checkpoint_without_a_helpers_state_is_not_used(tiny_config, tmp_path):
    # A checkpoint written by a dense run cannot resume a sparse one: it starts over, warned.
    dense = dataclasses.replace(tiny_config, epochs=1)
    fit(dense, 0, data_dir=tmp_path, checkpoint=EpochCheckpoint(tmp_path / "c.pt"))
    sparse = dataclasses.replace(dense, epochs=2, dst_sparsity=0.5)
    again = EpochCheckpoint(tmp_path / "c.pt")
    with pytest.warns(UserWarning, match="no saved state for sparsity"):
        fit(sparse, 0, data_dir=tmp_path, checkpoint=again)
    assert again.resumed_from is None


def test_a_checkpoint_written_on_a_gpu_resumes_on_the_cpu(tiny_config, tmp_path):
    from tests.fakes import as_saved_on

    config = dataclasses.replace(_config(tiny_config), epochs=2)
    whole = fit(config, 3, data_dir=tmp_path)
    path = tmp_path / "c.pt"

    def stop_after_epoch_1(record):
        if record.epoch == 1:
            raise Stop

    with pytest.raises(Stop):
        fit(config, 3, data_dir=tmp_path, on_epoch=stop_after_epoch_1,
            checkpoint=EpochCheckpoint(path))
    # Model, optimizer and RNG tensors now say cuda:0; the generator state is a CPU one, as a
    # GPU run's would not be, so the generator check passes: only the location is tested here.
    path.write_bytes(as_saved_on(path.read_bytes(), "cuda:0"))
    with pytest.raises(RuntimeError, match="CUDA"):  # what a load without map_location does
        torch.load(path, weights_only=True)
    again = EpochCheckpoint(path)
    resumed = fit(config, 3, data_dir=tmp_path, checkpoint=again)
    assert again.resumed_from == 1
    assert_same_weights(whole.model, resumed.model)


def test_a_generator_state_of_another_device_kind_starts_over(tiny_config, tmp_path):
    ck = EpochCheckpoint(tmp_path / "c.pt")
    fit(tiny_config, 0, data_dir=tmp_path, checkpoint=ck)
    state = torch.load(tmp_path / "c.pt", weights_only=True)
    state["generator"] = torch.zeros(16, dtype=torch.uint8)  # a CUDA (Philox) state's size
    torch.save(state, tmp_path / "c.pt")
    with pytest.warns(UserWarning, match="generator is from another device kind"):
        assert EpochCheckpoint(tmp_path / "c.pt").load(*_parts(tiny_config)) is None


def _parts(config):
    from ablation.models import build_model

    model = build_model(config.model, (1, 8, 8), 10, config.activation, width=config.width,
                        blocks=config.blocks, dropout=config.dropout)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    return model, opt, torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 1.0), torch.Generator()


def test_the_gpus_generator_states_are_saved_and_restored(tiny_config, tmp_path, monkeypatch):
    # Dropout on a GPU draws from the GPU's global generator: a resume must restore it too.
    gpu_state = torch.arange(16, dtype=torch.uint8)
    monkeypatch.setattr(torch.cuda, "is_initialized", lambda: True)
    monkeypatch.setattr(torch.cuda, "get_rng_state_all", lambda: [gpu_state])
    ck = EpochCheckpoint(tmp_path / "c.pt")
    fit(tiny_config, 0, data_dir=tmp_path, checkpoint=ck)
    assert torch.equal(torch.load(tmp_path / "c.pt", weights_only=True)["cuda_rng"][0],
                       gpu_state)
    restored = []
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    monkeypatch.setattr(torch.cuda, "set_rng_state_all", restored.extend)
    assert EpochCheckpoint(tmp_path / "c.pt").load(*_parts(tiny_config)) is not None
    assert len(restored) == 1 and torch.equal(restored[0], gpu_state)
