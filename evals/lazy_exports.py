"""A subpackage's public names, imported only when first used.

A subpackage's ``__init__`` lists its public names (``__all__``, and the same names under
``TYPE_CHECKING`` for type checkers and readers) without importing its modules, so that
``quorum --help`` loads no numpy, torch or litellm. The first use of a name imports the
one module that defines it (PEP 562).
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping, Sequence


def exported(package: str, name: str, modules: Mapping[str, Sequence[str]]) -> object:
    """The attribute ``name`` of ``package``, from the module of ``modules`` that lists it."""
    for module, names in modules.items():
        if name in names:
            return getattr(importlib.import_module(f"{package}.{module}"), name)
    raise AttributeError(f"module {package!r} has no attribute {name!r}")
