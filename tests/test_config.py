"""The shipped .streamlit/config.toml suits serving a class (issue 15)."""

import tomllib
from pathlib import Path

CONFIG = Path(__file__).resolve().parent.parent / ".streamlit" / "config.toml"


def test_config_serves_a_class_safely():
    config = tomllib.loads(CONFIG.read_text())
    assert config["client"]["showErrorDetails"] == "none"  # no tracebacks or server paths
    assert config["server"]["enableXsrfProtection"] is True
    assert config["server"]["maxUploadSize"] == 10  # MB, the model upload's limit
    assert config["browser"]["gatherUsageStats"] is False
    assert config["runner"]["postScriptGC"] is False  # a full GC per rerun starved live runs (issue 16)


def test_streamlit_reads_the_shipped_config():
    from streamlit import config

    config.get_config_options(force_reparse=True, options_from_flags={})
    assert config.get_option("client.showErrorDetails") == "none"
    assert config.get_option("server.maxUploadSize") == 10
    assert config.get_option("runner.postScriptGC") is False
