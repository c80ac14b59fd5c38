"""Corpus-free word weights and trade-blind seniority: what issue 22's matcher reads from any trade."""

import numpy as np

from talent_shared import lexical
from talent_shared.prompts import Prompt
from talent_shared.providers.local import LocalLLM, _seniority, first_sentence


def test_a_trade_word_weighs_more_than_boilerplate() -> None:
    assert lexical.rarity("journeyman") > 2 * lexical.rarity("experience")
    assert lexical.rarity("balayage") > lexical.rarity("hair") > lexical.rarity("the")
    # a shared rare word moves the cosine more than a shared common one
    base = lexical.vector("balayage colour cuts salon manage")
    assert float(base @ lexical.vector("balayage")) > float(base @ lexical.vector("manage"))


def test_inflections_and_table_spellings_meet() -> None:
    assert lexical.terms("nurses") == lexical.terms("nursing")
    assert lexical.terms("Journeyman Linemen") == lexical.terms("journeyman lineworker")
    assert lexical.terms("k8s") == lexical.terms("Kubernetes")


def test_a_vector_depends_on_its_own_text_only() -> None:
    """No corpus statistics: the same text gives the same bits whatever was vectorised before."""
    first = lexical.vector("Wind turbine technician, GWO, hydraulics")
    for other in ("Dairy herd manager", "Senior hair stylist, balayage", "TIG welder"):
        lexical.vector(other)
    assert np.array_equal(first, lexical.vector("Wind turbine technician, GWO, hydraulics"))


def test_the_hashed_vector_estimates_the_cosine_of_the_term_weights() -> None:
    """The stored vector is ``term_weights`` signed-hashed into buckets: with buckets to spare, the
    dot product is the exact cosine of the weights; with the stored 512 it is off by collisions."""
    a = "Journeyman carpenter: framing, formwork, trusses, stairs; reads plans and runs a crew of two"
    b = "Frame walls, set trusses, build and strip concrete formwork, hang doors from plans"
    wa, wb = lexical.term_weights(a), lexical.term_weights(b)
    exact = sum(w * wb[t] for t, w in wa.items() if t in wb) / np.sqrt(
        sum(w * w for w in wa.values()) * sum(w * w for w in wb.values())
    )
    assert 0.1 < exact < 0.9  # they share some words, not all
    wide = float(lexical.vector(a, 1 << 24) @ lexical.vector(b, 1 << 24))
    assert abs(wide - exact) < 1e-6
    assert lexical.vector(a).shape == (lexical.DIM,)
    nothing_shared = lexical.vector("balayage colour salon", 1 << 24) @ lexical.vector("forklift warehouse", 1 << 24)
    assert float(nothing_shared) == 0.0


def test_seniority_from_any_trades_words() -> None:
    assert _seniority("Apprentice Lineworker", 0) == "intern"
    assert _seniority("Journeyman Lineman", 2) == "mid"  # a journeyman is at least mid ...
    assert _seniority("Journeyman Lineman", 9) == "senior"  # ... and the years can say more
    # the trades' ladder: apprentice < journeyman < foreman < general foreman, superintendent
    assert _seniority("Shop Foreman", 20) == "senior"
    assert _seniority("General Foreman", 15) == "lead"
    assert _seniority("Site Superintendent", 10) == "lead"
    assert _seniority("Sous Chef", 3) == "senior"
    assert _seniority("Charge Nurse", 6) == "lead"
    assert _seniority("Kennel Assistant", 0) == "junior"


def test_a_trainee_word_outranks_the_role_it_qualifies() -> None:
    assert _seniority("Apprentice Funeral Director", 0) == "intern"  # not "principal"
    assert _seniority("Management Trainee", 0) == "intern"  # not "lead"
    assert _seniority("Funeral Director", 3) == "principal"
    assert _seniority("Director of Student Services", 12) == "principal"  # "student" is no rank here


def test_software_words_do_not_leak_into_other_trades() -> None:
    assert _seniority("Staff Photojournalist", 2) == "junior"  # not "principal"
    assert _seniority("Staff Engineer", 10) == "principal"
    assert _seniority("Paralegal, pleading and discovery", 4) == "mid"  # "lead" is not in "pleading"


def test_a_school_leaver_is_entry_level_not_unknown() -> None:
    text = "Graduated high school in June. Took every shop class I could."
    assert _seniority("Graduated high school in June", 0, text) == "intern"
    assert _seniority("Warehouse worker", 0, "I move boxes.") == "junior"  # no evidence: the default


def test_a_title_is_not_cut_at_an_abbreviation_or_a_number() -> None:
    """A record without a title gets its first sentence: a full stop inside an abbreviation, a
    number or a name does not end it (the title was "M" for a resume opening with "M.A.")."""
    assert first_sentence("M.A. in museum studies, then two years as a collections assistant. Loves fossils.") == (
        "M.A. in museum studies, then two years as a collections assistant"
    )
    assert first_sentence("B.Sc. in forestry and 3.5 years as a Sr. Log Scaler. Moved here in May.") == (
        "B.Sc. in forestry and 3.5 years as a Sr. Log Scaler"
    )
    assert (
        first_sentence("Ph.D. chemist at Dr. Reddy's, U.S. trained. Five years.")
        == "Ph.D. chemist at Dr. Reddy's, U.S. trained"
    )
    assert first_sentence("Built services in Node.js. Then Go.") == "Built services in Node.js"
    assert first_sentence("Passed the Grade I exam.Then mowed parks.") == "Passed the Grade I exam"  # a missing space
    assert first_sentence("Forklift driver\nSix years. Night shift.") == "Forklift driver"
    assert first_sentence("no full stop at all") == "no full stop at all"
    # and the level in it is read: "Sr." is senior, as "Senior" is
    profile, _ = LocalLLM().extract_profile(Prompt("", "test"), "Sr. Log Scaler. Grades logs on the deck.", {})
    assert profile.title == "Sr. Log Scaler" and profile.seniority == "senior"
