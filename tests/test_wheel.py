"""A regular install works: the wheel built from this tree, installed in a fresh environment and
run from another directory (no source tree on the path), carries the specs: `table`, `list` and
`check` work. Offline: the wheel is built without build isolation, with this interpreter's
setuptools, and the fresh environment borrows this one's dependencies (torch, pandas, ...)
through a .pth file; archprof itself comes only from the wheel. Skipped where no wheel can be
built (no setuptools, no pip)."""
from __future__ import annotations

import csv
import io
import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

import archprof

REPO = Path(__file__).resolve().parents[1]
TREE = ["pyproject.toml", "README.md", "archprof", "specs"]     # what the wheel is built from


def run(command: list[str], cwd: Path, **extra_env: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "ARCHPROF_SPECS")}
    return subprocess.run(command, cwd=cwd, env={**env, **extra_env}, capture_output=True,
                          text=True, timeout=600)


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The bin folder of a fresh environment with the wheel installed."""
    work = tmp_path_factory.mktemp("wheel")
    source = work / "source"                    # a copy: building in the tree would litter it
    source.mkdir()
    for name in TREE:
        if (REPO / name).is_dir():
            shutil.copytree(REPO / name, source / name,
                            ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        else:
            shutil.copy2(REPO / name, source / name)
    built = run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
                 "--no-index", "-w", str(work / "dist"), str(source)], cwd=work)
    if built.returncode != 0:
        pytest.skip("cannot build a wheel here: " + (built.stderr.strip().splitlines() or ["?"])[-1])
    (wheel,) = (work / "dist").glob("archprof-*.whl")
    made = run([sys.executable, "-m", "venv", "--without-pip", str(work / "env")], cwd=work)
    if made.returncode != 0:
        pytest.skip("cannot make a virtual environment here: " + made.stderr.strip())
    bin_dir = work / "env" / "bin"
    purelib = run([str(bin_dir / "python"), "-c",
                   "import sysconfig; print(sysconfig.get_path('purelib'))"], cwd=work).stdout.strip()
    # this environment's dependencies; a .pth file's folders are searched after the wheel's
    deps = {sysconfig.get_path("purelib"), sysconfig.get_path("platlib")}
    (Path(purelib) / "borrowed_dependencies.pth").write_text("\n".join(sorted(deps)) + "\n")
    installed = run([sys.executable, "-m", "pip", "--python", str(bin_dir / "python"), "install",
                     "--no-deps", "--no-index", str(wheel)], cwd=work)
    assert installed.returncode == 0, installed.stderr[-2000:]
    return bin_dir


def archprof_cli(env: Path, *args: str) -> subprocess.CompletedProcess:
    elsewhere = env.parent.parent          # neither the source tree nor its copy
    return run([str(env / "archprof"), *args], cwd=elsewhere)


def test_the_installed_package_is_the_wheel(env: Path) -> None:
    where = run([str(env / "python"), "-c", "import archprof; print(archprof.__file__)"],
                cwd=env.parent.parent)
    assert Path(where.stdout.strip()).is_relative_to(env.parent), where
    version = archprof_cli(env, "--version")
    assert version.returncode == 0 and version.stdout.split()[-1] == archprof.__version__


def test_table_from_the_wheel(env: Path) -> None:
    done = archprof_cli(env, "table", "vgg16", "--format", "csv")
    assert done.returncode == 0, done.stderr
    rows = list(csv.DictReader(io.StringIO(done.stdout)))
    # VGG-16: 138,357,544 parameters (torchvision VGG16_Weights.IMAGENET1K_V1 num_params)
    assert sum(int(r["params"]) for r in rows) == 138_357_544


def test_list_from_the_wheel_has_every_spec(env: Path) -> None:
    done = archprof_cli(env, "list", "--format", "csv")
    assert done.returncode == 0, done.stderr
    names = [r["name"] for r in csv.DictReader(io.StringIO(done.stdout))]
    assert sorted(names) == sorted(archprof.registry())      # the source tree's specs, all


def test_check_from_the_wheel(env: Path) -> None:
    done = archprof_cli(env, "check", "vgg16", "lenet5")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "passed" in done.stdout


def test_missing_spec_folder_is_one_line(env: Path, tmp_path: Path) -> None:
    for folder in (tmp_path / "absent", tmp_path):       # missing; present but without specs
        done = run([str(env / "archprof"), "list"], cwd=tmp_path, ARCHPROF_SPECS=str(folder))
        assert done.returncode == 2
        assert done.stderr.count("\n") == 1 and str(folder) in done.stderr


def test_the_wheel_keeps_parsed_specs_for_the_next_process(env: Path, tmp_path: Path) -> None:
    """The first process parses the shipped specs and keeps them (archprof.spec.cache), the
    next reads them back and prints the same."""
    folder = tmp_path / "cache"
    first, again = [run([str(env / "archprof"), "list", "--format", "csv"], cwd=tmp_path,
                        ARCHPROF_CACHE=str(folder)) for _ in range(2)]
    assert first.returncode == 0 and again.returncode == 0, first.stderr + again.stderr
    assert again.stdout == first.stdout
    files = {spec.file for spec in archprof.registry().values()}
    assert len(list(folder.glob("*.pickle"))) == len(files)
