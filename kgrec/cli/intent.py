"""`kgrec feedback`: a sentence of feedback for a user, a thin layer over
:meth:`kgrec.serving.Recommender.feedback` (``text=``) and :meth:`~kgrec.serving.Recommender.clear_preferences`.

(`kgrec recommend --query/--session` is in :mod:`kgrec.cli.serve`; `kgrec profile` shows the stored
preferences beside the interest tags.)
"""

from __future__ import annotations

import json
from pathlib import Path

import typer

from kgrec.cli import app


def print_preferences(prefs, *, echo=typer.echo) -> None:
    """A user's text preferences, one per line: relation, attribute, weight, phrase, time."""
    if not prefs:
        echo("  (no text preferences)")
    for p in prefs:
        sign = "+" if p.relation == "PREFERS" else "-"
        echo(f"  {sign} {p.relation:<7} {p.name} ({p.label} {p.id}), weight {p.weight:.2f}"
             + (f", from '{p.phrase}'" if p.phrase else "") + (f", {p.at}" if p.at else ""))


@app.command()
def feedback(
    run_dir: Path = typer.Argument(..., help="A run directory (kgrec train ... --out RUN_DIR)."),
    user: str = typer.Option(..., "--user", "-u", help="The user's id."),
    text: str | None = typer.Option(None, "--text", "-t", help="A sentence: 'less metal', 'more 80s synth', "
                                    "'forget metal' (cues: less/no/not/without/stop, more/like/love, forget)."),
    clear: bool = typer.Option(False, "--clear", help="Undo text feedback: delete the user's PREFERS/AVOIDS edges "
                               "(all, or those to --attribute)."),
    attribute: list[str] = typer.Option([], "--attribute", help="With --clear: Label:id of one attribute "
                                        "(repeatable)."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
    store: str | None = typer.Option(None, help="Store URL (default: KGREC_STORE, else embedded)."),
    graph: str | None = typer.Option(None, help="Graph name in the store (default: the run's)."),
    no_store: bool = typer.Option(False, "--no-store", help="Do not store anything (shows what the sentence does)."),
) -> None:
    """Tell the recommender in words what a user wants more or less of; stored as PREFERS / AVOIDS edges."""
    from kgrec.cli.serve import _jsonable, _load_recommender
    from kgrec.errors import InputError

    if (text is None) == (not clear):
        raise InputError("give either --text SENTENCE or --clear")
    rec = _load_recommender(run_dir, store, graph, no_store)
    result = rec.feedback(user, text=text) if text is not None else rec.clear_preferences(user, attribute or None)
    if as_json:
        typer.echo(json.dumps(_jsonable(result), ensure_ascii=False, indent=2))
        return
    for c in result.clauses:
        found = ", ".join(f"{m.name} ({m.label}, {m.similarity:.2f})" for m in c.matches) or "no attribute"
        typer.echo(f"{c.polarity} '{c.phrase}'{f' [{c.cue}]' if c.cue else ''}: {found}")
    typer.echo(f"Text preferences of user {result.user}" + ("" if result.stored else " (not stored)") + ":")
    print_preferences(result.preferences)
