"""The dataset loaders on tiny hand-written copies of their file formats (no real data needed)."""

from __future__ import annotations

import pandas as pd
import pytest

from kgrec.errors import InputError
from kgrec.kg.sources import lastfm, lastfm_kgcn, load_generic, movielens


@pytest.fixture
def hetrec(tmp_path):
    d = tmp_path / "hetrec2011-lastfm-2k"
    d.mkdir()
    (d / "artists.dat").write_text('id\tname\turl\tpictureURL\n1\tMALICE "MIZER\thttp://a/1\t\n2\tDiary\thttp://a/2\t\n')
    (d / "tags.dat").write_bytes("tagID\ttagValue\n1\tmetal\n2\tfußball\n".encode("latin-1"))
    (d / "user_artists.dat").write_text("userID\tartistID\tweight\n2\t1\t10\n3\t2\t5\n")
    (d / "user_friends.dat").write_text("userID\tfriendID\n2\t3\n3\t2\n")
    (d / "user_taggedartists.dat").write_text("userID\tartistID\ttagID\tday\tmonth\tyear\n"
                                              "2\t1\t1\t1\t4\t2009\n3\t1\t1\t1\t4\t2009\n3\t99\t2\t1\t4\t2009\n")
    k = tmp_path / "lastfm-kgcn"
    k.mkdir()
    (k / "item_index2entity_id.txt").write_bytes(b"1\t0\r\n2\t1\r\n")
    (k / "kg.txt").write_bytes(b"0\tmusic.artist.origin\t2\r\n1\tmusic.artist.genre\t0\r\n")
    (k / "user_artists.dat").write_bytes((d / "user_artists.dat").read_bytes())
    return d, k


def test_tiny_lastfm(hetrec):
    d, k = hetrec
    kg = lastfm.read(d, kgcn_folder=k)
    artists = kg.items.set_index("id")
    assert artists.loc["1", "name"] == 'MALICE "MIZER'  # quotes are data in .dat files
    assert set(kg.nodes["Tag"]["name"]) == {"metal", "fußball"}
    assert kg.edges[("Artist", "HAS_TAG", "Tag")]["count"].tolist() == [2]  # artist 99 is unknown
    assert sorted(kg.edges[("User", "TAGGED", "Tag")]["dst"]) == ["1", "1", "2"]
    assert list(kg.edges[("Artist", "MUSIC_ARTIST_ORIGIN", "SatoriEntity")]["dst"]) == ["satori:2"]
    assert list(kg.edges[("Artist", "MUSIC_ARTIST_GENRE", "Artist")]["dst"]) == ["1"]  # entity 0 is artist 1
    assert (kg.edges[("Artist", "MUSIC_ARTIST_ORIGIN", "SatoriEntity")]["kg"] == "satori").all()
    kgcn = lastfm_kgcn.read(k, hetrec_folder=d)
    assert kgcn.metadata["kgcn_item_entity"] == {"1": 0, "2": 1}
    assert kgcn.metadata["protocol"] == "kgcn"


def test_lastfm_errors_name_file_and_line(hetrec):
    d, k = hetrec
    (d / "user_artists.dat").write_text("userID\tartistID\tweight\n2\t1\t10\n3\t2\tmany\n")
    with pytest.raises(InputError, match=r"user_artists\.dat:3: weight 'many' is not an integer"):
        lastfm.read(d)
    (d / "user_artists.dat").write_text("userID\tartistID\tweight\n2\t1\t10\n3\t7\t5\n")
    with pytest.raises(InputError, match=r"user_artists\.dat:3: LISTENED_TO dst '7' is not a known Artist id"):
        lastfm.read(d)
    (d / "user_artists.dat").write_text("userID\tartistID\tweight\n2\t1\t10\n")
    (d / "artists.dat").write_bytes(b"id\tname\turl\tpictureURL\n1\tM\xe9\thttp://a/1\t\n")
    with pytest.raises(InputError, match=r"artists\.dat:2: byte b'\\xe9' at column 4 is not valid utf-8"):
        lastfm.read(d)
    (d / "artists.dat").write_text("id\tname\turl\tpictureURL\n1\tA\tu\t\n2\tB\tu\t\n")
    (k / "kg.txt").write_bytes(b"0\tmusic.artist.origin\t2\r\n1\t\t0\r\n")
    with pytest.raises(InputError, match=r"kg\.txt:2: empty relation"):
        lastfm.read(d, kgcn_folder=k)
    (k / "kg.txt").write_bytes(b"0\tr\t2\r\n")
    (k / "item_index2entity_id.txt").write_bytes(b"1\t0\r\n5\t1\r\n")
    with pytest.raises(InputError, match=r"item_index2entity_id\.txt:2: artist '5' is not in artists\.dat"):
        lastfm.read(d, kgcn_folder=k)


def test_tiny_movielens_and_its_errors(tmp_path):
    (tmp_path / "movies.csv").write_bytes(b'movieId,title,genres\r\n1,"Toy Story (1995)",Animation|Comedy\r\n'
                                          b'2,"City, The (2006\xe2\x80\x932007)",(no genres listed)\r\n')
    (tmp_path / "links.csv").write_bytes(b"movieId,imdbId,tmdbId\r\n1,0114709,862\r\n2,0000002,\r\n")
    (tmp_path / "ratings.csv").write_bytes(b"userId,movieId,rating,timestamp\r\n1,1,4.0,964982703\r\n2,2,0.5,1\r\n")
    (tmp_path / "tags.csv").write_bytes(b"userId,movieId,tag,timestamp\r\n1,1,Pixar,1\r\n2,1,pixar,2\r\n"
                                        b"3,2,pixar,3\r\n")
    kg = movielens.read(tmp_path)
    movies = kg.items.set_index("id")
    assert movies.loc["2", "name"] == "City, The (2006\u20132007)" and movies.loc["2", "year"] == 2006
    assert movies.loc["1", "imdb_id"] == "0114709" and pd.isna(movies.loc["2", "tmdb_id"])
    assert list(kg.nodes["Tag"]["id"]) == ["pixar"]
    assert list(kg.nodes["Tag"]["name"]) == ["pixar"]  # the most common spelling (2 of 3)
    assert sorted(kg.users["id"]) == ["1", "2", "3"]  # user 3 only tagged
    assert list(kg.edges[("Movie", "HAS_GENRE", "Genre")]["dst"]) == ["Animation", "Comedy"]
    (tmp_path / "ratings.csv").write_bytes(b"userId,movieId,rating,timestamp\r\n1,1,4.0,964982703\r\n2,2,five,1\r\n")
    with pytest.raises(InputError, match=r"ratings\.csv:3: rating 'five' is not a number"):
        movielens.read(tmp_path)


def test_text_over_the_limit_names_file_and_line(tmp_path):
    (tmp_path / "interactions.csv").write_text("user_id,item_id\nu1,i1\nu1,i2\n")
    (tmp_path / "items.csv").write_text("item_id,name,text\ni1,One,short\ni2,Two," + "w" * 70_000 + "\n")
    with pytest.raises(InputError, match=r"items\.csv:3: text is 70000 characters long; at most 65536 allowed"):
        load_generic(tmp_path / "interactions.csv", items=tmp_path / "items.csv")
