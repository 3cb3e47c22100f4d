"""The one config: every section refuses a bad key or value at construction with a ConfigError that
names the field, the value and what is allowed; per-model options; KgrecConfig's resolution order."""

from __future__ import annotations

import pytest
import yaml

from kgrec.errors import ConfigError, KgrecError


# -- TrainConfig: errors at construction (issue 14 A6) ------------------------------------------------
def test_a_misspelt_model_is_a_config_error_at_construction_with_did_you_mean():
    from kgrec.gnn import TrainConfig

    with pytest.raises(ConfigError) as caught:
        TrainConfig(model="lightgnc")
    message = str(caught.value)
    assert "TrainConfig.model" in message and "'lightgnc'" in message
    assert "did you mean 'lightgcn'" in message
    for name in ("kgrec", "pop", "itemknn", "bprmf", "lightgcn", "textknn"):
        assert name in message


@pytest.mark.parametrize("field, value, allowed", [
    ("lr", -1.0, "greater than 0"),
    ("epochs", -3, "greater than or equal to 0"),
    ("valid_fraction", 1.5, "less than 1"),
    ("batch_size", 0, "greater than or equal to 1"),
    ("loss", "hinge", "'bpr' or 'softmax'"),
    ("sampler", "random", "choices: auto, full"),
    ("min_interactions", 0, "greater than or equal to 1"),
])
def test_out_of_range_values_name_field_value_and_range(field, value, allowed):
    from kgrec.gnn import TrainConfig

    with pytest.raises(ConfigError) as caught:
        TrainConfig(**{field: value})
    message = str(caught.value)
    named = f"TrainConfig.{field} = {value!r}" in message or f"TrainConfig.{field}: unknown {field} {value!r}" in message
    assert named and allowed in message
    assert "pydantic" not in message and "errors.pydantic.dev" not in message


def test_config_errors_are_kgrec_errors_not_raw_validation_errors():
    from pydantic import ValidationError

    from kgrec.gnn import TrainConfig

    with pytest.raises(KgrecError) as caught:
        TrainConfig.model_validate({"epochs": "many"})
    assert not isinstance(caught.value, ValidationError)
    assert "TrainConfig.epochs = 'many'" in str(caught.value)
    cfg = TrainConfig()
    with pytest.raises(ConfigError, match="frozen"):
        cfg.lr = 0.1


def test_an_unknown_key_lists_the_allowed_keys_and_the_models_that_have_it():
    from kgrec.gnn import TrainConfig

    with pytest.raises(ConfigError) as caught:
        TrainConfig(model="lightgcn", score="dot")
    message = str(caught.value)
    assert "unknown key 'score' for model 'lightgcn'" in message and "option of kgrec" in message
    assert "lightgcn's options: none" in message and "epochs" in message
    with pytest.raises(ConfigError, match="unknown key 'bogus'"):
        TrainConfig(bogus=1)


# -- per-model options (issue 15.4) --------------------------------------------------------------------
def test_model_options_are_typed_per_model_and_given_flat_or_nested():
    from kgrec.gnn import TrainConfig, model_options
    from kgrec.gnn.models.kgrec import KGRec

    assert model_options("kgrec") is KGRec.Options
    assert set(KGRec.Options.model_fields) >= {"score", "item_bias", "relation_weights", "text_dim", "dropout"}
    for kgrec_only in ("score", "item_bias", "relation_weights", "text_dim", "dropout"):
        assert kgrec_only not in TrainConfig.model_fields
    flat = TrainConfig(item_bias=False, text_dim=32)
    nested = TrainConfig(model_options={"item_bias": False, "text_dim": 32})
    assert isinstance(flat.model_options, KGRec.Options)
    assert flat.model_options == nested.model_options
    assert (flat.model_options.item_bias, flat.model_options.text_dim) == (False, 32)
    assert TrainConfig().model_options.item_bias is True  # kgrec's default
    assert type(TrainConfig(model="LightGCN").model_options).model_fields == {}
    with pytest.raises(ConfigError, match=r"KGRecOptions\.text_dim = -1"):
        TrainConfig(text_dim=-1)


def test_set_item_bias_and_model_item_bias_both_reach_the_option(tmp_path):
    from kgrec.gnn import load_config

    assert load_config(None, ["item_bias=false"]).model_options.item_bias is False
    assert load_config(None, ["model.item_bias=false"], model="kgrec").model_options.item_bias is False
    assert load_config(None, ["train.model.item_bias=false"]).model_options.item_bias is False
    path = tmp_path / "c.yaml"
    path.write_text("train:\n  model: {name: kgrec, item_bias: false}\n  lr: 0.01\n")
    cfg = load_config(path)
    assert cfg.model_options.item_bias is False and cfg.lr == 0.01


def test_effective_applies_model_defaults_to_shared_fields_and_options():
    from kgrec.gnn import TrainConfig

    eff = TrainConfig(lr=0.02).effective()
    assert eff.lr == 0.02 and eff.loss == "softmax" and eff.layers == 2  # kgrec's defaults fill the rest
    assert eff.model_options.item_bias is True
    assert TrainConfig(item_bias=False).effective().model_options.item_bias is False
    assert eff.effective() == eff


def test_saved_options_reload_and_old_flat_configs_still_load():
    from kgrec.gnn import TrainConfig

    eff = TrainConfig(item_bias=False, score="dot").effective()
    dumped = yaml.safe_load(yaml.safe_dump(eff.model_dump(mode="json")))
    assert dumped["model_options"]["item_bias"] is False
    assert TrainConfig.model_validate(dumped) == eff
    # a run dir written before per-model options: the options at the top level, for every model
    old = {k: v for k, v in dumped.items() if k != "model_options"}
    old.update({"score": "dot", "item_bias": False, "relation_weights": "label-pair", "text_dim": 64, "dropout": 0.0})
    assert TrainConfig.model_validate(old).model_options == eff.model_options
    old_lightgcn = {**old, "model": "lightgcn", "score": "cosine"}
    assert TrainConfig.model_validate(old_lightgcn).model == "lightgcn"


def test_replace_to_another_model_keeps_only_the_options_it_has():
    from kgrec.gnn import TrainConfig
    from kgrec.gnn.config import ModelOptions

    base = TrainConfig(epochs=3, item_bias=False)  # a benchmark's shared config, say
    other = base.replace(model="lightgcn")
    assert other.model == "lightgcn" and type(other.model_options) is ModelOptions and other.epochs == 3
    back = other.replace(model="kgrec")
    assert back.model_options.item_bias is True  # the option went with the model it was set for
    assert base.replace(seed=2).model_options.item_bias is False
    with pytest.raises(ConfigError, match="unknown key 'item_bias' for model 'lightgcn'"):
        TrainConfig(model="lightgcn", item_bias=True)


def test_the_model_registry_is_the_one_resolver():
    from kgrec.gnn import list_models, model_class
    from kgrec.gnn.registry import MODELS
    from kgrec.resolver import Registry

    assert isinstance(MODELS, Registry)
    assert model_class("Light-GCN") is model_class("lightgcn")
    assert list_models() == MODELS.names()
    with pytest.raises(ConfigError, match="did you mean 'bprmf'"):
        model_class("bpr-mfx")


# -- other sections ------------------------------------------------------------------------------------
def test_text_config_documents_and_labels():
    from kgrec.text import SHORT_DOCUMENTS, DocumentTemplates, TextConfig

    short = TextConfig(documents="Short", labels="items")
    assert short.documents == "short"
    assert short.templates() == DocumentTemplates(**SHORT_DOCUMENTS)
    assert SHORT_DOCUMENTS == {"max_tags": 3, "max_facts": 1, "max_fact_relations": 1, "max_chars": 120}
    assert TextConfig().templates() == DocumentTemplates()
    assert TextConfig(documents={"max_tags": 2}).templates().max_tags == 2
    with pytest.raises(ConfigError, match="unknown document preset 'tiny'.*choices: full, short"):
        TextConfig(documents="tiny")
    with pytest.raises(ConfigError, match=r"TextConfig\.batch_size = 0"):
        TextConfig(batch_size=0)
    with pytest.raises(ConfigError, match="device 'gpu'"):
        TextConfig(device="gpu")
    encoder = TextConfig(batch_size=8, download=True).encoder()
    assert encoder.batch_size == 8 and encoder.download is True


def test_store_config_checks_url_and_graph_name():
    from kgrec.kg.stores.config import StoreConfig

    assert StoreConfig().url == "embedded"
    with pytest.raises(ConfigError, match=r"StoreConfig\.url: store URL 'mongo://x' is not one kgrec knows"):
        StoreConfig(url="mongo://x")
    with pytest.raises(ConfigError, match=r"StoreConfig\.graph: graph name 'a b'"):
        StoreConfig(graph="a b")


def test_saved_configs_hold_no_store_secret(tmp_path):
    from kgrec.kg.stores.config import StoreConfig
    from kgrec.settings import KgrecConfig

    cfg = KgrecConfig(store=StoreConfig(url="falkordb://kg:s3cret@db.example:6379",
                                        options={"auth": ["neo4j", "s3cret"], "batch_size": 100}))
    text = cfg.save(tmp_path / "c.yaml").read_text()
    assert "s3cret" not in text and "falkordb://kg:***@db.example:6379" in text and "batch_size: 100" in text
    assert StoreConfig(url="embedded:/tmp/x").redacted().url == "embedded:/tmp/x"


def test_kgrec_config_resolution_order(tmp_path):
    from kgrec.settings import KgrecConfig

    path = tmp_path / "kgrec.yaml"
    path.write_text("store: {url: 'rdf:/tmp/from-yaml'}\ntrain: {lr: 0.02, epochs: 7}\ntext: {documents: short}\n")
    env = {"KGREC_STORE": "embedded:/tmp/from-env", "HF_HUB_OFFLINE": "0"}
    assert KgrecConfig.resolve(environ=env).store.url == "embedded:/tmp/from-env"  # env over defaults
    cfg = KgrecConfig.resolve(path, ["train.epochs=9", "train.model.item_bias=false", "text.labels=items"],
                              environ=env)
    assert cfg.store.url == "rdf:/tmp/from-yaml"  # YAML over env
    assert (cfg.train.lr, cfg.train.epochs) == (0.02, 9)  # --set over YAML
    assert cfg.train.model_options.item_bias is False
    assert (cfg.text.documents, cfg.text.labels, cfg.text.download) == ("short", "items", True)
    assert KgrecConfig.resolve(environ={}).text.download is False
    saved = cfg.save(tmp_path / "saved.yaml")
    assert KgrecConfig.load(saved) == cfg


def test_kgrec_config_errors_name_the_section_key_and_value():
    from kgrec.settings import KgrecConfig

    with pytest.raises(ConfigError, match=r"KgrecConfig\.train\.lr = -1: input should be greater than 0"):
        KgrecConfig.resolve(overrides=["train.lr=-1"], environ={})
    with pytest.raises(ConfigError, match="names no section; did you mean train.lr"):
        KgrecConfig.resolve(overrides=["lr=1"], environ={})
    with pytest.raises(ConfigError, match=r"KgrecConfig\.train\.model: unknown model 'lightgnc'; did you mean"):
        KgrecConfig(train={"model": "lightgnc"})
    with pytest.raises(ConfigError, match=r"KgrecConfig: unknown key 'serving'"):
        KgrecConfig(serving={})
    with pytest.raises(ConfigError, match=r"KgrecConfig\.serve\.port = -1"):
        KgrecConfig(serve={"port": -1})
    assert KgrecConfig.resolve(overrides=["lr=0.5"], environ={}, default_section="train").train.lr == 0.5


# -- the edge: paths and progress (issue 14 A1, A4) ----------------------------------------------------
def test_pin_environment_makes_relative_folders_absolute_once(tmp_path, monkeypatch):
    from kgrec.config import data_home, pin_environment

    monkeypatch.chdir(tmp_path)
    (tmp_path / "data").mkdir()
    env = {"KGREC_DATA_HOME": "data", "KGREC_HOME": "/already/absolute", "OTHER": "x"}
    changed = pin_environment(env)
    assert changed == {"KGREC_DATA_HOME": str(tmp_path / "data")}
    assert env["KGREC_HOME"] == "/already/absolute" and env["OTHER"] == "x"
    monkeypatch.setenv("KGREC_DATA_HOME", "../data-elsewhere")
    assert data_home().is_absolute() and data_home() == (tmp_path.parent / "data-elsewhere")


def test_the_session_runs_with_absolute_folders():
    import os

    from tests.conftest import PINNED

    for name in ("KGREC_HOME", "KGREC_DATA_HOME"):
        if os.environ.get(name):
            assert os.path.isabs(os.environ[name]), name
    assert all(os.path.isabs(v) for v in PINNED.values())


def test_progress_is_auto_on_a_terminal_and_off_otherwise(monkeypatch):
    import io
    import logging
    import sys

    from kgrec.config import progress_bar, show_progress

    class Terminal(io.StringIO):
        def isatty(self):
            return True

    monkeypatch.setattr(sys, "stderr", io.StringIO())
    assert show_progress(None) is False and show_progress(True) is True
    terminal = Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    assert show_progress(None) is True and show_progress(False) is False
    bar = progress_bar(range(3), desc="work", unit="step")
    list(bar)
    bar.close()
    assert "work" in terminal.getvalue()
    logger = logging.getLogger("kgrec")
    monkeypatch.setattr(logger, "level", logging.ERROR)
    assert show_progress(None) is False  # follows logging: quieter than WARNING turns bars off


def test_words_yaml_reads_as_booleans_stay_words(tmp_path):
    """YAML reads off/no as False: `--set model.closed_form=off`, `closed_form: off` in a file and
    `feedback_fsync: no` mean the words, while a field that takes a boolean keeps the boolean."""
    from kgrec.gnn import load_config
    from kgrec.serving.config import ServeConfig

    assert load_config(None, ["model.closed_form=off"]).model_options.closed_form == "off"
    path = tmp_path / "train.yaml"
    path.write_text("model: kgrec\nmodel_options:\n  closed_form: off\n  item_bias: off\n")
    options = load_config(path).model_options
    assert options.closed_form == "off" and options.item_bias is False
    assert ServeConfig.model_validate({"feedback_fsync": False}).feedback_fsync == "no"
    with pytest.raises(ConfigError, match="closed_form"):
        load_config(None, ["model.closed_form=yes"])  # no allowed word means True
