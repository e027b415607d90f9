"""Device names in study files and options: spelling only (availability: training/device)."""

import pytest

from ablation.config.devices import check_device, parse_devices
from ablation.errors import UserError
from ablation.spec.study import parse_study


@pytest.mark.parametrize("name", ["auto", "cpu", "cuda", "cuda:0", "cuda:12", "mps"])
def test_device_names_that_are_spelled_right(name):
    assert check_device(name, "here") == name


@pytest.mark.parametrize("name", ["cuda:x", "cuda:", "gpu", "CUDA", "cuda:01", "cuda:-1", "",
                                  "cpu ", 3, None])
def test_misspelled_devices_are_one_line_user_errors(name):
    with pytest.raises(UserError, match=r"^here: device must be one of auto, cpu, cuda"):
        check_device(name, "here")


def test_devices_lists():
    assert parse_devices("auto") == ("auto",)
    assert parse_devices("cuda:0, cuda:2") == ("cuda:0", "cuda:2")
    for bad, message in (("cuda:0,cuda:0", "twice"), ("cpu,cuda:0", "'cpu'"),
                         ("cuda", "'cuda'"), ("cuda:0,", "''")):
        with pytest.raises(UserError, match=message):
            parse_devices(bad)


def _doc(**study):
    return {"study": {"name": "s", **study}, "baseline": {"epochs": 1},
            "axes": {"optimizer": {"choices": ["sgd"]}}}


def test_study_keys_device_and_deterministic():
    spec = parse_study(_doc(), "f.toml")
    assert (spec.device, spec.deterministic) == ("auto", False)
    spec = parse_study(_doc(device="cuda:1", deterministic=True), "f.toml")
    assert (spec.device, spec.deterministic) == ("cuda:1", True)
    with pytest.raises(UserError, match=r"^f.toml: study.device: device must be one of"):
        parse_study(_doc(device="cuda:x"), "f.toml")
    with pytest.raises(UserError, match=r"study.deterministic must be true or false, got 'yes'"):
        parse_study(_doc(deterministic="yes"), "f.toml")


def test_device_is_not_part_of_the_configuration_or_its_stored_name():
    from ablation.spec.space import fingerprint

    cpu = parse_study(_doc(device="cpu"), "f.toml")
    gpu = parse_study(_doc(device="cuda", deterministic=True), "f.toml")
    assert fingerprint(cpu) == fingerprint(gpu)  # a study resumes on another device
    assert cpu.storage_name == gpu.storage_name == "s"
