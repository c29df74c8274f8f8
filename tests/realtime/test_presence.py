"""Presence of a topic: track, re-track, untrack, as the clients' presence_state / presence_diff read it."""

from __future__ import annotations

from backstack.realtime.presence import TopicPresence


def test_track_retrack_and_untrack_report_phoenix_diffs() -> None:
    presence = TopicPresence()
    first = presence.track("s1", "alice", {"online": True, "phx_ref": "forged"})
    [meta] = first["joins"]["alice"]["metas"]
    assert first["leaves"] == {} and meta["online"] is True and meta["phx_ref"] != "forged"
    second = presence.track("s1", "alice", {"online": False})
    assert second["leaves"]["alice"]["metas"] == [meta]
    [updated] = second["joins"]["alice"]["metas"]
    assert updated["phx_ref_prev"] == meta["phx_ref"] and updated["online"] is False
    presence.track("s2", "alice", {"tab": 2})
    assert [m.get("tab") for m in presence.state()["alice"]["metas"]] == [None, 2]
    assert presence.untrack("s1") == {"joins": {}, "leaves": {"alice": {"metas": [updated]}}}
    assert presence.untrack("s1") is None
    assert len(presence) == 1
