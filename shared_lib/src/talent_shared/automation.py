"""Automation conditions: stale means an input's data version changed or the code changed.

Plain ``eager()`` fires on every upstream materialization, even one that produced the same data
version (dagster#22850). Replacing its ``any_deps_updated`` with a data-version test makes
re-materializing an unchanged upstream a no-op downstream, and ``code_version_changed()`` makes a
deploy that changes the logic re-run what it touched. Nothing here looks at the clock.
"""

from __future__ import annotations

import dagster as dg

AC = dg.AutomationCondition


def input_or_code_changed() -> dg.AutomationCondition:
    return (
        AC.eager().replace(
            "any_deps_updated",
            AC.any_deps_match(AC.data_version_changed() | AC.will_be_requested()),
        )
        | AC.code_version_changed()
    ).with_label("input_or_code_changed")
