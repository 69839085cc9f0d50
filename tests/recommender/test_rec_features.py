"""The copy inputs: training (whole stream) and inference (PlayLog) agree; no future leaks."""

from __future__ import annotations

import numpy as np

from recommender.data import (PlayLog, bucket, build_stream, lane_layout,
                              n_buckets, next_occurrences, previous_occurrences,
                              repeat_features, successor_features)
from recommender.logs import Event
from recommender.vocab import Vocab


def random_stream(n: int = 300, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    items = rng.integers(0, 12, size=n)  # 0 = unknown tracks mixed in
    session = np.cumsum(rng.random(n) < 0.1)
    return items.astype(np.int64), session.astype(np.int64)


def test_playlog_matches_training_features_at_every_position() -> None:
    items, session = random_stream()
    nxt = next_occurrences(items)
    prev = previous_occurrences(items, 5)
    log = PlayLog(capacity=4)  # also exercises growth
    for p in range(len(items)):
        log.append(int(items[p]), int(session[p]))
        want = repeat_features(items, session, nxt, np.array([p]), 32)
        got = log.repeat_inputs(32)
        for w, g in zip(want, got):
            assert np.array_equal(w[0], g), p
        want = successor_features(items, session, np.array([p]), prev[p][None], 3)
        got = log.successor_inputs(5, 3)
        for w, g in zip(want, got):
            assert np.array_equal(w[0], g), p


def test_successors_never_look_past_the_current_play() -> None:
    items, session = random_stream(seed=1)
    prev = previous_occurrences(items, 8)
    for p in range(len(items)):
        tracks, _, valid = successor_features(items, session, np.array([p]), prev[p][None], 4)
        seen = set(items[: p + 1].tolist())
        assert set(tracks[0][valid[0]].tolist()) <= seen


def test_repeat_slots_by_hand() -> None:
    items = np.array([5, 6, 5, 7], dtype=np.int64)
    session = np.array([0, 0, 1, 1], dtype=np.int64)
    hist, slot, valid = repeat_features(items, session, next_occurrences(items),
                                        np.array([3]), 4)
    nb = n_buckets(4)
    assert hist[0].tolist() == [7, 5, 6, 5]
    assert valid[0].tolist() == [True] * 4
    # 7: d0 same session latest; 5: d1 same latest; 6: d2 earlier session latest;
    # 5: d3 earlier session, not the latest play of 5.
    assert slot[0].tolist() == [0, 1, 2 + nb, 3 + nb + 2 * nb]
    assert bucket(5) == bucket(7) == 4 and bucket(8) == 5


def test_successor_features_by_hand() -> None:
    # a b c | a b d | a -> after the current a: b (twice, offsets 1), c and d at offset 2.
    items = np.array([1, 2, 3, 1, 2, 4, 1], dtype=np.int64)
    session = np.array([0, 0, 0, 1, 1, 1, 2], dtype=np.int64)
    prev = previous_occurrences(items, 2)
    tracks, slot, valid = successor_features(items, session, np.array([6]), prev[6][None], 2)
    assert prev[6].tolist() == [3, 0]
    assert tracks[0].tolist() == [2, 2, 4, 3] and valid[0].all()


def test_stream_targets_and_skips() -> None:
    vocab = Vocab(["a", "b", "c", "s"])
    st = build_stream([["a", Event("s", skipped=True), "b"], ["c", "a"]], vocab)
    assert st.items.tolist() == [1, 2, 3, 1]
    assert st.starts.tolist() == [True, False, True, False]
    assert st.targets().tolist() == [2, 0, 1, 0]  # no target across sessions
    assert st.skips[0].tolist()[:1] == [4]
    ctx = build_stream([["b"]], vocab, context=[(1, 0), (3, 0)])
    assert ctx.targets().tolist() == [0, 0, 0] and ctx.first_target == 2


def test_lane_layout_covers_every_position_once() -> None:
    rng = np.random.default_rng(0)
    for n, lanes in ((100, 7), (5, 32), (1, 1)):
        lay = lane_layout(n, lanes, rng)
        got = sorted(lay[lay >= 0].tolist())
        assert got == list(range(n))
        for row in lay:  # contiguous runs
            r = row[row >= 0]
            assert (np.diff(r) == 1).all()


def test_playlog_from_arrays_equals_appending() -> None:
    items, session = random_stream(n=120, seed=3)
    for n in (1, 2, 50, 120):
        bulk = PlayLog.from_arrays(items[:n], session[:n])
        one = PlayLog(capacity=2)
        for i, s in zip(items[:n], session[:n]):
            one.append(int(i), int(s))
        assert np.array_equal(bulk.next_occ[:n], one.next_occ[:n])
        assert np.array_equal(bulk.next_occ[:n], next_occurrences(items[:n]))
        for a, b in zip(bulk.successor_inputs(4, 2), one.successor_inputs(4, 2)):
            assert np.array_equal(a, b)
        bulk.append(int(items[0]), int(session[n - 1]))  # growing a bulk-built log
        one.append(int(items[0]), int(session[n - 1]))
        assert np.array_equal(bulk.next_occ[: n + 1], one.next_occ[: n + 1])


def test_next_occurrences_known_answer() -> None:
    never = np.iinfo(np.int64).max
    items = np.array([3, 0, 5, 3, 0, 3, 5, 7], dtype=np.int64)  # 0: unknown, never linked
    assert next_occurrences(items).tolist() == [3, never, 6, 5, never, never, never, never]
