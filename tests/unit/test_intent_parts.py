"""The intent parts on their own (issue 19): the feedback reader, the fusion modes, sessions, config."""

from __future__ import annotations

import numpy as np
import pytest

from kgrec.errors import ConfigError, InputError
from kgrec.serving.intent import FUSIONS, IntentConfig, parse_feedback, standardise
from kgrec.serving.intent.feedback import normalise_text, scripts, split_list
from kgrec.serving.intent.fusion import rerank, union, weighted
from kgrec.serving.intent.preferences import PreferenceEffect, reserve_places
from kgrec.serving.intent.session import MAX_SESSION, session_ids


def said(text: str) -> list[tuple[str, str]]:
    return [(c.phrase, c.polarity) for c in parse_feedback(text)]


@pytest.mark.parametrize("text, expected", [
    ("less metal", [("metal", "avoid")]),
    ("less heavy metal, more 80s synth", [("heavy metal", "avoid"), ("80s synth", "prefer")]),
    ("I like jazz but not metal", [("jazz", "prefer"), ("metal", "avoid")]),
    ("metal is too much", [("metal", "avoid")]),
    ("synthpop please", [("synthpop", "prefer")]),
    ("80s synth", [("80s synth", "prefer")]),
    ("no more emo", [("emo", "avoid")]),
    ("I don't want any metal", [("metal", "avoid")]),
    ("I would like a bit less rock", [("rock", "avoid")]),
    ("not less punk", [("punk", "prefer")]),
    ("forget metal", [("metal", "reset")]),
    ("give me some jazz, no country", [("jazz", "prefer"), ("country", "avoid")]),
    ("less 'no wave'", [("no wave", "avoid")]),
    ("more \"drum and bass\"", [("drum and bass", "prefer")]),
    ("LESS Metal!", [("Metal", "avoid")]),
])
def test_the_feedback_reader(text, expected):
    assert said(text) == expected


def test_quoted_phrases_are_literal_and_lists_split_at_words():
    [c] = parse_feedback("more 'no more heroes'")
    assert (c.phrase, c.polarity, c.quoted) == ("no more heroes", "prefer", True)
    assert split_list("metal and punk") == ["metal", "punk"]
    assert split_list("r&b") == ["r&b"]
    assert split_list("rock / pop or jazz") == ["rock", "pop", "jazz"]


@pytest.mark.parametrize("text, message", [
    ("", "empty"), ("   ", "empty"), ("!!!", "empty"), ("less please", "names nothing"),
    ("меньше металла", "CYRILLIC script"), ("x" * 1001, "1,001 characters long; at most 1,000"),
    ("less\x00metal", "control character U\\+0000"),
])
def test_the_feedback_reader_refuses_what_it_cannot_read(text, message):
    with pytest.raises(InputError, match=message):
        parse_feedback(text)


def test_another_script_after_an_english_cue_is_read():
    assert said("more 'ロック'") == [("ロック", "prefer")]
    assert scripts("ロック rock") == {"KATAKANA", "LATIN"}


def test_text_is_normalised():
    assert normalise_text("  dark\u200b   synth \n", what="query", max_chars=100) == "dark synth"
    with pytest.raises(InputError, match="query must be text"):
        normalise_text(42, what="query", max_chars=100)


def test_standardise_keeps_minus_infinity():
    z = standardise(np.array([1.0, 2.0, 3.0, -np.inf]))
    assert np.isneginf(z[3]) and np.allclose(z[:3], [-1.2247449, 0.0, 1.2247449])
    assert np.all(standardise(np.array([5.0, 5.0])) == 0.0)


def test_weighted_is_a_convex_combination_of_z_scores():
    c = np.array([3.0, 2.0, 1.0, -np.inf])
    t = np.array([0.0, 0.5, 1.0, 1.0])
    assert np.argmax(weighted(c, t, weight=1.0, depth=10)) == 0
    assert np.argmax(weighted(c, t, weight=0.0, depth=10)) == 2
    mixed = weighted(c, t, weight=0.5, depth=10)
    assert np.isneginf(mixed[3])
    assert np.allclose(mixed[:3], 0.5 * standardise(c)[:3] + 0.5 * standardise(t[:3]))


def test_rerank_reorders_the_collaborative_head_only():
    c = np.array([5.0, 4.0, 3.0, 2.0, 1.0])
    t = np.array([0.0, 0.1, 0.9, 0.2, 1.0])
    out = rerank(c, t, weight=0.5, depth=3)
    assert np.isneginf(out[3]) and np.isneginf(out[4])  # outside the collaborative top 3
    assert list(np.argsort(-out)[:3]) == [2, 1, 0]


def test_union_interleaves_without_duplicates_intent_first():
    c = np.array([5.0, 4.0, 3.0, 2.0, -np.inf])
    t = np.array([0.0, 1.0, 0.5, 0.9, 2.0])
    out = union(c, t, weight=0.5, depth=3)
    order = [int(i) for i in np.argsort(-out) if np.isfinite(out[i])]
    assert order == [1, 0, 3, 2]  # intent 1, collab 0, intent 3, (collab 1 taken), intent 2
    assert np.isneginf(out[4])


def ranked(scores: np.ndarray) -> list[int]:
    return [int(i) for i in np.argsort(-scores, kind="stable") if np.isfinite(scores[i])]


def test_reserved_places_go_to_preferred_items_and_the_rest_keeps_its_order():
    scores = np.array([10.0, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0.5, 0.2, -np.inf, 0.1])
    preferred = np.zeros(len(scores), dtype=bool)
    preferred[[1, 10, 11, 12, 13]] = True
    out = reserve_places(scores, preferred, share=0.25, depth=12)
    # places 4, 8 and 12 (⌊p/4⌋ grows) go to the next preferred item; item 1 keeps its own place 2
    assert ranked(out)[:12] == [0, 1, 2, 10, 3, 4, 5, 11, 6, 7, 8, 13]
    assert np.isneginf(out[12])  # what may not be recommended stays out
    assert out[10] == 7.5  # between its new neighbours
    others = [i for i in ranked(out) if not preferred[i]]
    assert others == [i for i in ranked(scores) if not preferred[i]]
    assert np.array_equal(reserve_places(scores, preferred, share=0.0, depth=12), scores)
    # beyond `depth` nothing moves
    assert np.array_equal(reserve_places(scores, preferred, share=0.25, depth=3), scores)


@pytest.mark.parametrize("share", [0.1, 0.2, 0.3, 0.5])
def test_every_head_of_the_list_holds_its_share_of_preferred_items(share):
    rng = np.random.default_rng(0)
    scores = rng.normal(size=500)
    preferred = rng.random(500) < 0.05  # rare and, below, all ranked low by the list
    scores[preferred] -= 3
    order = ranked(reserve_places(scores, preferred, share=share, depth=100))
    for length in range(1, 101):
        mine = int(preferred[order[:length]].sum())
        # exactly the reserved places (while there are preferred items): none of them rose on its own
        assert mine == min(int(length * share + 1e-9), int(preferred.sum()))


def test_an_avoided_item_moves_down_by_strength_and_a_preferred_one_is_not_lifted_by_a_score():
    effect = PreferenceEffect(np.array([0.0, -1.0, 0.5, -0.5]), strength=2.0, share=0.3)
    z = np.array([1.0, 1.0, 1.0, -np.inf])
    assert np.allclose(effect.avoid(z)[:3], [1.0, -1.0, 1.0]) and np.isneginf(effect.avoid(z)[3])


def test_fusion_modes_resolve_by_name_and_alias():
    assert FUSIONS.resolve("Weighted") is weighted
    assert FUSIONS.resolve("sequential") is rerank and FUSIONS.resolve("parallel") is union
    with pytest.raises(ConfigError, match="unknown fusion mode 'sideways'.*choices: weighted"):
        FUSIONS.resolve("sideways")


def test_the_config_is_typed_and_closed():
    assert IntentConfig(fusion="Sequential").fusion == "rerank"
    with pytest.raises(ConfigError):
        IntentConfig(fusion="sideways")
    with pytest.raises(ConfigError):
        IntentConfig(weight=1.5)
    with pytest.raises(ConfigError):
        IntentConfig(surprise=True)
    with pytest.raises(ConfigError):
        IntentConfig(preference_share=0.6)  # more than every other place is not a share of the list


def test_session_ids():
    assert session_ids(" a ,b,a,\ufeffc") == ("a", "b", "c")
    assert session_ids(None) == ()
    with pytest.raises(InputError, match="session item 2"):
        session_ids(["a", " ", "b"])
    with pytest.raises(InputError, match=f"at most {MAX_SESSION}"):
        session_ids([str(i) for i in range(MAX_SESSION + 1)])
