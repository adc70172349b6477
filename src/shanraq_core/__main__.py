"""``python -m shanraq_core``: the package's main job and its command lines.

``python -m shanraq_core bench [...]`` runs the benchmark harness
(harness/cli.py, docs/mainjob.md); ``python -m shanraq_core journal ...`` the
journal's command line (cli_journal.py, docs/durability.md);
``python -m shanraq_core cluster ...`` the high-availability operator commands
(replication/cli.py, docs/operations.md); ``python -m shanraq_core service ...``
the reference gateway and its load generator (service/cli.py, docs/service.md);
``python -m shanraq_core demo`` the
older latency-histogram demo (demo.py).
"""

from __future__ import annotations

import sys

USAGE = """usage: python -m shanraq_core {bench,journal,cluster,service,demo} [options]

  bench    simulate a market and measure latency and throughput at every stage
           against the platform's targets, then prove the run (--help for options)
  journal  inspect, verify, recover, replay, back up, restore or tail a journal
  cluster  status, promote, demote or verify a high-availability cluster
  service  run the reference gateway or its open-loop load generator
  demo     the latency-histogram demo
"""


def main(argv: list[str]) -> int:
    if not argv or argv[0] in ("-h", "--help"):
        sys.stdout.write(USAGE) if argv else sys.stderr.write(USAGE)
        return 0 if argv else 2
    command, rest = argv[0], argv[1:]
    if command == "bench":
        from shanraq_core.harness.cli import main as bench_main

        return bench_main(rest)
    if command == "journal":
        from shanraq_core.cli_journal import main as journal_main

        return journal_main(rest)
    if command == "cluster":
        from shanraq_core.replication.cli import main as cluster_main

        return cluster_main(rest)
    if command == "service":
        from shanraq_core.service.cli import main as service_main

        return service_main(rest)
    if command == "demo" and not rest:
        from shanraq_core.demo import main as demo_main

        return demo_main()
    sys.stderr.write(USAGE)
    sys.stderr.write(f"python -m shanraq_core: error: unknown command {' '.join(argv)!r}\n")
    return 2


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
