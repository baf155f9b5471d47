"""Names other packages and the command line offer as choices: cheap to import (no
pydantic, no YAML), so `toolroute --help` can list them."""

from __future__ import annotations

import re
from typing import Literal, get_args

ImportFormat = Literal["apibench", "openai-tools", "openapi"]
IMPORT_FORMATS: tuple[ImportFormat, ...] = get_args(ImportFormat)

# The hubs of the bundled APIBench catalog.
ApibenchHub = Literal["huggingface", "torchhub", "tensorflowhub"]
APIBENCH_HUBS: tuple[ApibenchHub, ...] = get_args(ApibenchHub)

# APIBench's protocol: choices are tuned on the dev split (`question_id % 5 == 0`) and
# figures are reported on the held-out rest; `all` mixes both.
ApibenchSplit = Literal["heldout", "dev", "all"]


def hub_key(name: str) -> str:
    """The hub a name means: its slug ("Pet Store" and "pet-store" are the hub
    `pet-store`), so a hub can be named as it was titled or as it is listed."""
    return re.sub(r"[^a-z0-9]+", "-", name.strip().lower()).strip("-")
