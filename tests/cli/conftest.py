"""The CLI tests' server and clean environment, shared with tests/test_cli.py."""

from tests.test_cli import _clean_env, local

__all__ = ["_clean_env", "local"]
