"""MNIST from the page: the download in core.data (no network: a fake opener stands in for the
mirrors) and the Train page's offer when the files are missing."""

from __future__ import annotations

import hashlib
import io
import shutil

import pytest
from streamlit.testing.v1 import AppTest

import core.data as data
from core.data import RAW_FILES, MissingDataError, download_mnist, mnist_present
from tests.apptest import REPO
from ui import mnist

FAKE = {name: (name * 5000).encode() for name in RAW_FILES}


@pytest.fixture
def fake_md5(monkeypatch):
    monkeypatch.setattr(data, "MD5", {name: hashlib.md5(body).hexdigest() for name, body in FAKE.items()})


class Answer(io.BytesIO):
    def __init__(self, body: bytes, fail_after: int | None = None):
        super().__init__(body)
        self.fail_after = fail_after

    def read(self, size: int = -1) -> bytes:
        if self.fail_after is not None and self.tell() >= self.fail_after:
            raise ConnectionResetError("connection reset by peer")
        return super().read(min(size, 4096))


def serve(fail: str | None = None):
    calls = []

    def opener(url: str, timeout: float):
        calls.append((url, timeout))
        name = url.rsplit("/", 1)[1]
        if fail == "silent":
            raise TimeoutError("timed out")
        if fail == "partial" and name == RAW_FILES[2]:
            return Answer(FAKE[name], fail_after=8192)
        return Answer(FAKE[name])

    return opener, calls


def leftovers(root) -> list[str]:
    return sorted(p.name for p in (root / "MNIST").rglob("*") if p.is_file()) if (root / "MNIST").exists() else []


def test_download_lands_whole_files_and_reports_progress(tmp_path, fake_md5):
    opener, calls = serve()
    seen = []
    raw = download_mnist(tmp_path, lambda done, total: seen.append((done, total)), timeout=3, opener=opener)
    assert sorted(p.name for p in raw.iterdir()) == sorted(RAW_FILES)
    assert all((raw / n).read_bytes() == FAKE[n] for n in RAW_FILES)
    assert mnist_present(tmp_path) and leftovers(tmp_path) == sorted(RAW_FILES)  # no staging folder left
    assert seen[-1][0] == seen[-1][1] and [d for d, _ in seen] == sorted(d for d, _ in seen)
    assert all(timeout == 3 for _, timeout in calls)


@pytest.mark.parametrize("fail", ["silent", "partial", "damaged"])
def test_a_failed_download_leaves_nothing_and_says_how_to_place_the_files(tmp_path, fake_md5, monkeypatch, fail):
    if fail == "damaged":
        monkeypatch.setattr(data, "MD5", {name: "0" * 32 for name in RAW_FILES})
    opener, calls = serve(None if fail == "damaged" else fail)
    with pytest.raises(MissingDataError) as refused:
        download_mnist(tmp_path, timeout=0.5, opener=opener)
    message = str(refused.value)
    assert "the download failed" in message and "Put the four files" in message and "GUMBEL_LAB_DATA" in message
    assert leftovers(tmp_path) == []  # no half-written file, no staging folder
    assert len(calls) >= 2  # the second mirror was tried too


def test_the_whole_download_has_a_deadline(tmp_path, fake_md5, monkeypatch):
    clock = iter(range(0, 10_000, 100))
    monkeypatch.setattr(data.time, "monotonic", lambda: next(clock))
    with pytest.raises(MissingDataError, match="longer than 250 s"):
        download_mnist(tmp_path, deadline=250, opener=serve()[0])
    assert leftovers(tmp_path) == []


def test_the_train_page_offers_the_download_and_says_why_it_failed(tmp_path, monkeypatch):
    monkeypatch.setenv("GUMBEL_LAB_DATA", str(tmp_path / "empty"))
    monkeypatch.setattr(
        mnist, "download_mnist", lambda *a, **k: (_ for _ in ()).throw(MissingDataError("offline: place the files"))
    )
    at = AppTest.from_file(str(REPO / "views" / "train.py"), default_timeout=60).run()
    assert not at.exception
    assert any("MNIST is not available" in e.value for e in at.error)
    at.button(key="download_mnist").click().run()
    assert not at.exception and any("offline: place the files" in e.value for e in at.error)


def test_a_successful_download_opens_the_page(tmp_path, monkeypatch, data_root):
    root = tmp_path / "fresh"
    monkeypatch.setenv("GUMBEL_LAB_DATA", str(root))

    def fake_download(where, progress, **_):
        shutil.copytree(data_root / "MNIST" / "raw", root / "MNIST" / "raw")
        progress(1, 1)
        return root / "MNIST" / "raw"

    monkeypatch.setattr(mnist, "download_mnist", fake_download)
    at = AppTest.from_file(str(REPO / "views" / "train.py"), default_timeout=60).run()
    at.button(key="download_mnist").click().run()
    assert not at.exception and not at.error
    assert any(b.label == "Start training" for b in at.button)
