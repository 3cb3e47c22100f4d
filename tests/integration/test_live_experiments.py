"""A/B experiments through the live service with the real embedded redis-server: every response
says its arm, exposures and outcomes are logged on the stream, the replay simulation tells a
popularity model from the trained one, and the same run in both arms shows no difference."""

from __future__ import annotations

import shutil

import pytest

pytestmark = pytest.mark.timeout(900)


@pytest.fixture(scope="module")
def exp_store():
    import tempfile

    from kgrec.kg.stores import open_store

    folder = tempfile.mkdtemp(prefix="kgrec-exp-", dir="/tmp")
    store = open_store(f"embedded:{folder}")
    store.open()
    yield store
    store.stop()
    shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(scope="module")
def pop_run(lastfm_small_kg, serving_vectors, tmp_path_factory):
    """The most-popular model on the same split as ``serving_run`` (random split, seed 0)."""
    from kgrec.gnn import TrainConfig, train

    out = tmp_path_factory.mktemp("pop_run") / "run"
    return train(lastfm_small_kg, TrainConfig(model="pop", seed=0, checkpoint_every=0, device="cpu"),
                 vectors=serving_vectors, out=out)


def test_the_service_serves_each_user_by_their_arm_and_logs_exposures_and_outcomes(
        exp_store, lastfm_small_kg, serving_run, pop_run):
    import httpx

    from kgrec.serving import Recommender, ServeConfig
    from kgrec.serving.events import ConsumerConfig, InteractionEvent, open_transport
    from kgrec.serving.events.live import LiveService
    from kgrec.serving.experiments import Assignment, Experiment, ExperimentLog, report
    from kgrec.serving.http import BackgroundServer, create_app

    exp_store.write(lastfm_small_kg)
    arms = {"A": Recommender.load(pop_run.path, store=exp_store, graph=lastfm_small_kg),
            "B": Recommender.load(serving_run.path, store=exp_store, graph=lastfm_small_kg)}
    for rec in arms.values():
        assert rec.graph_name == lastfm_small_kg.name
    log = ExperimentLog(exp_store.redis_client(), "header-test")
    log.delete()
    exp = Experiment(Assignment("header-test", ("A", "B"), (0.5, 0.5)), arms, log=log)
    transport = open_transport(exp_store, graph=lastfm_small_kg.name)
    transport.delete()
    live = LiveService(arms["A"], transport, consume=True, mirrors=[arms["B"]],
                       config=ConsumerConfig(block_ms=20), on_applied=exp.on_applied)
    app = create_app(arms["A"], ServeConfig(token="t0k", feedback_fsync="store"), live=live, experiment=exp)
    users = arms["A"].users()[:12]
    with BackgroundServer(app) as server, httpx.Client(base_url=server.url, timeout=30) as http:
        got = {}
        for u in users:
            r = http.get(f"/v1/users/{u}/recommendations", params={"k": 5, "explain": "false"})
            assert r.status_code == 200, r.text
            got[u] = (r.headers["X-Kgrec-Arm"], [x["item"]["id"] for x in r.json()["recommendations"]])
            assert r.headers["X-Kgrec-Experiment"] == "header-test"
            assert got[u][0] == exp.arm(u)
            again = http.get(f"/v1/users/{u}/recommendations", params={"k": 5, "explain": "false"})
            assert again.headers["X-Kgrec-Arm"] == got[u][0]  # stable: a keyed hash, no stored state
        assert {arm for arm, _ in got.values()} == {"A", "B"}
        for u, (arm, items) in got.items():  # the list is the one the user's arm makes
            assert items == [r.item.id for r in arms[arm].recommend(u, 5, explain=False)]
        assert any(got[u][1] != [r.item.id for r in arms["A" if got[u][0] == "B" else "B"].recommend(u, 5, explain=False)]
                   for u in users), "both arms give the same lists: the test cannot tell them apart"
        # every user clicks the item at rank 2 of what they were shown
        clicks = [InteractionEvent(user=u, item=items[1]).model_dump(mode="json") for u, (_, items) in got.items()]
        r = http.post("/v1/events", json={"events": clicks}, headers={"Authorization": "Bearer t0k"})
        assert r.status_code == 202 and len(r.json()["ids"]) == len(users)
        deadline = __import__("time").monotonic() + 30
        while live.status().pending or live.status().lag:
            assert __import__("time").monotonic() < deadline
            __import__("time").sleep(0.05)
        status = http.get("/v1/events/status").json()
        assert status["pending"] == 0 and status["applied"] == len(users)
    assert log.arms() == ["A", "B"]
    result = report(log.events(), experiment="header-test", control="A")
    by_arm = {a.arm: a for a in result.arms}
    assert sum(a.exposures for a in result.arms) == 24 and sum(a.clicks for a in result.arms) == len(users)
    for a in result.arms:
        assert a.ctr == pytest.approx(0.5)  # one click per user on two exposures
        assert a.ndcg == pytest.approx((1 / __import__("math").log2(3)) / 2)
    assert by_arm["A"].users + by_arm["B"].users == len(users)
    log.delete()
    transport.delete()


def test_simulation_tells_pop_from_the_trained_model(exp_store, lastfm_small_kg, serving_run, pop_run):
    from kgrec.serving.experiments import simulate

    sim = simulate(lastfm_small_kg, {"A": pop_run.path, "B": serving_run.path}, store=exp_store, k=20, seed=1)
    rep = sim.report
    from kgrec.serving.experiments import held_out_pairs

    test_users = {u for u, _ in held_out_pairs(pop_run)}
    assert sim.users == len(test_users) > 50 and sim.exposures == sim.users
    assert sim.events == len(held_out_pairs(pop_run))
    assert [a.arm for a in rep.arms] == ["A", "B"]
    ctr = next(c for c in rep.comparisons if c.metric == "ctr")
    print(rep.text())
    assert rep.significant and ctr.diff > 0, rep.text()
    assert rep.verdicts[0].startswith("B better than A on CTR")
    assert exp_store.graphs().count(sim.graph) == 0, "the scratch graph was left behind"


def _relabelled(records, assignment):
    """The records as an experiment with another assignment key would have logged them: with the
    same run in every arm, every arm shows a user the same list, so only the arm labels change."""
    return [r.model_copy(update={"arm": assignment.arm(r.user)}) for r in records]


def test_the_same_run_in_both_arms_shows_no_difference(exp_store, lastfm_small_kg, serving_run, tmp_path):
    """One replay through the service with the same run in both arms, then the 20 assignments of
    seeds 0..19 (only the arm labels differ between them): no significant difference in >= 90%."""
    from kgrec.gnn.run import copy_run
    from kgrec.serving.experiments import Assignment, report, simulate

    twin = copy_run(serving_run.path, tmp_path / "twin")
    sim = simulate(lastfm_small_kg, {"A": serving_run.path, "B": twin}, store=exp_store, k=20, seed=0)
    assert not sim.report.significant, sim.report.text()
    exposures = [r for r in sim.records if r.type == "exposure"]
    assert len(exposures) == sim.users
    found = []
    for seed in range(20):
        assignment = Assignment("same", ("A", "B"), (0.5, 0.5), salt=f"seed{seed}")
        found.append(report(_relabelled(sim.records, assignment), control="A").significant)
    assert sum(found) <= 2, f"{sum(found)} of 20 seeds found a difference between identical arms"


@pytest.mark.slow
def test_the_same_run_in_both_arms_twenty_full_replays(exp_store, lastfm_small_kg, serving_run, tmp_path):
    """The same claim with 20 whole replays through the service (minutes: run with -m slow)."""
    from kgrec.gnn.run import copy_run
    from kgrec.serving.experiments import simulate

    twin = copy_run(serving_run.path, tmp_path / "twin")
    found = [simulate(lastfm_small_kg, {"A": serving_run.path, "B": twin}, store=exp_store, k=20,
                      seed=seed).report.significant for seed in range(20)]
    assert sum(found) <= 2, f"{sum(found)} of 20 seeds found a difference between identical arms"


@pytest.mark.ui
def test_the_ui_shows_the_arm(exp_store, lastfm_small_kg, serving_run, pop_run):
    """/ui in a real headless Chromium says which arm served the list it shows."""
    import os

    from kgrec.serving import Recommender
    from kgrec.serving.experiments import Assignment, Experiment
    from kgrec.serving.http import BackgroundServer, create_app

    chromium = os.environ.get("KGREC_CHROMIUM", "/usr/bin/chromium")
    if not os.access(chromium, os.X_OK):
        pytest.skip(f"no Chromium at {chromium} (Debian package 'chromium'; .ci/run installs it)")
    from playwright.sync_api import sync_playwright

    arms = {"A": Recommender.load(pop_run.path, graph=lastfm_small_kg),
            "B": Recommender.load(serving_run.path, graph=lastfm_small_kg)}
    exp = Experiment(Assignment("ui-arm", ("A", "B"), (0.5, 0.5)), arms)
    user = arms["A"].users()[0]
    with BackgroundServer(create_app(arms["A"], experiment=exp)) as server, sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, headless=True,
                                    args=["--no-sandbox", "--disable-gpu", "--no-first-run"])
        try:
            page = browser.new_page()
            page.goto(f"{server.url}/ui", wait_until="networkidle")
            page.wait_for_selector("body[data-state=loaded]", timeout=30_000)
            page.select_option("#user", user)
            page.wait_for_selector("body[data-state=ready]", timeout=60_000)
            message = page.locator("#message").inner_text()
            assert f"served by arm {exp.arm(user)} of experiment ui-arm" in message, message
            assert page.locator("body").get_attribute("data-arm") == exp.arm(user)
        finally:
            browser.close()
