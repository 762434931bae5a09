"""Where a profile lives: config, store and logs.

`AGENTDESK_HOME=DIR` puts the whole profile under DIR (tests and throwaway demo profiles use
it); otherwise the platform's own directories (platformdirs) are used.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

APP_NAME = "agentdesk"


@dataclass(frozen=True, slots=True)
class Profile:
    config_dir: Path
    data_dir: Path
    log_dir: Path

    @property
    def config_file(self) -> Path:
        return self.config_dir / "config.toml"

    @property
    def store_file(self) -> Path:
        return self.data_dir / "agentdesk.db"

    @property
    def log_file(self) -> Path:
        return self.log_dir / "agentdesk.log"

    @property
    def secrets_dir(self) -> Path:
        """Only used when a user explicitly opts in to plain-text token storage."""
        return self.data_dir / "plaintext-tokens"

    def ensure(self) -> Profile:
        for directory in (self.config_dir, self.data_dir, self.log_dir):
            directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        return self


def current_profile() -> Profile:
    home = os.environ.get("AGENTDESK_HOME")
    if home:
        root = Path(home).expanduser().resolve()
        return Profile(config_dir=root / "config", data_dir=root / "data", log_dir=root / "logs")
    import platformdirs

    return Profile(
        config_dir=Path(platformdirs.user_config_dir(APP_NAME)),
        data_dir=Path(platformdirs.user_data_dir(APP_NAME)),
        log_dir=Path(platformdirs.user_log_dir(APP_NAME)),
    )
