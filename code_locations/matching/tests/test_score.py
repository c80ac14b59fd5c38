"""The score's parts: seniority fit works both ways, unknown experience is neutral, lexical counts."""

import numpy as np

from talent_matching.score import Side, pair_terms, score_block
from talent_shared.providers.base import Profile


def _side(profiles: list[Profile], *, candidates: bool, lexical: np.ndarray | None = None) -> Side:
    ids = [f"r{i}" for i in range(len(profiles))]
    vectors = np.tile(np.eye(1, 8, dtype=np.float32), (len(profiles), 1))  # identical texts
    return Side.build(ids, ids, vectors, profiles, lexical, candidates=candidates)


def _profile(title: str, seniority: str, years: float) -> Profile:
    return Profile(title=title, skills=["react", "typescript"], seniority=seniority, years_experience=years)  # type: ignore[arg-type]


JOBS = [_profile("Senior Frontend Engineer", "senior", 6), _profile("Junior Frontend Engineer", "junior", 0)]


def test_seniority_fit_points_both_ways() -> None:
    cands = [_profile("Frontend Lead", "senior", 9), _profile("Frontend Developer", "junior", 1)]
    comp = score_block(_side(cands, candidates=True), _side(JOBS, candidates=False))
    assert comp.score[0, 0] > comp.score[0, 1]  # the 9-year senior: the senior job first
    assert comp.score[1, 1] > comp.score[1, 0]  # the junior: the junior job first
    assert comp.seniority[0, 1] < 1 and comp.seniority[1, 0] < 1


def test_unknown_experience_is_neutral_not_junior() -> None:
    unknown = [_profile("I make web shops in React", "junior", 0)]
    side = _side(unknown, candidates=True)
    comp = score_block(side, _side(JOBS, candidates=False))
    assert comp.fit[0].tolist() == [1.0, 1.0] and comp.seniority[0].tolist() == [1.0, 1.0]
    assert comp.score[0, 0] == comp.score[0, 1]


def test_lexical_breaks_what_the_rest_cannot_tell_apart() -> None:
    lex = np.zeros((2, 4), np.float32)
    lex[0, 0], lex[1, 1] = 1.0, 1.0  # two postings identical but for their words
    jobs = _side([JOBS[0], JOBS[0]], candidates=False, lexical=lex)
    cand = _side([JOBS[0]], candidates=True, lexical=np.asarray([[0.0, 1.0, 0.0, 0.0]], np.float32))
    comp = score_block(cand, jobs)
    assert comp.score[0, 1] > comp.score[0, 0]
    overlap, _, lexical, _ = pair_terms(cand, jobs, np.array([0, 0]), np.array([0, 1]))
    assert lexical.tolist() == [0.0, 1.0] and np.allclose(overlap, comp.overlap[0])


def test_level_reorders_one_trade_but_cannot_lift_another() -> None:
    """Level and years gate the relevance: a job sharing nothing with the candidate scores 0 however
    well its level fits, and a level mismatch costs a relevant job a share of its relevance."""
    trade = _profile("Custodian", "junior", 0)
    other = Profile(title="Senior Hair Stylist", skills=["pastry"], seniority="senior", years_experience=5)
    jobs = Side.build(
        ["j0", "j1"],
        ["j0", "j1"],
        np.asarray([[1, 0, 0, 0], [0, 1, 0, 0]], np.float32),
        [trade, other],
        np.asarray([[1, 0], [0, 1]], np.float32),
    )
    cand = Side.build(
        ["c0"],
        ["c0"],
        np.asarray([[1, 0, 0, 0]], np.float32),
        [_profile("School janitor", "senior", 12)],
        np.asarray([[1, 0]], np.float32),
        candidates=True,
    )
    comp = score_block(cand, jobs)
    assert comp.seniority[0, 0] < 1 and comp.seniority[0, 1] == 1  # over-qualified for its own trade's job
    assert comp.score[0, 1] == 0.0 and comp.score[0, 0] > 0.5
