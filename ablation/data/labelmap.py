"""Label spaces of two data sets -> one common space, or an error when none is defined. Pure.

A model trained on data set A is tested on B by mapping A's predicted classes and B's true
classes into a common space:

* the same class names (after dropping torchvision's " - word" suffix, so MNIST's "0 - zero"
  is "0"): the shared names, one to one;
* otherwise the EMNIST merge: byMerge and Balanced fold the upper and lower case of the 15
  letters whose shapes barely differ (c i j k l m o p s u v w x y z) into one class, named by
  its upper-case letter. ByClass's 62 classes fold onto the 47 merged ones; a byMerge/Balanced
  model tested on ByClass has ByClass's true labels folded the same way (study 002, Table 8);
* anything else (CIFAR-10 vs MNIST, digits vs letters, ...) has no mapping: a UserError.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from ablation.errors import UserError

# EMNIST's merged letters (Cohen et al. 2017, and torchvision's classes_split_dict).
MERGED_LETTERS = frozenset("cijklmopsuvwxyz")


@dataclass(frozen=True)
class LabelMap:
    """Class indices of both sides mapped into a common label space."""

    classes: tuple[str, ...]  # names of the common classes
    train_to_common: tuple[int, ...]  # model output index -> common index
    test_to_common: tuple[int, ...]  # test label index -> common index
    rule: str  # "same names" or "EMNIST merge (case-folded c i j k l m o p s u v w x y z)"


def canonical(name: str) -> str:
    """A class name without torchvision's descriptive suffix ("0 - zero" -> "0")."""
    return name.split(" - ")[0].strip()


def fold(name: str) -> str:
    """The merged EMNIST class of a character class (c and C -> C; a stays a)."""
    return name.upper() if name.lower() in MERGED_LETTERS else name


def _try(train: Sequence[str], test: Sequence[str], key: Callable[[str], str],
         rule: str) -> LabelMap | None:
    a, b = [key(n) for n in train], [key(n) for n in test]
    if set(a) != set(b):
        return None
    common = tuple(dict.fromkeys(a))  # first-seen order of the training side
    index = {c: i for i, c in enumerate(common)}
    return LabelMap(common, tuple(index[x] for x in a), tuple(index[x] for x in b), rule)


def label_mapping(train: Sequence[str], test: Sequence[str], train_name: str = "train",
                  test_name: str = "test") -> LabelMap:
    """The common label space of a model trained on ``train`` classes tested on ``test``."""
    found = (_try(train, test, canonical, "same names")
             or _try(train, test, lambda n: fold(canonical(n)),
                     "EMNIST merge (case-folded c i j k l m o p s u v w x y z)"))
    if found is None:
        only = sorted({canonical(n) for n in train} ^ {canonical(n) for n in test})
        raise UserError(f"no label mapping from {train_name} ({len(train)} classes) to "
                        f"{test_name} ({len(test)} classes): their classes differ "
                        f"(e.g. {', '.join(only[:5])}); cross-evaluate data sets with the same "
                        "classes, or EMNIST splits")
    return found
