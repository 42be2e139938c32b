#!/usr/bin/python3
"""Checks that the user documents match the program (run by ctest as Docs.*):

  flags   every `attriscope-cli COMMAND ... --flag` shown in a document (code blocks and inline
          code) names a command that exists and a flag that `attriscope-cli COMMAND --help` (or the
          global `--help`) lists;
  links   every relative link [text](path#anchor) points at a file that exists, and an anchor
          at a heading of that file (GitHub's anchors: lower case, punctuation dropped, spaces
          to '-').

  numbers the README's claims about the validation study are the counts of the study's own tables
          in docs/validation-study.md (the tables `study` and docs/analysis/path_study_table.py
          write): settings with a signal (best LDS at least 0.01), those where the default rule
          reaches 0.95 of the best LDS, the PyTorch Adam rows that do, and the largest cost. The
          README states them in fixed phrases, found and compared here.

Usage: check_docs.py flags|links CLI DOC.md [DOC.md ...]
       check_docs.py numbers README.md docs/validation-study.md
Prints one line per problem, naming the document and its line; exits 1 when there is any.
"""
import os
import re
import subprocess
import sys

COMMAND_LINE = re.compile(r"(attriscope-cli|\$cli)((?:[ \t]+(?:\[[^\]\n]*\]|[^\s`|;&)\"]+))+)")
# cli="…/attriscope-cli study --data …": later `$cli --flag` lines run that command.
CLI_VARIABLE = re.compile(r"\bcli=\"?[^\s\"]*attriscope-cli(?:[ \t]+([a-z]+))?")
FLAG = re.compile(r"(?<![\w-])--([a-z][a-z0-9-]*)")
LINK = re.compile(r"(?<!!)\[[^\]\n]*\]\(([^)\s]+)\)|!\[[^\]\n]*\]\(([^)\s]+)\)")
GLOBAL_FLAGS = {"threads", "device", "version", "help"}


def help_flags(cli, command, cache):
    if command not in cache:
        args = [cli] + ([command] if command else []) + ["--help"]
        run = subprocess.run(args, capture_output=True, text=True)
        cache[command] = None if run.returncode != 0 else set(FLAG.findall(run.stdout))
    return cache[command]


def commands(cli, cache):
    if "" not in cache:
        help_flags(cli, "", cache)
    text = subprocess.run([cli, "--help"], capture_output=True, text=True).stdout
    block = text.split("Commands:", 1)[1].split("Global options:", 1)[0]
    return {line.split()[0] for line in block.splitlines() if line.strip()}


def logical_lines(text):
    """(line number, text) with shell continuations (a trailing backslash) joined."""
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        start, joined = i + 1, lines[i]
        while joined.rstrip().endswith("\\") and i + 1 < len(lines):
            i += 1
            joined = joined.rstrip()[:-1] + " " + lines[i]
        yield start, joined
        i += 1


def check_flags(cli, docs):
    problems, cache = [], {}
    known = commands(cli, cache)
    for doc in docs:
        with open(doc, encoding="utf-8") as f:
            text = f.read()
        variable = []  # the command words `$cli` stands for
        for number, line in logical_lines(text):
            defined = CLI_VARIABLE.search(line)
            if defined:
                variable = [defined.group(1)] if defined.group(1) else []
            for match in COMMAND_LINE.finditer(line):
                words = match.group(2).split()
                if match.group(1) == "$cli":
                    words = variable + words
                # Global options may come before the command.
                while words and words[0].startswith("--"):
                    flag = words.pop(0)[2:].split("=")[0]
                    if flag not in GLOBAL_FLAGS:
                        problems.append(f"{doc}:{number}: unknown global option --{flag}")
                    elif flag in ("threads", "device") and words:
                        words.pop(0)
                if not words or words[0].startswith(("[", "<", "-", "(")) or words[0].isupper():
                    continue
                command = words[0]
                if command not in known:
                    problems.append(f"{doc}:{number}: attriscope-cli has no command '{command}'")
                    continue
                flags = help_flags(cli, command, cache) | GLOBAL_FLAGS
                for flag in FLAG.findall(" ".join(words[1:])):
                    if flag not in flags:
                        problems.append(f"{doc}:{number}: `{command} --help` has no --{flag}")
    return problems


def anchors(path, cache):
    if path not in cache:
        found = set()
        with open(path, encoding="utf-8") as f:
            in_code = False
            for line in f:
                if line.startswith("```"):
                    in_code = not in_code
                if in_code or not line.startswith("#"):
                    continue
                title = line.lstrip("#").strip().lower()
                slug = re.sub(r"[^\w\- ]", "", title).replace(" ", "-")
                base, n = slug, 1
                while slug in found:
                    slug = f"{base}-{n}"
                    n += 1
                found.add(slug)
        cache[path] = found
    return cache[path]


def check_links(docs):
    problems, cache = [], {}
    for doc in docs:
        folder = os.path.dirname(os.path.abspath(doc))
        with open(doc, encoding="utf-8") as f:
            text = f.read()
        in_code = False
        for number, line in enumerate(text.splitlines(), 1):
            if line.startswith("```"):
                in_code = not in_code
            if in_code:
                continue
            for match in LINK.finditer(line):
                target = match.group(1) or match.group(2)
                if re.match(r"^[a-z]+:", target):
                    continue
                path, _, anchor = target.partition("#")
                full = os.path.normpath(os.path.join(folder, path)) if path else os.path.abspath(doc)
                if not os.path.exists(full):
                    problems.append(f"{doc}:{number}: link to a missing file: {target}")
                    continue
                if anchor and full.endswith(".md") and anchor not in anchors(full, cache):
                    problems.append(f"{doc}:{number}: link to a missing section: {target}")
    return problems


SIGNAL = 0.01  # a setting carries a signal when its best grid LDS is at least this
TARGET = 0.95


def markdown_tables(text):
    """Each table of a Markdown text as a list of rows (dicts by header)."""
    tables, header, rows = [], None, []
    for line in text.splitlines() + [""]:
        cells = [c.strip() for c in line.strip().strip("|").split("|")] if line.startswith("|") else None
        if cells is None:
            if header:
                tables.append(rows)
            header, rows = None, []
        elif header is None:
            header = cells
        elif not set("".join(cells)) <= set("-: "):
            rows.append(dict(zip(header, cells)))
    return tables


def leading_number(cell):
    match = re.match(r"\s*(-?[0-9.]+(?:e-?[0-9]+)?)", cell or "")
    return float(match.group(1)) if match else None


def check_numbers(readme, study):
    tables = markdown_tables(open(study, encoding="utf-8").read())
    main = next((t for t in tables if t and "path-or-prior" in t[0] and "best LDS" in t[0]), None)
    adam = next((t for t in tables if t and "ratio now (90% interval)" in t[0]), None)
    if main is None or adam is None:
        return [f"{study}: the study table or the PyTorch Adam table is missing"]
    signal = [r for r in main if (leading_number(r["best LDS"]) or 0.0) >= SIGNAL]
    passed = [r for r in signal if (leading_number(r["path-or-prior"]) or 0.0) >= TARGET]
    adam_passed = [r for r in adam if (leading_number(r["ratio now (90% interval)"]) or 0.0) >= TARGET]
    cost = max(leading_number(r["its % of 50 retrainings"]) or 0.0 for r in main)
    text = " ".join(open(readme, encoding="utf-8").read().split())
    expected = [
        f"on the validation study's {len(signal)} settings with a signal it reached at least 95% of the best LDS "
        f"in {len(passed)}",
        ("in all" if len(adam_passed) == len(adam) else f"in {len(adam_passed)} of the")
        + f" {len(adam)} settings of models trained in PyTorch with Adam",
    ]
    if cost < 5.0:
        expected.append("at under 5% of the cost of the retraining")
    return [f"{readme}: does not say \"{phrase}\" (counted from {study})" for phrase in expected if phrase not in text]


def main():
    if len(sys.argv) >= 4 and sys.argv[1] == "numbers":
        problems = check_numbers(sys.argv[2], sys.argv[3])
        for p in problems:
            print(p)
        print(f"{len(problems)} problem(s)")
        return 1 if problems else 0
    if len(sys.argv) < 3 or sys.argv[1] not in ("flags", "links"):
        print(__doc__, file=sys.stderr)
        return 2
    if sys.argv[1] == "flags":
        problems = check_flags(sys.argv[2], sys.argv[3:])
    else:
        problems = check_links(sys.argv[2:])
    for p in problems:
        print(p)
    print(f"{len(problems)} problem(s) in {len(sys.argv) - (3 if sys.argv[1] == 'flags' else 2)} document(s)")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
