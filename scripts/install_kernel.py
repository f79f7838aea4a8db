"""Register the project's Jupyter kernel `userops` inside the venv (sys.prefix).

The kernel logs only critical messages: its TCP-transport warning (loopback only, on the
analyst's own machine) would otherwise print on every notebook of every run.
"""

import json
import sys
from pathlib import Path

from ipykernel.kernelspec import install

path = Path(install(kernel_name="userops", display_name="Python (userops)", prefix=sys.prefix))
spec = json.loads((path / "kernel.json").read_text())
flag = "--IPKernelApp.log_level=CRITICAL"
if flag not in spec["argv"]:
    spec["argv"].append(flag)
(path / "kernel.json").write_text(json.dumps(spec, indent=1) + "\n")
print(f"kernel userops: {path}")
