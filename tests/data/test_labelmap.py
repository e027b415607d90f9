"""Label mappings between data sets (pure)."""

import pytest
import torchvision.datasets as tvd

from ablation.data.labelmap import MERGED_LETTERS, label_mapping
from ablation.errors import UserError

SPLITS = tvd.EMNIST.classes_split_dict
DIGITS = [str(i) for i in range(10)]
MNIST = ["0 - zero", "1 - one", "2 - two", "3 - three", "4 - four", "5 - five", "6 - six",
         "7 - seven", "8 - eight", "9 - nine"]


def test_same_names_map_one_to_one_even_with_suffixes_and_order():
    m = label_mapping(list(reversed(DIGITS)), MNIST)
    assert m.rule == "same names" and len(m.classes) == 10
    for i, name in enumerate(reversed(DIGITS)):
        assert m.classes[m.train_to_common[i]] == name
    assert [m.classes[j] for j in m.test_to_common] == DIGITS


def test_byclass_to_balanced_folds_the_15_letters():
    byclass, balanced = SPLITS["byclass"], SPLITS["balanced"]
    m = label_mapping(byclass, balanced, "emnist-byclass", "emnist-balanced")
    assert len(byclass) == 62 and len(balanced) == 47 and len(m.classes) == 47
    assert m.rule.startswith("EMNIST merge")
    to = {byclass[i]: m.classes[j] for i, j in enumerate(m.train_to_common)}
    assert to["c"] == to["C"] == "C" and to["o"] == "O" and to["z"] == "Z"
    assert to["a"] == "a" and to["A"] == "A" and to["a"] != to["A"]  # a/A not merged
    assert to["0"] == "0"
    merged = {k for k, v in to.items() if v != k}
    assert merged == set(MERGED_LETTERS)
    # Balanced's own labels map onto themselves, bijectively.
    assert sorted(m.test_to_common) == list(range(47))
    assert [m.classes[j] for j in m.test_to_common] == balanced


def test_balanced_model_tested_on_byclass_folds_the_true_labels():
    m = label_mapping(SPLITS["balanced"], SPLITS["byclass"])
    assert len(m.classes) == 47 and sorted(m.train_to_common) == list(range(47))
    byclass = SPLITS["byclass"]
    assert m.test_to_common[byclass.index("x")] == m.test_to_common[byclass.index("X")]


def test_bymerge_and_balanced_share_classes():
    assert label_mapping(SPLITS["bymerge"], SPLITS["balanced"]).rule == "same names"


def test_same_split_keeps_case():
    assert len(label_mapping(SPLITS["byclass"], SPLITS["byclass"]).classes) == 62


@pytest.mark.parametrize("other", [
    ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"],
    SPLITS["balanced"], SPLITS["letters"]])
def test_no_mapping_is_a_user_error(other):
    with pytest.raises(UserError, match="no label mapping from mnist"):
        label_mapping(MNIST, other, "mnist", "other")
