"""The local cluster package lives in ci/ (run as PYTHONPATH=ci python -m localcluster)."""

import sys
from pathlib import Path

CI = str(Path(__file__).resolve().parents[3] / "ci")
if CI not in sys.path:
    sys.path.insert(0, CI)
