"""Time every tinyalex op, forward and backward (``make bench``).

    python benchmarks/ops.py [--repeat 5] [--device cuda:0] [--no-memory] ...

Runs ``benchmarks/compare_torch.py`` on all its cases (see its docstring for the method and the
options): with PyTorch installed (``pip install '.[bench]'``) every op is put next to PyTorch's,
without it only tinyalex's times are printed. It measures; it asserts nothing.
"""

import sys

from compare_torch import main

if __name__ == "__main__":
    argv = sys.argv[1:]
    sys.exit(main(argv if "--case" in argv else ["--case", "all", *argv]))
