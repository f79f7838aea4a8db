"""What `make install` puts in the venv: the lock, installed --no-deps, leaves out optional extras whose
import cost every process would pay (scripts/lock-drop.awk, the Makefile's LOCK_DROP)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _lock_drop() -> list[str]:
    (line,) = [ln for ln in (ROOT / "Makefile").read_text().splitlines() if ln.startswith("LOCK_DROP :=")]
    return line.split(":=", 1)[1].split()


def test_the_lock_leaves_out_the_dropped_extras():
    pinned = re.findall(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==", (ROOT / "requirements.lock").read_text(), re.M)
    assert _lock_drop() == ["rfc3987-syntax", "lark"]
    assert {"jsonschema", "nbformat", "papermill"} <= set(pinned)
    assert not set(_lock_drop()) & set(pinned)


def test_lock_drop_removes_a_package_block_and_keeps_the_rest(tmp_path):
    lock = tmp_path / "lock"
    lock.write_text(
        "# header\n#\nalpha==1 \\\n    --hash=sha256:aa\n    # via -r requirements.txt\n"
        "lark==1.3.1 \\\n    --hash=sha256:bb\n    # via rfc3987-syntax\n"
        "zeta==2 \\\n    --hash=sha256:cc\n    # via alpha\n"
    )
    out = subprocess.run(
        ["awk", "-v", "drop=rfc3987-syntax lark", "-f", str(ROOT / "scripts" / "lock-drop.awk"), str(lock)],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    assert out == (
        "# header\n#\nalpha==1 \\\n    --hash=sha256:aa\n    # via -r requirements.txt\n"
        "zeta==2 \\\n    --hash=sha256:cc\n    # via alpha\n"
    )


def test_importing_nbformat_does_not_build_the_iri_grammar():
    """nbformat imports jsonschema, which imports rfc3987_syntax when it is installed (3.7 s of CPU)."""
    code = "import sys, nbformat, papermill; print(sorted(m for m in ('rfc3987_syntax', 'lark') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
