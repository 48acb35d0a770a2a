"""Each evals subpackage exports its public names without importing its modules first."""

from __future__ import annotations

import importlib
import subprocess
import sys

import pytest

PACKAGES = ["evals.cases", "evals.consensus", "evals.digest", "evals.runs", "evals.scorers"]


@pytest.mark.parametrize("package", PACKAGES)
def test_every_exported_name_is_its_modules_own(package: str) -> None:
    pkg = importlib.import_module(package)
    assert pkg.__all__ == sorted(pkg.__all__)
    for name in pkg.__all__:
        value = getattr(pkg, name)
        assert value.__module__.startswith(package + "."), (name, value.__module__)


def test_an_unknown_name_is_an_attribute_error() -> None:
    pkg = importlib.import_module("evals.cases")
    with pytest.raises(AttributeError, match="no attribute 'nothing_here'"):
        _ = pkg.nothing_here


@pytest.mark.parametrize("package", PACKAGES)
def test_importing_the_package_imports_none_of_its_modules(package: str) -> None:
    code = (
        f"import sys, {package}; "
        f"print(sorted(m for m in sys.modules if m.startswith('{package}.')))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"
