"""The fast lane on both cores: two pytest processes, each over a share of the test files,
their reports printed one after the other; it fails when either fails.

    python -m tests.lanes -m "not real_model and ..."   (``make test-fast``, and ``make test``'s first part)

The tiny models run on one thread each (``tests/conftest.py``), so on these 2-core
machines a single pytest leaves a core idle. The shares are split by file, from the fast
lane's measured times (2026-12-06, quiet): test_generation.py and test_sampling.py took
32 s of its 60, every other file together 28 s. A file added later goes to the second share, with the doctests.
Each process collects on its own (about 7 s). Only tiny-model tests are split (the fast
lane, and in ``make test`` its slow tests too): the real-model and browser lanes time
things, and two processes would slow each other's timings.
"""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FIRST = ("tests/test_generation.py", "tests/test_sampling.py")
DOCTESTS = ("racer", "components")   # pytest.ini's other testpaths: the docstring examples
NO_TESTS = 5   # pytest's exit code when a share's files hold no selected test


def shares() -> tuple[list[str], list[str]]:
    files = sorted(str(p.relative_to(ROOT)) for p in (ROOT / "tests").glob("test_*.py"))
    missing = set(FIRST) - set(files)
    assert not missing, f"tests/lanes.py names files that are gone: {sorted(missing)}"
    return list(FIRST), [f for f in files if f not in FIRST] + list(DOCTESTS)


def main(args: list[str]) -> int:
    runs = [subprocess.Popen([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *args, *files],
                             cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
            for files in shares()]
    codes = []
    for n, run in enumerate(runs, start=1):
        out, _ = run.communicate()
        print(f"--- share {n} of {len(runs)} ---\n{out.rstrip()}", flush=True)
        codes.append(run.returncode)
    failed = [c for c in codes if c not in (0, NO_TESTS)]
    return failed[0] if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
