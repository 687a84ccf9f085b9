"""MkDocs hook: links from the docs to files of the repository, checked and published with the site.

The pages link to the code as GitHub shows the checkout (``../../tests/test_up.py`` from ``docs/guides/``), so
the same Markdown reads right on GitHub and on the site. MkDocs knows only ``docs/``: this hook publishes each
linked repository file under ``repo/`` in the site and points the link there; a link to a folder or to a
Markdown file outside ``docs/`` keeps its text only; a link to a path that does not exist is a warning, which
``mkdocs build --strict`` turns into a failure, as it does for broken links between pages.
"""

from __future__ import annotations

import logging
import posixpath
import re
from pathlib import Path

from mkdocs.config.defaults import MkDocsConfig
from mkdocs.structure.files import File, Files, InclusionLevel
from mkdocs.structure.pages import Page

log = logging.getLogger("mkdocs.hooks.repo_links")  # under "mkdocs": --strict counts its warnings
LINK = re.compile(r"(!?)\[((?:[^\[\]]|\[[^\]]*\])*)\]\(([^)\s]+)\)")
PUBLISHED = "repo"


def repository(config: MkDocsConfig) -> Path:
    """The checkout: the folder of mkdocs.yml."""
    return Path(config.config_file_path).resolve().parent


def outside_docs(page_src: Path, target: str, config: MkDocsConfig) -> Path | None:
    """The repository path a link of the page at ``page_src`` points to, if it leaves ``docs/`` (else None)."""
    if re.match(r"[a-z][a-z0-9+.-]*:|#|/", target):
        return None
    path = (page_src.parent / target.split("#", maxsplit=1)[0]).resolve()
    docs = Path(config.docs_dir).resolve()
    return None if path.is_relative_to(docs) else path


def prose(markdown: str) -> list[tuple[bool, str]]:
    """The Markdown as (in a fenced code block, line) pairs."""
    fenced, lines = False, []
    for line in markdown.splitlines(keepends=True):
        if line.lstrip().startswith("```"):
            fenced = not fenced
            lines.append((True, line))
        else:
            lines.append((fenced, line))
    return lines


def on_files(files: Files, config: MkDocsConfig) -> Files:
    """Publish every repository file a page links to, under ``repo/``."""
    root = repository(config)
    for page in list(files.documentation_pages()):
        src = Path(page.abs_src_path or "")
        for fenced, line in prose(src.read_text(encoding="utf-8")):
            for match in [] if fenced else LINK.finditer(line):
                path = outside_docs(src, match.group(3), config)
                if path is None or not path.is_file() or path.suffix == ".md" or not path.is_relative_to(root):
                    continue
                uri = f"{PUBLISHED}/{path.relative_to(root).as_posix()}"
                if files.get_file_from_path(uri) is None:
                    files.append(File.generated(config, uri, abs_src_path=str(path), inclusion=InclusionLevel.INCLUDED))
    return files


def on_page_markdown(markdown: str, page: Page, config: MkDocsConfig, files: Files) -> str:
    """Point each link to a repository file at its published copy; warn of one that points at nothing."""
    root = repository(config)
    src = Path(page.file.abs_src_path or "")
    here = posixpath.dirname(page.file.src_uri)

    def relinked(match: re.Match[str]) -> str:
        image, text, target = match.groups()
        path = outside_docs(src, target, config)
        if path is None:
            return match.group(0)
        if not path.exists() or not path.is_relative_to(root):
            log.warning("Doc file '%s' links to '%s', which is not a file of the repository", page.file.src_uri, target)
            return match.group(0)
        if path.is_dir() or path.suffix == ".md":
            return text
        uri = f"{PUBLISHED}/{path.relative_to(root).as_posix()}"
        return f"{image}[{text}]({posixpath.relpath(uri, here or '.')})"

    return "".join(line if fenced else LINK.sub(relinked, line) for fenced, line in prose(markdown))
