#!/usr/bin/env python3
"""Writes mtreplay's man pages from its own --help output, so that they cannot drift.

mtreplay.1 comes from `mtreplay --help` (its command list), mtreplay-CMD.1 from
`mtreplay CMD --help` for every command that list names. The help's layout: usage lines,
free text, then Boost.Program_options blocks (a heading line ending in ':' and option
lines "  -x [ --long ] arg (=default)  description", continued on indented lines).
"""
import argparse
import datetime
import os
import re
import subprocess
import sys

OPTION = re.compile(
    r"^  (?P<spec>(?:-\w \[ --[\w-]+ \]|--[\w-]+|-\w)(?: arg)?(?: \(=[^)]*\))?)(?:\s+(?P<text>.*))?$")


def exit_status(readme):
    """(code, meaning) rows of the table under README.md's "## Exit codes"."""
    rows, inside = [], False
    with open(readme) as f:
        for line in f:
            if line.startswith("## "):
                inside = line.strip() == "## Exit codes"
            elif inside:
                m = re.match(r"^\| (\d+) \| (.*) \|$", line.strip())
                if m:
                    rows.append((m.group(1), m.group(2).replace("`", "")))
    return rows


def esc(text):
    """Escapes roff: backslashes, hyphens (as \\-), and a leading dot or quote."""
    text = text.replace("\\", "\\e").replace("-", "\\-")
    if text.startswith(".") or text.startswith("'"):
        text = "\\&" + text
    return text


def run_help(mtreplay, *args):
    out = subprocess.run([mtreplay, *args, "--help"], capture_output=True, text=True,
                         env=dict(os.environ, COLUMNS="80"))
    if out.returncode != 0 or not out.stdout.strip():
        # Every command's --help prints on stdout and exits 0 (README.md's exit codes).
        sys.exit(f"help2man.py: `{' '.join(['mtreplay', *args, '--help'])}` exited {out.returncode} "
                 f"with {len(out.stdout)} bytes on stdout: {out.stderr.strip()[:200]}")
    return out.stdout


def commands(main_help):
    """(name, summary) pairs of the `commands:` list of mtreplay --help."""
    found, listing = [], False
    for line in main_help.splitlines():
        if line.strip() == "commands:":
            listing = True
        elif listing:
            m = re.match(r"^  (\S+)\s+(.*)$", line)
            if m:
                found.append((m.group(1), m.group(2).strip()))
            elif line.strip():
                listing = False
    return found


def body(help_text):
    """The roff of a subcommand's --help: SYNOPSIS, DESCRIPTION and OPTIONS."""
    lines = help_text.rstrip("\n").splitlines()
    usage, description, options = [], [], []
    section = "usage"
    for line in lines:
        if section == "usage":
            if line.startswith("usage: ") or (usage and line.startswith(" ") and line.strip()):
                usage.append(line[len("usage: "):] if line.startswith("usage: ") else line.strip())
                continue
            section = "text"
        if not line.startswith(" ") and line.rstrip().endswith(":") and line.strip():
            section = "options"
            options.append(("heading", line.strip()[:-1]))
            continue
        if section == "text":
            description.append(line)
            continue
        m = OPTION.match(line)
        if m:
            options.append(("option", m.group("spec"), [m.group("text") or ""]))
        elif line.strip() and options and options[-1][0] == "option":
            options[-1][2].append(line.strip())
        elif line.strip():
            description.append(line)
    out = [".SH SYNOPSIS", ".nf"]
    out += [esc(u) for u in usage]
    out.append(".fi")
    text = "\n".join(description).strip()
    if text:
        out.append(".SH DESCRIPTION")
        for paragraph in re.split(r"\n\s*\n", text):
            out.append(".PP")
            out += [esc(p.strip()) for p in paragraph.splitlines()]
    if options:
        out.append(".SH OPTIONS")
        for entry in options:
            if entry[0] == "heading":
                continue
            _, spec, words = entry
            out.append(".TP")
            out.append("\\fB" + esc(spec) + "\\fR")
            out.append(esc(" ".join(w.strip() for w in words if w.strip())))
    return out


def page(name, section_title, summary, version, date, content, see_also, codes):
    title = esc(name.upper())
    out = [f'.TH {title} 1 "{date}" "mtreplay {version}" "{section_title}"',
           ".SH NAME", f"{esc(name)} \\- {esc(summary)}"]
    out += content
    out.append(".SH EXIT STATUS")
    for code, meaning in codes:
        out += [".TP", code, esc(meaning)]
    out.append(".SH SEE ALSO")
    out.append(",\n".join(f"\\fB{esc(s)}\\fR(1)" for s in see_also))
    return "\n".join(out) + "\n"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mtreplay", required=True)
    parser.add_argument("--version", required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--readme", required=True, help="README.md, for the exit codes")
    args = parser.parse_args()
    # Reproducible builds: the date of SOURCE_DATE_EPOCH when set.
    stamp = int(os.environ.get("SOURCE_DATE_EPOCH", "0")) or None
    date = (datetime.datetime.fromtimestamp(stamp, datetime.timezone.utc) if stamp
            else datetime.datetime.now(datetime.timezone.utc)).strftime("%Y-%m-%d")
    os.makedirs(args.out, exist_ok=True)
    codes = exit_status(args.readme)
    if not codes:
        sys.exit(f"help2man.py: {args.readme}: no '## Exit codes' table")
    main_help = run_help(args.mtreplay)
    listed = commands(main_help)
    if not listed:
        sys.exit("help2man.py: no commands in `mtreplay --help`")
    names = [f"mtreplay-{c}" for c, _ in listed]
    content = [".SH SYNOPSIS", ".nf", esc("mtreplay <command> [options]"),
               esc("mtreplay <command> --help"), esc("mtreplay --version"), ".fi",
               ".SH COMMANDS"]
    for c, summary in listed:
        content += [".TP", f"\\fBmtreplay {esc(c)}\\fR", esc(summary)]
    with open(os.path.join(args.out, "mtreplay.1"), "w") as f:
        f.write(page("mtreplay", "mtreplay manual",
                     "record the malloc traffic of programs and replay it against allocators",
                     args.version, date, content, names, codes))
    for c, summary in listed:
        text = run_help(args.mtreplay, c)
        with open(os.path.join(args.out, f"mtreplay-{c}.1"), "w") as f:
            f.write(page(f"mtreplay-{c}", "mtreplay manual", summary, args.version, date,
                         body(text), ["mtreplay"] + [n for n in names if n != f"mtreplay-{c}"], codes))


if __name__ == "__main__":
    main()
