"""Themes: Textual `Theme` objects (colours) plus `.tcss` files in `themes/` (rules per theme).

Widgets use `$variables` only, so any theme works. Shipped: agentdesk-dark, agentdesk-light,
agentdesk-high-contrast. User themes: `<config_dir>/themes/NAME.toml` with Theme colour keys
(primary, secondary, accent, foreground, background, surface, panel, warning, error, success,
dark = true/false); a broken file is skipped with a reason, never fatal.
"""

from __future__ import annotations

import tomllib
from pathlib import Path

from textual.theme import Theme

DARK = "agentdesk-dark"
LIGHT = "agentdesk-light"
HIGH_CONTRAST = "agentdesk-high-contrast"

BUILTIN_THEMES: tuple[Theme, ...] = (
    Theme(
        name=DARK,
        primary="#5FA8D3",
        secondary="#C792EA",
        accent="#62D0A8",
        foreground="#E3E6EA",
        background="#15181C",
        surface="#1C2026",
        panel="#262B33",
        warning="#E5B567",
        error="#F27D85",
        success="#8FD18B",
        dark=True,
        # Textual's default is "auto 60%", which a list's row styles cannot resolve: a
        # concrete colour that keeps 4.5:1 on the surface, the panel and the cursor row.
        variables={"text-muted": "#A9AEB5"},
    ),
    Theme(
        name=LIGHT,
        primary="#1F5F99",
        secondary="#7A3E9D",
        accent="#0B6E55",
        foreground="#1B1F24",
        background="#F7F7F5",
        surface="#FFFFFF",
        panel="#E6E8EB",
        warning="#8A5100",
        error="#B3261E",
        success="#1E6B34",
        dark=False,
        variables={"text-muted": "#545B64"},
    ),
    Theme(
        name=HIGH_CONTRAST,
        primary="#FFFF00",
        secondary="#00FFFF",
        accent="#FFFFFF",
        foreground="#FFFFFF",
        background="#000000",
        surface="#000000",
        panel="#333333",
        warning="#FFD700",
        error="#FF5555",
        success="#00FF66",
        dark=True,
        variables={"text-muted": "#DDDDDD"},
    ),
)
THEME_KEYS = {
    "primary", "secondary", "accent", "foreground", "background", "surface", "panel",
    "warning", "error", "success", "boost",
}


def themes_css_dir() -> Path | None:
    """The shipped `themes/` directory (package data `agentdesk.themes` once installed)."""
    try:
        import agentdesk.themes as package  # type: ignore[import-not-found]

        return Path(next(iter(package.__path__)))
    except ImportError:
        here = Path(__file__).resolve().parents[2] / "themes"
        return here if here.is_dir() else None


def theme_css_paths(config_dir: Path | None) -> list[Path]:
    """Every theme `.tcss` file: shipped ones first, then the user's (which may override)."""
    paths: list[Path] = []
    shipped = themes_css_dir()
    if shipped is not None:
        paths += sorted(shipped.glob("*.tcss"))
    if config_dir is not None and (Path(config_dir) / "themes").is_dir():
        paths += sorted((Path(config_dir) / "themes").glob("*.tcss"))
    return paths


def load_user_themes(config_dir: Path | None) -> tuple[list[Theme], list[str]]:
    """(themes, problems) from `<config_dir>/themes/*.toml`."""
    if config_dir is None:
        return [], []
    directory = Path(config_dir) / "themes"
    if not directory.is_dir():
        return [], []
    themes: list[Theme] = []
    problems: list[str] = []
    for path in sorted(directory.glob("*.toml")):
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
            problems.append(f"{path}: {exc}")
            continue
        unknown = set(data) - THEME_KEYS - {"dark", "name"}
        if unknown or "primary" not in data:
            problems.append(f"{path}: needs primary; unknown keys: {', '.join(sorted(unknown))}")
            continue
        try:
            colours = {k: str(v) for k, v in data.items() if k in THEME_KEYS}
            theme = Theme(
                name=str(data.get("name", path.stem)), dark=bool(data.get("dark", True)), **colours
            )
            # Resolve the colours now so a typo is reported here, not at switch time.
            theme.to_color_system()
        except Exception as exc:  # noqa: BLE001 - Textual raises several types for bad colours
            problems.append(f"{path}: {exc}")
            continue
        themes.append(theme)
    return themes, problems
