"""Docs that fail the build when they lag: settings, CLI reference, hooks."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import pytest

from backstack.cli.reference import GENERATORS, render
from backstack.config import Settings
from backstack.core.hooks import specs
from backstack.core.hookspecs import Hooks

DOCS = Path(__file__).resolve().parents[1] / "docs"


@pytest.mark.parametrize("page", sorted(GENERATORS))
def test_generated_reference_is_current(page: str) -> None:
    text = (DOCS / page).read_text(encoding="utf-8")
    assert render(page, text) == text, f"docs/{page} is stale: run `make docs`"


@pytest.mark.parametrize("name", sorted(Settings.model_fields))
def test_every_setting_is_documented(name: str) -> None:
    assert Settings.model_fields[name].description, f"Settings.{name} has no description"
    assert f"| `{name}` |" in (DOCS / "settings.md").read_text(encoding="utf-8"), "run `make docs`"


def _sections(text: str) -> dict[str, str]:
    parts = re.split(r"^## (\S+)\s*$", text, flags=re.M)
    return dict(zip(parts[1::2], parts[2::2], strict=True))


@pytest.mark.parametrize(("name", "spec"), sorted(specs(Hooks).items()))
def test_every_hook_has_a_section_with_its_event_fields(name: str, spec: object) -> None:
    sections = _sections((DOCS / "hooks.md").read_text(encoding="utf-8"))
    assert name in sections, f"docs/hooks.md has no '## {name}' section"
    section = sections[name]
    event = spec.event  # type: ignore[attr-defined]
    assert f"`{event.__name__}`" in section
    for field in dataclasses.fields(event):
        assert f"| `{field.name}` |" in section, f"docs/hooks.md '## {name}' does not describe {field.name}"


def test_docs_pages_exist() -> None:
    for page in ("cli.md", "settings.md", "deploy.md", "observability.md", "hooks.md"):
        assert (DOCS / page).is_file(), page
    durability = (DOCS / "deploy.md").read_text(encoding="utf-8")
    assert "NORMAL" in durability and "FULL" in durability and "power loss" in durability


def test_security_page_names_tests_that_exist() -> None:
    """docs/security.md says which tests hold each promise: each must exist."""
    text = (DOCS / "security.md").read_text(encoding="utf-8")
    named = re.findall(r"`(tests/[\w/]+\.py)`", text)
    assert len(named) >= 8
    missing = [path for path in named if not (DOCS.parent / path).is_file()]
    assert not missing, f"docs/security.md names missing tests: {missing}"
