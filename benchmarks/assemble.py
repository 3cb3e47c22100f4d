"""Build BENCHMARKS.md from the per-area notes in benchmarks/notes/ (each figure sits beside the
command that produced it there). Usage: python benchmarks/assemble.py"""

from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ORDER = ["sources", "stores", "rdf", "text", "gnn", "peers", "accuracy", "scale", "serving", "explanations", "intent",
         "live", "reliability"]
HEADER = """# kgrec benchmarks

"""
INTRO = """
Every figure below was produced by the command printed beside it, on the 2-core development
machine. No GPU was lent to the sessions that measured them. Each section states its date and the
machine's load:
- The GNN bar and the RecBole peers were measured on 2026-12-01 on a quiet machine (load about 2:
  one single-threaded job per core).
- Most other sections date from 2026-11-23 to 2026-12-06, when parallel work often kept the load
  average at 5-18 on 2 cores. Their absolute times are pessimistic; ratios measured inside one
  run are the reliable part.

The table above is the summary; each row links to its section below, where every figure sits
beside the command that produced it.

Each section comes from `benchmarks/notes/<area>.md`; this file is rebuilt with
`python benchmarks/assemble.py`.

"""


def main() -> None:
    notes = ROOT / "benchmarks" / "notes"
    names = [n for n in ORDER if (notes / f"{n}.md").exists()]
    names += sorted(p.stem for p in notes.glob("*.md") if p.stem not in ORDER)
    # one summary table first (benchmarks/summary.md, each row linking to its section), then the sections
    summary = (ROOT / "benchmarks" / "summary.md").read_text(encoding="utf-8").strip()
    parts = [HEADER, summary + "\n", INTRO, "Sections: " + ", ".join(f"[{n}](#{n})" for n in names) + "\n"]
    for name in names:
        text = (notes / f"{name}.md").read_text(encoding="utf-8").strip()
        # Each note starts with its own '# Title': demote every heading one level.
        lines, in_code = [], False
        for line in text.splitlines():
            if line.startswith("```"):
                in_code = not in_code
            if not in_code:  # a note's links are relative to benchmarks/notes/; BENCHMARKS.md is at the root
                line = line.replace("](../../", "](").replace("](../", "](benchmarks/")
            lines.append("#" + line if line.startswith("#") and not in_code else line)
        parts.append(f'\n<a id="{name}"></a>\n\n' + "\n".join(lines) + "\n")
    (ROOT / "BENCHMARKS.md").write_text("".join(parts), encoding="utf-8")
    print(f"BENCHMARKS.md: {', '.join(names)}")


if __name__ == "__main__":
    main()
