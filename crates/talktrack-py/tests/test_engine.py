"""talktrack.Engine: decide, reload, rollback, outcomes, and the typed errors."""

import json
import shutil
import threading

import pytest

import talktrack


def test_decides_from_a_dict_and_from_json_text(bundle, request_dict):
    engine = talktrack.Engine(bundle)
    d = engine.decide(request_dict)
    assert d["bundle"]["name"] == "persuasion"
    assert d["chosen"]["track"] in {r["track"] for r in d["ranked"]}
    # The rules: no confirmation of a donation nobody agreed to, ever.
    assert "ask-confirm-donation" in {m["track"] for m in d["masked"]}
    assert isinstance(d["decision_id"], str) and d["decision_id"]
    again = engine.decide(json.dumps(request_dict))
    assert again["chosen"]["track"] == d["chosen"]["track"]
    assert again["decision_id"] != d["decision_id"]


def test_a_bad_request_is_a_request_error_with_the_engines_message(bundle, request_dict):
    engine = talktrack.Engine(bundle)
    request_dict["history"]["tracks"][1] = "no-such-track"
    with pytest.raises(talktrack.RequestError) as e:
        engine.decide(request_dict)
    assert str(e.value) == "`history.tracks[1]`: unknown track `no-such-track`"
    assert isinstance(e.value, talktrack.TalktrackError)
    with pytest.raises(talktrack.RequestError, match="unknown field `colour`"):
        engine.decide({**request_dict, "colour": "red"})
    with pytest.raises(talktrack.RequestError, match="cannot be encoded as JSON"):
        engine.decide({"conversation_id": object()})


def test_a_broken_bundle_is_a_bundle_error_listing_its_problems(bundle, tmp_path):
    broken = tmp_path / "broken"
    shutil.copytree(bundle, broken)
    rules = broken / "rules" / "persuasion.rules"
    rules.write_text(rules.read_text() + "\nrule oops\n  forbid track no-such-track\n")
    with pytest.raises(talktrack.BundleError) as e:
        talktrack.Engine(broken)
    problems = e.value.problems
    assert problems, "no problems listed"
    bad = [p for p in problems if "no-such-track" in p["message"]]
    assert bad, problems
    assert bad[0]["severity"] == "error"
    line = rules.read_text().splitlines().index("  forbid track no-such-track") + 1
    column = len("  forbid track ") + 1
    assert bad[0]["location"] == f"rules/persuasion.rules:{line}:{column}"
    assert "no-such-track" in str(e.value)


def test_reload_rollback_version_and_status(bundle, other_bundle, tmp_path):
    engine = talktrack.Engine(bundle)
    first = engine.version()
    assert first["name"] == "persuasion" and first["serial"] == 1
    assert engine.identity() == {k: first[k] for k in ("name", "version", "digest")}
    with pytest.raises(talktrack.RollbackError, match="no previous version"):
        engine.rollback()

    second = engine.reload(other_bundle)
    assert second["name"] == "telecom-upsell" and second["serial"] == 2
    status = engine.status()
    assert status["current"]["digest"] == second["digest"]
    assert status["previous"]["digest"] == first["digest"]
    assert status["pinned"] is False and status["last_error"] is None

    broken = tmp_path / "broken"
    broken.mkdir()
    with pytest.raises(talktrack.BundleError):
        engine.reload(broken)
    status = engine.status()
    assert status["current"]["digest"] == second["digest"], "a bad reload replaced the version"
    assert status["reloads_failed"] == 1
    assert status["last_error"]["problems"]

    back = engine.rollback()
    assert back["digest"] == first["digest"]
    assert engine.status()["pinned"] is True
    assert engine.version()["digest"] == first["digest"]


def test_record_outcome_checks_its_fields(bundle, request_dict):
    engine = talktrack.Engine(bundle)
    d = engine.decide(request_dict)
    engine.record_outcome(
        {"conversation_id": "p4g-demo", "decision_id": d["decision_id"], "converted": True}
    )
    with pytest.raises(talktrack.RequestError, match="converted"):
        engine.record_outcome({"conversation_id": "p4g-demo"})


def test_one_engine_decides_from_many_threads(bundle, request_dict):
    engine = talktrack.Engine(bundle)
    expected = engine.decide(request_dict)["chosen"]["track"]
    seen, errors = [], []

    def work():
        try:
            for _ in range(50):
                seen.append(engine.decide(request_dict)["chosen"]["track"])
        except Exception as e:  # noqa: BLE001 - reported below
            errors.append(e)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert len(seen) == 200 and set(seen) == {expected}
