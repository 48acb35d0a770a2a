"""Modules mypy checks (pyproject: ``[tool.mypy] packages``) and no test runs: each
proves a guarantee the type system gives."""
