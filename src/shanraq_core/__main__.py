"""`python -m shanraq_core`: the package's main job (see demo.py), or a subcommand."""

import sys

if len(sys.argv) > 1 and sys.argv[1] == "cluster":
    from shanraq_core.replication.cli import main as cluster_main

    raise SystemExit(cluster_main(sys.argv[2:]))

from shanraq_core.demo import main

raise SystemExit(main())
