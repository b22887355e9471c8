"""The fast lane's two shares (``tests/lanes.py``) hold every test file and the doctests'
folders once each: splitting the lane never drops a file."""
from pathlib import Path

from tests import lanes

ROOT = Path(__file__).resolve().parent.parent


def test_the_two_shares_hold_every_test_file_once():
    first, second = lanes.shares()
    files = {str(p.relative_to(ROOT)) for p in (ROOT / "tests").glob("test_*.py")}
    assert sorted(first + second) == sorted(files | set(lanes.DOCTESTS))
    assert not set(first) & set(second) and "tests/test_lanes.py" in second
    assert set(lanes.DOCTESTS) | {"tests"} == set(
        (ROOT / "pytest.ini").read_text().split("testpaths =")[1].splitlines()[0].split())
