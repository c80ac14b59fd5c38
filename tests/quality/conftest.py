"""The quality tests run the labelled sets through ``benchmarks.quality``, which is not installed:
the repository's root goes at the end of ``sys.path`` (after the standard library and the venv),
so the tests import it however pytest is started."""

import sys
from pathlib import Path

ROOT = str(Path(__file__).resolve().parents[2])
if ROOT not in sys.path:
    sys.path.append(ROOT)
