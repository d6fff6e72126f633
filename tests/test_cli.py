"""`python -m core.training`: a short real run, and one-line errors for bad input."""

import json
import os
import re
import subprocess
import sys

import pytest
import torch

from core.data import RAW_FILES
from core.runtime.precision import choose_precision
from core.store.checkpoints import load_checkpoint
from core.training.__main__ import main
from tests.tensorboard_events import assert_log_matches_record

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run_cli(args, data_root, **env):
    """The CLI in a fresh interpreter, one intra-op thread (the test machine's cores are shared)."""
    env = os.environ | {"GUMBEL_LAB_DATA": str(data_root), "OMP_NUM_THREADS": "1", "GUMBEL_LAB_THREADS": "1"} | env
    return subprocess.run(
        [sys.executable, "-m", "core.training", *args], cwd=REPO, env=env, capture_output=True, text=True, timeout=300
    )


def test_short_run_prints_an_epoch_line_and_saves(data_root, tmp_path):
    out = tmp_path / "x-r0.0001"  # a name with a dot (a grid schedule's): every file keeps all of it
    result = run_cli(
        ["--epochs", "1", "--max-steps", "20", "--train-subset", "2000", "--quiet", "--out", str(out)], data_root
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert len([line for line in lines if line.startswith("Epoch")]) == 1
    assert re.match(r"Epoch  1: relaxed \d+\.\d\d  unrelaxed \d+\.\d\d  test \d+\.\d\d", lines[0])
    side = json.loads((tmp_path / "x-r0.0001.json").read_text())
    assert side["command"].startswith("python -m core.training --epochs 1 --max-steps 20")
    assert side["steps"] == 20 and side["status"] == "finished"
    assert side["train_config"]["precision"] == "auto"
    assert f"{side['precision']} ({side['precision_reason']})" == choose_precision("auto").describe()
    assert load_checkpoint(tmp_path / "x-r0.0001.pt").metadata == side
    # TensorBoard: the epoch's scalars and the run's settings, beside the record
    log = assert_log_matches_record(tmp_path / "x-r0.0001", side)
    assert log.hparams["preset"] == "faithful" and log.status == "STATUS_SUCCESS"


BAD_ARGS = [
    (["--tau", "0"], "tau"),
    (["--epochs", "0"], "epochs"),
    (["--batch-size", "0"], "batch size"),
    (["--lr", "-1"], "learning rate"),
    (["--device", "banana"], "device"),
    (["--estimator", "gumbel_rao", "--rao-samples", "0"], "rao_samples"),
    pytest.param(
        ["--device", "cuda"],
        "no CUDA GPU",
        marks=pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA"),
    ),
]


@pytest.mark.parametrize("args, words", BAD_ARGS)
def test_bad_args_give_one_error_line(args, words, capsys):
    assert main(args) != 0
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: ") and words in err[0]


def test_empty_data_root_names_the_four_files(data_root, tmp_path):
    """Exit code and stderr of the real entry point; the CLI tries a download, and a dead proxy
    makes that fail at once instead of waiting on the network."""
    dead = "http://127.0.0.1:9"
    result = run_cli(
        ["--data-root", str(tmp_path)],
        data_root,
        http_proxy=dead,
        https_proxy=dead,
        HTTP_PROXY=dead,
        HTTPS_PROXY=dead,
        no_proxy="",
        NO_PROXY="",
    )
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    err = result.stderr.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: ")
    assert all(name in err[0] for name in RAW_FILES) and str(tmp_path.resolve()) in err[0]


def test_binarize_and_score_function_options_reach_the_config():
    from core.training.__main__ import build_parser, config_from_args

    args = build_parser().parse_args(
        ["--preset", "jang", "--binarize", "dynamic", "--estimator", "score_function", "--sf-samples", "3"]
    )
    config = config_from_args(args)
    assert (config.binarize, config.estimator, config.sf_samples) == ("dynamic", "score_function", 3)
    assert config.model.latent_vars == 20 and not config.model.relu_logits
    assert config_from_args(build_parser().parse_args([])).binarize == "none"


def test_help_answers_without_importing_torch():
    """`--help` parses with plain names only: no torch, torchvision or tqdm in the process."""
    result = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "core.training", "--help"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0 and "--preset" in result.stdout
    lines = [line for line in result.stderr.splitlines() if line.startswith("import time:")]
    imported = {line.rsplit("|", 1)[1].strip() for line in lines}
    assert "core.names" in imported
    assert not imported & {"torch", "torchvision", "tqdm", "numpy"}


def test_the_parser_names_match_the_engine():
    """core.names holds the parser's plain copies of names the engine defines with torch."""
    from core.data import BINARIZE_LABELS
    from core.names import BINARIZE, ESTIMATOR_LABELS, ESTIMATORS, PRESET_NAMES
    from core.vae import PRESETS

    assert tuple(sorted(PRESETS)) == PRESET_NAMES
    assert tuple(BINARIZE_LABELS) == BINARIZE
    assert set(ESTIMATORS) <= set(ESTIMATOR_LABELS)


def test_precision_option_reaches_the_config():
    from core.training.__main__ import build_parser, config_from_args

    assert config_from_args(build_parser().parse_args([])).precision == "auto"
    assert config_from_args(build_parser().parse_args(["--precision", "bf16"])).precision == "bf16"
    with pytest.raises(SystemExit):
        build_parser().parse_args(["--precision", "fp16"])


def test_a_terminated_run_saves_its_model_and_says_it_stopped(data_root, tmp_path):
    """`kill <pid>` as Ctrl-C: the record says stopped, never "running" with no process behind it."""
    out = tmp_path / "x"
    args = ["--epochs", "50", "--train-subset", "2000", "--quiet", "--out", str(out)]
    env = os.environ | {"GUMBEL_LAB_DATA": str(data_root), "OMP_NUM_THREADS": "1", "GUMBEL_LAB_THREADS": "1"}
    process = subprocess.Popen(
        [sys.executable, "-m", "core.training", *args], cwd=REPO, env=env, stdout=subprocess.PIPE, text=True
    )
    try:
        first = process.stdout.readline()  # an epoch has ended: the run is training
        assert first.startswith("Epoch  1:"), first
        process.terminate()
        assert process.wait(timeout=120) == 130
    finally:
        process.kill()
    side = json.loads((tmp_path / "x.json").read_text())
    assert side["status"] == "stopped" and 1 <= side["epochs"] < 50
    assert load_checkpoint(tmp_path / "x.pt").metadata == side
