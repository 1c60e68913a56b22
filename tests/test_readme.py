"""The README's Python examples (and docs/dask.md's) run as written, and
the shapes they state hold."""

import ast
import pathlib
import re

import pytest

ROOT = pathlib.Path(__file__).parent.parent
README = ROOT / "README.md"
BLOCKS = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)


@pytest.mark.parametrize("page", [README, ROOT / "docs" / "dask.md"], ids=lambda p: p.name)
def test_python_blocks_run(page):
    blocks = re.findall(r"```python\n(.*?)```", page.read_text(), flags=re.S)
    assert blocks, f"{page.name} has no python example"
    for block in blocks:
        exec(compile(block, str(page), "exec"), {})


def test_readme_stated_shapes_hold():
    """A line `expr.shape  # (a, b): ...` must evaluate to (a, b)."""
    checked = 0
    for block in BLOCKS:
        namespace = {}
        for line in block.splitlines():
            match = re.match(r"(.*\.shape)\s+#\s*(\([\d, ]+\))", line)
            if match:
                assert eval(match[1], namespace) == ast.literal_eval(match[2]), line
                checked += 1
            else:
                exec(line, namespace)
    assert checked >= 4
