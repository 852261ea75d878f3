"""Make the repository's ``bench`` package importable: it is run as ``python -m bench`` from the
repository root and is not installed. (``pythonpath = ["."]`` in pytest's settings would do the same.)
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = str(Path(__file__).resolve().parents[2])
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)
