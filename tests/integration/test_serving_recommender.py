"""The Recommender over a real run, the real lastfm subgraph and the real embedded store."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from kgrec.errors import InputError, UnknownItemError, UnknownUserError
from kgrec.serving import Explanation, Recommendation


def sample_users(rec, n: int) -> list[str]:
    users = sorted(rec.users(), key=lambda s: (len(s), s))
    return users[:: max(1, len(users) // n)][:n]


def test_recommend_gives_ranked_unseen_items_scored_by_the_run(recommender, serving_run):
    rec = recommender
    user = sample_users(rec, 1)[0]
    recs = rec.recommend(user, 10, explain=False)
    assert len(recs) == 10 and all(isinstance(r, Recommendation) for r in recs)
    assert [r.rank for r in recs] == list(range(1, 11))
    assert [r.score for r in recs] == sorted((r.score for r in recs), reverse=True)
    seen = {i.id for i in rec.seen(user)}
    assert seen and not seen & {r.item.id for r in recs}
    with pytest.raises(dataclasses.FrozenInstanceError):
        recs[0].score = 0.0  # type: ignore[misc]
    uid = serving_run.id_maps[serving_run.user_label].index(user)
    iid = serving_run.id_maps[serving_run.item_label]
    for r in recs:
        expected = float(serving_run.user_vectors[uid] @ serving_run.item_vectors[iid.index(r.item.id)])
        assert r.score == pytest.approx(expected, rel=1e-4, abs=1e-5)
    # top-k is the head of the full ranking
    scores = rec.scores(user)
    best = np.argsort(-scores, kind="stable")[:10]
    assert [rec.item_ref(int(i)).id for i in best] == [r.item.id for r in recs]


def test_unknown_ids_raise_with_a_message(recommender):
    with pytest.raises(UnknownUserError, match="no-such-user"):
        recommender.recommend("no-such-user")
    with pytest.raises(UnknownItemError, match="no-such-item"):
        recommender.similar_items("no-such-item")
    user = sample_users(recommender, 1)[0]
    with pytest.raises(UnknownItemError):
        recommender.explain(user, "no-such-item")
    with pytest.raises(InputError):
        recommender.recommend(user, 0)


def test_every_explanation_is_a_path_whose_cypher_returns_it(recommender, serving_store, lastfm_small_kg):
    """Validity must be 100%; coverage is measured (and must not collapse)."""
    rec = recommender
    total = with_path = checked = 0
    for user in sample_users(rec, 12):
        for r in rec.recommend(user, 10):
            total += 1
            with_path += bool(r.explanations)
            assert len(r.explanations) <= 3
            assert [e.score for e in r.explanations] == sorted((e.score for e in r.explanations), reverse=True)
            for e in r.explanations:
                assert isinstance(e, Explanation)
                nodes = e.path.nodes
                assert (nodes[0].label, nodes[0].id) == ("User", user)
                assert (nodes[-1].label, nodes[-1].id) == ("Artist", r.item.id)
                assert 1 <= e.path.hops <= 3 and 0 < e.score <= 1 and e.sentence.endswith(".")
                assert len(e.hop_supports) == e.path.hops
                res = serving_store.query(e.cypher, e.parameters, graph=lastfm_small_kg.name)
                assert len(res.rows) == 1, (e.cypher, e.parameters)
                labels, ids, names, relations = res.rows[0]
                assert list(labels) == [n.label for n in nodes]
                assert list(ids) == [n.id for n in nodes]
                assert list(relations) == [x.type for x in e.path.relations]
                checked += 1
    assert checked > 0
    assert with_path / total >= 0.5, f"coverage {with_path}/{total}"


def test_explain_any_item(recommender):
    user = sample_users(recommender, 1)[0]
    item = recommender.seen(user)[0]
    exps = recommender.explain(user, item.id, max_paths=5)
    assert exps and exps[0].path.hops >= 1
    assert any(e.path.pattern == ("LISTENED_TO",) for e in exps)  # the user listens to it already


def test_similar_items(recommender):
    item = recommender.items()[0]
    sims = recommender.similar_items(item, 5)
    assert len(sims) == 5 and item not in {s.item.id for s in sims}
    assert [s.score for s in sims] == sorted((s.score for s in sims), reverse=True)
    assert all(-1.0 - 1e-6 <= s.score <= 1.0 + 1e-6 for s in sims)


def test_filters_keep_items_linked_to_the_given_nodes(recommender, lastfm_small_kg):
    user = sample_users(recommender, 1)[0]
    has_tag = lastfm_small_kg.edges[("Artist", "HAS_TAG", "Tag")]
    tags = lastfm_small_kg.nodes["Tag"].set_index("id")["name"]
    popular = has_tag["dst"].value_counts().index[0]
    recs = recommender.recommend(user, 5, explain=False, filters={"Tag": [tags[popular]]})
    assert recs
    tagged = set(has_tag.loc[has_tag["dst"] == popular, "src"])
    assert {r.item.id for r in recs} <= tagged
    with pytest.raises(InputError, match="allowed"):
        recommender.recommend(user, 5, filters={"Nope": ["x"]})


def test_diversity_reranks_towards_dissimilar_items(recommender):
    from kgrec.serving import intra_list_diversity

    user = sample_users(recommender, 1)[0]
    plain = recommender.recommend(user, 10, explain=False)
    diverse = recommender.recommend(user, 10, explain=False, diversity=0.7)
    rows = lambda recs: [recommender.index.row("Artist", r.item.id) for r in recs]  # noqa: E731
    assert diverse[0].item.id == plain[0].item.id
    assert intra_list_diversity(recommender.item_unit_vectors(rows(diverse))) >= \
        intra_list_diversity(recommender.item_unit_vectors(rows(plain)))


def test_feedback_updates_the_store_and_the_next_recommendation(fresh_recommender, serving_store, lastfm_small_kg):
    rec = fresh_recommender
    user = sample_users(rec, 3)[2]
    before = rec.recommend(user, 10, explain=False)
    vector = rec.user_vector(user)
    liked = before[0].item.id
    result = rec.feedback(user, liked, weight=3)
    assert result.stored and not result.new_user and result.item.id == liked
    after = rec.recommend(user, 10, explain=False)
    assert liked not in {r.item.id for r in after}
    assert [r.item.id for r in after] != [r.item.id for r in before]
    assert not np.allclose(rec.user_vector(user), vector)
    res = serving_store.query("MATCH (u:User {id: $u})-[r:LISTENED_TO]->(a:Artist {id: $a}) RETURN r.weight",
                              {"u": user, "a": liked}, graph=lastfm_small_kg.name)
    assert res.rows == [(3,)]
    # the new edge is a path for explanations at once
    assert any(e.path.pattern == ("LISTENED_TO",) for e in rec.explain(user, liked))


def test_a_new_user_gets_recommendations_from_a_few_interactions(fresh_recommender, serving_store, lastfm_small_kg):
    rec = fresh_recommender
    with pytest.raises(UnknownUserError):
        rec.recommend("serving-test-new-user")
    items = [r.item.id for r in rec.recommend(sample_users(rec, 1)[0], 3, explain=False)]
    first = rec.feedback("serving-test-new-user", items[0])
    assert first.new_user and first.interactions == 1
    for item in items[1:]:
        assert not rec.feedback("serving-test-new-user", item).new_user
    recs = rec.recommend("serving-test-new-user", 10)
    assert len(recs) == 10 and not set(items) & {r.item.id for r in recs}
    assert any(r.explanations for r in recs)
    assert serving_store.query("MATCH (u:User {id: $u})-[:LISTENED_TO]->(a:Artist) RETURN count(a)",
                               {"u": "serving-test-new-user"}, graph=lastfm_small_kg.name).scalar() == 3


def test_negative_feedback_hides_an_item(fresh_recommender):
    rec = fresh_recommender
    user = sample_users(rec, 4)[3]
    top = rec.recommend(user, 5, explain=False)[0].item.id
    assert not rec.feedback(user, top, "negative").stored
    assert top not in {r.item.id for r in rec.recommend(user, 5, explain=False)}
    with pytest.raises(InputError):
        rec.feedback(user, top, "meh")  # type: ignore[arg-type]


def test_add_item_makes_a_cold_item_recommendable_and_similar(fresh_recommender, serving_store, lastfm_small_kg):
    rec = fresh_recommender
    kg = lastfm_small_kg
    has_tag = kg.edges[("Artist", "HAS_TAG", "Tag")]
    source = has_tag["src"].value_counts().index[0]  # the artist with the most tags
    tags = has_tag.loc[has_tag["src"] == source, "dst"].tolist()[:10]
    name = str(kg.nodes["Artist"].set_index("id").loc[source, "name"])
    added = rec.add_item("serving-test-new-artist", f"{name} tribute band",
                         f"A tribute band playing the songs of {name}.", {"HAS_TAG": tags})
    assert added.stored and added.links == {"HAS_TAG": len(tags)}
    new = "serving-test-new-artist"
    assert new in rec.items()
    sims = rec.similar_items(new, rec.num_items - 1)
    rank = [s.item.id for s in sims].index(source)
    assert rank < len(sims) // 2, f"the source artist ranks {rank} of {len(sims)} among the new item's neighbours"
    user = sample_users(rec, 1)[0]
    everything = rec.recommend(user, rec.num_items, explain=False)
    assert new in {r.item.id for r in everything}
    assert rec.explain(user, new), "the new item's KG links give explanation paths"
    assert serving_store.query("MATCH (a:Artist {id: $a})-[:HAS_TAG]->(t:Tag) RETURN count(t)", {"a": new},
                               graph=kg.name).scalar() == len(tags)
    with pytest.raises(InputError, match="already exists"):
        rec.add_item(new, "again")
    with pytest.raises(InputError, match="allowed"):
        rec.add_item("serving-test-other", "x", attributes={"NOT_A_RELATION": ["1"]})
