"""One small generic registry: name -> component, with metadata, used for every kind."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Generic, TypeVar

from ablation.errors import UserError

T = TypeVar("T")


class Registry(Generic[T]):
    """Maps lower-case names to components; duplicates are errors; unknown names list the known."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._items: dict[str, T] = {}

    def add(self, name: str, item: T) -> T:
        """Register ``item`` under ``name``; the name must be new and lower-case."""
        if name != name.lower():
            raise ValueError(f"{self.kind} names are lower-case: {name!r}")
        if name in self._items:
            raise ValueError(f"{self.kind} {name!r} is registered twice")
        self._items[name] = item
        return item

    def register(self, name: str) -> Callable[[T], T]:
        """Decorator form of :meth:`add`."""

        def deco(item: T) -> T:
            return self.add(name, item)

        return deco

    def get(self, name: str) -> T:
        """The component called ``name``; an unknown name is a UserError listing the known ones."""
        try:
            return self._items[name]
        except (KeyError, TypeError):  # TypeError: an unhashable value (a list) is no name
            known = ", ".join(sorted(self._items))
            raise UserError(f"unknown {self.kind} {name!r}; known: {known}") from None

    def names(self) -> list[str]:
        """Registered names in registration order."""
        return list(self._items)

    def __contains__(self, name: object) -> bool:
        # A list or table where a name belongs (study files) is simply not a known name.
        return isinstance(name, str) and name in self._items

    def __iter__(self) -> Iterator[str]:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)
