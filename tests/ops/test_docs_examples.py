"""
The operations guide's examples, run: each ``ExecStart`` that restricts ``--allow-ip``
is parsed by the real ``twistd fmzokx`` options and checked with the real access policy,
so the page cannot again lock out its own Prometheus scrape and ``fmzokx-call``.
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest

from fmzokx.fmz.access import AccessPolicy
from fmzokx.tap import Options

OPERATIONS = Path(__file__).resolve().parents[2] / "docs" / "operations.rst"
TOKEN = "docs-example-token-0123456789"


def exec_starts() -> list[str]:
    """Every non-empty ``ExecStart=`` command of the page, continuation lines joined."""
    text = OPERATIONS.read_text(encoding="utf-8").replace("\\\n", " ")
    return [
        match.group(1).strip()
        for match in re.finditer(r"(?m)^\s*ExecStart=(.+)$", text)
        if match.group(1).strip()
    ]


def fmzokx_arguments(command: str, token_file: Path) -> list[str]:
    """The arguments after ``fmzokx`` in a twistd command, with systemd's %d filled in."""
    words = shlex.split(command)
    arguments = words[words.index("fmzokx") + 1 :]
    return [word.replace("%d/token", str(token_file)) for word in arguments]


def restricted_examples() -> list[str]:
    return [command for command in exec_starts() if "--allow-ip" in command]


def test_the_page_has_a_restricted_example() -> None:
    """The test below has something to check (the page was found and parsed)."""
    assert len(exec_starts()) >= 2
    assert restricted_examples()


@pytest.mark.parametrize("command", restricted_examples())
def test_allow_ip_example_keeps_local_scrape_and_fmzokx_call(
    command: str, tmp_path: Path
) -> None:
    token_file = tmp_path / "token"
    token_file.write_text(TOKEN + "\n", encoding="utf-8")
    options = Options()
    options.parseOptions(fmzokx_arguments(command, token_file))
    policy = AccessPolicy.from_options(options["allow-ip"], options["token"])
    label = f"OKX-{TOKEN}" if options["token"] else "OKX"
    for local in ("127.0.0.1", "::1"):
        # Prometheus on this machine: /metrics and /healthz follow the IP rule.
        assert policy.check_peer(local).allowed, (local, command)
        # fmzokx-call on this machine, with the token in its --url when one is set.
        assert policy.check(local, label).allowed, (local, command)
    # The remote network the example is about still gets in...
    assert policy.check("10.1.2.3", label).allowed
    assert policy.check_peer("10.1.2.3").allowed
    # ...and nobody else does.
    assert not policy.check("192.0.2.7", label).allowed
    assert not policy.check_peer("192.0.2.7").allowed


QUICKSTART = OPERATIONS.with_name("quickstart.rst")
DOCS = OPERATIONS.parent


def code_lines(page: Path) -> list[str]:
    """The lines of the page's literal blocks (indented lines after a ``::``)."""
    lines: list[str] = []
    inside = False
    for line in page.read_text(encoding="utf-8").splitlines():
        if line.rstrip().endswith("::"):
            inside = not line.lstrip().startswith("..")  # a directive is no literal block
            continue
        if inside and line and not line.startswith(" "):
            inside = False
        if inside and line.strip():
            lines.append(line.strip())
    return lines


def test_quickstart_commands_can_be_pasted_as_they_are() -> None:
    """
    Every command of the quick start runs from the directory it was installed in: the
    programs are the virtual environment's (.venv/bin/), which is not on PATH, and the
    page says that fmzokx-call goes in a second terminal (twistd -n holds the first).
    """
    programs = []
    for line in code_lines(QUICKSTART):
        for command in re.split(r"&&|;", line.rstrip("\\")):
            words = [word for word in shlex.split(command) if "=" not in word.split("/")[0]]
            if words:
                programs.append((words[0], line))
    assert {"twistd", "fmzokx-call", "pip", "tox"} <= {
        Path(program).name for program, _ in programs
    }
    for program, line in programs:
        assert program == "python3" or program.startswith(".venv/bin/"), (program, line)
    text = " ".join(QUICKSTART.read_text(encoding="utf-8").split())
    assert "in a second terminal" in text


def test_long_code_lines_wrap_in_the_built_docs() -> None:
    """Sphinx ships docs/_static/custom.css, and it wraps code blocks and literals."""
    conf = (DOCS / "conf.py").read_text(encoding="utf-8")
    assert re.search(r'(?m)^html_static_path = \["_static"\]$', conf)
    css = (DOCS / "_static" / "custom.css").read_text(encoding="utf-8")
    rules = {
        selectors.strip(): body
        for selectors, body in re.findall(r"([^{}]+)\{([^}]*)\}", re.sub(r"/\*.*?\*/", "", css,
                                                                        flags=re.S))
    }
    pre = next(body for selectors, body in rules.items() if "div.highlight pre" in selectors)
    assert "white-space: pre-wrap" in pre and "overflow-wrap: anywhere" in pre
