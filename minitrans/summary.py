"""Counting parameters, in total and per module, to compare with the papers."""

import jax
from flax import nnx


def count_parameters(module: nnx.Module) -> int:
    return sum(x.size for x in jax.tree.leaves(nnx.state(module, nnx.Param)))


def parameter_table(module: nnx.Module, depth: int = 2) -> list[tuple[str, int]]:
    """(path prefix, count) rows, grouping parameters by the first `depth` parts of their path."""
    rows: dict[str, int] = {}
    for path, value in nnx.to_flat_state(nnx.state(module, nnx.Param)):
        key = ".".join(str(part) for part in path[:depth])
        rows[key] = rows.get(key, 0) + value.size
    return list(rows.items())


def parameter_count(module: nnx.Module, depth: int = 2, show: bool = True) -> int:
    """Print a per-module table of parameter counts and return the total."""
    rows = parameter_table(module, depth)
    total = sum(count for _, count in rows)
    if show:
        width = max([len(name) for name, _ in rows] + [5])
        print(f"{'module':<{width}}  {'parameters':>12}")
        for name, count in rows:
            print(f"{name:<{width}}  {count:>12,}")
        print(f"{'total':<{width}}  {total:>12,}")
    return total
