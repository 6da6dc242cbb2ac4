"""The release and documentation configurations agree with each other and with the package.

Read the Docs (``.readthedocs.yaml``) and CI (``.github/workflows/docs.yml``) must build the docs the
same way, so that a green CI run means a green Read the Docs build; ``CITATION.cff`` must carry the
package's version and address. Files only: no network, no build.
"""

from __future__ import annotations

import re
import shlex
import sys
from pathlib import Path

import pytest

import scsparseot

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    tomllib = pytest.importorskip("tomli")

yaml = pytest.importorskip("yaml")  # PyYAML, installed with the test extra (through distributed)

ROOT = Path(__file__).resolve().parents[1]
CPU_INDEX = "https://download.pytorch.org/whl/cpu"
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
RTD = yaml.safe_load((ROOT / ".readthedocs.yaml").read_text())
DOCS_JOB = yaml.safe_load((ROOT / ".github" / "workflows" / "docs.yml").read_text())["jobs"]["docs"]
RELEASE = yaml.safe_load((ROOT / ".github" / "workflows" / "release.yml").read_text())
CITATION = yaml.safe_load((ROOT / "CITATION.cff").read_text())


def _ci_commands() -> list[list[str]]:
    """The docs job's shell commands, one word list per line."""
    return [
        shlex.split(line)
        for step in DOCS_JOB["steps"]
        for line in step.get("run", "").splitlines()
        if line.strip()
    ]


def _ci_step(word: str) -> dict:
    (step,) = [s for s in DOCS_JOB["steps"] if word in s.get("run", "")]
    return step


def test_docs_are_built_with_the_same_python():
    (setup,) = [s for s in DOCS_JOB["steps"] if s.get("uses", "").startswith("actions/setup-python")]
    assert str(setup["with"]["python-version"]) == RTD["build"]["tools"]["python"] == "3.11"
    assert RTD["version"] == 2


def test_docs_install_cpu_torch_first_then_the_doc_extra():
    pre_install = [shlex.split(c) for c in RTD["build"]["jobs"]["pre_install"]]
    torch_cpu = ["python", "-m", "pip", "install", "torch", "--index-url", CPU_INDEX]
    assert pre_install == [torch_cpu]
    (install,) = RTD["python"]["install"]
    assert install == {"method": "pip", "path": ".", "extra_requirements": ["doc"]}
    assert set(install["extra_requirements"]) <= set(PYPROJECT["project"]["optional-dependencies"])
    commands = _ci_commands()
    extras = ",".join(install["extra_requirements"])
    assert commands.index(torch_cpu) < commands.index(["python", "-m", "pip", "install", f".[{extras}]"])


def test_docs_use_the_same_sphinx_configuration_and_fail_on_warnings():
    (sphinx_build,) = [c for c in _ci_commands() if c[0] == "sphinx-build"]
    assert RTD["sphinx"]["fail_on_warning"] is True
    assert "-W" in sphinx_build
    assert "--keep-going" in sphinx_build  # what Read the Docs adds to -W
    source_dir = sphinx_build[sphinx_build.index("html") + 1]
    config = Path(RTD["sphinx"]["configuration"])
    assert config.name == "conf.py"
    assert Path(source_dir) == config.parent
    assert (ROOT / config).is_file()


def test_docs_ci_sets_no_environment_read_the_docs_lacks():
    # Read the Docs gets its environment from the project's settings, not from .readthedocs.yaml; CI
    # must not run the notebooks (SCSPARSEOT_DOCS_EXECUTE) when Read the Docs does not.
    env = {**DOCS_JOB.get("env", {}), **_ci_step("sphinx-build").get("env", {})}
    assert "SCSPARSEOT_DOCS_EXECUTE" not in env
    assert set(env) <= {"SCSPARSEOT_DOCS_OFFLINE"}
    assert env.get("SCSPARSEOT_DOCS_OFFLINE", "0") == "0"  # online, as on Read the Docs


def test_citation_matches_the_package():
    version = PYPROJECT["project"]["version"]
    assert CITATION["cff-version"] == "1.2.0"
    assert CITATION["title"] == PYPROJECT["project"]["name"] == "scsparseot"
    assert str(CITATION["version"]) == version == scsparseot.__version__
    assert CITATION["repository-code"] == PYPROJECT["project"]["urls"]["Source"]
    assert CITATION["url"] == PYPROJECT["project"]["urls"]["Documentation"]
    assert (ROOT / "LICENSE").read_text().startswith("BSD 3-Clause License")
    assert CITATION["license"] == "BSD-3-Clause"
    assert CITATION["authors"] == [{"name": "The scsparseot developers"}]


def test_citation_references_the_method_papers():
    titles = {ref["title"].lower(): ref for ref in CITATION["references"]}
    makkuva = titles["optimal transport mapping via input convex neural networks"]
    assert makkuva["year"] == 2020
    assert makkuva["authors"][0]["family-names"] == "Makkuva"
    assert "ICML" in makkuva["collection-title"]
    disnot = titles["displacement-sparse neural optimal transport"]
    assert [a["family-names"] for a in disnot["authors"]] == ["Chen", "Xie", "Zhang"]


def test_release_publishes_tags_only_and_dry_runs_by_default():
    triggers = RELEASE[True]  # YAML 1.1 reads the key `on` as True
    assert triggers["push"]["tags"] == ["v*"]
    assert triggers["workflow_dispatch"]["inputs"]["dry_run"]["default"] is True
    jobs = RELEASE["jobs"]
    assert jobs["publish"]["environment"]["name"] == "pypi"
    assert jobs["publish"]["permissions"] == {"id-token": "write"}  # trusted publishing, no token
    assert "push" in jobs["publish"]["if"] and "refs/tags/v" in jobs["publish"]["if"]
    assert "workflow_dispatch" in jobs["publish-testpypi"]["if"]
    assert "!inputs.dry_run" in jobs["publish-testpypi"]["if"]
    (upload,) = [s for s in jobs["publish-testpypi"]["steps"] if "pypi-publish" in s.get("uses", "")]
    assert upload["with"]["repository-url"] == "https://test.pypi.org/legacy/"


def test_release_checks_the_versions_it_publishes():
    run = "\n".join(s.get("run", "") for s in RELEASE["jobs"]["build"]["steps"])
    assert "twine check --strict dist/*" in run
    assert re.search(r'grep -qx "version: \$version" CITATION\.cff', run)
    assert '"v$version" = "$GITHUB_REF_NAME"' in run
    assert "scsparseot demo --help" in run
