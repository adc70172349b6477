"""`python -m shanraq_core`: the package's main job (see demo.py), and
`python -m shanraq_core journal ...`, the journal's command line
(cli_journal.py)."""

import sys

if sys.argv[1:2] == ["journal"]:
    from shanraq_core.cli_journal import main as journal_main

    raise SystemExit(journal_main(sys.argv[2:]))

from shanraq_core.demo import main

raise SystemExit(main())
