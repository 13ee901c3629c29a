"""The package's layering, read off its source with `ast` (every import statement, also those inside
functions, so that a lazy import counts): the POVM layer is plain NumPy, figures read result tables and
draw no network code, and the result tables do not depend on the figures."""

import ast
from pathlib import Path

import pytest

import lindblad_nqs

ROOT = Path(lindblad_nqs.__file__).parent
PKG = "lindblad_nqs"


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(path: Path) -> set[str]:
    """Absolute names of every module `path` imports; `from X import y` also counts X.y (y may be a
    submodule), and importing a.b.c imports the packages a and a.b too."""
    name = module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    out = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                mod = ".".join(base + ([node.module] if node.module else []))
            else:
                mod = node.module
            out.add(mod)
            out |= {f"{mod}.{a.name}" for a in node.names}
    closed = set()
    for m in out:
        parts = m.split(".")
        closed |= {".".join(parts[: i + 1]) for i in range(len(parts))}
    return closed


GRAPH = {module_name(p): imports_of(p) for p in ROOT.rglob("*.py")}


def reachable(start: str) -> set[str]:
    """Every module (inside the package or not) that importing `start` may import."""
    seen, todo = set(), [start]
    while todo:
        m = todo.pop()
        if m in seen:
            continue
        seen.add(m)
        todo += [d for d in GRAPH.get(m, ()) if d not in seen]
    return seen - {start}


def modules_under(prefix: str) -> list[str]:
    return sorted(m for m in GRAPH if m == prefix or m.startswith(prefix + "."))


def test_the_graph_is_read():
    """The parser sees the package's own known arrows (a test of the test)."""
    assert "torch" in reachable(f"{PKG}.povm_solvers.costs")
    assert f"{PKG}.operators.table" in reachable(f"{PKG}.povm.lindbladian")
    assert f"{PKG}.nets.transformer" in reachable(f"{PKG}.solvers.transformer")


FORBIDDEN = [(f"{PKG}.povm", "torch"), (f"{PKG}.operators.table", "torch"), (f"{PKG}.operators.table", "jax"),
             (f"{PKG}.figures", f"{PKG}.nets"), (f"{PKG}.results", f"{PKG}.figures"),
             (f"{PKG}.review", f"{PKG}.figures")]


@pytest.mark.parametrize("layer,target", FORBIDDEN,
                         ids=lambda v: v.removeprefix(f"{PKG}.") if isinstance(v, str) else None)
def test_no_forbidden_arrow(layer, target):
    bad = {m: sorted(d for d in reachable(m) if d == target or d.startswith(target + "."))
           for m in modules_under(layer)}
    bad = {m: d for m, d in bad.items() if d}
    assert modules_under(layer), f"no module {layer}"
    assert not bad, f"{layer} reaches {target}: {bad}"
