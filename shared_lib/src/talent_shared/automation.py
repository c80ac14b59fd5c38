"""Automation conditions: stale means an input's data version changed or the code changed.

Built from ``eager()``'s parts with two changes:

* its trigger "any dependency updated" becomes "any dependency's *data version* changed (in a run
  that did not also update this asset)", so re-materializing an unchanged upstream is a no-op
  downstream (plain ``eager()`` fires on every upstream materialization, dagster#22850);
* it forgets the "initial evaluation" reset of ``since_last_handled``: a record that landed before
  the location's automation sensor first ran must still be processed, not silently treated as
  handled.

``code_version_changed()`` re-runs what a deploy changed. Nothing here looks at the clock.
"""

from __future__ import annotations

import dagster as dg

AC = dg.AutomationCondition


def automation_sensor(location: str, target: dg.AssetSelection) -> dg.AutomationConditionSensorDefinition:
    """A location's own automation sensor, running by default (Dagster's default one starts stopped)."""
    from talent_shared.settings import get_settings

    return dg.AutomationConditionSensorDefinition(
        f"{location}_automation",
        target=target,
        default_status=dg.DefaultSensorStatus.RUNNING,
        minimum_interval_seconds=get_settings().sensor_interval_seconds,
    )


def input_or_code_changed() -> dg.AutomationCondition:
    newly_missing = AC.missing().newly_true().with_label("newly_missing")
    # a parent updated by the same run that also updated this asset has been consumed already
    input_changed = AC.any_deps_match(
        (AC.data_version_changed() & ~AC.executed_with_root_target()) | AC.will_be_requested()
    ).with_label("input_data_version_changed")
    handled = (AC.newly_requested() | AC.newly_updated()).with_label("handled")
    ready = ~AC.any_deps_missing() & ~AC.any_deps_in_progress() & ~AC.in_progress()
    return ((newly_missing | input_changed).since(handled) & ready | AC.code_version_changed()).with_label(
        "input_or_code_changed"
    )
