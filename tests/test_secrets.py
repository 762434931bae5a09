from __future__ import annotations

import stat
import sys

import pytest

from agentdesk import secrets
from agentdesk.config import AccountConfig
from agentdesk.paths import current_profile

TOKEN = "tok-7f3e9a1c-distinctive"


def _account(**kw) -> AccountConfig:
    return AccountConfig("acme", "zendesk", "https://acme.zendesk.com", "a@acme.com", **kw)


def test_token_goes_to_the_keyring_and_nowhere_on_disk(isolated_profile):
    profile = current_profile().ensure()
    where = secrets.store_token(profile, _account(), TOKEN)
    assert where == "the system keyring"
    assert secrets.get_token(profile, _account()) == TOKEN
    for path in profile.config_dir.rglob("*"):
        assert TOKEN not in path.read_text(errors="replace") if path.is_file() else True
    for path in profile.data_dir.rglob("*"):
        assert not path.is_file() or TOKEN.encode() not in path.read_bytes()


def test_environment_variable_wins_over_keyring(monkeypatch):
    profile = current_profile().ensure()
    secrets.store_token(profile, _account(), TOKEN)
    monkeypatch.setenv("AGENTDESK_TOKEN_ACME", "from-env-123456")
    assert secrets.get_token(profile, _account()) == "from-env-123456"
    assert secrets.token_source(profile, _account()) == "environment"


def test_token_command_output_is_the_token():
    profile = current_profile().ensure()
    account = _account(token_command=f"{sys.executable} -c \"print('cmd-token-998877')\"")
    assert secrets.get_token(profile, account) == "cmd-token-998877"


def test_failing_token_command_says_so_without_its_output():
    profile = current_profile().ensure()
    account = _account(
        token_command=f"{sys.executable} -c \"import sys; print('{TOKEN}', file=sys.stderr); sys.exit(3)\""
    )
    with pytest.raises(secrets.SecretError) as info:
        secrets.get_token(profile, account)
    assert "exit 3" in str(info.value)
    assert TOKEN not in str(info.value)


def test_plaintext_opt_in_writes_a_private_file_in_a_private_dir():
    profile = current_profile().ensure()
    account = _account(plaintext_token=True)
    secrets.store_token(profile, account, TOKEN)
    path = profile.secrets_dir / "acme.token"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(profile.secrets_dir.stat().st_mode) == 0o700
    assert secrets.get_token(profile, account) == TOKEN
    assert secrets.token_source(profile, account) == "PLAIN-TEXT FILE"


def test_missing_token_names_the_fix():
    profile = current_profile().ensure()
    with pytest.raises(secrets.SecretError, match="agentdesk accounts add acme"):
        secrets.get_token(profile, _account())


def test_log_lines_never_carry_a_known_token(isolated_profile):
    import logging

    from agentdesk import logs

    profile = current_profile().ensure()
    secrets.hold_in_memory("demo", TOKEN)
    handler = logs.setup(profile)
    log = logging.getLogger("agentdesk.test")
    log.warning("request failed with Authorization: Basic %s and token %s", "abc123", TOKEN)
    try:
        raise RuntimeError(f"boom {TOKEN}")
    except RuntimeError:
        log.exception("while syncing \x1b]52;c;aGk=\x07")
    handler.flush()
    text = profile.log_file.read_text()
    assert TOKEN not in text
    assert "abc123" not in text
    assert "\x1b" not in text
    assert "[redacted]" in text
