"""The command line: ``python -m tinyalex COMMAND --help``."""

from __future__ import annotations

import argparse
import sys


def _gradcheck(args) -> int:
    from .gradcheck import check_all_ops

    worst = 0.0
    for name, result in check_all_ops(seed=args.seed).items():
        print(f"== {name}\n{result}\n")
        worst = max(worst, result.max_error)
    verdict = "ok" if worst <= args.tolerance else "FAILED"
    print(f"largest relative error: {worst:.2e} ({verdict}: the bar is {args.tolerance:g})")
    return 0 if worst <= args.tolerance else 1


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m tinyalex",
        description="AlexNet (Krizhevsky, Sutskever & Hinton, 2012) from scratch in NumPy/CuPy.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = commands.add_parser(
        "gradcheck",
        help="check every op's backward pass against finite differences (float64)",
        description="Gradient-check every op of tinyalex.functional on small float64 inputs "
        "and print the relative-error table of each.",
    )
    p.add_argument("--seed", type=int, default=0, help="seed of the random inputs (default 0)")
    p.add_argument("--tolerance", type=float, default=1e-6,
                   help="largest acceptable relative error (default 1e-6)")
    p.set_defaults(run=_gradcheck)
    return parser


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.run(args)
    except (ValueError, FileNotFoundError, RuntimeError) as error:
        parser.exit(2, f"{parser.prog} {args.command}: error: {error}\n")


if __name__ == "__main__":
    sys.exit(main())
