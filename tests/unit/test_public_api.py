"""The public names promised in kgrec/__init__.py resolve to the objects their layers define, and the
import stays light."""

import importlib
import inspect
import subprocess
import sys

import pytest

import kgrec


def test_every_public_name_is_its_layers_object_and_of_the_right_kind():
    for name, module in kgrec._LAZY.items():
        value = getattr(kgrec, name)
        assert value is getattr(importlib.import_module(module), name), name
        if name[0].isupper():  # classes are classes that kgrec defines
            assert inspect.isclass(value) and value.__module__.startswith("kgrec."), name
        else:  # functions are kgrec functions
            assert inspect.isfunction(value) and value.__module__.startswith("kgrec."), name
    assert issubclass(kgrec.KgrecError, Exception)
    assert sorted(dir(kgrec)) == sorted(kgrec.__all__)


def test_an_unknown_public_name_is_an_attribute_error_naming_it():
    with pytest.raises(AttributeError, match="no attribute 'pipelines'"):
        kgrec.pipelines  # noqa: B018


def test_the_entry_point_and_its_config_are_public():
    from kgrec.errors import ConfigError

    assert {"pipeline", "load_pipeline", "PipelineResult", "KgrecConfig", "StoreConfig", "TextConfig",
            "TrainConfig"} <= set(kgrec.__all__)
    assert list(inspect.signature(kgrec.pipeline).parameters)[:3] == ["dataset", "config", "store"]
    cfg = kgrec.KgrecConfig(text=kgrec.TextConfig(documents="short", labels="items"))
    assert cfg.text.documents == "short" and isinstance(cfg.train, kgrec.TrainConfig)
    with pytest.raises(ConfigError, match="did you mean 'lightgcn'"):
        kgrec.TrainConfig(model="lightgnc")


def test_importing_the_pipeline_module_keeps_kgrec_pipeline_callable():
    code = ("import kgrec.api, kgrec.settings, kgrec; "
            "print(callable(kgrec.pipeline), kgrec.pipeline.__module__)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["True", "kgrec.api"]


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
