"""schemathesis against the service's own OpenAPI spec (in-process ASGI), with the store up and
with the store down: every response is documented (status code, content type, body schema) and
no response is a 5xx — except 503 while the store is down. Examples are bounded (a few dozen per
operation) so each run stays around a minute."""

from __future__ import annotations

import shutil
import tempfile
from collections import Counter

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.specs.openapi.checks import (content_type_conformance, response_schema_conformance,
                                               status_code_conformance)

from kgrec.kg.stores import open_store

TOKEN = "schemathesis-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
EXAMPLES = 20


_DOWN = [False]  # whether the test running now has the store down


@schemathesis.check
def no_server_error_but_503_when_down(ctx, response, case):
    """No 5xx at all while the store is up; only 503, with a message, while it is down."""
    status = response.status_code
    if status >= 500 and not (status == 503 and _DOWN[0]):
        raise AssertionError(f"{status} from {case.method} {case.formatted_path}: {response.text[:300]}")
    if status == 503:
        detail = response.json()["detail"]
        assert "graph store is unavailable" in detail or "no graph store" in detail, detail
    return None


@pytest.fixture(scope="module")
def store_up(lastfm_small_kg):
    folder = tempfile.mkdtemp(prefix="kgrec-st-", dir="/tmp")
    store = open_store(f"embedded:{folder}")
    store.write(lastfm_small_kg, graph=lastfm_small_kg.name)
    yield store
    store.stop()
    shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(scope="module")
def dead(lastfm_small_kg):
    folder = tempfile.mkdtemp(prefix="kgrec-sd-", dir="/tmp")
    owner = open_store(f"embedded:{folder}")
    store = open_store(f"unix://{owner.socket_path}")
    owner.stop()
    yield store
    store.close()
    shutil.rmtree(folder, ignore_errors=True)


def _schema(rec):
    from kgrec.serving.http import create_app

    app = create_app(rec, token=TOKEN, feedback_fsync="store")
    return schemathesis.openapi.from_asgi("/openapi.json", app)


@pytest.fixture(scope="module")
def api_up(serving_run, lastfm_small_kg, store_up):
    from kgrec.serving import Recommender

    _DOWN[0] = False
    rec = Recommender.load(serving_run.path, store=store_up, graph=lastfm_small_kg)
    rec.intent.ready()  # the intent vectors and the text model, loaded before the clock of a request runs
    rec.encoder.encode(["warm up"])
    return _schema(rec)


@pytest.fixture(scope="module")
def api_down(serving_run, lastfm_small_kg, dead):
    from kgrec.serving import Recommender

    rec = Recommender.load(serving_run.path, store=dead, graph=lastfm_small_kg)
    rec.intent.ready()
    rec.encoder.encode(["warm up"])
    return _schema(rec)


CHECKS = [no_server_error_but_503_when_down, status_code_conformance, content_type_conformance,
          response_schema_conformance]


def _fuzz(schema, *, down: bool) -> list[int]:
    """Every operation of the spec, ``EXAMPLES`` generated cases each (schemathesis' strategies
    under hypothesis; its pytest plugin does not run under this pytest), every response checked."""
    statuses: list[int] = []
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 8
    for operation in operations:
        @settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True,
                  database=None)
        @given(case=operation.as_strategy())
        def run(case):
            _DOWN[0] = down
            try:
                response = case.call_and_validate(headers=AUTH, checks=CHECKS)
            finally:
                _DOWN[0] = False
            statuses.append(response.status_code)

        run()
    return statuses


def test_api_conforms_to_its_spec_with_the_store_up(api_up):
    statuses = _fuzz(api_up, down=False)
    print(f"\nschemathesis, store up: {len(statuses)} requests, statuses {dict(sorted(Counter(statuses).items()))}")
    assert len(statuses) >= 100 and all(s < 500 for s in statuses)
    assert 200 in statuses and 404 in statuses and 422 in statuses


def test_api_conforms_to_its_spec_with_the_store_down(api_down):
    statuses = _fuzz(api_down, down=True)
    print(f"\nschemathesis, store down: {len(statuses)} requests, statuses {dict(sorted(Counter(statuses).items()))}")
    assert len(statuses) >= 100
    assert 503 in statuses  # the endpoints that need the store said so
    assert 200 in statuses  # and the rest kept answering from memory
