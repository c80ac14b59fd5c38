"""The candidates location: its pipeline as declared in `defs/pipeline/defs.yaml`, and its executor."""

from pathlib import Path

import dagster as dg

from talent_shared.compute import executor
from talent_shared.pipeline import load_pipeline

pipeline = load_pipeline(Path(__file__).parent / "defs" / "pipeline")

defs = dg.Definitions.merge(pipeline.definitions(), dg.Definitions(executor=executor()))
