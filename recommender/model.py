"""The network: h_t = F(W x_t + U h_{t-1}); scores = V h_t + b + copy terms; a fitted blend.

* ``W`` track vectors: each track's own embedding plus one embedding per known field of it
  (artist, album, genre, year, loudness - ``vocab.FIELDS``), so a track shares strength
  with its artist's and album's;
* ``F``/``U`` a GRU (default) or the plain ``relu`` recurrence, one layer (``forward``);
* ``V`` output vectors, tied to ``W`` through a projection of ``h``, and a bias per track;
* **cold tracks**: a track the network has not learned (never played, or added to the
  library since) is scored from its fields alone: ``V_cold = sum of its field embeddings +
  a learned offset``, bias ``cold_bias``. Training teaches this honestly: until a track's
  first play in the training stream, it *is* such a track (its own embedding is not used),
  so every first play trains the cold scorer on a real "something new" moment;
* ``repeat`` a RepeatNet-like scorer: each of the latest plays adds to the score of its own
  track (and of its artist's tracks) a learned weight by distance slot and hidden state;
* ``succ`` a successor memory: the tracks that followed the earlier plays of the current
  track get a learned bonus (albums and playlists are replayed in order);
* the **blend** (buffers, fitted after training on the listener's held-out tail by
  ``blend.py``): how much to trust each part (``PARTS``) and each explicit signal of the
  context (``signals.SIGNALS``), with an extra weight for cold tracks. Training itself
  uses the plain sum of the parts.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from .config import Config
from .data import repeat_slots, successor_slots
from .signals import SIGNALS
from .vocab import FIELDS

#: Copy-mechanism inputs by name: (track indices, slot, valid), each [M, R].
Feats = dict[str, tuple[torch.Tensor, torch.Tensor, torch.Tensor]]

#: The network's score parts, in the blend's order (then ``signals.SIGNALS``).
PARTS = ("net", "repeat", "artist_repeat", "successor")
#: Blend weights before fitting: the network's plain sum, no explicit signal.
BLEND_DEFAULT = (1.0, 1.0, 1.0, 1.0) + (0.0,) * len(SIGNALS)
#: The buffers the blend fit writes (nothing else of the network is fitted there).
BLEND_BUFFERS = ("blend", "blend_cold", "blend_cold_bias")
_ARTIST = FIELDS.index("artist")


@dataclass
class Table:
    """Every track scores are asked for: the vocabulary's rows, then ``extra`` tracks the
    network never learned (scored from their fields). Built by ``Net.table``."""

    vectors: torch.Tensor  # [N, E] output vectors of the vocabulary (cold ones for unheard)
    bias: torch.Tensor  # [N]
    extra_fields: torch.Tensor  # [X, len(FIELDS)] field values of the extra tracks
    artist: torch.Tensor  # [N + X] artist of every column
    cold: torch.Tensor  # [N + X] True where the score comes from the fields alone

    @property
    def size(self) -> int:
        return len(self.artist)


class Net(nn.Module):
    """The next-track network for ``n_items`` tracks; ``n_values[f]`` values of field f."""

    def __init__(self, cfg: Config, n_items: int, n_values: list[int] | tuple[int, ...]
                 ) -> None:
        super().__init__()
        self.cfg = cfg
        e, h = cfg.embedding_dim, cfg.hidden_dim
        self.item = nn.Embedding(n_items, e, padding_idx=0)
        nn.init.normal_(self.item.weight, std=0.1)
        with torch.no_grad():
            self.item.weight[0].zero_()
        used = cfg.used_fields()
        self.field = nn.ModuleDict()
        for f, name in enumerate(FIELDS):
            if name in used:
                emb = nn.Embedding(max(int(n_values[f]), 1), e, padding_idx=0)
                nn.init.normal_(emb.weight, std=0.05)
                with torch.no_grad():
                    emb.weight[0].zero_()
                self.field[name] = emb
        # Field values of every track (0 = unknown) and whether the network has learned the
        # track (it had a kept play in training): buffers, so they travel in the state_dict.
        self.register_buffer("item_fields", torch.zeros(n_items, len(FIELDS), dtype=torch.long))
        self.register_buffer("heard", torch.zeros(n_items, dtype=torch.bool))
        self.unk = nn.Parameter(torch.zeros(e))    # input offset of a track not learned
        self.cold = nn.Parameter(torch.zeros(e))   # output offset of a track not learned
        self.cold_bias = nn.Parameter(torch.zeros(1))
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
        self.artist_rep = bool(nr and cfg.artist_repeat and "artist" in self.field)
        if self.artist_rep:
            self.arep, self.arep_gate = _slot_weights(h, nr)
        ns = successor_slots(cfg.successor_memory, cfg.successor_offsets) \
            if cfg.successor_memory > 0 else 0
        self.has_succ = ns > 0
        if ns:
            self.succ, self.succ_gate = _slot_weights(h, ns)
        # The blend: weights of PARTS + SIGNALS for learned tracks, the change of each for
        # cold ones, and a shift of the cold tracks' scores. Fitted, not trained.
        k = len(PARTS) + len(SIGNALS)
        self.register_buffer("blend", torch.tensor(BLEND_DEFAULT))
        self.register_buffer("blend_cold", torch.zeros(k))
        self.register_buffer("blend_cold_bias", torch.zeros(1))

    @property
    def n_items(self) -> int:
        """Rows of the track tables, padding included."""
        return self.item.num_embeddings

    @property
    def n_artists(self) -> int:
        """Artist values (0 = unknown) the artist tables know."""
        return self.field["artist"].num_embeddings if "artist" in self.field else 1

    # ------------------------------------------------------------------ vectors

    def field_vectors(self, fields: torch.Tensor) -> torch.Tensor:
        """Sum of the field embeddings of tracks with field values ``fields`` [..., F]."""
        out = None
        for name, emb in self.field.items():
            if emb.num_embeddings <= 1:  # no value known: nothing to add
                continue
            v = emb(fields[..., FIELDS.index(name)])
            out = v if out is None else out + v
        if out is None:
            return self.cold.new_zeros(*fields.shape[:-1], self.cfg.embedding_dim)
        return out

    def track_vectors(self) -> torch.Tensor:
        """Input vector of every learned track: its own embedding plus its fields'."""
        return self.item.weight + self.field_vectors(self.item_fields)

    def output_vectors(self, rows: torch.Tensor | None = None
                       ) -> tuple[torch.Tensor, torch.Tensor]:
        """(learned, cold) output vectors of the vocabulary (or of ``rows``): the track's
        own output embedding (the input one when tied) plus its fields', and the fields'
        plus the learned cold offset."""
        fields = self.item_fields if rows is None else self.item_fields[rows]
        fv = self.field_vectors(fields)
        table = self.item if self.out is None else self.out
        own = table.weight if rows is None else table(rows)
        return own + fv, fv + self.cold

    def known_fields(self, fields: torch.Tensor) -> torch.Tensor:
        """``fields`` [..., F] with the values this network has no embedding for (metadata
        that grew since it was trained, or fields it does not use) set to 0, unknown."""
        out = torch.zeros_like(fields)
        for name, emb in self.field.items():
            f = FIELDS.index(name)
            col = fields[..., f]
            out[..., f] = torch.where(col < emb.num_embeddings, col, torch.zeros_like(col))
        return out

    def inputs(self, x: torch.Tensor, start: torch.Tensor,
               x_fields: torch.Tensor | None = None, cold: torch.Tensor | None = None
               ) -> torch.Tensor:
        """Input vectors for track indices ``x`` and session starts ``start`` [B, T].

        ``x_fields`` [B, T, F] gives the field values when they are not the vocabulary's
        (tracks outside it); ``cold`` [B, T] marks inputs the network has not learned (index
        0, or hidden in training): their fields plus the learned ``unk`` offset.
        """
        fields = self.item_fields[x] if x_fields is None else x_fields
        v = self.field_vectors(fields)
        own = self.item(x)
        unknown = (x == 0) if cold is None else cold | (x == 0)
        v = v + torch.where(unknown.unsqueeze(-1), self.unk.expand_as(own), own)
        return v + start.unsqueeze(-1).to(v.dtype) * self.start

    # ------------------------------------------------------------------ recurrence

    def forward(self, x: torch.Tensor, start: torch.Tensor, h0: torch.Tensor | None = None,
                reset: torch.Tensor | None = None, x_fields: torch.Tensor | None = None,
                cold: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """The recurrence over inputs ``x`` [B, T]: (hidden states [B, T, H], last [B, H]).

        ``reset`` [B, T] zeroes h before a step (sessions that do not carry the state);
        ``x_fields`` / ``cold`` as in ``inputs``. Without resets inside the window the
        whole window is one fused call; with them it steps one play at a time.
        """
        inp = self.drop(self.inputs(x, start, x_fields, cold))
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

    @torch.no_grad()
    def table(self, extra_fields: torch.Tensor | None = None) -> Table:
        """The scoring table of the vocabulary plus tracks with fields ``extra_fields``."""
        learned, cold = self.output_vectors()
        heard = self.heard.unsqueeze(1)
        vectors = torch.where(heard, learned, cold)
        bias = torch.where(self.heard, self.bias, self.cold_bias.expand_as(self.bias))
        extra = self.known_fields(extra_fields) if extra_fields is not None else \
            torch.zeros(0, len(FIELDS), dtype=torch.long)
        artist = torch.cat([self.item_fields[:, _ARTIST], extra[:, _ARTIST]])
        cold_mask = torch.cat([~self.heard, torch.ones(len(extra), dtype=torch.bool)])
        cold_mask[0] = False  # the padding column is no track
        return Table(vectors.detach().clone(), bias.detach().clone(), extra, artist, cold_mask)

    def parts(self, h: torch.Tensor, feats: Feats | None = None, *,
              table: Table | None = None, subset: torch.Tensor | None = None,
              seen: torch.Tensor | None = None, split: bool = False
              ) -> torch.Tensor | dict[str, torch.Tensor]:
        """Scores [M, S] for hidden states ``h`` [M, H]: their sum, or by part (``split``).

        Columns: the ``table``'s (inference), or the vocabulary's (training) - restricted to
        ``subset`` (sorted indices starting with 0, the padding: a sampled softmax; copy
        inputs outside it fall on the padding column). ``seen`` [M, S] (training) says which
        tracks had been heard by each position: the others are scored as cold tracks.
        ``feats`` holds the copy inputs (see ``data``), as column indices.
        """
        q = self.proj(self.drop(h))
        remap = None
        if table is not None:
            # In place where autograd allows it: each [M, S] copy saved is a pass over
            # memory per step (the values are bitwise those of the out-of-place ops).
            base = (q @ table.vectors.t()).add_(table.bias)
            if len(table.extra_fields):
                base = torch.cat([base, self.cold_scores(q, table.extra_fields)], dim=1)
            col_artist = table.artist
        else:
            rows = subset
            fields = self.item_fields if rows is None else self.item_fields[rows]
            learned, cold = self.output_vectors(rows)
            bias = self.bias if rows is None else self.bias[rows]
            base = (q @ learned.t()).add_(bias)
            if seen is not None:
                base = torch.where(seen, base, (q @ cold.t()).add_(self.cold_bias))
            col_artist = fields[:, _ARTIST]
            if rows is not None:
                remap = torch.zeros(self.n_items, dtype=torch.long)
                remap[rows] = torch.arange(len(rows))
        out: dict[str, torch.Tensor] = {"net": base}
        total = base
        if feats:
            if self.has_repeat and "repeat" in feats:
                hist, slot, valid = feats["repeat"]
                validf = valid.to(h.dtype)
                c = (self.rep[slot] + self.rep_gate(h).gather(1, slot)) * validf
                cols = hist if remap is None else remap[hist]
                term = torch.zeros_like(base).scatter_add_(1, cols, c) if split else None
                # ``total`` is ``base`` (not returned when not split): added to in place.
                total = total.scatter_add_(1, cols, c) if not split else total
                if split:
                    out["repeat"] = term
                if self.artist_rep:
                    ca = (self.arep[slot] + self.arep_gate(h).gather(1, slot)) * validf
                    hist_artist = _column_artist(hist, table, self)
                    arts = h.new_zeros(h.shape[0], self.n_artists)
                    arts = arts.scatter_add(1, hist_artist, ca)
                    # Column 0 is "unknown artist", which is no artist at all.
                    arts = arts.index_fill(1, _ZERO, 0.0)
                    term = arts.index_select(1, col_artist)
                    if split:
                        out["artist_repeat"] = term
                    else:
                        total = total.add_(term)
            if self.has_succ and "succ" in feats:
                items, slot, valid = feats["succ"]
                c = (self.succ[slot] + self.succ_gate(h).gather(1, slot)) * valid.to(h.dtype)
                cols = items if remap is None else remap[items]
                if split:
                    out["successor"] = torch.zeros_like(base).scatter_add_(1, cols, c)
                else:
                    total = total.scatter_add_(1, cols, c)
        if split:
            return {k: v.index_fill_(1, _ZERO, 0.0) for k, v in out.items()}
        # The padding column is never a recommendation.
        return total.index_fill_(1, _ZERO, float("-inf"))

    def cold_scores(self, q: torch.Tensor, fields: torch.Tensor) -> torch.Tensor:
        """[M, X] scores of tracks known by their fields ``fields`` [X, F] alone: one small
        product per field's values, then gathers (no vector per track: a million cold
        tracks cost a few gathers)."""
        out = (q @ self.cold).unsqueeze(1) + self.cold_bias
        out = out.expand(q.shape[0], len(fields))
        for name, emb in self.field.items():
            if emb.num_embeddings > 1:
                out = out + (q @ emb.weight.t())[:, fields[:, FIELDS.index(name)]]
        return out

    def blend_weights(self, cold: torch.Tensor) -> torch.Tensor:
        """[K, S] blend weight of each part/signal for columns with cold mask ``cold``."""
        return self.blend[:, None] + self.blend_cold[:, None] * cold[None, :].to(
            self.blend.dtype)


def _column_artist(cols: torch.Tensor, table: Table | None, net: Net) -> torch.Tensor:
    """Artist of columns ``cols`` (table columns at inference, vocabulary rows in training)."""
    if table is not None:
        return table.artist[cols]
    return net.item_fields[cols, _ARTIST]


_ZERO = torch.zeros(1, dtype=torch.long)


def _slot_weights(hidden: int, slots: int) -> tuple[nn.Parameter, nn.Linear]:
    """A per-slot weight and a per-slot linear gate on the hidden state, both zero."""
    gate = nn.Linear(hidden, slots)
    nn.init.zeros_(gate.weight)
    nn.init.zeros_(gate.bias)
    return nn.Parameter(torch.zeros(slots)), gate
