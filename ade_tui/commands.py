"""Command palette provider: every binding with an id that is active on the current screen."""

from __future__ import annotations

from collections.abc import Iterator
from functools import partial

from textual.binding import Binding
from textual.command import DiscoveryHit, Hit, Hits, Provider
from textual.dom import DOMNode
from textual.screen import Screen


def screen_actions(screen: Screen) -> Iterator[tuple[DOMNode, Binding, str, bool]]:
    """(node, binding, key display, enabled) for each id'd binding reachable from `screen`, once per action."""
    seen: set[tuple[int, str]] = set()
    for key, active in screen.active_bindings.items():
        binding = active.binding
        if not binding.id or not binding.description:
            continue
        marker = (id(active.node), binding.action)
        if marker in seen:
            continue
        seen.add(marker)
        yield active.node, binding, screen.app.get_key_display(binding), active.enabled


class BindingsProvider(Provider):
    """The palette face of the footer: run any action by name, see its key."""

    def _commands(self) -> Iterator[tuple[str, str, partial]]:
        for node, binding, key, enabled in screen_actions(self.screen):
            if not enabled:
                continue
            help_text = f"{key} · {binding.id}" + (f" — {binding.tooltip}" if binding.tooltip else "")
            yield binding.description, help_text, partial(self.app.run_action, binding.action, node)

    async def discover(self) -> Hits:
        for name, help_text, run in self._commands():
            yield DiscoveryHit(name, run, help=help_text)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for name, help_text, run in self._commands():
            score = max(matcher.match(name), matcher.match(help_text) * 0.8)
            if score > 0:
                yield Hit(score, matcher.highlight(name), run, text=name, help=help_text)
