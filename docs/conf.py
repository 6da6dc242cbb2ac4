"""Sphinx configuration of the scsparseot documentation.

Build with ``sphinx-build -W -b html docs docs/_build/html`` after ``pip install -e ".[doc]"``.

* The tutorials (copied from ``tutorials/`` to ``docs/tutorials/``) are shown with the outputs stored
  in the notebooks, from a full run (``nb_execution_mode = "off"``: a docs build runs no notebook).
  Set ``SCSPARSEOT_DOCS_EXECUTE=cache`` (or ``force``, any myst-nb execution mode) to execute them
  during the build instead, in their fast mode (``SCSPARSEOT_FAST=1`` unless set otherwise; about a
  minute per notebook); the pages then show the outputs of that run.
* Cross-references to numpy, pandas, AnnData, scanpy, matplotlib, SciPy, PyTorch and POT go through
  intersphinx. Without network access (probed at start-up, or forced with
  ``SCSPARSEOT_DOCS_OFFLINE=1``), intersphinx is switched off and references into those packages are
  accepted unresolved; references inside scsparseot are still checked (``nitpicky``). Local copies of
  the inventories in ``SCSPARSEOT_DOCS_INVENTORIES`` (a folder of ``<name>.inv`` files) are used
  instead of downloads.
"""

from __future__ import annotations

import builtins
import importlib
import inspect
import os
import re
import shutil
import socket
from datetime import date
from importlib.metadata import version as _version
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from docutils import nodes
    from sphinx.application import Sphinx
    from sphinx.environment import BuildEnvironment

HERE = Path(__file__).parent
ROOT = HERE.parent

# ---------------------------------------------------------------------------- project
project = "scsparseot"
author = "scsparseot developers"
copyright = f"{date.today().year}, {author}"
release = _version("scsparseot")
version = ".".join(release.split(".")[:2])

# ---------------------------------------------------------------------------- general
extensions = [
    "myst_nb",
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.napoleon",  # before sphinx_autodoc_typehints
    "sphinx_autodoc_typehints",
    "sphinx.ext.intersphinx",
    "sphinx.ext.mathjax",
    "sphinx.ext.viewcode",
]
templates_path = ["_templates"]
exclude_patterns = [
    "_build",
    "**.ipynb_checkpoints",
    "Thumbs.db",
    ".DS_Store",
]
source_suffix = {
    ".rst": "restructuredtext",
    ".md": "myst-nb",
    ".ipynb": "myst-nb",
}  # .rst first: autosummary stubs
master_doc = "index"
nitpicky = True
# private helpers named in type hints of public dataclasses (documented in their docstrings)
nitpick_ignore = [("py:class", "scsparseot.core._conditional_stats.Moments")]
# the benchmark reports included in benchmarks.md are written by the scripts, with their own levels
suppress_warnings = ["myst.header"]
default_role = "literal"

# ---------------------------------------------------------------------------- API docs
autosummary_generate = True
autodoc_member_order = "bysource"
autodoc_typehints = "description"
napoleon_google_docstring = False
napoleon_numpy_docstring = True
napoleon_include_init_with_doc = False
napoleon_use_rtype = True
napoleon_use_param = True
typehints_defaults = "comma"
typehints_use_rtype = True
always_use_bars_union = True

# ---------------------------------------------------------------------------- notebooks (myst-nb)
# The notebooks live in tutorials/ at the repository root; copy them next to the docs (real files,
# not links, so that links between notebooks resolve). docs/tutorials/ is git-ignored.
for _nb in sorted((ROOT / "tutorials").glob("*.ipynb")):
    _dest = HERE / "tutorials" / _nb.name
    if not _dest.exists() or _dest.read_bytes() != _nb.read_bytes():
        shutil.copyfile(_nb, _dest)

# The notebooks are stored with the outputs of a full run (SCSPARSEOT_FAST unset), and the pages show
# those: by default no notebook is executed ("off"). SCSPARSEOT_DOCS_EXECUTE=cache (or force, auto)
# executes them here instead, in their fast mode (short training, the same checks: about a minute per
# notebook; each prints a line saying so), from docs/tutorials/, where they find the stand-in data in
# ../../tutorials/data/. The test suite executes them in every run too (tests/test_tutorials.py), and
# checks that the stored outputs are complete.
os.environ.setdefault("SCSPARSEOT_FAST", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")  # small fits; extra threads only spin on shared runners
nb_execution_mode = os.environ.get("SCSPARSEOT_DOCS_EXECUTE", "off")
nb_execution_timeout = 600
nb_execution_raise_on_error = True
nb_output_stderr = "remove"  # progress bars
nb_merge_streams = True
myst_enable_extensions = ["amsmath", "colon_fence", "dollarmath"]
myst_heading_anchors = 3

# ---------------------------------------------------------------------------- HTML
html_theme = "sphinx_book_theme"
html_title = "scsparseot"
html_theme_options = {
    "repository_url": "https://github.com/scverse/scsparseot",
    "use_repository_button": True,
    "path_to_docs": "docs/",
    "navigation_with_keys": False,
}
html_static_path = ["_static"] if (HERE / "_static").is_dir() else []
html_show_sourcelink = False


# ---------------------------------------------------------------------------- intersphinx
def _online(host: str = "docs.python.org", port: int = 443, timeout: float = 3.0) -> bool:
    forced = os.environ.get("SCSPARSEOT_DOCS_OFFLINE")
    if forced is not None:
        return forced.strip() in ("", "0", "false", "no")
    try:
        socket.create_connection((host, port), timeout=timeout).close()
    except OSError:
        return False
    return True


ONLINE = _online()
EXTERNAL = {
    "python": "https://docs.python.org/3/",
    "numpy": "https://numpy.org/doc/stable/",
    "pandas": "https://pandas.pydata.org/docs/",
    "scipy": "https://docs.scipy.org/doc/scipy/",
    "matplotlib": "https://matplotlib.org/stable/",
    "anndata": "https://anndata.readthedocs.io/en/stable/",
    "scanpy": "https://scanpy.readthedocs.io/en/stable/",
    "torch": "https://pytorch.org/docs/stable/",
    "ot": "https://pythonot.github.io/",
}
# SCSPARSEOT_DOCS_INVENTORIES: a folder with local copies ``<name>.inv`` of the inventories (optional)
_local = Path(os.environ.get("SCSPARSEOT_DOCS_INVENTORIES", HERE / "_inventories"))
intersphinx_mapping = (
    {
        name: (url, str(_local / f"{name}.inv") if (_local / f"{name}.inv").is_file() else None)
        for name, url in EXTERNAL.items()
    }
    if ONLINE
    else {}
)
intersphinx_timeout = 30
if not ONLINE:
    print("scsparseot docs: no network, intersphinx is off; external references are not checked.")
    _modules = r"(numpy|pandas|scipy|matplotlib|anndata|scanpy|torch|ot|concurrent|collections|typing|pathlib|os|logging|abc|hashlib)"
    _builtins = "|".join(re.escape(n) for n in dir(builtins))
    nitpick_ignore_regex = [
        (r"py:.*", rf"{_modules}(\..+)?"),
        (r"py:.*", rf"({_builtins})"),
    ]

# ---------------------------------------------------------------------------- public-name resolution
# Docstrings and type hints may name an object by the module that defines it
# (``scsparseot.core.annealing.AnnealConfig``) or the package re-export (``scsparseot.SparseOTMap``);
# the API pages document each object once under its public namespace. Resolve the other names to it.
NAMESPACES = [
    "scsparseot.tl",
    "scsparseot.get",
    "scsparseot.pl",
    "scsparseot.datasets",
    "scsparseot.baselines",
    "scsparseot.report",
    "scsparseot.core",
    "scsparseot",
]


PUBLIC: dict[int, str] = {}


def _public_names() -> dict[int, str]:
    names: dict[int, str] = {}
    for modname in NAMESPACES:
        mod = importlib.import_module(modname)
        for name in getattr(mod, "__all__", []):
            obj = getattr(mod, name)
            if not inspect.ismodule(obj):
                names.setdefault(id(obj), f"{modname}.{name}")
    return names


def _lookup(path: str) -> Any:
    parts = path.split(".")
    for i in range(len(parts), 0, -1):
        try:
            obj: Any = importlib.import_module(".".join(parts[:i]))
        except ImportError:
            continue
        try:
            for attr in parts[i:]:
                obj = getattr(obj, attr)
        except AttributeError:
            return None
        return obj
    return None


def _resolve_public(
    app: Sphinx, env: BuildEnvironment, node: nodes.Element, contnode: nodes.Element
) -> nodes.Element | None:
    if node.get("refdomain") != "py":
        return None
    target = node["reftarget"]
    module, cls = node.get("py:module"), node.get("py:class")
    candidates = [target]
    if module and not target.startswith("scsparseot"):
        candidates += [f"{module}.{cls}.{target}" if cls else None, f"{module}.{target}"]
    public = PUBLIC
    domain = env.get_domain("py")
    if "." not in target:  # a short name: the documented public object of that name, if unique
        matches = {n for n in public.values() if n.rsplit(".", 1)[-1] == target}
        if len(matches) == 1:
            candidates.append(matches.pop())
    for cand in filter(None, candidates):
        if not cand.startswith("scsparseot"):
            continue
        head, _, attr = cand.rpartition(".")
        obj = _lookup(cand)
        name = public.get(id(obj)) if obj is not None else None
        if name is None:  # a method or attribute: resolve its owner
            owner = _lookup(head)
            owner_name = public.get(id(owner)) if owner is not None else None
            name = f"{owner_name}.{attr}" if owner_name else None
        if name and name != target:
            for reftype in (node["reftype"], "obj"):
                ref = domain.resolve_xref(env, node["refdoc"], app.builder, reftype, name, node, contnode)
                if ref is not None:
                    return ref
    return None


def _resolve_external(
    app: Sphinx, env: BuildEnvironment, node: nodes.Element, contnode: nodes.Element
) -> nodes.Element | None:
    """Find an external object under a shorter path when its defining module is not the documented one.

    Type hints name objects by the module that defines them (``pandas.core.frame.DataFrame``,
    ``anndata._core.anndata.AnnData``, ``matplotlib.axes._axes.Axes``); the inventories list the
    public path (``pandas.DataFrame``, ``anndata.AnnData``, ``matplotlib.axes.Axes``).
    """
    if not ONLINE or node.get("refdomain") != "py":
        return None
    from sphinx.ext import intersphinx

    parts = node["reftarget"].split(".")
    if parts[0] == "scsparseot" or len(parts) < 3:
        return None
    for i in range(len(parts) - 2, 0, -1):
        for reftype in dict.fromkeys((node["reftype"], "obj")):
            alias = node.deepcopy()
            alias["reftarget"] = ".".join([*parts[:i], parts[-1]])
            alias["reftype"] = reftype
            ref = intersphinx.missing_reference(app, env, alias, contnode)
            if ref is not None:
                return ref
    return None


def _check_api_coverage(app: Sphinx) -> None:
    """Warn (an error with -W) if a public name is missing from api.md."""
    from sphinx.util import logging

    text = (HERE / "api.md").read_text()
    listed = set(re.findall(r"^\s+([\w.]+)\s*$", text, flags=re.MULTILINE))
    for modname in NAMESPACES[:-1]:
        mod = importlib.import_module(modname)
        short = modname.removeprefix("scsparseot.")
        for name in mod.__all__:
            if f"{short}.{name}" not in listed:
                logging.getLogger(__name__).warning(
                    "%s.%s is public (in __all__) but not listed in docs/api.md", modname, name
                )


def _check_benchmark_results(app: Sphinx) -> None:
    """Warn (an error with -W) if a report in benchmarks/results/ is not included by benchmarks.md."""
    from sphinx.util import logging

    text = (HERE / "benchmarks.md").read_text()
    included = set(re.findall(r"^```\{include\}\s+\.\./benchmarks/results/(\S+\.md)\s*$", text, re.MULTILINE))
    for path in sorted((ROOT / "benchmarks" / "results").glob("*.md")):
        if path.stem.endswith("_quick") or path.name in included:  # --quick smoke runs are not results
            continue
        logging.getLogger(__name__).warning(
            "benchmarks/results/%s is not included by docs/benchmarks.md", path.name
        )


def setup(app: Sphinx) -> None:
    """Register the public-name resolver and the build-time checks."""
    PUBLIC.update(_public_names())
    app.connect("builder-inited", _check_api_coverage)
    app.connect("builder-inited", _check_benchmark_results)
    app.connect("missing-reference", _resolve_public)
    app.connect("missing-reference", _resolve_external)
