"""The README's Python examples run as written, and the shapes they state hold."""

import ast
import pathlib
import re

README = pathlib.Path(__file__).parent.parent / "README.md"
BLOCKS = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)


def test_readme_python_blocks_run():
    assert BLOCKS, "README has no python example"
    for block in BLOCKS:
        exec(compile(block, str(README), "exec"), {})


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
