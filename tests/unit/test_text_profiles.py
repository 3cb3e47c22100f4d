"""Interest tags on hand-made vectors: the arithmetic, the filters and the errors."""

from __future__ import annotations

import numpy as np
import pytest

from kgrec.errors import ConfigError, SchemaError, UnknownUserError
from kgrec.text import NodeVectors, interest_tags, profile_vectors
from kgrec.text.profiles import profiles_frame
from tests.unit.test_text_documents import music_kg

METAL, POP, DOOM, OTHER = np.eye(4, dtype=np.float32)


def unit(v) -> np.ndarray:
    v = np.asarray(v, dtype=np.float32)
    return v / np.linalg.norm(v)


def music_vectors(kg) -> NodeVectors:
    # Users 2 (metal listener) and 3 (pop listener); artists Opeth, Katatonia (metal), Britney (pop);
    # tags metal, progressive metal, pop, doom; DBpedia genres Progressive metal, Dance-pop.
    vectors = {
        "User": np.stack([unit(METAL + DOOM), unit(POP)]),
        "Artist": np.stack([unit(METAL + 0.2 * OTHER), unit(DOOM + METAL), unit(POP + 0.1 * OTHER)]),
        "Tag": np.stack([METAL, unit(METAL + 0.01 * DOOM), POP, DOOM]),
        "DbpediaEntity": np.stack([unit(METAL + OTHER), unit(POP + OTHER)]),
    }
    return NodeVectors(model_id="hand", fingerprint="hand", dim=4, vectors=vectors,
                       ids={k: kg.nodes[k]["id"].tolist() for k in vectors},
                       documents={k: [""] * len(v) for k, v in vectors.items()})


def test_profiles_are_unit_vectors_mixing_the_user_document_and_the_items():
    kg = music_kg()
    nv = music_vectors(kg)
    p = profile_vectors(kg, nv)
    np.testing.assert_allclose(np.linalg.norm(p, axis=1), 1.0, rtol=1e-6)
    only_doc = profile_vectors(kg, nv, mix=1.0)
    np.testing.assert_allclose(only_doc, nv["User"], rtol=1e-6)
    only_items = profile_vectors(kg, nv, mix=0.0)
    # user 3 listened to Britney only
    np.testing.assert_allclose(only_items[1], nv["Artist"][2], rtol=1e-6)
    with pytest.raises(ConfigError):
        profile_vectors(kg, nv, mix=1.5)


def test_interest_tags_are_the_closest_named_attributes_best_first():
    kg = music_kg()
    tags = interest_tags(kg, music_vectors(kg), k=2, min_degree=1)
    metal_user, pop_user = tags["2"], tags["3"]
    assert [t.name for t in pop_user][0] in ("pop", "Dance-pop")
    assert {t.name for t in pop_user} == {"pop", "Dance-pop"}
    assert all("metal" in t.name or t.name == "doom" for t in metal_user)
    assert metal_user[0].score >= metal_user[1].score
    assert {t.label for t in pop_user} == {"Tag", "DbpediaEntity"}
    frame = profiles_frame(tags)
    assert list(frame.columns) == ["user", "rank", "label", "id", "name", "score"]
    assert len(frame) == 4


def test_min_degree_drops_rarely_used_attributes_and_labels_narrow_the_choice():
    kg = music_kg()
    nv = music_vectors(kg)
    # "progressive metal" (tag 2) is on one artist only; with min_degree=2 it may not appear
    loose = interest_tags(kg, nv, k=4, min_degree=1, labels=["Tag"])["2"]
    strict = interest_tags(kg, nv, k=4, min_degree=2, labels=["Tag"])["2"]
    assert "2" in {t.id for t in loose}
    assert "2" not in {t.id for t in strict}
    assert {t.label for t in loose} == {"Tag"}


def test_errors_name_the_problem():
    kg = music_kg()
    nv = music_vectors(kg)
    with pytest.raises(UnknownUserError, match="nobody"):
        interest_tags(kg, nv, users=["nobody"])
    with pytest.raises(SchemaError, match="SatoriEntity"):
        interest_tags(kg, nv, labels=["SatoriEntity"])
    with pytest.raises(SchemaError, match="user or item"):
        interest_tags(kg, nv, labels=["Artist"])
    with pytest.raises(ConfigError):
        interest_tags(kg, nv, k=0)
