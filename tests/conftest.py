"""Every test runs in its own profile (AGENTDESK_HOME) with a test keyring: never the user's."""

from __future__ import annotations

import os
from pathlib import Path

import keyring
import pytest

from tests.support.keyring_backend import FileTestKeyring

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(autouse=True)
def isolated_profile(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch):
    home = tmp_path_factory.mktemp("agentdesk-home")
    monkeypatch.setenv("AGENTDESK_HOME", str(home))
    monkeypatch.setenv("AGENTDESK_TEST_KEYRING", str(home / "test-keyring.json"))
    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", "tests.support.keyring_backend.FileTestKeyring")
    monkeypatch.setenv("PYTHONPATH", str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    for name in list(os.environ):
        if name.startswith("AGENTDESK_TOKEN_"):
            monkeypatch.delenv(name)
    previous = keyring.get_keyring()
    keyring.set_keyring(FileTestKeyring())
    yield home
    keyring.set_keyring(previous)


def pytest_report_header(config: pytest.Config) -> str:
    from tests.rt.backend import rt_package_version

    version = rt_package_version()
    return f"request tracker: request-tracker5 {version or 'not installed'} (Debian package)"


def pytest_terminal_summary(terminalreporter, exitstatus: int, config: pytest.Config) -> None:
    from tests.rt.backend import rt_package_version, rt_ran

    if rt_ran():
        terminalreporter.write_line(
            f"real Request Tracker tested: request-tracker5 {rt_package_version()}"
        )
