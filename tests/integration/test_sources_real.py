"""The real datasets in KGREC_DATA_HOME: the statistics their READMEs state, dtypes and spot values."""

from __future__ import annotations

import csv
from datetime import datetime, timezone

import numpy as np
import pandas as pd

from kgrec.kg.sources import list_datasets, load_dataset
from kgrec.kg.sources.resolve import verify


def edges_with(kg, kg_name: str) -> int:
    return sum(len(df) for df in kg.edges.values() if "kg" in df.columns and (df["kg"] == kg_name).all())


# -- lastfm ---------------------------------------------------------------------------------------
def test_lastfm_counts_from_the_hetrec_readme(lastfm_kg):
    kg = lastfm_kg
    assert kg.name == "lastfm"
    assert kg.num_nodes("User") == 1_892
    assert kg.num_nodes("Artist") == 17_632
    assert kg.num_nodes("Tag") == 11_946
    assert kg.num_edges(("User", "LISTENED_TO", "Artist")) == 92_834
    assert kg.interactions["dst"].nunique() == 17_632
    assert kg.num_edges(("User", "FRIEND_OF", "User")) == 25_434
    tagged = kg.edges[("User", "TAGGED", "Tag")]
    assert int(tagged["count"].sum()) == 186_479  # every tag assignment counts for its user
    assert tagged["src"].nunique() == 1_892
    assert kg.schema.interaction == ("User", "LISTENED_TO", "Artist") and kg.schema.item_label == "Artist"


def test_lastfm_has_tag_counts_assignments_to_known_artists(lastfm_kg, data_home):
    artists = set(lastfm_kg.items["id"])
    with open(data_home / "hetrec2011-lastfm-2k" / "user_taggedartists.dat", newline="") as f:
        rows = list(csv.reader(f, delimiter="\t"))[1:]
    known = [r for r in rows if r[1] in artists]
    has_tag = lastfm_kg.edges[("Artist", "HAS_TAG", "Tag")]
    assert int(has_tag["count"].sum()) == len(known) < len(rows) == 186_479
    assert has_tag["src"].nunique() == len({r[1] for r in known})
    assert len({r[1] for r in rows}) == 12_523  # "tags cover 12,523 artists" (390 not in artists.dat)


def test_lastfm_satori_kg_is_the_kgcn_kg(lastfm_kg):
    assert edges_with(lastfm_kg, "satori") == 15_518
    satori = [et for et, df in lastfm_kg.edges.items() if "kg" in df.columns and (df["kg"] == "satori").all()]
    assert len({r for _, r, _ in satori}) == 60
    assert lastfm_kg.num_nodes("SatoriEntity") == 9_366 - 3_846
    assert lastfm_kg.items["satori_id"].notna().sum() == 3_846
    counts = {}
    for (_, rel, _), df in lastfm_kg.edges.items():
        counts[rel] = counts.get(rel, 0) + len(df)
    assert counts["FILM_ACTOR_FILM"] == 4_623
    assert counts["FILM_PERSON_OR_ENTITY_APPEARING_IN_FILM_FILM"] == 4_582
    assert counts["MUSIC_ARTIST_ORIGIN"] == 2_536
    assert counts["PEOPLE_PERSON_PLACE_OF_BIRTH"] == 946
    assert counts["MUSIC_ALBUM_GENRE"] == 48
    assert all(src == "Artist" and dst in ("Artist", "SatoriEntity") for src, _, dst in satori)


def test_lastfm_dbpedia_kg(lastfm_kg):
    kg = lastfm_kg
    uris = kg.items["dbpedia_uri"]
    assert uris.notna().sum() == 10_180
    assert uris.nunique() == 9_781
    assert (uris.value_counts() > 1).sum() == 360
    per_relation = {"DBO_ASSOCIATED_BAND": 20_954, "DBO_ASSOCIATED_MUSICAL_ARTIST": 20_953, "DBO_BAND_MEMBER": 7_587,
                    "DBO_BIRTH_PLACE": 5_581, "DBO_FORMER_BAND_MEMBER": 7_482, "DBO_GENRE": 26_064,
                    "DBO_HOMETOWN": 12_386, "DBO_INSTRUMENT": 4_411, "DBO_OCCUPATION": 3_246,
                    "DBO_RECORD_LABEL": 2_257}
    to_uri = pd.Series(uris.to_numpy(), index=kg.items["id"].to_numpy())
    distinct_triples, all_uris, edges = 0, set(), 0
    for rel, expected in per_relation.items():
        frames = [df.assign(s=s, d=d) for (s, r, d), df in kg.edges.items() if r == rel]
        df = pd.concat(frames, ignore_index=True)
        assert (df["kg"] == "dbpedia").all()
        head = np.where(df["s"] == "Artist", df["src"].map(to_uri), df["src"])
        tail = np.where(df["d"] == "Artist", df["dst"].map(to_uri), df["dst"])
        triples = set(zip(head, tail))
        assert len(triples) == expected, rel  # the edgelist's triples, back in URIs
        distinct_triples += len(triples)
        all_uris |= set(head) | set(tail)
        edges += len(df)
        assert (df["s"] == "Artist").all()  # "all heads are recommendable items"
    assert distinct_triples == 110_921
    assert len(all_uris) == 37_927
    assert edges == edges_with(kg, "dbpedia") == 118_658  # shared URIs give each of their artists the triple
    assert kg.num_nodes("DbpediaEntity") == 28_475


def test_lastfm_spot_values_and_types(lastfm_kg):
    kg = lastfm_kg
    artists = kg.items.set_index("id")
    assert artists.loc["707", "name"] == "Metallica"
    assert artists.loc["707", "url"] == "http://www.last.fm/music/Metallica"
    assert artists.loc["2", "satori_id"] == "0"
    assert artists.loc["18064", "dbpedia_uri"] == "http://dbpedia.org/resource/KRS-One"
    assert artists.loc["10421", "dbpedia_uri"] == artists.loc["11696", "dbpedia_uri"] == \
        "http://dbpedia.org/resource/2AM_Club"
    tags = kg.nodes["Tag"].set_index("id")["name"]
    assert tags["1"] == "metal"
    assert tags["7982"] == "fußball" and tags["11213"] == "die Ärzte"  # tags.dat is Latin-1
    listened = kg.interactions.set_index(["src", "dst"])["weight"]
    assert listened[("2", "51")] == 13_883
    entities = kg.nodes["DbpediaEntity"].set_index("id")["name"]
    assert entities["http://dbpedia.org/resource/Progressive_metal"] == "Progressive metal"
    assert entities["http://dbpedia.org/resource/Pop_(music)"] == "Pop (music)"
    assert kg.nodes["SatoriEntity"]["id"].str.startswith("satori:").all()
    assert str(kg.interactions["weight"].dtype) == "Int64"
    assert str(kg.edges[("Artist", "HAS_TAG", "Tag")]["count"].dtype) == "Int64"
    for label, df in kg.nodes.items():
        assert str(df["id"].dtype) == "string", label
    assert kg.schema.node("Artist").properties == {"url": "string", "satori_id": "string", "dbpedia_uri": "string"}
    # bookkeeping for file:line errors
    assert kg.sources[("User", "LISTENED_TO", "Artist")].endswith("user_artists.dat")
    assert kg.interactions["_line"].iloc[0] == 2


def test_lastfm_small_fixture(lastfm_small_kg, lastfm_kg):
    kg = lastfm_small_kg
    assert kg.num_nodes("User") == 60
    assert 0 < kg.num_nodes("Artist") < lastfm_kg.num_nodes("Artist")
    assert set(kg.interactions["src"]) <= set(kg.users["id"])
    kg.validate()


def test_lastfm_without_the_kgs(data_home):
    kg = load_dataset("lastfm", satori=False, dbpedia=False, download=False)
    assert set(kg.nodes) == {"User", "Artist", "Tag"}
    assert kg.num_edges() == 92_834 + 25_434 + kg.num_edges(("User", "TAGGED", "Tag")) + \
        kg.num_edges(("Artist", "HAS_TAG", "Tag"))


# -- lastfm-kgcn ----------------------------------------------------------------------------------
def test_lastfm_kgcn_reproduces_the_kgcn_statistics(lastfm_kgcn_kg):
    kg = lastfm_kgcn_kg
    assert kg.metadata["protocol"] == "kgcn"
    assert kg.num_edges(("User", "LISTENED_TO", "Artist")) == 21_173
    assert kg.num_nodes("User") == kg.interactions["src"].nunique() == 1_872
    assert kg.num_nodes("Artist") == kg.interactions["dst"].nunique() == 3_846
    assert kg.num_nodes("Artist") + kg.num_nodes("SatoriEntity") == 9_366
    assert edges_with(kg, "satori") == 15_518
    assert len({r for _, r, _ in kg.edges if r != "LISTENED_TO"}) == 60
    mapping = kg.metadata["kgcn_item_entity"]
    assert len(mapping) == 3_846 and sorted(mapping.values()) == list(range(3_846))
    assert mapping["2"] == 0
    artists = kg.items.set_index("id")
    assert artists.loc["2", "name"] == "Diary of Dreams"  # names from hetrec's artists.dat
    assert artists["satori_id"].astype(int).to_dict() == mapping


# -- movielens-small ------------------------------------------------------------------------------
def test_movielens_counts_from_the_readme(movielens_kg):
    kg = movielens_kg
    rated = kg.interactions
    assert kg.schema.interaction == ("User", "RATED", "Movie")
    assert kg.num_nodes("User") == 610
    assert kg.num_nodes("Movie") == 9_742
    assert len(rated) == 100_836
    assert rated["dst"].nunique() == 9_724
    assert rated.groupby("src").size().min() == 20
    assert sorted(rated["rating"].unique()) == [x / 2 for x in range(1, 11)]
    first = datetime.fromtimestamp(int(rated["timestamp"].min()), tz=timezone.utc)
    last = datetime.fromtimestamp(int(rated["timestamp"].max()), tz=timezone.utc)
    assert first.strftime("%Y-%m-%d %H:%M:%S") == "1996-03-29 18:36:55"
    assert last.strftime("%Y-%m-%d %H:%M:%S") == "2018-09-24 14:27:30"
    has_tag = kg.edges[("Movie", "HAS_TAG", "Tag")]
    tagged = kg.edges[("User", "TAGGED", "Tag")]
    assert int(has_tag["count"].sum()) == int(tagged["count"].sum()) == 3_683
    assert tagged["src"].nunique() == 58 and has_tag["src"].nunique() == 1_572
    assert kg.num_nodes("Tag") == 1_475  # 1,589 spellings, lower-cased
    assert kg.num_nodes("Genre") == 19  # 20 labels, "(no genres listed)" is not a genre
    assert "(no genres listed)" not in set(kg.nodes["Genre"]["id"])
    assert kg.items["id"].nunique() - kg.edges[("Movie", "HAS_GENRE", "Genre")]["src"].nunique() == 34
    assert kg.items["tmdb_id"].isna().sum() == 8


def test_movielens_spot_values_and_types(movielens_kg):
    kg = movielens_kg
    movies = kg.items.set_index("id")
    assert movies.loc["1", "name"] == "Toy Story (1995)"
    assert movies.loc["1", "year"] == 1995
    assert movies.loc["1", "imdb_id"] == "0114709" and movies.loc["1", "tmdb_id"] == "862"
    assert movies["year"].isna().sum() == 12
    assert movies.loc["193609", "name"].startswith("Andrew Dice Clay")
    genres = set(kg.edges[("Movie", "HAS_GENRE", "Genre")].query("src == '1'")["dst"])
    assert genres == {"Adventure", "Animation", "Children", "Comedy", "Fantasy"}
    last = kg.interactions.set_index(["src", "dst"]).loc[("610", "170875")]
    assert last["rating"] == 3.0 and last["timestamp"] == 1_493_846_415
    tags = kg.nodes["Tag"].set_index("id")["name"]
    assert tags["highly quotable"] == "Highly quotable"
    assert str(kg.interactions["rating"].dtype) == "Float64"
    assert str(kg.interactions["timestamp"].dtype) == "Int64"
    assert str(kg.items["year"].dtype) == "Int64"


# -- how the relations read (declared by the sources, used by explanations) ----------------------
def test_real_graphs_declare_how_their_relations_read(lastfm_kg, lastfm_kgcn_kg, movielens_kg):
    for kg in (lastfm_kg, lastfm_kgcn_kg):
        assert kg.schema.relation(("User", "LISTENED_TO", "Artist")).phrase("out", you=True) == "listen to"
    birth = [r for r in lastfm_kg.schema.relations if r.name == "DBO_BIRTH_PLACE"]
    assert birth and all(r.phrase("out", you=False) == "has the birth place" for r in birth)
    satori = lastfm_kg.schema.relation(("Artist", "MUSIC_ARTIST_ORIGIN", "SatoriEntity"))
    assert satori.phrase("out", you=False) == "has the music artist origin"  # derived from its name
    assert [r.name for r in lastfm_kg.schema.relations if r.symmetric] == ["FRIEND_OF"]
    assert [n.label for n in lastfm_kg.schema.nodes if n.quoted] == ["Tag"]
    assert [n.label for n in movielens_kg.schema.nodes if n.quoted] == ["Tag"]
    assert movielens_kg.schema.relation(("Movie", "HAS_GENRE", "Genre")).phrase("in", you=False) == "is the genre of"


# -- files and checksums --------------------------------------------------------------------------
def test_local_files_match_the_published_checksums(data_home):
    from kgrec.kg.sources import _lastfm, movielens

    for spec in (movielens.FOLDER, _lastfm.HETREC, _lastfm.KGCN, _lastfm.DBPEDIA):
        verify(data_home / spec.folder, spec)


def test_list_datasets_finds_the_local_copies(data_home):
    infos = {d.name: d for d in list_datasets()}
    for name in ("lastfm", "lastfm-kgcn", "movielens-small"):
        assert infos[name].path == data_home
        assert all((data_home / f).is_file() for f in infos[name].files)


def test_verify_option_checks_local_files(data_home):
    kg = load_dataset("movielens-small", download=False, verify=True)
    assert kg.num_edges(("User", "RATED", "Movie")) == 100_836
