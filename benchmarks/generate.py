"""Benchmark: how fast the demo generator writes landing batches.

Prints contacts per second, files written, bytes and peak memory for one run. The
target (issue: 1,000,000 contacts with about 20 engagement events each in minutes on
two cores) lives here, never in a timed unit test.

    .venv/bin/python benchmarks/generate.py --contacts 1000000
"""

import argparse
import resource
import shutil
import tempfile
import time
from pathlib import Path

from pipelines.lib.generate import default_anchor, generate


def main() -> None:
    """Run the generator once and print its figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--contacts", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()

    root = Path(tempfile.mkdtemp(prefix="clearlist-bench-"))
    try:
        started = time.perf_counter()
        generate(
            root / "landing",
            contacts=args.contacts,
            seed=args.seed,
            anchor=default_anchor(),
        )
        elapsed = time.perf_counter() - started
        files = [path for path in (root / "landing").rglob("*") if path.is_file()]
        size = sum(path.stat().st_size for path in files)
        peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(f"contacts           {args.contacts:>14,}")
        print(f"seconds            {elapsed:>14.1f}")
        print(f"contacts/second    {args.contacts / elapsed:>14,.0f}")
        print(f"files              {len(files):>14,}")
        print(f"MiB written        {size / 2**20:>14,.1f}")
        print(f"peak RSS MiB       {peak_mib:>14,.0f}")
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
