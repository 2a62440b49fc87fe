#!/usr/bin/env python
"""Benchmark the streaming sampler; the same as `avatar-forcing bench` (see docs/benchmarks.md).

python benchmarks/bench_generator.py --preset small --blocks 50 --json bench.json
"""

from __future__ import annotations

import argparse
import logging
import sys

from plugin_server.cli import bench


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=bench.HELP)
    bench.add_arguments(parser)
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    return bench.run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
