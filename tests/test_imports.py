"""The import graph of the project's own modules: the engine never reaches the UI, no
two modules import each other (directly or round a loop, ``TYPE_CHECKING`` imports
included), and importing ``app`` or the drafter registry does no work (no model is
loaded, no drafter module is imported)."""
from __future__ import annotations

import pytest

import ast
import subprocess
import sys
from pathlib import Path

import networkx as nx

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("racer", "components")


def in_fresh_interpreter(probe: str) -> None:
    """Runs ``probe`` in a new Python (nothing imported yet) in the repository; it must pass."""
    done = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(path: Path) -> set[str]:
    """Every project module ``path`` imports, wherever in the file: a deferred import
    still makes a cycle at run time, and one under ``if TYPE_CHECKING:`` is a seam in the
    wrong place (the type belongs lower down, where both sides can import it)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                package = module_name(path) if path.name == "__init__.py" else module_name(path).rpartition(".")[0]
                base = ".".join(package.split(".")[:len(package.split(".")) - node.level + 1] + ([base] if base else []))
            # ``from . import measure`` names a module; ``from .errors import X`` its module
            found |= ({base} if node.module else set()) | {f"{base}.{a.name}" for a in node.names}
    return found


def project_graph() -> nx.DiGraph:
    files = {module_name(p): p for pkg in PACKAGES for p in (ROOT / pkg).rglob("*.py")}
    files["app"] = ROOT / "app.py"
    graph = nx.DiGraph()
    graph.add_nodes_from(files)
    for name, path in files.items():
        for target in imports_of(path):
            if target in files and target != name:
                graph.add_edge(name, target)
    return graph


def test_the_engine_imports_no_ui():
    for path in (ROOT / "racer").rglob("*.py"):
        bad = {m for m in imports_of(path) if m.split(".")[0] in ("components", "app", "gradio", "plotly")}
        assert not bad, f"{path.name} imports {bad}"


def test_no_import_cycle():
    cycles = list(nx.simple_cycles(project_graph()))
    assert not cycles, f"import cycles: {cycles[:5]}"


def test_the_cycle_check_sees_type_checking_imports(tmp_path):
    """The check above would catch a loop closed only for the type checker."""
    module = tmp_path / "m.py"
    module.write_text("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from racer.engine.settings import Settings\n")
    assert "racer.engine.settings" in imports_of(module)


def test_folders_by_concept():
    """``ls racer/`` reads as the design's table of contents: a few top-level modules and
    one package per concept, each package no more than a dozen modules."""
    packages = sorted(p.name for p in (ROOT / "racer").iterdir() if (p / "__init__.py").exists())
    assert packages == ["bench", "drafting", "engine", "inspect", "measure", "model"]
    assert len(list((ROOT / "racer").glob("*.py"))) <= 6
    assert all(len(list((ROOT / "racer" / p).glob("*.py"))) <= 12 for p in packages)


@pytest.mark.slow  # seconds, not milliseconds: make test, not test-fast
def test_importing_the_registry_imports_no_drafter():
    """The registry is one written-out table; a drafter's module is imported only when a
    drafter is made."""
    probe = ("import sys, racer.drafting.registry as r, racer.engine.settings\n"
             "assert 'racer.drafting.drafters' not in sys.modules, 'drafters imported'\n"
             "assert len(r.REGISTRY) == 8\n"
             "d = r.make_drafter('retrieval', 48)\n"
             "assert type(d).__name__ == 'RacerDrafter' and not d.use_logits\n")
    in_fresh_interpreter(probe)


@pytest.mark.slow  # seconds, not milliseconds: make test, not test-fast
def test_importing_app_loads_no_model():
    """``import app`` with every way of loading weights made to fail: it still imports."""
    probe = ("import transformers, racer.model.loading\n"
             "def refuse(*a, **k): raise AssertionError('import app loaded a model')\n"
             "racer.model.loading.load_model = refuse\n"
             "transformers.AutoModelForCausalLM.from_pretrained = refuse\n"
             "import app\n"
             "assert callable(app.build_app)\n")
    in_fresh_interpreter(probe)
