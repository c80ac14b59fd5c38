"""The jobs location: its definitions, and its assets run on a real database."""

from typing import ClassVar

import talent_jobs.defs
from talent_jobs.definitions import defs
from talent_shared.testing import EntityLocationSuite


class TestDefinitions(EntityLocationSuite):
    defs = defs
    defs_folder = talent_jobs.defs
    entity = "job"
    partitions = "jobs"
    keys = ("raw_jobs", "normalized_jobs", "job_vectors")
    vectors_table = "job_vectors"
    record: ClassVar[dict] = {
        "id": "j-1",
        "title": "Senior Backend Engineer",
        "description": "Python and Kubernetes on AWS, 5+ years.",
        "required_skills": ["Python"],
        "min_years_experience": 5,
        "remote": True,
    }
