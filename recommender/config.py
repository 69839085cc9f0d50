"""Hyper-parameters of the next-track network, declared once. No torch here.

The defaults are the setting that won on held-out data (the time-ordered validation tails
of the public log and of the second check); docs/recommender.md has the measurements.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any

from .logs import SESSION_GAP_S
from .vocab import FIELDS


@dataclass
class Config:
    """Everything that shapes the model and its training. Plain values: goes in checkpoints."""

    # --- network -----------------------------------------------------------------------
    #: "gru" (default) or "rnn": the plain h_t = relu(W x_t + U h_{t-1}) cell, for comparison.
    cell: str = "gru"
    #: Size of the track embedding W (and of the output vectors when tied). 32 measured as
    #: good as 64 on every log (docs/recommender.md), at half the cost of the output layer.
    embedding_dim: int = 32
    #: Size of the hidden state h. Small: one person's log has tens of thousands of plays.
    hidden_dim: int = 128
    #: Output vectors V tied to the input embedding W (GRU4Rec's "constrained embedding").
    tied: bool = True
    #: Dropout on the input embedding and on the hidden state before the output layer.
    dropout: float = 0.3
    #: Add an artist embedding to every track vector (shares strength among an artist's
    #: tracks, and gives a new track by a known artist a sensible vector from day one).
    artist_embedding: bool = True
    #: Per-track fields (``vocab.FIELDS``) whose embeddings join every track's vector, when
    #: the metadata has them (a listening log has the artist only; a library has more).
    #: They are also all a track the network never learned is scored from.
    track_fields: str = "artist,album,genre,year,loudness"
    #: Carry the hidden state across a listener's sessions (a session start is then a
    #: learned input signal) instead of resetting it as GRU4Rec does.
    carry_state: bool = True

    # --- repeat / recency scorer (RepeatNet-like) -----------------------------------------
    #: How many of the latest plays the repeat scorer looks back over (0 = off). Personal
    #: logs repeat a lot: a track heard recently is the likeliest next one.
    repeat_window: int = 512
    #: Tell the repeat scorer which play is a track's latest (the ``recent`` rule) apart
    #: from its older plays (frequency).
    repeat_latest: bool = True
    #: Also score the artists of recent plays (a learned bonus for every track of them).
    artist_repeat: bool = True
    #: Successor memory: how many earlier plays of the current track are looked up to
    #: boost what followed them (0 = off). Albums and playlists get replayed in order.
    successor_memory: int = 16
    #: How far after those earlier plays to look (1 = the next track only; more helps
    #: with shuffled playlists and partly replayed albums).
    successor_offsets: int = 3

    # --- skips ---------------------------------------------------------------------------
    #: Weight of the unlikelihood loss that pushes down a track the listener skipped right
    #: after a play (0 = skips ignored).
    skip_weight: float = 0.0
    #: At most this many skips between two kept plays are used (longer runs are zapping).
    max_skips: int = 4

    # --- training ------------------------------------------------------------------------
    #: Above this many tracks, training scores a sample of tracks per step (the targets,
    #: every track the copy inputs name, ``n_sample`` drawn by popularity^0.75) instead of
    #: all of them: the full softmax costs O(tracks) per play.
    full_softmax_max: int = 8192
    n_sample: int = 1024
    #: Parallel lanes of the session-parallel mini-batch.
    batch_size: int = 32
    #: Truncated back-propagation through time: steps per window.
    bptt: int = 32
    #: Upper bound on epochs; early stopping usually ends sooner.
    epochs: int = 30
    #: Adam learning rate and L2 weight decay.
    lr: float = 0.003
    weight_decay: float = 0.0
    #: Gradient clipping (global norm): the recurrence can blow up otherwise.
    clip: float = 5.0
    #: Share of the training sessions (the latest ones) held out for early stopping and for
    #: fitting the blend.
    val_share: float = 0.1
    #: At most this many held-out targets (the latest) are scored per validation and used
    #: to fit the blend: enough to measure, bounded for long histories.
    val_max_targets: int = 2000
    #: Fit the blend on the held-out tail: how much to trust each part of the network and
    #: each explicit signal of the context (recency, artist, transitions, popularity) for
    #: this listener (see blend.py). Off: the network's plain sum.
    blend: bool = True
    #: Validate (and maybe stop early) after every this many training plays, and at least
    #: once per epoch: a long history is learned within its first pass or two (measured
    #: on a 137k-play log: the best held-out score came after one epoch), so it pays to
    #: look more often than once per pass.
    val_every_plays: int = 40_000
    #: Validations without improvement of the validation score before stopping; each such
    #: epoch also multiplies the learning rate by ``plateau_decay`` (1 = off: halving was
    #: measured no better, and it starves the pass over the validation tail).
    patience: int = 3
    plateau_decay: float = 1.0
    #: Time budget of a training run in seconds (0 = none): no epoch is started that would
    #: end past it; the best weights so far are kept. Only a safety net for far slower
    #: machines: training stops by work done (epochs, early stopping), so that the same
    #: data and seed give the same model under any machine load. When it bites, the
    #: training report says so (``time_limited``).
    max_train_s: float = 600.0
    #: After early stopping, train this many extra epochs on the validation tail itself,
    #: so that the most recent listening (the most telling) is not left out of the model.
    tail_epochs: int = 1
    #: Probability of replacing an input track by the "unknown track" vector, so that the
    #: model knows what to do with tracks it never saw (new music in the context).
    unk_rate: float = 0.05
    #: Epochs and learning rate of a fine-tune on new listens (``fit`` on a fitted model).
    finetune_epochs: int = 3
    finetune_lr: float = 0.001
    #: Seed of every random choice: same data + same seed = same model.
    seed: int = 0
    #: At most this many tracks get a learned vector, the most played ones; the others
    #: (plays of a larger catalogue, or tracks added since) are scored from their fields.
    #: Bounds memory and time on huge histories.
    max_tracks: int = 200_000

    # --- inference -----------------------------------------------------------------------
    #: Latest plays the recurrent state is rebuilt from in ``recommend`` (older plays only
    #: count through the copy inputs); bounds the cost of one recommendation. Measured on
    #: the public log: 16, 32, 64, 128 and the fully carried state give the same ranks.
    context_window: int = 32
    #: A gap longer than this between two plays of a context starts a new session (the
    #: session rule of ``logs.is_new_session``: 30 minutes).
    session_gap_s: float = float(SESSION_GAP_S)
    #: Threads torch uses. One: the network is small (batches of 32 lanes), so a second
    #: thread gains little on an idle machine, while on a busy one (a desktop, or the
    #: 2-core machines this runs on) two threads that wait for each other at every
    #: operation ran 3-4x slower than one. And a fixed count keeps results bitwise
    #: reproducible (reductions split across threads round differently).
    threads: int = 1

    def used_fields(self) -> tuple[str, ...]:
        """The per-track fields the network embeds (``track_fields``, less the artist when
        ``artist_embedding`` is off)."""
        names = [f.strip() for f in self.track_fields.split(",") if f.strip()]
        return tuple(f for f in FIELDS if f in names
                     and (f != "artist" or self.artist_embedding))

    def to_dict(self) -> dict[str, Any]:
        """Plain dict for checkpoints and reports."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Config:
        """Build from a dict, ignoring unknown keys (forward compatibility) and checking types."""
        known = {f.name: f for f in fields(cls)}
        kwargs = {}
        for k, v in data.items():
            if k not in known:
                continue
            default = getattr(cls(), k)
            if isinstance(default, bool):
                if not isinstance(v, bool):
                    raise TypeError(f"config {k}: expected bool, got {type(v).__name__}")
            elif isinstance(default, (int, float)) and not isinstance(v, (int, float)):
                raise TypeError(f"config {k}: expected a number, got {type(v).__name__}")
            elif isinstance(default, str) and not isinstance(v, str):
                raise TypeError(f"config {k}: expected str, got {type(v).__name__}")
            kwargs[k] = type(default)(v) if isinstance(default, float) else v
        cfg = cls(**kwargs)
        cfg.validate()
        return cfg

    def validate(self) -> None:
        """Raise ``ValueError`` on values the model cannot work with."""
        if self.cell not in ("gru", "rnn"):
            raise ValueError(f"cell must be 'gru' or 'rnn', not {self.cell!r}")
        for name in ("embedding_dim", "hidden_dim", "batch_size", "bptt", "context_window",
                     "threads"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1")
        if not 0.0 <= self.dropout < 1.0 or not 0.0 <= self.unk_rate < 1.0:
            raise ValueError("dropout and unk_rate must be in [0, 1)")
        if not 0.0 <= self.val_share < 1.0:
            raise ValueError("val_share must be in [0, 1)")
        if self.repeat_window < 0 or self.successor_memory < 0 or self.epochs < 0 \
                or self.lr <= 0 or self.successor_offsets < 1:
            raise ValueError("repeat_window, successor_memory, epochs must be >= 0, lr > 0")
        if self.max_tracks < 1 or self.val_max_targets < 1 or self.val_every_plays < 1:
            raise ValueError("max_tracks, val_max_targets and val_every_plays must be >= 1")
        unknown = [f.strip() for f in self.track_fields.split(",") if f.strip()
                   and f.strip() not in FIELDS]
        if unknown:
            raise ValueError(f"unknown fields {unknown}; choose from {', '.join(FIELDS)}")
