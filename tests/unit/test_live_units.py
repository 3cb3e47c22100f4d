"""The parts of live events and experiments that need no server: the event schema and its reasons,
arm assignment, the report's statistics, the public name ``kgrec.events``."""

from __future__ import annotations

import json
import math

import pytest


def test_events_round_trip_and_ids_are_cleaned():
    from kgrec.serving.events import InteractionEvent, parse_event

    e = InteractionEvent(user=" u1\u200b", item="42", weight=3)
    assert e.user == "u1" and len(e.id) == 32 and e.v == 1
    assert parse_event(e.to_json()) == e
    assert parse_event(e.to_json().encode()) == e


@pytest.mark.parametrize("raw, reason", [
    ("{", "not JSON"),
    ("[1]", "must be a JSON object"),
    ('{"v": 2, "type": "interaction", "user": "a", "item": "b"}', "unknown event version 2; this kgrec reads version 1"),
    ('{"type": "click", "user": "a"}', "unknown event type 'click'"),
    ('{"type": "interaction", "user": "a"}', "item: Field required"),
    ('{"type": "interaction", "user": "  ", "item": "b"}', "user '  ' is empty"),
    ('{"type": "interaction", "user": "a", "item": "b", "kind": "maybe"}', "kind"),
    ('{"type": "interaction", "user": "a", "item": "b", "weight": "NaN"}', "weight must be a finite"),
    ('{"type": "interaction", "user": "a", "item": "b", "colour": "red"}', "colour: Extra inputs are not permitted"),
    ('{"type": "item", "item": "x", "attributes": {"HAS_TAG": [1.5]}}', "must be a string"),
    ('{"type": "forget"}', "user: Field required"),
    ("x" * 70_000, "at most 65536"),
])
def test_malformed_events_say_why(raw, reason):
    from kgrec.serving.events import EventError, parse_event

    with pytest.raises(EventError, match=None) as e:
        parse_event(raw)
    assert reason in str(e.value), str(e.value)


def test_read_jsonl_names_the_line():
    from kgrec.serving.events import EventError, read_jsonl

    good = json.dumps({"type": "interaction", "user": "a", "item": "b"})
    assert len(read_jsonl([good, "", good], source="f.jsonl")) == 2
    with pytest.raises(EventError, match=r"^f\.jsonl:3: "):
        read_jsonl([good, "", '{"type": "nope"}'], source="f.jsonl")


def test_kgrec_events_is_the_public_name():
    import kgrec

    assert kgrec.events.publish is __import__("kgrec.serving.events", fromlist=["publish"]).publish
    assert "events" in dir(kgrec)


def test_assignment_is_stable_keyed_and_follows_the_split():
    from kgrec.serving.experiments import Assignment

    users = [str(n) for n in range(20_000)]
    a = Assignment("exp1", ("A", "B"), (0.5, 0.5))
    arms = [a.arm(u) for u in users]
    assert arms == [a.arm(u) for u in users]  # no state: the same every time
    assert abs(arms.count("B") / len(users) - 0.5) < 0.02
    skew = Assignment("exp1", ("A", "B"), (0.9, 0.1))
    assert abs([skew.arm(u) for u in users].count("B") / len(users) - 0.1) < 0.01
    other = Assignment("exp2", ("A", "B"), (0.5, 0.5))
    agree = sum(a.arm(u) == other.arm(u) for u in users) / len(users)
    assert 0.45 < agree < 0.55, "two experiments must split users independently"


@pytest.mark.parametrize("kwargs, message", [
    ({"arms": ("A",), "shares": (1.0,)}, "at least two arms"),
    ({"arms": ("A", "A"), "shares": (0.5, 0.5)}, "repeat"),
    ({"arms": ("A", "B"), "shares": (0.7, 0.7)}, "sum to 1"),
    ({"arms": ("A", "b c"), "shares": (0.5, 0.5)}, "arm name 'b c'"),
])
def test_bad_assignments_are_config_errors(kwargs, message):
    from kgrec.errors import ConfigError
    from kgrec.serving.experiments import Assignment

    with pytest.raises(ConfigError, match=message):
        Assignment("e", **kwargs)


def test_split_and_arm_options_parse():
    from kgrec.errors import ConfigError
    from kgrec.serving.experiments import parse_arms, parse_split

    assert parse_split("90/10", 2) == (0.9, 0.1)
    assert parse_split(None, 3) == pytest.approx((1 / 3,) * 3)
    assert parse_arms(["A=runs/a", "B = runs/b"]) == {"A": "runs/a", "B": "runs/b"}
    for bad, arms in (("50-50", 2), ("50/50", 3), ("0/100", 2)):
        with pytest.raises(ConfigError):
            parse_split(bad, arms)
    with pytest.raises(ConfigError, match="NAME=RUN_DIR"):
        parse_arms(["runs/a"])


def _exposure(arm, user, n, items=("i1", "i2", "i3"), k=3):
    from kgrec.serving.events import ExposureEvent

    return ExposureEvent(id=f"e-{arm}-{user}-{n}", experiment="x", arm=arm, user=user, items=list(items), k=k)


def _outcome(exposure, item, rank, n=0):
    from kgrec.serving.events import OutcomeEvent

    return OutcomeEvent(id=f"o-{exposure.id}-{item}-{n}", experiment="x", arm=exposure.arm, user=exposure.user,
                        item=item, rank=rank, exposure=exposure.id, source=f"s{n}")


def test_report_metrics_by_hand():
    from kgrec.serving.experiments import report

    e1, e2 = _exposure("A", "u1", 0), _exposure("A", "u2", 0)
    events = [e1, e2, _outcome(e1, "i2", 2), _outcome(e1, "i2", 2, n=1),  # the same click twice counts once
              _outcome(e1, "zz", None)]  # an item the list did not show: relevant, not a click
    r = report(events, experiment="x")
    a = r.arms[0]
    assert (a.users, a.exposures, a.clicks) == (2, 2, 1)
    assert a.ctr == pytest.approx(0.5) and a.hit == pytest.approx(0.5)
    # u1: one click at rank 2 of two relevant items: (1/log2 3) / (1 + 1/log2 3)
    assert a.ndcg == pytest.approx(((1 / math.log2(3)) / (1 + 1 / math.log2(3))) / 2)


def test_report_finds_a_real_difference_and_none_between_equals():
    import numpy as np

    from kgrec.serving.experiments import report

    rng = np.random.default_rng(0)
    events = []
    for n in range(400):
        arm = "A" if n % 2 else "B"
        e = _exposure(arm, f"u{n}", 0)
        events.append(e)
        if rng.random() < (0.2 if arm == "A" else 0.4):
            events.append(_outcome(e, "i1", 1, n))
    r = report(events, control="A")
    assert r.significant and r.verdicts[0].startswith("B better than A on CTR: +")
    assert "p = " in r.verdicts[0] and "[" in r.verdicts[0]
    same = [e.model_copy(update={"arm": "A" if int(e.user[1:]) % 4 < 2 else "B"}) for e in events]
    assert not report(same, control="A").significant  # relabelled at random: no difference
    assert report(same, control="A").verdicts[0].startswith("no significant difference between B and A on CTR")
