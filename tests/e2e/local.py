#!/usr/bin/env python3
"""The end-to-end run on a real single-node Kubernetes built on this machine (no registry needed).

    python tests/e2e/local.py plan   # print every step, in order (no side effects)
    python tests/e2e/local.py run    # execute them; the cluster is always torn down at the end

The cluster is tests/e2e/cluster/cluster.sh (upstream binaries built from their Go modules, run in
one privileged container); the run is tests/e2e/harness.py, the same one kind uses.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness import LocalCluster, main

if __name__ == "__main__":
    sys.exit(main(LocalCluster(), sys.argv[1:], __doc__ or ""))
