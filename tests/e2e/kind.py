#!/usr/bin/env python3
"""The end-to-end run on kind (tests/e2e/kind/kind.sh), with the node image TALENT_KIND_NODE names:
``auto`` (default: official where Docker has or can pull kindest/node, else local), ``official``
(kindest/node and the official Python base, for a machine with internet) or ``local`` (both built
on this machine, which needs no image registry).

    python tests/e2e/kind.py plan                   # print every step, in order (no side effects)
    python tests/e2e/kind.py run [pytest options]   # run them: pytest on tests/e2e/test_e2e.py

`make e2e` runs it (`make e2e E2E_ARGS="--keep-cluster"`, `E2E_ARGS="--reuse-cluster -k webhook"`);
the steps are tests/e2e/harness.py's, the cluster is always deleted at the end unless kept.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness import KindCluster, main

if __name__ == "__main__":
    sys.exit(main(KindCluster(), sys.argv[1:], __doc__ or ""))
