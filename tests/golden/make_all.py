#!/usr/bin/env python3
"""Runs every tests/golden/make_*.py script (regenerates all golden files)."""
import pathlib
import subprocess
import sys

here = pathlib.Path(__file__).resolve().parent
for script in sorted(here.glob("make_*.py")):
    if script.name == "make_all.py":
        continue
    print(f"== {script.name}", flush=True)
    subprocess.run([sys.executable, str(script)], check=True, cwd=here.parent.parent)
