"""Fast checks of the Briefcase configuration, the installer icons, packaging/build and the in-bundle test runner."""

from __future__ import annotations

import importlib.machinery
import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest
import tomllib

ROOT = Path(__file__).resolve().parents[1]
BUILD = ROOT / "packaging" / "build"


def _pyproject() -> dict:
    with open(ROOT / "pyproject.toml", "rb") as f:
        return tomllib.load(f)


def _load(path: Path, name: str) -> ModuleType:
    loader = importlib.machinery.SourceFileLoader(name, str(path))
    spec = importlib.util.spec_from_loader(name, loader)
    module = importlib.util.module_from_spec(spec)
    loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def briefcase() -> dict:
    return _pyproject()["tool"]["briefcase"]


@pytest.fixture(scope="module")
def app(briefcase: dict) -> dict:
    assert list(briefcase["app"]) == ["pneumoviewer"]
    return briefcase["app"]["pneumoviewer"]


def test_identity(briefcase: dict, app: dict) -> None:
    assert briefcase["project_name"] == "PneumoViewer"
    assert app["formal_name"] == "PneumoViewer"
    assert re.fullmatch(r"[a-z]+(\.[a-z0-9-]+)+", briefcase["bundle"])
    assert len(app["description"]) <= 80  # Briefcase truncates longer ones on some platforms
    assert briefcase["license"] == "Apache-2.0"
    for f in briefcase["license-files"]:
        assert "Apache License" in (ROOT / f).read_text(encoding="utf-8")


def test_version_lives_in_one_place(briefcase: dict, app: dict) -> None:
    """Briefcase takes the version from [project]; nobody may restate it in [tool.briefcase]."""
    project = _pyproject()["project"]
    assert "version" not in briefcase and "version" not in app
    init = (ROOT / "pneumoviewer" / "__init__.py").read_text(encoding="utf-8")
    fallback = re.search(r'__version__ = "([^"]+)"', init)
    assert fallback and fallback.group(1) == project["version"], "pneumoviewer/__init__.py fallback version differs"
    changelog = (ROOT / "packaging" / "CHANGELOG.md").read_text(encoding="utf-8")
    assert f"## {project['version']}" in changelog, "packaging/CHANGELOG.md has no entry for this version"


def test_requires_match_the_project(app: dict) -> None:
    project = _pyproject()["project"]
    # runtime requires: Briefcase merges [project].dependencies itself; an app-level list would duplicate them
    assert "requires" not in app
    assert project["dependencies"], "no runtime dependencies?"
    assert app["test_requires"] == project["optional-dependencies"]["dev"]


def test_sources_are_the_package_models_and_resources(app: dict) -> None:
    assert app["sources"] == ["pneumoviewer", "models", "resources"]
    assert app["test_sources"] == ["tests"]
    for src in [*app["sources"], *app["test_sources"]]:
        assert (ROOT / src).is_dir(), src
    assert (ROOT / "tests" / "pneumoviewer.py").is_file(), "Briefcase's test entry point is missing"


def test_cleanup_never_touches_the_app_itself(app: dict) -> None:
    for pattern in app["cleanup_paths"]:
        assert pattern.startswith("**/app_packages/"), pattern
    assert any("tensorflow/include" in p for p in app["cleanup_paths"])


def test_every_icon_size_exists() -> None:
    make_icons = _load(ROOT / "packaging" / "make_icons.py", "pv_make_icons")
    assert make_icons.check() == []
    for name in make_icons.ICONS:
        for size in (16, 32, 64, 128, 256, 512):
            assert (make_icons.OUT_DIR / f"{name}-{size}.png").is_file()


def test_icon_settings_point_at_generated_files(app: dict) -> None:
    for base in (app["icon"], app["document_type"]["dicom"]["icon"]):
        for suffix in ("-16.png", "-512.png", ".ico", ".icns"):
            assert (ROOT / f"{base}{suffix}").is_file(), base + suffix


def test_dicom_document_type(app: dict) -> None:
    doc = app["document_type"]["dicom"]
    assert doc["extension"] == "dcm"
    assert doc["mime_type"] == "application/dicom"
    assert doc["url"].startswith("https://")


def test_linux_runtime_libraries_for_each_distribution_family(app: dict) -> None:
    system = app["linux"]["system"]
    assert set(system) >= {"debian", "rhel", "arch", "suse"}
    egl = {"debian": "libegl1", "rhel": "mesa-libEGL", "arch": "libglvnd", "suse": "libEGL1"}
    cursor = {"debian": "libxcb-cursor0", "rhel": "xcb-util-cursor", "arch": "xcb-util-cursor",
              "suse": "libxcb-cursor0"}
    for vendor in egl:
        runtime = system[vendor]["system_runtime_requires"]
        assert egl[vendor] in runtime and cursor[vendor] in runtime, vendor
    assert "flatpak_runtime" in app["linux"]["flatpak"]
    assert "manylinux" in app["linux"]["appimage"]
    assert app["macOS"]["app"]["packaging_format"] == "dmg"
    assert app["windows"]["packaging_format"] == "msi"


def test_packaging_readme_lists_every_debian_build_package(app: dict) -> None:
    """Issue 14: a new maintainer's first build stopped on Briefcase's system check; the README's apt-get line
    names every Debian runtime library Briefcase checks for."""
    text = (ROOT / "packaging" / "README.md").read_text(encoding="utf-8")
    block = text.split("sudo apt-get install", 1)[1].split("```", 1)[0]
    listed = set(block.replace("\\", " ").split())
    missing = set(app["linux"]["system"]["debian"]["system_runtime_requires"]) - listed
    assert not missing, f"packaging/README.md's apt-get line lacks {sorted(missing)}"
    assert {"libwayland-cursor0", "libwayland-egl1", "dpkg-dev"} <= listed


def _clean_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "PNEUMOVIEWER_LINUX_TEMPLATE"}
    env["PNEUMOVIEWER_BUILD_DIR"] = "/nonexistent-never-created"
    return env


def test_build_without_template_says_so_and_fails() -> None:
    proc = subprocess.run([sys.executable, str(BUILD), "--offline"], capture_output=True, text=True,
                          env=_clean_env(), timeout=60)
    assert proc.returncode != 0
    assert "no Briefcase template" in proc.stderr
    assert "--template" in proc.stderr and "briefcase-linux-system-template" in proc.stderr
    assert not Path("/nonexistent-never-created").exists()


def test_build_rejects_a_folder_that_is_not_a_template(tmp_path: Path) -> None:
    proc = subprocess.run([sys.executable, str(BUILD), "--template", str(tmp_path)], capture_output=True, text=True,
                          env=_clean_env(), timeout=60)
    assert proc.returncode != 0
    assert "cookiecutter.json" in proc.stderr and str(tmp_path) in proc.stderr


def test_staging_copy_has_changelog_and_cpu_tensorflow(tmp_path: Path) -> None:
    build = _load(BUILD, "pv_build")
    src = tmp_path / "src"
    build.stage(src, "cpu")
    assert (src / "CHANGELOG.md").read_text(encoding="utf-8") == (ROOT / "packaging" / "CHANGELOG.md").read_text(
        encoding="utf-8")
    with open(src / "pyproject.toml", "rb") as f:
        deps = tomllib.load(f)["project"]["dependencies"]
    assert any(d.startswith("tensorflow-cpu") for d in deps)
    assert not any(re.match(r"tensorflow[<>=!~ ]", d) for d in deps)
    assert (src / "pneumoviewer" / "cli.py").is_file()
    assert not (src / ".venv").exists() and not (src / ".git").exists()
    # the repository itself is untouched
    assert not (ROOT / "CHANGELOG.md").exists()
    build.stage(src, "full")  # re-staging replaces the old copy
    with open(src / "pyproject.toml", "rb") as f:
        assert tomllib.load(f)["project"]["dependencies"] == _pyproject()["project"]["dependencies"]


def test_staging_can_ship_a_site_model(tmp_path: Path) -> None:
    build = _load(BUILD, "pv_build")
    site = tmp_path / "site-bundle"
    site.mkdir()
    (site / "manifest.json").write_text('{"name": "site"}', encoding="utf-8")
    (site / "classifier.keras").write_bytes(b"weights")
    src = tmp_path / "src"
    build.stage(src, "full", site)
    assert (src / "models" / "demo" / "manifest.json").read_text(encoding="utf-8") == '{"name": "site"}'
    assert (src / "models" / "demo" / "classifier.keras").read_bytes() == b"weights"
    with pytest.raises(build.BuildError, match=r"no manifest\.json"):
        build.stage(tmp_path / "src2", "full", tmp_path)


def test_in_bundle_runner_arguments(tmp_path: Path) -> None:
    runner = _load(ROOT / "tests" / "pneumoviewer.py", "pv_briefcase_runner")
    # in a checkout: pyproject.toml supplies the settings; default is the whole suite
    args = runner.pytest_args(ROOT, [], {})
    assert args[-1] == "tests" and "--import-mode=importlib" not in args
    # passthrough arguments win; the env var is the fallback
    assert runner.pytest_args(ROOT, ["-k", "x"], {"PNEUMOVIEWER_TEST_ARGS": "tests/io"})[-2:] == ["-k", "x"]
    assert runner.pytest_args(ROOT, [], {"PNEUMOVIEWER_TEST_ARGS": "-m 'not slow' tests/io"})[-3:] == [
        "-m", "not slow", "tests/io"]
    # in an app bundle (no pyproject.toml): restate the settings and skip the checkout-only checks
    bundled = runner.pytest_args(tmp_path, [], {})
    assert "--import-mode=importlib" in bundled and "qt_api=pyside6" in bundled
    assert "--ignore=tests/test_project.py" in bundled and "--ignore=tests/test_packaging.py" in bundled


def test_runner_is_not_collected_and_does_not_shadow_the_package() -> None:
    import pneumoviewer

    assert Path(pneumoviewer.__file__).resolve().parent == ROOT / "pneumoviewer"
    proc = subprocess.run([sys.executable, "-m", "pytest", "--collect-only", "-q", "tests/test_packaging.py",
                           "tests/pneumoviewer.py"], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert "tests/pneumoviewer.py::" not in proc.stdout


def test_packaged_app_honours_interpreter_style_child_processes() -> None:
    """In a packaged app sys.executable is the app binary: `-m pneumoviewer.…` / multiprocessing `-c` must work."""
    from pneumoviewer.__main__ import interpreter_request

    exe = "/usr/bin/pneumoviewer"
    assert interpreter_request([exe, "-m", "pneumoviewer.inference.child", "5", "7"]) == (
        "-m", "pneumoviewer.inference.child", ["5", "7"])
    code = "from multiprocessing.spawn import spawn_main; spawn_main(tracker_fd=5, pipe_handle=7)"
    assert interpreter_request([exe, "-B", "-S", "-I", "-c", code, "--multiprocessing-fork"]) == (
        "-c", code, ["--multiprocessing-fork"])
    # the CLI itself, and anything else, is left to the CLI
    assert interpreter_request([exe]) is None
    assert interpreter_request([exe, "selftest", "-m", "pneumoviewer.x"]) is None
    assert interpreter_request([exe, "--version"]) is None
    assert interpreter_request([exe, "-c", "import os; os.system('x')"]) is None
    assert interpreter_request([exe, "-m", "http.server"]) is None
    assert interpreter_request([exe, "-m", "pneumoviewer", "selftest"]) == ("-m", "pneumoviewer", ["selftest"])


def test_packaged_style_child_runs_our_module(tmp_path: Path) -> None:
    """`python -m pneumoviewer -m pneumoviewer.cli --version` goes through the same path the packaged binary takes."""
    proc = subprocess.run([sys.executable, "-m", "pneumoviewer", "-m", "pneumoviewer.cli"], cwd=ROOT,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr  # runs pneumoviewer.cli as __main__ (a no-op module), not the CLI parser
    assert "invalid choice" not in proc.stderr
