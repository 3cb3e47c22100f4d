"""The public names promised in kgrec/__init__.py resolve, and the import stays light."""

import subprocess
import sys

import kgrec


def test_every_public_name_resolves():
    for name in kgrec.__all__:
        assert getattr(kgrec, name) is not None, name


def test_import_does_not_load_torch():
    code = "import sys, kgrec; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_version_comes_from_metadata():
    from importlib.metadata import version

    assert kgrec.__version__ == version("kgrec")


def test_cli_usage_error_is_one_clear_line():
    out = subprocess.run([sys.executable, "-c", "from kgrec.cli import main; main()", "store", "bogus"],
                         capture_output=True, text=True)
    assert out.returncode == 2
    assert "No such command 'bogus'" in out.stderr
    assert "Traceback" not in out.stderr
