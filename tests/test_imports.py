"""The import graph of the project's own modules: the engine never reaches the UI, no
two modules import each other (directly or round a loop), and importing ``app`` does no
work (no model is loaded)."""
from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import networkx as nx

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("racer", "components")


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(path: Path) -> set[str]:
    """Every project module ``path`` imports, wherever in the file (a deferred import
    still makes a cycle at run time), except under ``if TYPE_CHECKING:``."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    skipped = {id(n) for node in ast.walk(tree) if isinstance(node, ast.If)
               and "TYPE_CHECKING" in ast.unparse(node.test) for n in ast.walk(node)}
    package = module_name(path) if path.name == "__init__.py" else module_name(path).rpartition(".")[0]
    found = set()
    for node in ast.walk(tree):
        if id(node) in skipped:
            continue
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
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


def test_importing_app_loads_no_model():
    """``import app`` with every way of loading weights made to fail: it still imports."""
    probe = ("import transformers, racer.loading\n"
             "def refuse(*a, **k): raise AssertionError('import app loaded a model')\n"
             "racer.loading.load_model = refuse\n"
             "transformers.AutoModelForCausalLM.from_pretrained = refuse\n"
             "import app\n"
             "assert callable(app.build_app)\n")
    done = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
