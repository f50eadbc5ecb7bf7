"""Keep third-party progress bars and load reports out of our operators' output."""

from __future__ import annotations

import logging
import os


def quiet_libraries() -> None:
    """Silence transformers' load reports and bars, and bitsandbytes' optional-kernel notice."""
    os.environ.setdefault("TRANSFORMERS_NO_ADVISORY_WARNINGS", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    logging.getLogger("bitsandbytes").setLevel(logging.ERROR)
    try:
        from transformers.utils import logging as hf_logging

        hf_logging.set_verbosity_error()
        hf_logging.disable_progress_bar()
    except ImportError:  # the service can run without the training extras
        pass
