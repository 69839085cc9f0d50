"""The network: h_t = F(W x_t + U h_{t-1}); scores = V h_t + b + repeat(h_t, recent plays).

* ``W`` track embedding (+ an artist embedding, so an artist's tracks share strength);
* ``F``/``U`` a GRU (default) or the plain ``relu`` recurrence, one layer;
* ``V`` output vectors over every track, tied to ``W`` through a projection of ``h``;
* ``succ`` a successor memory: the tracks that followed the earlier plays of the current
  track get a learned bonus (albums and playlists are replayed in order - what a
  first-order Markov chain captures and a small softmax layer blurs);
* ``repeat`` a RepeatNet-like scorer: each of the latest plays adds to the score of its own
  track (and, weaker, of its artist's tracks) a learned weight that depends on how long ago
  it was heard (distance bucket, same session or not) and on the hidden state, which thus
  decides between "play something again" and "explore". Personal listening repeats a lot;
  a softmax over embeddings alone is poor at "the one you heard 40 plays ago".

Training uses softmax + cross-entropy over all tracks (see ``train.py``).
"""

from __future__ import annotations

import torch
from torch import nn

from .config import Config
from .data import repeat_slots, successor_slots

#: Copy-mechanism inputs by name: (track indices, slot, valid), each [M, R].
Feats = dict[str, tuple[torch.Tensor, torch.Tensor, torch.Tensor]]


class Net(nn.Module):
    """The next-track network for ``n_items`` tracks and ``n_artists`` artists (0 = none)."""

    def __init__(self, cfg: Config, n_items: int, n_artists: int) -> None:
        super().__init__()
        self.cfg = cfg
        self.n_artists = max(n_artists, 1)
        e, h = cfg.embedding_dim, cfg.hidden_dim
        self.item = nn.Embedding(n_items, e, padding_idx=0)
        nn.init.normal_(self.item.weight, std=0.1)
        with torch.no_grad():
            self.item.weight[0].zero_()
        self.artist = nn.Embedding(max(n_artists, 1), e, padding_idx=0) \
            if cfg.artist_embedding else None
        if self.artist is not None:
            nn.init.normal_(self.artist.weight, std=0.05)
            with torch.no_grad():
                self.artist.weight[0].zero_()
        # Artist of each track (0 = unknown); a buffer, so it travels in the state_dict.
        self.register_buffer("item_artist", torch.zeros(n_items, dtype=torch.long))
        self.unk = nn.Parameter(torch.zeros(e))    # input for a track the model never saw
        self.start = nn.Parameter(torch.zeros(e))  # added to the first play of a session
        if cfg.cell == "gru":
            self.rnn: nn.Module = nn.GRU(e, h, batch_first=True)
        else:
            self.rnn = nn.RNN(e, h, nonlinearity="relu", batch_first=True)
        self.drop = nn.Dropout(cfg.dropout)
        self.proj = nn.Linear(h, e)
        self.out = None if cfg.tied else nn.Embedding(n_items, e)
        if self.out is not None:
            nn.init.normal_(self.out.weight, std=0.1)
        self.bias = nn.Parameter(torch.zeros(n_items))
        # Copy mechanisms: one learned weight per slot (see data.repeat_features and
        # data.successor_features), plus a hidden-state-dependent part (the gate) that
        # lets the state decide how much repeating fits the moment. Zero at start.
        nr = repeat_slots(cfg.repeat_window) if cfg.repeat_window > 0 else 0
        self.has_repeat = nr > 0
        if nr:
            self.rep, self.rep_gate = _slot_weights(h, nr)
        self.artist_rep = bool(nr and cfg.artist_repeat)
        if self.artist_rep:
            self.arep, self.arep_gate = _slot_weights(h, nr)
        ns = successor_slots(cfg.successor_memory, cfg.successor_offsets) \
            if cfg.successor_memory > 0 else 0
        self.has_succ = ns > 0
        if ns:
            self.succ, self.succ_gate = _slot_weights(h, ns)

    @property
    def n_items(self) -> int:
        """Rows of the track tables, padding included."""
        return self.item.num_embeddings

    # ------------------------------------------------------------------ vectors

    def track_vectors(self) -> torch.Tensor:
        """Input vector of every track: its own embedding plus its artist's."""
        v = self.item.weight
        if self.artist is not None:
            v = v + self.artist(self.item_artist)
        return v

    def output_vectors(self) -> torch.Tensor:
        """Output vector V of every track (the input vectors when tied)."""
        return self.track_vectors() if self.out is None else self.out.weight

    def inputs(self, x: torch.Tensor, start: torch.Tensor) -> torch.Tensor:
        """Input vectors for track indices ``x`` (0 = unknown track) and session starts."""
        v = self.item(x)
        if self.artist is not None:
            v = v + self.artist(self.item_artist[x])
        v = torch.where((x == 0).unsqueeze(-1), self.unk.expand_as(v), v)
        return v + start.unsqueeze(-1).to(v.dtype) * self.start

    # ------------------------------------------------------------------ recurrence

    def run(self, x: torch.Tensor, start: torch.Tensor, h0: torch.Tensor | None = None,
            reset: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Hidden states for inputs ``x`` [B, T]; ``reset`` [B, T] zeroes h before a step.

        Returns (outputs [B, T, H], last hidden [B, H]). Without resets inside the window the
        whole window is one fused call; with them it steps one play at a time.
        """
        inp = self.drop(self.inputs(x, start))
        b = x.shape[0]
        h = h0 if h0 is not None else inp.new_zeros(b, self.cfg.hidden_dim)
        if reset is None or not bool(reset[:, 1:].any()):
            if reset is not None:
                h = h * (~reset[:, 0]).unsqueeze(1).to(h.dtype)
            out, hn = self.rnn(inp, h.unsqueeze(0))
            return out, hn.squeeze(0)
        outs = []
        for t in range(x.shape[1]):
            h = h * (~reset[:, t]).unsqueeze(1).to(h.dtype)
            o, hn = self.rnn(inp[:, t: t + 1], h.unsqueeze(0))
            h = hn.squeeze(0)
            outs.append(o)
        return torch.cat(outs, dim=1), h

    # ------------------------------------------------------------------ scores

    def logits(self, h: torch.Tensor, feats: Feats | None = None,
               vectors: torch.Tensor | None = None,
               subset: torch.Tensor | None = None) -> torch.Tensor:
        """Scores [M, N] of every track (or [M, S] of ``subset``) for hidden states [M, H].

        ``feats`` holds the copy inputs, each a triple (track indices [M, R], slot [M, R],
        valid mask [M, R]): ``"repeat"`` the latest plays and ``"succ"`` what followed the
        earlier plays of the current track (see ``data``). ``vectors`` may pass precomputed
        ``output_vectors()``. ``subset`` (sorted track indices starting with 0, the padding)
        restricts the output to those tracks: the sampled softmax of large vocabularies;
        copy inputs outside the subset then fall on the padding column.
        """
        q = self.proj(self.drop(h))
        v = self.output_vectors() if vectors is None else vectors
        bias = self.bias
        item_artist = self.item_artist
        remap = None
        if subset is not None:
            v, bias, item_artist = v[subset], bias[subset], item_artist[subset]
            remap = torch.zeros(self.n_items, dtype=torch.long)
            remap[subset] = torch.arange(len(subset))
        out = q @ v.t() + bias
        if feats:
            if self.has_repeat and "repeat" in feats:
                hist, slot, valid = feats["repeat"]
                validf = valid.to(h.dtype)
                c = (self.rep[slot] + self.rep_gate(h).gather(1, slot)) * validf
                cols = hist if remap is None else remap[hist]
                out = out.scatter_add(1, cols, c)
                if self.artist_rep:
                    ca = (self.arep[slot] + self.arep_gate(h).gather(1, slot)) * validf
                    arts = h.new_zeros(h.shape[0], self.n_artists)
                    arts = arts.scatter_add(1, self.item_artist[hist], ca)
                    # Column 0 is "unknown artist", which is no artist at all.
                    arts = arts.index_fill(1, _ZERO, 0.0)
                    out = out + arts.index_select(1, item_artist)
            if self.has_succ and "succ" in feats:
                items, slot, valid = feats["succ"]
                c = (self.succ[slot] + self.succ_gate(h).gather(1, slot)) * valid.to(h.dtype)
                out = out.scatter_add(1, items if remap is None else remap[items], c)
        # The padding column is never a recommendation.
        return out.index_fill(1, _ZERO, float("-inf"))


_ZERO = torch.zeros(1, dtype=torch.long)


def _slot_weights(hidden: int, slots: int) -> tuple[nn.Parameter, nn.Linear]:
    """A per-slot weight and a per-slot linear gate on the hidden state, both zero."""
    gate = nn.Linear(hidden, slots)
    nn.init.zeros_(gate.weight)
    nn.init.zeros_(gate.bias)
    return nn.Parameter(torch.zeros(slots)), gate
