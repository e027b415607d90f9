"""Study files -> plain documents: TOML or YAML parsed safely, syntax errors as one line.

Only spec.py uses this; it validates the documents into frozen dataclasses.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Any

from ablation.config.limits import MAX_STUDY_BYTES
from ablation.errors import UserError


def read_document(path: Path) -> dict[str, Any]:
    """Parse a .toml, .yaml or .yml file safely; syntax errors become one-line UserErrors."""
    text = read_study_text(path)
    if path.suffix == ".toml":
        try:
            return tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise UserError(f"{path}: invalid TOML: {exc}") from None
        except RecursionError:
            raise UserError(f"{path}: invalid TOML: nested too deeply") from None
    if path.suffix in (".yaml", ".yml"):
        import yaml

        try:
            doc = yaml.load(text, Loader=_yaml_loader())  # a SafeLoader: no arbitrary objects
        except RecursionError:
            raise UserError(f"{path}: invalid YAML: nested too deeply") from None
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            line = f" at line {mark.line + 1}" if mark is not None else ""
            raise UserError(f"{path}: invalid YAML{line}: "
                            f"{getattr(exc, 'problem', None) or exc}") from None
        if not isinstance(doc, dict):
            raise UserError(f"{path}: a study file must be a mapping of sections")
        return doc
    raise UserError(f"{path}: study files end in .toml, .yaml or .yml")


def read_study_text(path: Path) -> str:
    """The text of a study file: UTF-8 (a byte-order mark is dropped), at most 1 MiB."""
    try:
        if path.stat().st_size > MAX_STUDY_BYTES:
            raise UserError(f"{path}: {path.stat().st_size} bytes; a study file is at most "
                            f"{MAX_STUDY_BYTES} bytes")
        return path.read_bytes().decode("utf-8-sig")
    except OSError as exc:
        raise UserError(f"{path}: cannot read study file ({exc.strerror})") from None
    except UnicodeDecodeError as exc:
        raise UserError(f"{path}: not UTF-8 text (byte 0x{exc.object[exc.start]:02x} at offset "
                        f"{exc.start}); save the study file as UTF-8") from None


# PyYAML follows YAML 1.1, where 1e-3 (no dot) is a string; study files mean a number.
_YAML_EXP_FLOAT = re.compile(r"^[-+]?[0-9][0-9_]*(?:\.[0-9_]*)?[eE][-+]?[0-9]+$")


def _yaml_loader() -> type:
    """A SafeLoader that reads 1e-3 as a float and refuses duplicate keys (TOML does too)."""
    import yaml

    class Loader(yaml.SafeLoader):
        pass

    def mapping(loader: yaml.SafeLoader, node: yaml.MappingNode) -> dict[Any, Any]:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            key = loader.construct_object(key_node, deep=True)
            if isinstance(key, str) and key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"duplicate key {key!r}", key_node.start_mark)
            if isinstance(key, str):
                seen.add(key)
        return yaml.SafeLoader.construct_mapping(loader, node, deep=True)

    Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, mapping)
    Loader.add_implicit_resolver("tag:yaml.org,2002:float", _YAML_EXP_FLOAT,
                                 list("-+0123456789"))
    return Loader
