"""``engram bench …``: LoCoMo recall, scale, changing facts, memory poisoning (guard), and A/B
against a revision."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any, Optional

import typer
from rich.table import Table

from engramdb.cli.common import console, fail, friendly, progress_bar


def register(bench_app: typer.Typer) -> None:
    @bench_app.command("locomo")
    @friendly
    def bench_locomo(
        data: Annotated[Path, typer.Option(help="LoCoMo folder")] = Path("../shared/data/locomo"),
        out: Annotated[Path, typer.Option(help="where JSON and PNG go")] = Path("bench/results"),
        preset: Annotated[str, typer.Option(help="search preset")] = "hybrid",
        embedder: Annotated[str, typer.Option(help="minilm or static")] = "minilm",
        precision: Annotated[str, typer.Option(help="minilm precision: int8 or fp32")] = "int8",
        conversations: Annotated[str | None, typer.Option(help="comma-separated conv ids")] = None,
        baselines: Annotated[bool, typer.Option(help="also run BM25/dense/RRF")] = True,
        split: Annotated[str, typer.Option(help="all, tune or validation")] = "all",
        store: Annotated[
            Optional[str],  # noqa: UP045
            typer.Option(
                help="an empty store to use, e.g. a postgresql:// DSN (default: temporary)"
            ),
        ] = None,
        extraction: Annotated[
            str, typer.Option(help="facts on top of the turns: off, parse, rules or llm")
        ] = "rules",
        llm_model_path: Annotated[
            Optional[Path],  # noqa: UP045
            typer.Option(help="with --extraction llm: a GGUF (default: the packaged model)"),
        ] = None,
        config: Annotated[
            str,
            typer.Option(
                help='more Memory options as JSON, e.g. \'{"search": {"present_first": true}}\''
                ' or \'{"guard": {"enabled": false}}\' (an ablation)'
            ),
        ] = "{}",
    ) -> None:
        """Turn recall on LoCoMo (categories 1-4) beside the BM25, dense and RRF baselines,
        with add, enrichment and search timed (a table of search stages)."""
        from engramdb.bench import locomo
        from engramdb.bench.report import locomo_tables, write_outputs

        options: dict[str, Any] = {
            "search_preset": preset,
            "embedder": {"provider": embedder},
            "extraction": {"mode": extraction},
        }
        if extraction == "llm":
            options["llm"] = {"provider": "local"}
            if llm_model_path:
                options["llm"]["model_path"] = str(llm_model_path.expanduser())
        if embedder == "minilm":
            options["embedder"]["precision"] = precision
        options = _merged(options, _json_option(config, "--config"))
        chosen = conversations.split(",") if conversations else None
        with progress_bar() as update:
            result = locomo.run(
                data,
                memory_options=options,
                conversations=chosen,
                baselines=baselines,
                progress=update,
                store=store,
            )
        locomo_tables(result, console, split)
        console.print(f"wrote {write_outputs(result, out, 'locomo')}")

    @bench_app.command("scale")
    @friendly
    def bench_scale(
        n: Annotated[int, typer.Option("--n", min=100, help="how many memories")] = 100_000,
        store: Annotated[str | None, typer.Option(help="store (default: a temporary file)")] = None,
        embedder: Annotated[str, typer.Option(help="static (fast) or minilm")] = "static",
        bulk: Annotated[
            Optional[bool],  # noqa: UP045
            typer.Option(
                "--bulk/--no-bulk",
                help="ingest in a bulk load: PostgreSQL builds its HNSW index once, after the rows"
                " (default: from 200,000 memories on)",
                show_default=False,
            ),
        ] = None,
        out: Annotated[Path, typer.Option(help="where the JSON goes")] = Path("bench/results"),
    ) -> None:
        """Ingest and search latency on synthetic memories in one scope."""
        from engramdb.bench import scale
        from engramdb.bench.report import write_outputs

        with progress_bar() as update:
            result = scale.run(
                n,
                store=store,
                memory_options={"embedder": {"provider": embedder}},
                bulk=bulk,
                progress=update,
            )
        console.print_json(json.dumps(result))
        console.print(f"wrote {write_outputs(result, out, f'scale-{n}')}")

    @bench_app.command("updates")
    @friendly
    def bench_updates(
        mode: Annotated[
            str, typer.Option(help="off, parse, rules, llm, both (parse and llm) or all")
        ] = "both",
        llm_model_path: Annotated[
            Optional[Path],  # noqa: UP045
            typer.Option(help="a GGUF file (default: the packaged local model)"),
        ] = None,
        llm_base_url: Annotated[
            Optional[str],  # noqa: UP045
            typer.Option(help="an OpenAI-compatible endpoint instead of a local model"),
        ] = None,
        llm_model: Annotated[Optional[str], typer.Option(help="the endpoint's model name")] = None,  # noqa: UP045
        llm_api_key: Annotated[Optional[str], typer.Option(help="the endpoint's API key")] = None,  # noqa: UP045
        embedder: Annotated[str, typer.Option(help="minilm or static")] = "minilm",
        limit: Annotated[int | None, typer.Option(min=1, help="only the first N scenarios")] = None,
        split: Annotated[str, typer.Option(help="all, dev (tuning half) or heldout")] = "all",
        scenarios: Annotated[
            Optional[Path],  # noqa: UP045
            typer.Option(
                help="a scenarios JSONL file, or a packaged set: packaged (default), fresh,"
                " chat (validation: failures not shown)"
            ),
        ] = None,
        search: Annotated[
            Optional[str],  # noqa: UP045
            typer.Option(help="search config overrides as JSON, e.g. '{\"present_first\": false}'"),
        ] = None,
        config: Annotated[
            str,
            typer.Option(
                help='more Memory options as JSON, e.g. \'{"guard": {"enabled": false}}\''
            ),
        ] = "{}",
        out: Annotated[Path, typer.Option(help="where the JSON goes")] = Path("bench/results"),
    ) -> None:
        """Changing facts: how often the first hit holds the current value, and how often a
        stale one (the first fact beside it), per half, time and kind."""
        import tempfile

        from engramdb.bench import updates
        from engramdb.bench.report import write_outputs

        if mode not in (*updates.MODES, "both", "all"):
            fail(f"--mode must be off, parse, rules, llm, both or all, not {mode!r}")
        wanted = {"both": ("parse", "llm"), "all": updates.MODES}.get(mode, (mode,))
        modes = [m for m in updates.MODES if m in wanted]
        path = updates.SETS.get(str(scenarios), scenarios) if scenarios else None
        llm: dict[str, Any] = {"provider": "local"}
        if llm_base_url:
            llm = {"provider": "openai", "base_url": llm_base_url, "model": llm_model}
            llm |= {"api_key": llm_api_key} if llm_api_key else {}
        elif llm_model_path:
            llm["model_path"] = str(llm_model_path.expanduser())
        results: dict[str, Any] = {}
        with (
            tempfile.TemporaryDirectory(prefix="engram-updates-") as work,
            progress_bar() as update,
        ):
            for each in modes:
                results[each] = updates.run(
                    each,
                    scenarios_path=path,
                    llm=llm if each == "llm" else None,
                    limit=limit,
                    work_dir=Path(work),
                    embedder={"provider": embedder},
                    progress=update,
                    split=split,  # type: ignore[arg-type]
                    search=_json_option(search, "--search"),
                    options=_json_option(config, "--config"),
                )
        for result in results.values():
            updates.print_table(result, console)
        console.print(f"wrote {write_outputs(results, out, 'updates')}")

    @bench_app.command("guard")
    @friendly
    def bench_guard(
        scenarios: Annotated[
            str, typer.Option(help="dev (ours, to develop on) or blind (measure only)")
        ] = "dev",
        embedder: Annotated[str, typer.Option(help="minilm or static")] = "minilm",
        extraction: Annotated[str, typer.Option(help="off, parse, rules or llm")] = "parse",
        limit: Annotated[int | None, typer.Option(min=1, help="only the first N scenarios")] = None,
        guard: Annotated[
            Optional[str],  # noqa: UP045
            typer.Option(help="guard config of the 'on' run as JSON, e.g. '{\"ranking\": false}'"),
        ] = None,
        out: Annotated[Path, typer.Option(help="where the JSON goes")] = Path("bench/results"),
    ) -> None:
        """Memory poisoning: attack success, false flags and benign changes, guard off vs on."""
        import tempfile

        from engramdb.bench import guard as bench
        from engramdb.bench.report import write_outputs

        if scenarios not in bench.SETS:
            fail(f"--scenarios must be one of {', '.join(bench.SETS)}")
        attacks, benign = bench.SETS[scenarios]
        options = {"embedder": {"provider": embedder}, "extraction": {"mode": extraction}}
        with tempfile.TemporaryDirectory(prefix="engram-guard-") as work, progress_bar() as up:
            result = bench.run(
                attacks=attacks,
                benign=benign,
                work_dir=Path(work),
                options=options,
                progress=up,
                limit=limit,
                guard=_json_option(guard, "--guard"),
            )
        bench.print_table(result, console)
        console.print(f"wrote {write_outputs(result, out, 'guard')}")

    @bench_app.command("claims")
    @friendly
    def bench_claims(
        mode: Annotated[str, typer.Option(help="rules, parse or both")] = "both",
        out: Annotated[Path, typer.Option(help="where the JSON goes")] = Path("bench/results"),
    ) -> None:
        """Claim precision and recall on the labelled set (validation: never tune on it), and
        the share of facts drawn from messages that hold no claim."""
        from engramdb.bench import claims
        from engramdb.bench.report import write_outputs

        if mode not in ("rules", "parse", "both"):
            fail(f"--mode must be rules, parse or both, not {mode!r}")
        results = {}
        with progress_bar() as update:
            for each in ("rules", "parse") if mode == "both" else (mode,):
                results[each] = claims.run(each, progress=update)
        table = Table(title="Claims on the labelled set", title_justify="left")
        names = ("precision", "recall", "no_information_share", "polarity_agrees", "tense_agrees")
        for column in ("mode", *names, "predicted_claims"):
            table.add_column(column, justify="left" if column == "mode" else "right")
        for each, row in results.items():
            table.add_row(each, *(f"{row[n]:.3f}" for n in names), str(row["predicted_claims"]))
        console.print(table)
        console.print(f"wrote {write_outputs(results, out, 'claims')}")

    @bench_app.command("preferences")
    @friendly
    def bench_preferences(
        modes: Annotated[str, typer.Option(help="comma-separated: off, rules, parse")] = (
            "off,rules,parse"
        ),
        out: Annotated[Path, typer.Option(help="where the JSON goes")] = Path("bench/results"),
    ) -> None:
        """Compatible statements from separate sessions (validation: never tune on it): all in
        the top 10 as often as with extraction off? None of them closed?"""
        from engramdb.bench import preferences
        from engramdb.bench.report import write_outputs

        chosen = modes.split(",")
        if not set(chosen) <= {"off", "rules", "parse"}:
            fail(f"--modes takes off, rules and parse, not {modes!r}")
        results = {}
        with progress_bar() as update:
            for mode in chosen:
                results[mode] = preferences.run(mode, progress=update)
        table = Table(title="Compatible statements (top 10)", title_justify="left")
        for column in ("mode", "all@10 sets", "all@10 chains", "R@10 all", "evidence closed"):
            table.add_column(column, justify="left" if column == "mode" else "right")
        for mode, row in results.items():
            every, recall = row["all@10"], row["R@10"]
            table.add_row(
                mode,
                f"{every.get('set', 0):.3f}",
                f"{every.get('chain', 0):.3f}",
                f"{recall['all']:.3f}",
                str(row["evidence_facts_closed"]),
            )
        console.print(table)
        console.print(f"wrote {write_outputs(results, out, 'preferences')}")

    @bench_app.command("ablation")
    @friendly
    def bench_ablation(
        data: Annotated[Path, typer.Option(help="LoCoMo folder")] = Path("../shared/data/locomo"),
        conversations: Annotated[str, typer.Option(help="comma-separated conv ids")] = (
            "conv-26,conv-41,conv-47"
        ),
        rounds: Annotated[int, typer.Option(min=1, help="alternating rounds")] = 2,
        config: Annotated[str, typer.Option(help="Memory options as JSON")] = "{}",
        out: Annotated[Path, typer.Option(help="where the JSON goes")] = Path("bench/results"),
    ) -> None:
        """Each search stage switched off in turn on LoCoMo: the recall it buys, the time it
        costs (search p50 as a ratio to the default's, in one process)."""
        from engramdb.bench import ablation
        from engramdb.bench.report import write_outputs

        with progress_bar() as update:
            result = ablation.run(
                data,
                conversations=conversations.split(","),
                rounds=rounds,
                memory_options=_json_option(config, "--config"),
                progress=update,
            )
        table = Table(title="Search stages: what each buys (R@10) and costs", title_justify="left")
        for column in ("variant", "R@10 all", "tune", "validation", "p50 ms", "p50 / default"):
            table.add_column(column, justify="left" if column == "variant" else "right")
        for name, row in result["variants"].items():
            recall = row["R@10"]
            table.add_row(
                name,
                *(
                    f"{recall[s]:.3f}" if s in recall else "-"
                    for s in ("all", "tune", "validation")
                ),
                f"{row['p50_ms']:.2f}",
                f"{row['p50_vs_default']:.2f}",
            )
        console.print(table)
        console.print(f"wrote {write_outputs(result, out, 'ablation')}")

    @bench_app.command("ab")
    @friendly
    def bench_ab(
        rev: Annotated[str, typer.Option(help="the git revision to compare with")] = "HEAD~1",
        data: Annotated[Path, typer.Option(help="LoCoMo folder")] = Path("../shared/data/locomo"),
        conversations: Annotated[str, typer.Option(help="comma-separated conv ids")] = (
            "conv-26,conv-30"
        ),
        rounds: Annotated[int, typer.Option(min=1, help="rounds of both, alternating")] = 3,
        embedder: Annotated[str, typer.Option(help="minilm or static")] = "minilm",
        extraction: Annotated[str, typer.Option(help="off, parse, rules or llm")] = "parse",
        postgres: Annotated[bool, typer.Option(help="on engram pgserver, not SQLite")] = False,
        out: Annotated[Path, typer.Option(help="where the JSON goes")] = Path("bench/results"),
    ) -> None:
        """This checkout against another revision in one process: LoCoMo recall, and ingest
        and search as ratios (this / that), alternating so that load weighs on both."""
        from engramdb.bench import ab
        from engramdb.bench.report import write_outputs

        options = {"embedder": {"provider": embedder}, "extraction": {"mode": extraction}}
        with progress_bar() as update:
            result = ab.run(
                rev,
                data,
                conversations=conversations.split(","),
                rounds=rounds,
                memory_options=options,
                progress=update,
                fresh_store=ab.pgserver_database if postgres else None,
            )
        console.print_json(json.dumps(result))
        console.print(f"wrote {write_outputs(result, out, 'ab')}")


def _json_option(text: str | None, name: str) -> dict[str, Any]:
    """A JSON object given on the command line (an error line if it is not one)."""
    if not text:
        return {}
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        fail(f"{name} is not JSON: {exc}")
    if not isinstance(value, dict):
        fail(f"{name} must be a JSON object")
    return dict(value)


def _merged(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    """``extra`` over ``base``, section by section ({"embedder": {...}} keeps the rest)."""
    out = dict(base)
    for key, value in extra.items():
        old = out.get(key)
        out[key] = {**old, **value} if isinstance(old, dict) and isinstance(value, dict) else value
    return out
