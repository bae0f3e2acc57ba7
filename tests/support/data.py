"""Where the tests' data files are (``tests/data``)."""

from pathlib import Path

DATA = Path(__file__).resolve().parents[1] / "data"
#: The three-wave RolloutPlan most rollout tests drive.
THREE_WAVES_PLAN = DATA / "plans" / "three-waves.yaml"
#: Kayenta's own judge test cases, as data (README beside it).
KAYENTA_SUITE = DATA / "kayenta" / "kayenta-suite.json"
