from __future__ import annotations

import re
import stat

import pytest

from agentdesk import config
from agentdesk.config import AccountConfig, ConfigError
from agentdesk.paths import current_profile


def test_agentdesk_home_relocates_the_whole_profile(isolated_profile):
    profile = current_profile().ensure()
    for path in (profile.config_file, profile.store_file, profile.log_file):
        assert str(path).startswith(str(isolated_profile))


def test_saved_account_round_trips_and_file_is_private():
    profile = current_profile().ensure()
    config.save_account(
        profile, AccountConfig("acme", "zendesk", "https://acme.zendesk.com", "a@acme.com")
    )
    config.save_account(
        profile,
        AccountConfig(
            "chat",
            "chatwoot",
            "https://chat.acme.com",
            "a@acme.com",
            token_command="pass show chat",
        ),
    )
    loaded = config.load(profile)
    assert loaded.accounts["acme"].url == "https://acme.zendesk.com"
    assert loaded.accounts["chat"].token_command == "pass show chat"
    assert stat.S_IMODE(profile.config_file.stat().st_mode) == 0o600
    assert config.remove_account(profile, "acme")
    assert set(config.load(profile).accounts) == {"chat"}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            '[accounts.acme]\nconnector = "zendesk"\nurl = "https://x"\n',
            r"config.toml:1: accounts.acme.user: is required",
        ),
        (
            '[accounts.acme]\nconnector = "zendesk"\nurl = "https://x"\nuser = "u"\ncolour = 3\n',
            r"config.toml:5: accounts.acme.colour: unknown key",
        ),
        ("[ui]\ntheme = 3\n", r"config.toml:2: ui.theme: must be text in quotes"),
        ("[accounts.acme\n", r"not valid TOML"),
        (
            '[accounts.acme]\nconnector = "zendesk"\nurl = "https://x"\nuser = "u"\ncache_days = "ten"\n',
            r"config.toml:5: accounts.acme.cache_days: must be a whole number",
        ),
    ],
)
def test_config_mistakes_name_file_line_and_key(text, expected):
    profile = current_profile().ensure()
    profile.config_file.write_text(text)
    with pytest.raises(ConfigError, match=expected):
        config.load(profile)


def test_environment_overrides_settings(monkeypatch):
    profile = current_profile().ensure()
    profile.config_file.write_text('[ui]\ntheme = "agentdesk-light"\n')
    monkeypatch.setenv("AGENTDESK_THEME", "agentdesk-high-contrast")
    assert config.load(profile).ui.theme == "agentdesk-high-contrast"


def test_cache_policy_keys_default_to_open_and_history_and_are_validated():
    profile = current_profile().ensure()
    head = '[accounts.acme]\nconnector = "zendesk"\nurl = "https://x"\nuser = "u"\n'
    profile.config_file.write_text(head)
    acme = config.load(profile).accounts["acme"]
    assert (acme.cache_days, acme.cache_open, acme.cache_history, acme.history_batch) == (
        90,
        True,
        True,
        50,
    )
    profile.config_file.write_text(
        head + "cache_open = false\ncache_history = false\nhistory_batch = 5\n"
    )
    acme = config.load(profile).accounts["acme"]
    assert (acme.cache_open, acme.cache_history, acme.history_batch) == (False, False, 5)
    for line, problem in [
        ('cache_open = "yes"', r"config.toml:5: accounts.acme.cache_open: must be true or false"),
        ("cache_history = 1", r"config.toml:5: accounts.acme.cache_history: must be true or false"),
        ("history_batch = true", r"config.toml:5: accounts.acme.history_batch: must be a whole number"),
        (
            "history_batch = 0",
            r"config.toml:5: accounts.acme.history_batch: must be from 1 to 1000",
        ),
        ("cache_days = -3", r"config.toml:5: accounts.acme.cache_days: must be from 1 to 36500"),
    ]:
        profile.config_file.write_text(head + line + "\n")
        with pytest.raises(ConfigError, match=problem):
            config.load(profile)


def test_a_saved_cache_policy_round_trips():
    profile = current_profile().ensure()
    config.save_account(
        profile,
        AccountConfig("acme", "zendesk", "https://x", "u", cache_history=False, history_batch=10),
    )
    text = profile.config_file.read_text()
    assert "cache_history = false" in text and "cache_open" not in text  # defaults unwritten
    acme = config.load(profile).accounts["acme"]
    assert (acme.cache_open, acme.cache_history, acme.history_batch) == (True, False, 10)


def test_a_mistyped_keymap_id_is_named_with_its_file_line_and_the_nearest_id(tmp_path):
    from agentdesk import config as config_module
    from agentdesk.paths import Profile
    from agentdesk.tui.app import AgentDeskApp
    from agentdesk.tui.screens.help import binding_ids

    profile = Profile(config_dir=tmp_path, data_dir=tmp_path, log_dir=tmp_path)
    profile.config_file.write_text(
        '[ui]\ntheme = "agentdesk-dark"\n\n[keymap]\n"conversation.reply" = "R"\n'
        '"conversation.reslove_next" = "E"\n',
        encoding="utf-8",
    )
    config = config_module.load(profile)
    (problem,) = config_module.keymap_problems(config, binding_ids(AgentDeskApp))
    assert problem.startswith(f"{profile.config_file}:6: keymap:")
    assert "'conversation.reslove_next'" in problem and "'conversation.resolve_next'" in problem


def test_undo_seconds_out_of_range_names_the_key(tmp_path):
    import pytest

    from agentdesk import config as config_module
    from agentdesk.paths import Profile

    profile = Profile(config_dir=tmp_path, data_dir=tmp_path, log_dir=tmp_path)
    profile.config_file.write_text("[ui]\nundo_seconds = 9999\n", encoding="utf-8")
    with pytest.raises(config_module.ConfigError, match=r":2: ui.undo_seconds: must be from 0"):
        config_module.load(profile)


DEEP = "[" * 50_000 + "]" * 50_000
GARBAGE = [
    (b'[ui]\ntheme = "\xff\xfe dark"\n', r"config.toml:2: ui.theme: the file is not UTF-8 text"),
    (b"# caf\xe9\n", r"config.toml:1: \(top level\): the file is not UTF-8 text"),
    (b'ui = "x"\n', r"config.toml:1: ui: must be a table"),
    (b"keymap = 5\n", r"config.toml:1: keymap: must be a table"),
    (b'team = ["a"]\n', r"config.toml:1: team: must be a table"),
    (b"accounts = 3\n", r"config.toml:1: accounts: must be a table of accounts"),
    (
        b"[ui]\nbell = true\ntheme = " + DEEP.encode() + b"\n",
        r"config.toml:3: ui.theme: nested too deeply",
    ),
    (
        b"[keymap]\nquit = " + DEEP.encode() + b"\n",
        r"config.toml:2: keymap.quit: nested too deeply",
    ),
    (b'[ui]\nbell = "yes"\n', r"config.toml:2: ui.bell: must be true or false"),
    (b"[ui]\nsync_interval = 1.5\n", r"config.toml:2: ui.sync_interval: must be a whole number"),
    (b"[ui]\nsync_interval = 0\n", r"config.toml:2: ui.sync_interval: must be from 1 to 86400"),
    (b"[ui]\nsync_interval = -30\n", r"config.toml:2: ui.sync_interval: must be from 1 to 86400"),
    (b"[keymap]\nquit = 5\n", r"config.toml:2: keymap.quit: must be a string of keys"),
    (
        b'[accounts.acme]\nconnector = "zendesk"\nurl = ["https://x"]\nuser = "u"\n',
        r"config.toml:3: accounts.acme.url: must be text in quotes",
    ),
]
GARBAGE_IDS = [
    "not-utf8",
    "not-utf8-comment",
    "ui-string",
    "keymap-number",
    "team-array",
    "accounts-number",
    "deep-ui",
    "deep-keymap",
    "bell-string",
    "interval-float",
    "interval-zero",
    "interval-negative",
    "keymap-number-value",
    "url-array",
]


@pytest.mark.parametrize(("raw", "expected"), GARBAGE, ids=GARBAGE_IDS)
def test_config_garbage_is_one_sentence_with_file_line_and_key(raw, expected):
    profile = current_profile().ensure()
    profile.config_file.write_bytes(raw)
    with pytest.raises(ConfigError, match=expected):
        config.load(profile)


@pytest.mark.parametrize(("raw", "expected"), GARBAGE, ids=GARBAGE_IDS)
def test_the_app_and_the_cli_show_the_config_sentence_and_exit_2(
    raw, expected, capsys, monkeypatch
):
    from agentdesk.cli import app as cli_app
    from agentdesk.cli import main

    def app_started(*args, **kwargs):  # a config let through would open the app: fail instead
        raise AssertionError("the app started with a broken config")

    monkeypatch.setattr(cli_app, "run_app", app_started)
    profile = current_profile().ensure()
    profile.config_file.write_bytes(raw)
    for argv in ([], ["sync", "--once"], ["accounts", "list"]):
        code = main(argv)
        err = capsys.readouterr().err
        assert code == 2, (argv, err)
        assert re.search(expected, err), (argv, err)
        assert "unexpected" not in err
        assert len(err.strip().splitlines()) == 1


def test_a_zero_sync_interval_from_the_environment_is_refused(monkeypatch):
    profile = current_profile().ensure()
    monkeypatch.setenv("AGENTDESK_SYNC_INTERVAL", "0")
    with pytest.raises(ConfigError, match="AGENTDESK_SYNC_INTERVAL: must be whole seconds from 1"):
        config.load(profile)


def test_the_team_console_reads_garbage_as_the_same_sentence():
    from agentdesk.supervisor.capacity import CapacityError, load_capacity

    profile = current_profile().ensure()
    for raw, expected in [
        (
            b"[team.capacity]\ndefault = \xff\n",
            r"config.toml:2: team.capacity.default: "
            "the file is not UTF-8",
        ),
        (
            b"[team]\ncapacity = " + DEEP.encode() + b"\n",
            r"config.toml:2: team.capacity: nested too deeply",
        ),
    ]:
        profile.config_file.write_bytes(raw)
        with pytest.raises(CapacityError, match=expected):
            load_capacity(profile.config_file)


def test_attachment_hosts_and_size_cap_are_read_and_checked():
    profile = current_profile().ensure()
    head = '[accounts.acme]\nconnector = "zendesk"\nurl = "https://x"\nuser = "u"\n'
    profile.config_file.write_text(
        head
        + 'attachment_hosts = ["Files.Acme.example", "*.cdn.example"]\n[ui]\nattachment_max_mb = 5\n'
    )
    loaded = config.load(profile)
    assert loaded.accounts["acme"].attachment_hosts == ("files.acme.example", "*.cdn.example")
    assert loaded.ui.attachment_max_mb == 5
    assert config.UiConfig().attachment_max_mb == 50
    for tail, problem in [
        (
            "attachment_hosts = [3]\n",
            r"config.toml:5: accounts.acme.attachment_hosts: must be a list",
        ),
        ("[ui]\nattachment_max_mb = 0\n", r"config.toml:6: ui.attachment_max_mb: must be from 1"),
    ]:
        profile.config_file.write_text(head + tail)
        with pytest.raises(ConfigError, match=problem):
            config.load(profile)
