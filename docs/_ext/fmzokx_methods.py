"""
Sphinx directive ``.. fmzokx-methods::``: the protocol reference, generated from the
method registry so the documentation cannot drift from what the daemon dispatches.
"""

from __future__ import annotations

from typing import Any

from docutils import nodes
from docutils.statemachine import StringList
from sphinx.application import Sphinx
from sphinx.util.docutils import SphinxDirective


def method_reference() -> list[str]:
    """reStructuredText lines describing every registered method."""
    from fmzokx.fmz.methods import default_registry

    lines: list[str] = []
    for spec in default_registry().specs():
        lines += [f".. rubric:: ``{spec.name}``", "", spec.summary, ""]
        if spec.aliases:
            aliases = ", ".join(f"``{alias}``" for alias in spec.aliases)
            lines += [f"Also accepted as {aliases}.", ""]
        lines += [
            "Needs an API key." if spec.private else "Public: works with empty keys.",
            "",
        ]
        if spec.params:
            lines += ["Params:", ""]
            for param in spec.params:
                optional = "" if param.required else " (optional)"
                lines.append(f"- ``{param.name}``{optional}: {param.description}")
            lines.append("")
        if spec.data:
            lines += [f"``data``: {spec.data}", ""]
        if spec.okx:
            lines += [f"OKX: {spec.okx}", ""]
    return lines


class MethodsDirective(SphinxDirective):
    """Render the registry's methods as sections."""

    has_content = False

    def run(self) -> list[nodes.Node]:
        container = nodes.container()
        self.state.nested_parse(
            StringList(method_reference(), source="fmzokx-methods"), 0, container
        )
        return list(container.children)


def setup(app: Sphinx) -> dict[str, Any]:
    app.add_directive("fmzokx-methods", MethodsDirective)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
