"""
tox's inline plugin for fmzokx (tox 4 loads ``toxfile.py`` from beside ``tox.ini``; nothing
to install).

It says two things tox.ini cannot:

- Where the interpreters are: the Python versions named in ``.python-version`` are also
  looked for in pyenv's versions directory (``$PYENV_ROOT``, else ``~/.pyenv``), so
  ``.venv/bin/tox`` finds all four even when pyenv's shims are not on ``PATH``. Any
  other ``python3.1x`` on ``PATH`` still counts.
- How strict to be: on a workstation a missing interpreter is skipped (tox prints
  ``SKIP`` for that environment); with ``CI=true`` every environment must run, so a CI
  machine without one of the four fails instead of passing on fewer Pythons.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from tox.config.sets import ConfigSet
from tox.plugin import impl
from tox.session.state import State

_VERSION = re.compile(r"^(\d+)\.(\d+)(?:\.\d+)?$")


def pyenv_interpreters(version_file: Path, pyenv_root: Path) -> list[str]:
    """The pyenv interpreters named in ``version_file`` that exist, as executables."""
    try:
        lines = version_file.read_text(encoding="utf-8").splitlines()
    except OSError:
        return []
    found = []
    for line in lines:
        name = line.split("#", 1)[0].strip()
        match = _VERSION.match(name)
        if match is None:
            continue
        executable = pyenv_root / "versions" / name / "bin" / f"python{match[1]}.{match[2]}"
        if executable.is_file() and os.access(executable, os.X_OK):
            found.append(str(executable))
    return found


@impl
def tox_add_core_config(core_conf: ConfigSet, state: State) -> None:
    options = state.conf.options
    root = Path(os.environ.get("PYENV_ROOT") or Path.home() / ".pyenv")
    extra = pyenv_interpreters(Path(core_conf["tox_root"]) / ".python-version", root)
    options.discover = [*(options.discover or []), *extra]
    if os.environ.get("CI", "").strip().lower() == "true":
        options.skip_missing_interpreters = "false"
