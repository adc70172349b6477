"""`python -m shanraq_core`: the package's main job (see demo.py)."""

from shanraq_core.demo import main

raise SystemExit(main())
