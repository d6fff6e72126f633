"""MNIST for the pages: both splits loaded once for every session, and when the files are
missing, a message and a download button instead of a hanging page."""

from __future__ import annotations

import streamlit as st

from core.data import MissingDataError, MNISTSplit, download_mnist, load_mnist, resolve_data_root
from ui.layout import show_error

TIMEOUT_SECONDS = 15.0  # per read: a silent network fails here, never hangs the page
DEADLINE_SECONDS = 300.0


@st.cache_resource(show_spinner="Loading MNIST…")
def _splits(root: str) -> tuple[MNISTSplit, MNISTSplit]:
    return load_mnist("train", root, download=False), load_mnist("test", root, download=False)


def splits() -> tuple[MNISTSplit, MNISTSplit]:
    """Both splits, shared read-only by every session. Never a download: a page must not hang
    on the network; a MissingDataError says where to put the files."""
    return _splits(str(resolve_data_root().resolve()))


def splits_or_stop() -> tuple[MNISTSplit, MNISTSplit]:
    """MNIST, or the missing-data message, an offer to download it, and the end of this page's run."""
    try:
        return splits()
    except MissingDataError as err:
        show_error(err)
        offer_download()
        st.stop()
        raise  # st.stop() raises; this line tells the type checker so


def offer_download() -> None:
    """'Download MNIST (11 MB)': a progress bar, a time-out, and on success the page again."""
    if not st.button("Download MNIST (11 MB)", icon=":material/download:", type="primary", key="download_mnist"):
        return
    bar = st.progress(0.0, text="Downloading MNIST…")

    def progress(done: int, total: int) -> None:
        bar.progress(min(done / total, 1.0), text=f"Downloading MNIST… {done / 2**20:.1f} of {total / 2**20:.1f} MB")

    try:
        download_mnist(None, progress, timeout=TIMEOUT_SECONDS, deadline=DEADLINE_SECONDS)
    except MissingDataError as err:
        bar.empty()
        show_error(err)
        return
    _splits.clear()
    st.rerun()
