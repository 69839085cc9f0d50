"""Protocol v1 on the public listening log: the GRU against every baseline.

    python -m bench.eval_public                   # table + bench/results/eval_public.json
    python -m bench.eval_public --second-check    # + synthetic multi-user log and the public
                                                  #   log cut into four time quarters
    python -m bench.eval_public --ablations       # + the GRU's ablation / tuning table
    python -m bench.eval_public --seeds 3         # GRU repeated with seeds 0..2
    python -m bench.eval_public --markdown        # the results files as markdown tables
    python -m bench.eval_public --candidates log  # the library variant only (default: both)
    python -m bench.eval_public --log PATH        # the public log's folder (see below)

Both variants of the protocol are measured (docs/evaluation.md): v1 (``--candidates
train``) and the library variant (``--candidates log``). The public log is one person's
Spotify export (54,429 plays) from github.com/jonas-mika/spotify-streaming-history-viz
(``data/``, MIT licence); ``--log PATH`` says where it is (default: ``$SEGUE_PUBLIC_LOG``,
else ``../shared/datasets/spotify-streaming-history-jonas-mika``; see bench/publiclog.py).
Results go to bench/results/*.json (one file per variant: ``eval_public.json`` for v1,
``eval_public_library.json`` for the library variant; the second check likewise); the
numbers quoted in the README and docs/recommender.md come from these files.
"""

from __future__ import annotations

import argparse
import json
import logging
import platform
import statistics
import sys
import time
from pathlib import Path
from typing import Any

from recommender.evaluate import (MODEL_NAMES, UserData, evaluate_model, evaluate_users,
                                  format_table, load_users, make_model, users_from_plays)
from recommender.logs import Play, load_log
from recommender.metrics import macro
from recommender.synth import synthetic_log

from . import publiclog

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"

log = logging.getLogger("bench.eval_public")

#: GRU variants: (name, what it tests, Config overrides). The first row is the plain
#: GRU4Rec-like network; each following row adds or changes one thing against "default".
PLAIN = dict(carry_state=False, repeat_window=0, successor_memory=0, artist_embedding=False,
             artist_repeat=False)
ABLATIONS: list[tuple[str, str, dict[str, Any]]] = [
    ("plain", "GRU4Rec-like: reset per session, no repeat/successor/artist", PLAIN),
    ("plain+carry", "+ hidden state carried across sessions", {**PLAIN, "carry_state": True}),
    ("plain+carry+repeat", "+ repeat/recency scorer (items)",
     {**PLAIN, "carry_state": True, "repeat_window": 512}),
    ("plain+carry+repeat+succ", "+ successor memory",
     {**PLAIN, "carry_state": True, "repeat_window": 512, "successor_memory": 16}),
    ("default", "+ artist embedding and artist repeat = the default", {}),
    ("-carry", "default, hidden state reset at each session", {"carry_state": False}),
    ("-repeat", "default without the repeat scorer", {"repeat_window": 0}),
    ("-latest", "repeat scorer without the latest-play flag", {"repeat_latest": False}),
    ("-succ", "default without the successor memory", {"successor_memory": 0}),
    ("offsets1", "successor memory: next play only", {"successor_offsets": 1}),
    ("-artist", "default without artist embedding and artist repeat",
     {"artist_embedding": False, "artist_repeat": False}),
    ("-artist_repeat", "default without the artist repeat", {"artist_repeat": False}),
    ("+skips", "default + skips as unlikelihood signal (0.5)", {"skip_weight": 0.5}),
    ("rnn", "plain relu cell instead of the GRU", {"cell": "rnn"}),
    ("untied", "output vectors not tied to the embedding", {"tied": False}),
    ("-tail", "no extra epoch on the validation tail", {"tail_epochs": 0}),
    ("-unk", "no unknown-track input dropout", {"unk_rate": 0.0}),
    ("window128", "repeat window 128", {"repeat_window": 128}),
    ("window2048", "repeat window 2048", {"repeat_window": 2048}),
    ("hidden64", "hidden 64", {"hidden_dim": 64}),
    ("hidden256", "hidden 256", {"hidden_dim": 256}),
    ("emb32", "embedding 32", {"embedding_dim": 32}),
    ("emb128", "embedding 128", {"embedding_dim": 128}),
    ("dropout0.1", "dropout 0.1", {"dropout": 0.1}),
    ("dropout0.5", "dropout 0.5", {"dropout": 0.5}),
    ("lr0.01", "learning rate 0.01", {"lr": 0.01}),
    ("batch16", "16 lanes", {"batch_size": 16}),
    ("batch64", "64 lanes", {"batch_size": 64}),
    ("sampled", "sampled softmax even at this size", {"full_softmax_max": 1000}),
    # Confirmation of the best single changes, combined.
    ("emb32+sampled", "embedding 32 and sampled softmax",
     {"embedding_dim": 32, "full_softmax_max": 1000}),
    ("dropout0.5+sampled", "dropout 0.5 and sampled softmax",
     {"dropout": 0.5, "full_softmax_max": 1000}),
    ("emb32+dropout0.5+sampled", "embedding 32, dropout 0.5, sampled softmax",
     {"embedding_dim": 32, "dropout": 0.5, "full_softmax_max": 1000}),
]


def public_users(path: Path, candidates: str = "train") -> list[UserData]:
    """The public log as protocol users (one)."""
    return load_users([path], default_user="jonas-mika", candidates=candidates)


def quarter_users(plays: list[Play], candidates: str = "train") -> list[UserData]:
    """The public log cut into four consecutive time quarters, each its own "user".

    Each quarter gets its own 80/20 split, so the test periods (and the tastes) differ: a
    check that the model is not tuned to one test period of one file.
    """
    ordered = sorted(plays, key=lambda p: (p.time, p.order))
    n = len(ordered)
    out = []
    for q in range(4):
        part = ordered[q * n // 4:(q + 1) * n // 4]
        out.extend(users_from_plays([Play(f"quarter-{q + 1}", p.time, p.artist, p.title,
                                          p.ms_played, p.order) for p in part], candidates))
    return out


def synthetic_users(candidates: str = "train") -> list[UserData]:
    """Six synthetic listeners of the five habits of recommender.synth (albums, playlists,
    repeater, explorer, artist, albums again)."""
    return users_from_plays(synthetic_log(users=6, plays_per_user=6000, seed=0), candidates)


def suffix(candidates: str) -> str:
    """Results-file suffix of a variant: none for v1, ``_library`` for the library one."""
    return "" if candidates == "train" else "_library"


def run_gru(users: list[UserData], overrides: dict[str, Any]) -> dict[str, Any]:
    """Fit and evaluate the GRU with ``overrides`` on each user: test and validation rows."""
    rows = []
    for data in users:
        model = make_model("gru", **overrides)
        metrics, timing = evaluate_model(model, data)
        val = model.metrics.get("val", {})  # type: ignore[attr-defined]
        rows.append({"user": data.user, "targets": data.targets,
                     **{k: round(v, 6) for k, v in metrics.as_dict().items()}, **timing,
                     "epochs": model.metrics.get("epochs"),  # type: ignore[attr-defined]
                     "best_epoch": model.metrics.get("best_epoch"),  # type: ignore[attr-defined]
                     "val_hr@20": round(val.get("hr@20", 0.0), 6),
                     "val_mrr@20": round(val.get("mrr@20", 0.0), 6)})
        log.info("%s %s", data.user, rows[-1])
    return {"users": rows, "macro": {k: round(v, 6) for k, v in macro(
        {k: v for k, v in r.items() if isinstance(v, (int, float))} for r in rows).items()}}


def _mean_rows(rows: list[dict[str, float]]) -> dict[str, float]:
    """Mean of each numeric field over seeds, plus ``sd_<field>`` for the four metrics."""
    out = {k: round(statistics.mean(r[k] for r in rows), 6) for k in rows[0]}
    for k in ("hr@20", "mrr@20"):
        out[f"sd_{k}"] = round(statistics.pstdev(r[k] for r in rows), 6)
    return out


def meta() -> dict[str, Any]:
    """Where and how the numbers were made."""
    import torch
    return {"command": "python -m " + " ".join(["bench.eval_public"] + sys.argv[1:]),
            "date": time.strftime("%Y-%m-%d %H:%M:%S"), "python": platform.python_version(),
            "torch": torch.__version__, "threads": torch.get_num_threads(),
            "machine": platform.machine(), "protocol": "v1"}


def write(name: str, data: dict[str, Any]) -> Path:
    """Write a results file (pretty JSON) under bench/results."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / name
    path.write_text(json.dumps(data, indent=1) + "\n", encoding="utf-8")
    return path


def _ablation_figures(r: dict[str, Any]) -> list[float]:
    """One variant's columns: public HR@20, MRR@20, their validation twins, the quarters'
    and the synthetic log's macro HR@20 and MRR@20, and the public training seconds."""
    p = r.get("public", {}).get("macro", {})
    q = r.get("quarters", {}).get("macro", {})
    y = r.get("synthetic", {}).get("macro", {})
    return [p.get("hr@20", 0), p.get("mrr@20", 0), p.get("val_hr@20", 0),
            p.get("val_mrr@20", 0), q.get("hr@20", 0), q.get("mrr@20", 0),
            y.get("hr@20", 0), y.get("mrr@20", 0), p.get("train_s", 0)]


def ablation_table(results: dict[str, dict[str, Any]]) -> str:
    """Readable ablation table: public test, public validation, second-check macros."""
    widths = (10, 11, 10, 11, 11, 12, 10, 11)
    lines = [f"{'variant':<26}{'pub hr@20':>10}{'pub mrr@20':>11}{'val hr@20':>10}"
             f"{'val mrr@20':>11}{'q-macro hr':>11}{'q-macro mrr':>12}{'syn hr@20':>10}"
             f"{'syn mrr@20':>11}{'train_s':>9}"]
    for name, r in results.items():
        *scores, train_s = _ablation_figures(r)
        lines.append(f"{name:<26}" + "".join(f"{v:>{w}.4f}" for v, w in zip(scores, widths))
                     + f"{train_s:>9.1f}")
    return "\n".join(lines)


def markdown() -> str:
    """Markdown tables of the results files (for docs/recommender.md and the README)."""
    out = []

    def table(rows: list[tuple[str, dict[str, float]]], extra: bool = True) -> None:
        head = "| model | HR@10 | HR@20 | MRR@10 | MRR@20 |" + (" train s | ms/pred |" if extra
                                                             else "")
        out.append(head)
        out.append("|---" * (head.count("|") - 1) + "|")
        for name, m in rows:
            line = (f"| {name} | {m['hr@10']:.4f} | {m['hr@20']:.4f} | {m['mrr@10']:.4f} | "
                    f"{m['mrr@20']:.4f} |")
            if extra:
                line += f" {m['train_s']:.1f} | {m['ms_per_pred']:.3f} |"
            out.append(line)

    for candidates, title in (("train", "v1"), ("log", "library variant")):
        main_path = RESULTS / f"eval_public{suffix(candidates)}.json"
        if main_path.exists():
            rep = json.loads(main_path.read_text())
            u = rep["users"][0]
            out.append(f"\n**Public log, {title}**: {u['targets']} targets, "
                       f"{u.get('candidates')} candidate tracks, {u.get('unseen_targets')} "
                       "targets outside them (a miss for every model).\n")
            table(list(u["models"].items()))
    for candidates, title in (("train", "v1"), ("log", "library variant")):
        second = RESULTS / f"second_check{suffix(candidates)}.json"
        if not second.exists():
            continue
        rep = json.loads(second.read_text())
        for name in ("quarters", "synthetic"):
            if name not in rep:
                continue
            out.append(f"\n**{name}, {title}** (per user, then macro)\n")
            out.append("| user | targets | model | HR@10 | HR@20 | MRR@10 | MRR@20 |")
            out.append("|---|---|---|---|---|---|---|")
            for u in rep[name]["users"]:
                for m, v in u["models"].items():
                    out.append(f"| {u['user']} | {u['targets']} | {m} | {v['hr@10']:.4f} | "
                               f"{v['hr@20']:.4f} | {v['mrr@10']:.4f} | {v['mrr@20']:.4f} |")
            for m, v in rep[name]["macro"].items():
                out.append(f"| **macro** | | {m} | {v['hr@10']:.4f} | {v['hr@20']:.4f} | "
                           f"{v['mrr@10']:.4f} | {v['mrr@20']:.4f} |")
            if rep[name].get("verdicts"):
                out.append(f"\nGRU against the best other model per user ({title}):\n")
                out.append("| user | HR@20 ratio (best other) | MRR@20 ratio (best other) |")
                out.append("|---|---|---|")
                for r in rep[name]["verdicts"]:
                    out.append(f"| {r['user']} | {r['hr@20']['ratio']:.2f}x "
                               f"({r['hr@20']['best']}) | {r['mrr@20']['ratio']:.2f}x "
                               f"({r['mrr@20']['best']}) |")
    seeds = RESULTS / "seeds_public.json"
    if seeds.exists():
        rep = json.loads(seeds.read_text())
        out.append("\n**GRU over seeds (public log)**\n")
        out.append("| seed | HR@10 | HR@20 | MRR@10 | MRR@20 | train s |")
        out.append("|---|---|---|---|---|---|")
        for seed, m in rep["runs"].items():
            out.append(f"| {seed} | {m['hr@10']:.4f} | {m['hr@20']:.4f} | {m['mrr@10']:.4f} | "
                       f"{m['mrr@20']:.4f} | {m['train_s']:.1f} |")
        sm = rep["summary"]
        out.append(f"| mean ± sd | {sm['hr@10']['mean']:.4f} ± {sm['hr@10']['stdev']:.4f} | "
                   f"{sm['hr@20']['mean']:.4f} ± {sm['hr@20']['stdev']:.4f} | "
                   f"{sm['mrr@10']['mean']:.4f} ± {sm['mrr@10']['stdev']:.4f} | "
                   f"{sm['mrr@20']['mean']:.4f} ± {sm['mrr@20']['stdev']:.4f} | "
                   f"{sm['train_s']['mean']:.1f} |")
    abl = RESULTS / "ablations.json"
    if abl.exists():
        rep = json.loads(abl.read_text())
        out.append(f"\n**Ablations** (mean of {rep.get('seeds', 1)} seeds; public = test of "
                   "the public log, val = its time-ordered validation tail; quarters and "
                   "synthetic = macro over their users)\n")
        out.append("| variant | what | public HR@20 | public MRR@20 | val HR@20 | val MRR@20 |"
                   " quarters HR@20 | quarters MRR@20 | synthetic HR@20 | synthetic MRR@20 |"
                   " train s (public) |")
        out.append("|---" * 11 + "|")
        for name, r in rep["variants"].items():
            *scores, train_s = _ablation_figures(r)
            out.append(f"| {name} | {r['what']} | "
                       + "".join(f"{v:.4f} | " for v in scores) + f"{train_s:.1f} |")
    return "\n".join(out)


def verdicts(report: dict[str, Any]) -> list[dict[str, Any]]:
    """Per user of a report: the GRU's HR@20 and MRR@20 as ratios to the best other model's
    (issue 14: at least 1.0 for every listener), and whether both hold."""
    out = []
    for u in report["users"]:
        models = u["models"]
        if "gru" not in models or len(models) < 2:
            continue
        row: dict[str, Any] = {"user": u["user"]}
        for metric in ("hr@20", "mrr@20"):
            best = max((m for m in models if m != "gru"), key=lambda m: models[m][metric])
            row[metric] = {"gru": models["gru"][metric], "best": best,
                           "best_value": models[best][metric],
                           "ratio": round(models["gru"][metric]
                                          / max(models[best][metric], 1e-9), 3)}
        row["holds"] = all(row[m]["ratio"] >= 1.0 for m in ("hr@20", "mrr@20"))
        out.append(row)
    return out


def format_verdicts(rows: list[dict[str, Any]]) -> str:
    """One line per user: GRU / best other model on HR@20 and MRR@20."""
    lines = []
    for r in rows:
        h, m = r["hr@20"], r["mrr@20"]
        lines.append(f"{r['user'][:20]:<20} HR@20 {h['gru']:.4f} / {h['best']} "
                     f"{h['best_value']:.4f} = {h['ratio']:.2f}x   MRR@20 {m['gru']:.4f} / "
                     f"{m['best']} {m['best_value']:.4f} = {m['ratio']:.2f}x   "
                     + ("ok" if r["holds"] else "BELOW"))
    return "\n".join(lines)


def quality(argv: list[str] | None = None) -> dict[str, Any]:
    """The main table as figures for ``python -m bench quality``: each model's macro metrics
    in both variants, and the GRU's HR@20 / MRR@20 as ratios to the best baseline's.
    ``--quick`` evaluates a synthetic multi-user log instead of the public one (seconds, not
    minutes)."""
    ap = argparse.ArgumentParser(prog="python -m bench quality")
    ap.add_argument("--quick", action="store_true")
    publiclog.add_option(ap)
    args = ap.parse_args(argv)
    path = publiclog.resolve(args.log)
    if not args.quick and not path.exists():
        return {"skipped": f"public log not found at {path} ({publiclog.SOURCE}; --log PATH)"}
    figures: dict[str, Any] = {}
    for candidates in ("train", "log"):
        if args.quick:
            users, source = synthetic_users(candidates)[:2], "synthetic (2 users)"
        else:
            users, source = public_users(path, candidates), str(path)
        report = evaluate_users(users, list(MODEL_NAMES))
        if not args.quick:
            report["meta"] = meta()
            write(f"eval_public{suffix(candidates)}.json", report)
        table = report["macro"]
        fig: dict[str, Any] = {"log": source,
                               "targets": sum(u["targets"] for u in report["users"])}
        for model, row in table.items():
            fig[model] = {k: row[k] for k in ("hr@10", "hr@20", "mrr@10", "mrr@20", "train_s")}
        for metric in ("hr@20", "mrr@20"):
            best = max((m for m in table if m != "gru"), key=lambda m: table[m][metric])
            fig[f"gru_{metric}_ratio_to_best_baseline"] = {
                "baseline": best, "ratio": round(table["gru"][metric] / table[best][metric], 2)}
        figures[report["variant"]] = fig
    return figures


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; see the module docstring."""
    ap = argparse.ArgumentParser(prog="python -m bench.eval_public")
    ap.add_argument("--models", default=",".join(MODEL_NAMES))
    ap.add_argument("--candidates", default="train,log",
                    help="the variants: train (v1), log (library), or both (the default)")
    publiclog.add_option(ap)
    ap.add_argument("--second-check", action="store_true")
    ap.add_argument("--ablations", nargs="?", const="all", default=None,
                    help="run GRU variants (all, or a comma-separated list of names)")
    ap.add_argument("--ablation-sets", default="public,quarters,synthetic",
                    help="where ablations are measured")
    ap.add_argument("--ablation-seeds", type=int, default=2,
                    help="seeds per ablation variant (the table shows their mean)")
    ap.add_argument("--seeds", type=int, default=0, help="also run the GRU with N seeds")
    ap.add_argument("--skip-main", action="store_true", help="skip the main table")
    ap.add_argument("--markdown", action="store_true",
                    help="only print the results files as markdown tables")
    ap.add_argument("-v", "--verbose", action="store_true")
    args = ap.parse_args(argv)
    if args.markdown:
        print(markdown())
        return 0
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(asctime)s %(name)s %(message)s", stream=sys.stderr)
    path = publiclog.resolve(args.log)
    if not path.exists():
        print(f"public log not found at {path}: {publiclog.SOURCE}; give its folder with "
              "--log PATH", file=sys.stderr)
        return 2
    models = [m for m in args.models.split(",") if m]
    variants = [c for c in args.candidates.split(",") if c]
    for candidates in variants:
        users = public_users(path, candidates)
        name = "v1" if candidates == "train" else "library variant"
        if not args.skip_main:
            report = evaluate_users(users, models)
            report["meta"] = meta()
            out_path = write(f"eval_public{suffix(candidates)}.json", report)
            print(f"\n== public log, {name} ==")
            print(format_table(report))
            print(format_verdicts(verdicts(report)))
            print(f"-> {out_path.relative_to(ROOT)}")

        if args.second_check:
            sets = {"quarters": quarter_users(load_log(path, default_user="jonas-mika"),
                                              candidates),
                    "synthetic": synthetic_users(candidates)}
            out: dict[str, Any] = {"meta": meta()}
            for set_name, us in sets.items():
                rep = evaluate_users(us, models)
                rep["verdicts"] = verdicts(rep)
                out[set_name] = rep
                print(f"\n== {set_name}, {name} ==")
                print(format_table(rep))
                print(format_verdicts(rep["verdicts"]))
            out_path = write(f"second_check{suffix(candidates)}.json", out)
            print(f"-> {out_path.relative_to(ROOT)}")

    users = public_users(path, variants[0] if variants else "train")
    if args.seeds:
        runs = {}
        for seed in range(args.seeds):
            runs[seed] = run_gru(users, {"seed": seed})["macro"]
            print(f"seed {seed}: {runs[seed]}")
        summary = {k: {"mean": statistics.mean(r[k] for r in runs.values()),
                       "stdev": statistics.pstdev(r[k] for r in runs.values())}
                   for k in ("hr@10", "hr@20", "mrr@10", "mrr@20", "train_s")}
        print(json.dumps(summary, indent=1))
        write("seeds_public.json", {"meta": meta(), "runs": runs, "summary": summary})

    if args.ablations:
        wanted = None if args.ablations == "all" else set(args.ablations.split(","))
        abl_path = RESULTS / "ablations.json"
        results: dict[str, Any] = {}
        if abl_path.exists():  # keep earlier variants when re-running some of them
            results = json.loads(abl_path.read_text()).get("variants", {})
        sets_wanted = args.ablation_sets.split(",")
        pools = {"public": lambda: users,
                 "quarters": lambda: quarter_users(load_log(path, default_user="jm")),
                 "synthetic": synthetic_users}
        loaded = {k: pools[k]() for k in sets_wanted}
        for abl, what, over in ABLATIONS:
            if wanted is not None and abl not in wanted:
                continue
            r: dict[str, Any] = {"what": what, "overrides": over}
            for set_name, us in loaded.items():
                runs = [run_gru(us, {**over, "seed": seed}) for seed in range(args.ablation_seeds)]
                r[set_name] = {"seeds": runs, "macro": _mean_rows([x["macro"] for x in runs])}
            results[abl] = r
            print(f"{abl}: " + "  ".join(
                f"{s} hr@20 {r[s]['macro']['hr@20']:.4f} mrr@20 {r[s]['macro']['mrr@20']:.4f}"
                for s in loaded), flush=True)
            write("ablations.json", {"meta": meta(), "seeds": args.ablation_seeds,
                                     "variants": results})
        print(ablation_table(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
