"""The documentation (README.md and docs/) says only what ``pricecap`` does: every command line written in it
is one the click parser accepts.

What proves it: each command line is parsed by the real click commands (``make_context``, resilient parsing
off) without running it. That finds every unknown command or option, a missing argument or option value, a
value of the wrong type or out of its range, a bad choice, and whatever an option's callback checks (symbols,
shards, URLs, instances); what only a command's body checks (a time, a time zone, the settings) is not
proved here. A file the command would read is the reader's own: a missing one is not held against the line.

Which lines: every fenced code block's lines that run ``pricecap`` (after a prompt, environment assignments,
a path such as ``.venv/bin/``, or ``&&``), and every inline code span that starts with ``pricecap``. A line
with a placeholder (``SYMBOL``, ``T``, ``[--to T]``, ``...``) is a template: its command and every option it
names must exist. A span of a command's name alone names the command, which must exist.
"""

from __future__ import annotations

import contextlib
import io
import re
import shlex
from dataclasses import dataclass
from pathlib import Path

import click
import pytest

from pricecap.cli import main

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
PLACEHOLDERS = {"S", "T", "N", "K/N", "SYMBOL", "TIME", "FILE", "FILES", "COMMAND", "NAME", "CSV", "DIR", "PATH"}
SEPARATORS = {"&&", "||", ";", "|"}
INLINE = re.compile(r"`(pricecap(?: [^`]*)?)`")
PROMPT = re.compile(r"^\s*(?:[\w.-]*\$ )?")


@dataclass(frozen=True)
class Line:
    """A ``pricecap`` command line of the documentation: its arguments and where it is written."""

    args: tuple[str, ...]
    where: str

    @property
    def template(self) -> bool:
        """True when some argument stands for a value to fill in, or stands for more."""
        return any(placeholder(a) for a in self.args)


def placeholder(arg: str) -> bool:
    """An argument that stands for a value to fill in (``SYMBOL``, ``[--to T]``), or for more (``...``)."""
    return arg.strip("[]") in PLACEHOLDERS or "..." in arg or any(c in arg for c in "[]|<>") or arg.startswith("$")


def pricecap_args(words: list[str]) -> list[tuple[str, ...]]:
    """The arguments of each ``pricecap`` command among shell words (commands split at ``&&``, ``;``, ``|``)."""
    found, command = [], []
    for word in [*words, ";"]:
        if word not in SEPARATORS:
            command.append(word)
            continue
        while command and re.fullmatch(r"[A-Z_][A-Z0-9_]*=.*", command[0]):
            command.pop(0)  # an environment assignment
        if command and command[0].rsplit("/", 1)[-1] == "pricecap":
            found.append(tuple(command[1:]))
        command = []
    return found


def documented_lines() -> list[Line]:
    """Every ``pricecap`` command line of the documentation."""
    lines: list[Line] = []
    for page in PAGES:
        fenced = False
        for number, text in enumerate(page.read_text().splitlines(), 1):
            where = f"{page.relative_to(ROOT)}:{number}"
            if text.lstrip().startswith("```"):
                fenced = not fenced
            elif fenced:
                with contextlib.suppress(ValueError):  # not shell (an unmatched quote in output or Flux)
                    args = pricecap_args(shlex.split(PROMPT.sub("", text), comments=True))
                    lines += [Line(a, where) for a in args if not (a and a[0].endswith(":"))]  # ": " is output
            else:
                for span in INLINE.findall(text):
                    words = span.split()[1:]
                    if not (words and words[0].endswith(":")):  # "pricecap up: stopped ..." is output
                        lines.append(Line(tuple(w.replace("\\|", "|") for w in words), where))
    return lines


def subcommand_at(args: tuple[str, ...]) -> int:
    """The index of the subcommand (the first argument that is not an option of the group), or len(args)."""
    return next((i for i, a in enumerate(args) if not a.startswith("-")), len(args))


def check_names(line: Line) -> None:
    """A template: its command and the options it names exist."""
    at = subcommand_at(line.args)
    context = click.Context(main, info_name="pricecap")
    command: click.Command = main
    if at < len(line.args) and not placeholder(line.args[at]):
        found = main.get_command(context, line.args[at])
        assert found is not None, f"{line.where}: no command {line.args[at]!r}"
        command = found
    known = {opt for p in [*main.params, *command.params] for opt in [*p.opts, *p.secondary_opts]}
    known |= set(context.help_option_names)
    for arg in line.args:
        option = arg.strip("[]")
        if re.fullmatch(r"--?[a-z][\w-]*", option):
            assert option in known, f"{line.where}: pricecap {' '.join(line.args)}: no option {option}"


def parse(line: Line) -> None:
    """A complete line: parsed by the group and its command as ``pricecap`` would, without running it."""
    at = subcommand_at(line.args)
    head, name, rest = list(line.args[:at]), line.args[at] if at < len(line.args) else None, line.args[at + 1 :]
    try:
        with contextlib.redirect_stdout(io.StringIO()):  # --help and --version print
            context = main.make_context("pricecap", head) if head else click.Context(main, info_name="pricecap")
            if name is None:
                return
            command = main.get_command(context, name)
            assert command is not None, f"{line.where}: no command {name!r}"
            if rest:
                command.make_context(name, list(rest), parent=context)
    except click.exceptions.Exit as e:
        assert e.exit_code == 0, f"{line.where}: pricecap {' '.join(line.args)}: exit {e.exit_code}"
    except click.BadParameter as e:
        if not (isinstance(e.param and e.param.type, click.Path) and "does not exist" in e.format_message()):
            raise AssertionError(f"{line.where}: pricecap {' '.join(line.args)}: {e.format_message()}") from e
    except click.ClickException as e:
        raise AssertionError(f"{line.where}: pricecap {' '.join(line.args)}: {e.format_message()}") from e


LINES = documented_lines()


def slug(heading: str) -> str:
    """A heading's anchor as GitHub and MkDocs both make it for the headings these pages use."""
    return re.sub(r"[\s]+", "-", re.sub(r"[^\w\s-]", "", heading.strip().lower()))


def test_the_readme_links_point_at_files_and_headings_that_exist() -> None:
    """The README is not part of the site (mkdocs build checks the pages): its relative links are checked here."""
    text = (ROOT / "README.md").read_text()
    links = re.findall(r"\]\(([^)\s]+)\)", text)
    assert len(links) >= 20
    for link in links:
        if re.match(r"[a-z]+:", link):
            continue
        path, _, anchor = link.partition("#")
        target = ROOT / path if path else ROOT / "README.md"
        assert target.exists(), link
        if anchor:
            headings = re.findall(r"^#+ (.+)$", target.read_text(), flags=re.MULTILINE)
            assert anchor in {slug(h.replace("`", "")) for h in headings}, link


def test_the_documentation_has_command_lines_to_check() -> None:
    complete = [line for line in LINES if not line.template]
    assert len(complete) >= 40, "the extraction finds the command lines written in the docs"
    assert len({line.where.split(":")[0] for line in LINES}) >= 10


@pytest.mark.parametrize("line", LINES, ids=[f"{line.where} {' '.join(line.args)}" for line in LINES])
def test_every_documented_command_line_is_accepted(line: Line) -> None:
    if line.template or len(line.args) == 1:
        check_names(line)
    else:
        parse(line)


@pytest.mark.parametrize(
    "args",
    [
        ("price-at", "BTCUSDT", "--nearst"),
        ("candles", "BTCUSDT", "--from", "-1d", "--fill", "zero"),
        ("collect", "--shard", "3/3", "--symbol", "BTCUSDT"),
        ("high-low", "BTCUSDT"),
        ("frobnicate",),
        ("up", "--rate"),
    ],
)
def test_a_command_line_pricecap_refuses_fails_the_check(args: tuple[str, ...]) -> None:
    with pytest.raises(AssertionError):
        if len(args) == 1:
            check_names(Line(args, "here"))
        else:
            parse(Line(args, "here"))
