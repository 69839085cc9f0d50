"""Protocol v1 and its library variant step by step on small hand-made logs with known
answers (no torch)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from recommender.base import split_context, top_k
from recommender.baselines import SKNN, ArtistRecency, Markov, Pop, Recent, artist_of
from recommender.evaluate import (UserData, evaluate_model, evaluate_users, load_users,
                                  users_from_plays, users_from_playlists)
from recommender.logs import (Event, LogFormatError, Play, kept_tracks, load_log,
                              load_playlists, parse_time, sessions_by_user, split_playlists,
                              split_sessions, track_key)
from recommender.metrics import Metrics, conservative_rank, macro

HEADER = "user\ttimestamp\tartist\ttitle\tms_played\n"


def write_tsv(path: Path, rows: list[tuple]) -> Path:
    path.write_text(HEADER + "".join("\t".join(map(str, r)) + "\n" for r in rows),
                    encoding="utf-8")
    return path


# --------------------------------------------------------------------------- step 1


def test_track_key_normalises_unicode_case_and_space() -> None:
    assert track_key("  The \t Beatles ", "Hey\u00a0 Jude") == ("the beatles", "hey jude")
    assert track_key("ＡＢＢＡ", "Stra\u00dfe") == ("abba", "strasse")  # NFKC + casefold
    assert track_key("Ǆ", "\ufb01ne") == ("dž", "fine")
    assert track_key("A", "b") == track_key("a", "B")


# --------------------------------------------------------------------------- loaders


def test_tsv_loader_times_users_and_dropped_rows(tmp_path: Path) -> None:
    f = write_tsv(tmp_path / "log.tsv", [
        ("", "2022-03-25 23:30", "A", "x", 200000),
        ("", "2022-03-25T23:30:12Z", "A", "y", 100),
        ("bob", "2022-03-25T23:30:12+01:00", "B", "z", 31000),
        ("", "2022-03-26 00:00", "", "no artist", 50000),
        ("", "2022-03-26 00:00", "Unknown Artist", "Unknown Track", 50000),
    ])
    plays = load_log(f, default_user="me")
    assert [(p.user, p.title) for p in plays] == [("me", "x"), ("me", "y"), ("bob", "z")]
    assert plays[0].time == parse_time("2022-03-25T23:30:00+00:00")
    assert plays[1].time - plays[0].time == 12
    assert plays[2].time == plays[1].time - 3600
    assert plays[1].skipped and not plays[0].skipped and not plays[2].skipped


def test_tsv_loader_rejects_bad_header(tmp_path: Path) -> None:
    f = tmp_path / "bad.tsv"
    f.write_text("a\tb\n1\t2\n")
    with pytest.raises(LogFormatError):
        load_log(f)


def test_json_loaders_all_formats(tmp_path: Path) -> None:
    (tmp_path / "StreamingHistory0.json").write_text(json.dumps([
        {"endTime": "2021-01-01 10:00", "artistName": "A", "trackName": "a1", "msPlayed": 40000},
        {"endTime": "2021-01-01 10:00", "artistName": "A", "trackName": "a2", "msPlayed": 10},
    ]))
    (tmp_path / "StreamingHistory10.json").write_text(json.dumps([
        {"endTime": "2021-01-01 09:00", "artistName": "A", "trackName": "last", "msPlayed": 1},
    ]))
    (tmp_path / "StreamingHistory2.json").write_text(json.dumps([
        {"endTime": "2021-01-01 09:00", "artistName": "A", "trackName": "mid", "msPlayed": 1},
    ]))
    plays = load_log(tmp_path)
    # Natural order of the parts: 0, 2, 10 (not 0, 10, 2); ``order`` follows it.
    assert [p.title for p in plays] == ["a1", "a2", "mid", "last"]
    assert [p.order for p in plays] == [0, 1, 2, 3]

    ext = tmp_path / "ext" / "Streaming_History_Audio_2020.json"
    ext.parent.mkdir()
    ext.write_text(json.dumps([
        {"ts": "2020-05-01T10:00:00Z", "master_metadata_album_artist_name": "B",
         "master_metadata_track_name": "b1", "ms_played": 120000},
        {"ts": "2020-05-01T10:05:00Z", "master_metadata_album_artist_name": None,
         "master_metadata_track_name": None, "ms_played": 120000},  # a podcast: dropped
    ]))
    plays = load_log(ext)
    assert [(p.artist, p.title, p.ms_played) for p in plays] == [("B", "b1", 120000)]

    lb = tmp_path / "listens.jsonl"
    lb.write_text("\n".join(json.dumps({"listened_at": 1600000000 + i, "user_name": "u",
                                        "track_metadata": {"artist_name": "C",
                                                           "track_name": f"c{i}"}})
                            for i in range(3)))
    plays = load_log(lb)
    assert [p.title for p in plays] == ["c0", "c1", "c2"]
    assert all(p.user == "u" and not p.skipped for p in plays)
    arr = tmp_path / "listens.json"
    arr.write_text(json.dumps([json.loads(x) for x in lb.read_text().splitlines()]))
    assert [p.title for p in load_log(arr)] == ["c0", "c1", "c2"]


def test_loader_errors(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        load_log(tmp_path / "missing.json")
    bad = tmp_path / "x.json"
    bad.write_text("{not json")
    with pytest.raises(LogFormatError):
        load_log(bad)
    foreign = tmp_path / "y.json"
    foreign.write_text(json.dumps([{"foo": 1}]))
    with pytest.raises(LogFormatError):
        load_log(foreign)


# --------------------------------------------------------------------------- steps 2-4


def plays_at(spec: list[tuple[float, str, int]], user: str = "") -> list[Play]:
    """(minutes, title, ms) -> plays by artist 'a' in file order."""
    return [Play(user, m * 60.0, "a", t, ms, i) for i, (m, t, ms) in enumerate(spec)]


def test_skips_removed_and_sessions_cut_after_30_minutes() -> None:
    plays = plays_at([
        (0, "x", 60000), (1, "s", 29999), (2, "y", 30000),  # 29.999 s is a skip, 30 s is not
        (32, "z", 60000),          # gap exactly 30 min: same session
        (50, "skip", 1000),        # a skip inside the gap does not bridge it
        (62.01, "w", 60000),       # gap > 30 min: new session
    ])
    sessions = sessions_by_user(plays)[""]
    assert [kept_tracks(s) for s in sessions] == [
        [("a", "x"), ("a", "y"), ("a", "z")], [("a", "w")]]
    # Skips stay as signal: one inside session 1, the gap skip joins the nearer next play.
    assert [e.track[1] for e in sessions[0]] == ["x", "s", "y", "z"]
    assert [e.track[1] for e in sessions[1]] == ["skip", "w"]
    assert sessions[0][1].skipped


def test_equal_times_keep_file_order_and_users_are_separate() -> None:
    plays = [Play("u", 100.0, "a", "2", 60000, 0), Play("v", 0.0, "a", "v", 60000, 1),
             Play("u", 100.0, "a", "1", 60000, 2), Play("u", 50.0, "a", "0", 60000, 3)]
    s = sessions_by_user(plays)
    assert [t[1] for t in kept_tracks(s["u"][0])] == ["0", "2", "1"]
    assert [t[1] for t in kept_tracks(s["v"][0])] == ["v"]


@pytest.mark.parametrize("n,train", [(1, 1), (2, 1), (4, 3), (5, 4), (9, 7), (10, 8)])
def test_split_rounds_down_with_at_least_one_train(n: int, train: int) -> None:
    tr, te = split_sessions(list(range(n)))
    assert tr == list(range(train)) and te == list(range(train, n))


def test_playlist_split_is_seeded_90_10() -> None:
    lists = [[("a", str(i))] for i in range(20)]
    tr1, te1 = split_playlists(lists, seed=0)
    tr2, te2 = split_playlists(lists, seed=0)
    assert (tr1, te1) == (tr2, te2) and len(tr1) == 18 and len(te1) == 2
    assert sorted(tr1 + te1) == sorted(lists)


def test_playlist_loaders(tmp_path: Path) -> None:
    (tmp_path / "p.m3u8").write_text(
        "#EXTM3U\n#EXTINF:200,Artist One - Song A\n/music/x.mp3\n/music/Artist Two - Song B.flac\n",
        encoding="utf-8")
    (tmp_path / "q.tsv").write_text("playlist\tposition\tartist\ttitle\n"
                                    "p2\t2\tB\tsecond\np2\t1\tB\tfirst\np3\t1\tC\tonly\n")
    lists = load_playlists(tmp_path)
    assert lists == [[("artist one", "song a"), ("artist two", "song b")],
                     [("b", "first"), ("b", "second")], [("c", "only")]]
    assert load_users([tmp_path])[0].user == "playlists"


# --------------------------------------------------------------------------- steps 7-8


def test_conservative_rank_counts_ties_against_the_model() -> None:
    s = np.array([3.0, 5.0, 3.0, 3.0, 1.0])
    assert conservative_rank(s, 1) == 1
    assert conservative_rank(s, 0) == 4  # 1 above, 2 tied
    assert conservative_rank(s, 4) == 5
    assert conservative_rank(np.zeros(4), 2) == 4  # all tied: last
    assert conservative_rank(s, None) == math.inf
    tb = np.array([1.0, 0.0, 2.0, 1.0, 0.0])
    assert conservative_rank(s, 2, tb) == 2  # tie-break lifts it above 0 and 3
    assert conservative_rank(s, 0, tb) == 4  # ties with 3 on both keys
    assert conservative_rank(np.array([np.nan, 1.0]), 0) == 2  # NaN never wins


def test_hr_and_mrr() -> None:
    m = Metrics()
    for r in (1, 2, 10, 11, 20, 21, math.inf):
        m.add(r)
    assert m.targets == 7
    assert m.hr(10) == pytest.approx(3 / 7)
    assert m.hr(20) == pytest.approx(5 / 7)
    assert m.mrr(10) == pytest.approx((1 + 0.5 + 0.1) / 7)
    assert m.mrr(20) == pytest.approx((1 + 0.5 + 0.1 + 1 / 11 + 1 / 20) / 7)
    assert macro([{"a": 1.0}, {"a": 0.0}]) == {"a": 0.5}


# --------------------------------------------------------------------------- baselines

TRAIN = [["a", "b", "c"], ["a", "b", "d"], ["c", "a", "x"]]
CANDS = ["a", "b", "c", "d", "x", "never"]


def scores_after(model, train, context_sessions, cands=CANDS):
    sc = model.fit(train).scorer(cands)
    sc.observe_sessions(context_sessions)
    return sc.scores()


def test_pop_scores() -> None:
    s, tb = scores_after(Pop(), TRAIN, [["b"]])
    assert s.tolist() == [3, 2, 2, 1, 1, 0] and tb is None


def test_recent_scores_one_clock_over_the_whole_context() -> None:
    s, tb = scores_after(Recent(), TRAIN, [["c", "zz", "a"], ["b"]])
    # clock: c=1, zz=2 (not a candidate, still advances), a=3, b=4
    assert s.tolist() == [3, 4, 1, 0, 0, 0]
    assert tb.tolist() == [3, 2, 2, 1, 1, 0]


def test_markov_scores_use_the_current_session_only() -> None:
    s, tb = scores_after(Markov(), TRAIN, [["x", "y"], ["a"]])
    assert s.tolist() == [0, 2, 0, 0, 1, 0]  # a->b twice, a->x once
    s, _ = scores_after(Markov(), TRAIN, [["a", "zz"]])  # last play not a candidate
    assert s.tolist() == [0] * 6
    s, _ = scores_after(Markov(), TRAIN, [["a"], ["c"]])
    assert s.tolist() == [1, 0, 0, 0, 0, 0]


def test_sknn_scores_by_hand() -> None:
    # Current session [b, zz, a]: length 3, weights b=1/3, a=3/3 (zz adds nothing).
    s, tb = scores_after(SKNN(), TRAIN, [["b", "zz", "a"]])
    norm = math.sqrt((1 / 3) ** 2 + 1)
    sim1 = (1 / 3 + 1) / (norm * math.sqrt(3))  # sessions 0 and 1 share a and b
    sim3 = 1 / (norm * math.sqrt(3))            # session 2 shares a
    expect = {"a": 2 * sim1 + sim3, "b": 2 * sim1, "c": sim1 + sim3, "d": sim1, "x": sim3,
              "never": 0.0}
    assert s.tolist() == pytest.approx([expect[c] for c in CANDS], abs=1e-9)
    assert tb.tolist() == [3, 2, 2, 1, 1, 0]


def test_sknn_keeps_k_neighbours_later_sessions_win_ties() -> None:
    train = [["a", "p"], ["a", "q"], ["a", "r"]]  # all equally similar to [a]
    sc = SKNN(k=2).fit(train).scorer(["a", "p", "q", "r"])
    sc.observe_sessions([["a"]])
    s, _ = sc.scores()
    sim = 1 / math.sqrt(2)
    assert s.tolist() == pytest.approx([2 * sim, 0, sim, sim])


def test_artist_scores_by_hand() -> None:
    # Track keys (artist, title): the artist half is what the baseline may know.
    train = [[("p", "1"), ("p", "2"), ("q", "1")], [("r", "1"), ("q", "2")]]
    cands = [("p", "1"), ("p", "2"), ("q", "1"), ("q", "2"), ("r", "1"), ("p", "new"),
             ("s", "new")]
    sc = ArtistRecency().fit(train).scorer(cands)
    # clock: p1=1, zz (not a candidate: time only)=2, q1=3, p2=4
    sc.observe_sessions([[("p", "1"), ("z", "z"), ("q", "1")], [("p", "2")]])
    s, tb = sc.scores()
    assert s.tolist() == [4, 4, 3, 3, 0, 4, 0]  # an unplayed track of p ranks with p
    assert tb.tolist() == [1, 4, 3, 0, 0, 0, 0]  # its own recent score breaks the tie
    # rank of the unplayed ("p", "new"): behind p2 and p1 (played), ties count against it
    assert conservative_rank(s, 5, tb) == 3


def test_artist_comes_from_metadata_else_the_key() -> None:
    assert artist_of(("Björk ", "Jóga"), None) == "björk"
    assert artist_of(7, {7: {"artist": "  The  Band"}}) == "the band"
    assert artist_of(7, {}) is None and artist_of("x", None) is None
    sc = ArtistRecency().fit([[1, 2]], metadata={1: {"artist": "A"}, 2: {"artist": "B"},
                                                 3: {"artist": "a"}}).scorer([1, 2, 3, 4])
    sc.observe_sessions([[1, 2]])
    assert sc.scores()[0].tolist() == [1, 2, 1, 0]  # 3 shares A's recency; 4 has no artist


def test_library_variant_candidates_are_every_track_of_the_log() -> None:
    train = [[Event("a"), Event("s", skipped=True), Event("b")]]
    test = [["c", "a", "d"], ["d", "e"]]
    v1 = UserData("u", train, test)
    lib = UserData("u", train, test, candidate_set="log")
    assert v1.candidates == ["a", "b"]
    assert lib.candidates == ["a", "b", "c", "d", "e"]  # first appearance; skips are not
    with pytest.raises(ValueError):
        UserData("u", train, test, candidate_set="all")
    # recent: the unplayed-in-training d is a candidate, scored 0 until it is played
    metrics, _ = evaluate_model(Recent(), lib)
    # clock a=1, b=2, c=3: target a ranks 3; a=4: target d (never played) ties with e at
    # 0 (tie-break pop 0 too) -> 3 above + 2 equal = 5; d=5: target e -> 5
    assert metrics.ranks == [3, 5, 5]
    report = evaluate_users([lib], ["recent", "artist"])
    assert report["variant"] == "library" and report["candidates"] == "log"
    assert evaluate_users([v1], ["recent"])["variant"] == "v1"


def test_baselines_ignore_skips() -> None:
    train = [[Event("a"), Event("s", skipped=True), Event("b")]]
    m = Markov().fit(train)
    assert m.known_tracks() == ["a", "b"]
    assert m.transitions["a"] == {"b": 1}


def test_recommend_matches_scorer_and_excludes() -> None:
    m = Recent().fit(TRAIN)
    rec = m.recommend(["b", "c", "a"], k=3)
    assert [t for t, _ in rec] == ["a", "c", "b"]
    assert [t for t, _ in m.recommend(["b", "c", "a"], k=2, exclude=["a"])] == ["c", "b"]
    # Unplayed tracks tie on 0; pop breaks the tie (d and x tie again: first seen first).
    assert [t for t, _ in m.recommend([], k=5)] == ["a", "b", "c", "d", "x"]


def test_split_context_uses_times() -> None:
    ctx = [Event("a", 0.0), Event("b", 100.0), Event("s", 5000.0, skipped=True),
           Event("c", 4000.0)]
    assert [[e.track for e in s] for s in split_context(ctx)] == [["a", "b", "s"], ["c"]]
    assert len(split_context(["a", "b"])) == 1
    ids = ["p", "q", "r"]
    assert top_k(ids, np.array([1.0, 2.0, 2.0]), None, 2) == [("q", 2.0), ("r", 2.0)]


# --------------------------------------------------------------------------- end to end


def test_unseen_targets_are_misses_not_dropped() -> None:
    data = UserData("u", [[Event("a"), Event("b")]], [["a", "b", "new", "b"]])
    assert data.candidates == ["a", "b"] and data.targets == 3
    metrics, timing = evaluate_model(Markov(), data)
    # targets: b after a (count 1 -> rank 1), new (miss), b after new (last not a
    # candidate: all zero; tie-break pop ties a and b -> rank 2)
    assert metrics.ranks == [1, math.inf, 2]
    assert set(timing) == {"train_s", "ms_per_pred"}


def test_max_targets_ranks_the_latest_sessions_with_the_earlier_as_context() -> None:
    """The player's card on a huge history: only the latest test sessions are ranked, the
    earlier ones still count as context - the same ranks as a full run gives them."""
    train = [[Event("a"), Event("b"), Event("c")]]
    test = [["c", "a", "b"], ["b", "c"], ["a", "b", "c"]]
    full, _ = evaluate_model(Recent(), UserData("u", train, test))
    part, _ = evaluate_model(Recent(), UserData("u", train, test), max_targets=2)
    assert full.targets == 5 and part.targets == 2
    assert part.ranks == full.ranks[-2:]
    more, _ = evaluate_model(Recent(), UserData("u", train, test), max_targets=3)
    assert more.ranks == full.ranks[-3:]  # whole sessions: the last two (1 + 2 targets)


def test_context_includes_earlier_test_sessions_and_report_shape(tmp_path: Path) -> None:
    rows = []
    minute = 0
    for i in range(5):  # five sessions an hour apart: 4 train, 1 test
        for t in ("a", "b", "c") if i < 4 else ("c", "b", "a", "zz"):
            rows.append(("", f"2022-01-01T{i:02d}:{minute:02d}:00Z", "X", t, 100000))
            minute += 1
    users = load_users([write_tsv(tmp_path / "l.tsv", rows)])
    assert len(users) == 1 and users[0].targets == 3
    report = evaluate_users(users, ["pop", "recent"])
    assert report["protocol"] == "v1"
    row = report["users"][0]
    assert row["targets"] == 3 and row["unseen_targets"] == 1
    # recent: train clock ends a=10, b=11, c=12; test c -> 13: target b ranks 2 (after c);
    # b -> 14: target a ranks 3; zz is a miss. The test prefix counts as context.
    assert row["models"]["recent"]["hr@10"] == pytest.approx(2 / 3)
    assert row["models"]["recent"]["mrr@10"] == pytest.approx((1 / 2 + 1 / 3) / 3)
    assert set(report["macro"]) == {"pop", "recent"}


def test_playlist_variant_is_one_user() -> None:
    lists = [[("a", str(i)), ("a", str(i + 1))] for i in range(10)]
    users = users_from_playlists(lists)
    assert len(users) == 1 and len(users[0].train) == 9 and len(users[0].test) == 1


def test_users_from_plays_multi_user() -> None:
    plays = plays_at([(0, "x", 60000), (100, "y", 60000)], user="u") + \
        plays_at([(0, "z", 60000)], user="v")
    users = {u.user: u for u in users_from_plays(plays)}
    assert len(users["u"].train) == 1 and len(users["u"].test) == 1
    assert len(users["v"].train) == 1 and users["v"].targets == 0


def test_evaluation_stops_when_cancelled() -> None:
    import threading

    from recommender.base import Cancelled

    cancel = threading.Event()
    cancel.set()
    user = UserData("u", [[Event(t) for t in "abc"], [Event("a"), Event("b")]], [["a", "b", "c"]])
    with pytest.raises(Cancelled):
        evaluate_model(Markov(), user, cancel=cancel)
    cancel.clear()
    metrics, _ = evaluate_model(Markov(), user, cancel=cancel)
    assert metrics.targets == 2
