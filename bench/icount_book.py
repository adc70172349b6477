"""One batch through the matching engine, for instruction counts under
callgrind (repeatable whatever the machine's load):

    valgrind --tool=callgrind --toggle-collect='shanraq::book::MatchingEngine::process*' \\
        python bench/icount_book.py [--other OTHER_BOOK_SO]

processes exchange-core's fill (1,000 resting orders) and run (200,000
commands, bench/book_data.py) on one fresh engine of this build, or of
another build's book extension loaded in its place (as bench/percall_book.py
--ab does). Only process() is counted, so generating the workload (through
the per-call API) is not.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

if not __package__:
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.book_data import new_engine, workload
from bench.percall_book import load_other


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--other", metavar="OTHER_BOOK_SO")
    args = ap.parse_args()
    fill, run = workload(1, 1000)
    if args.other:
        make, fill, run = load_other(args.other, fill, run)
        e = make()
    else:
        e = new_engine(1, 1000)
        e.process(fill)
    e.process(run)


if __name__ == "__main__":
    main()
