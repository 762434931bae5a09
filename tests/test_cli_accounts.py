"""`accounts add` and `accounts test` as a new agent meets them: no keyring, a silent server."""

from __future__ import annotations

import inspect
import json
import time

import pytest

from agentdesk.connectors import registry
from agentdesk.sim.server import start_in_thread
from tests.support.cli import NO_KEYRING, add_account, agentdesk


@pytest.fixture(scope="module")
def sim():
    with start_in_thread("zendesk", seed=5, scale=40) as handle:
        yield handle


def _add(sim, *flags: str, stdin: str = "", env: dict[str, str] | None = None):
    return agentdesk("accounts", "add", "sim1", "--connector", "zendesk", "--url", sim.base_url,
                     "--user", sim.user, *flags, stdin=stdin, env=env)


def _accounts() -> list[str]:
    done = agentdesk("accounts", "list", "--json")
    assert done.returncode == 0, done.stderr
    return [row["name"] for row in json.loads(done.stdout)]


@pytest.mark.parametrize("flags", [("--token-stdin",), ()])
def test_exported_token_satisfies_accounts_add_without_a_keyring(sim, flags):
    env = {**NO_KEYRING, "AGENTDESK_TOKEN_SIM1": sim.token}
    added = _add(sim, *flags, stdin=sim.token + "\n", env=env)
    assert added.returncode == 0, added.stderr
    assert "token in the environment (AGENTDESK_TOKEN_SIM1); nothing was stored" in added.stdout
    tested = agentdesk("accounts", "test", "sim1", "--json", env=env)
    assert tested.returncode == 0, tested.stderr
    assert json.loads(tested.stdout)["role"] == "admin"
    assert sim.token not in added.stdout + added.stderr + tested.stdout + tested.stderr


def test_token_on_stdin_without_a_keyring_names_every_choice_in_one_sentence(sim):
    refused = _add(sim, "--token-stdin", stdin=sim.token + "\n", env=NO_KEYRING)
    assert refused.returncode == 1
    (sentence,) = refused.stderr.strip().splitlines()
    assert sentence.startswith("agentdesk: no keyring is available to store the token for sim1:")
    for choice in ("export AGENTDESK_TOKEN_SIM1", "--token-command", "--plaintext-token"):
        assert choice in sentence
    assert _accounts() == []  # nothing half-added
    chosen = _add(sim, "--token-stdin", "--plaintext-token", stdin=sim.token + "\n",
                  env=NO_KEYRING)
    assert chosen.returncode == 0, chosen.stderr
    assert agentdesk("accounts", "test", "sim1", env=NO_KEYRING).returncode == 0


def test_prompt_that_gets_no_token_ends_in_one_sentence(sim):
    done = _add(sim)  # no --token-stdin: it prompts, and the input ends at once
    assert done.returncode == 2
    assert done.stderr.strip().splitlines()[-1] == (
        "agentdesk: no API token given: type it at the prompt, pipe it with --token-stdin, or use "
        "--token-command"
    )
    assert "EOFError" not in done.stderr and "unexpected" not in done.stderr
    assert _accounts() == []


def test_accounts_test_says_within_seconds_that_a_server_never_answers():
    with start_in_thread("zendesk", seed=5, scale=40, faults="timeout=1") as silent:
        add_account("sim1", silent)  # adding does not call the server
        started = time.monotonic()
        done = agentdesk("accounts", "test", "sim1", timeout=60)
        elapsed = time.monotonic() - started
    assert done.returncode == 1
    assert elapsed < 12, f"took {elapsed:.1f} s"
    (sentence,) = done.stderr.strip().splitlines()
    assert "cannot reach Zendesk" in sentence and "no answer" in sentence


@pytest.mark.parametrize("kind", sorted(registry.available()))
def test_every_connector_can_be_built_with_the_interactive_policy(kind):
    assert "policy" in inspect.signature(registry.get(kind)).parameters
