"""Write (or, with --check, compare) helm/platform/values.schema.json and
helm/code-location/values.schema.json from the models."""

from __future__ import annotations

import argparse
import sys

from .generate import CHARTS, HELM_DIR, render


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m chart_schema", description=__doc__)
    parser.add_argument("--check", action="store_true", help="fail if a committed schema differs from the models")
    args = parser.parse_args()
    stale = []
    for chart in CHARTS:
        path = HELM_DIR / chart / "values.schema.json"
        text = render(chart)
        if args.check:
            if path.read_text() != text:
                stale.append(str(path))
        else:
            path.write_text(text)
    if stale:
        print(f"stale (run `make schemas`): {', '.join(stale)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
