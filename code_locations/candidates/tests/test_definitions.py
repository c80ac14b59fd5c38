"""The candidates location: its definitions, and its assets run on a real database."""

from typing import ClassVar

import talent_candidates.defs
from talent_candidates.definitions import defs
from talent_shared.testing import EntityLocationSuite


class TestDefinitions(EntityLocationSuite):
    defs = defs
    defs_folder = talent_candidates.defs
    entity = "candidate"
    partitions = "candidates"
    keys = ("raw_candidates", "normalized_candidates", "candidate_vectors")
    vectors_table = "candidate_vectors"
    record: ClassVar[dict] = {
        "id": "c-1",
        "name": "Chen Wei",
        "headline": "ICU Nurse",
        "resume_text": "RN with 6 years in intensive care: IV therapy, ACLS, BLS.",
        "skills": ["Critical Care"],
        "years_experience": 6,
    }
