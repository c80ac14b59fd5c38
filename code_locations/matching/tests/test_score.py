"""The score's parts: seniority fit works both ways, unknown experience is neutral, lexical counts."""

import numpy as np

from talent_matching.score import OVER, W_SENIORITY_TRAINEE, Side, pair_terms, score_block
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


def test_a_trainees_posting_weighs_the_level_more() -> None:
    """A journeyman shares more of an apprenticeship's words than the school leaver it is written
    for; on a trainee's posting (the intern level) a level mismatch takes more of the relevance,
    enough to put the school leaver first, while the same two on a junior posting keep their order."""
    closer = np.asarray([[1, 0, 0, 0]], np.float32)
    farther = np.asarray([[0.6, 0.8, 0, 0]], np.float32)
    cands = Side.build(
        ["c0", "c1"],
        ["c0", "c1"],
        np.vstack([closer, farther]),
        [_profile("Journeyman Millwright", "senior", 12), _profile("Finished school in June", "intern", 0)],
        np.vstack([closer, farther]),
        candidates=True,
    )
    jobs = Side.build(
        ["j0", "j1"],
        ["j0", "j1"],
        np.vstack([closer, closer]),
        [_profile("Millwright Apprentice", "intern", 0), _profile("Millwright Helper", "junior", 0)],
        np.vstack([closer, closer]),
    )
    comp = score_block(cands, jobs)
    assert comp.score[1, 0] > comp.score[0, 0]  # the apprenticeship: the school leaver first
    assert comp.score[0, 1] > comp.score[1, 1]  # a junior posting: the closer text still wins
    # the fit is the ordinary one (three levels over); what it takes is the trainee's share
    assert comp.seniority[0, 0] == 1 - 3 * OVER
    assert np.isclose(comp.score[0, 0], 1 - W_SENIORITY_TRAINEE * 3 * OVER, atol=1e-6)  # relevance 1: same words
