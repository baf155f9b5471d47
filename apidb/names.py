"""Names other packages and the command line offer as choices: cheap to import (no
pydantic, no YAML), so `toolroute --help` can list them."""

from __future__ import annotations

from typing import Literal, get_args

ImportFormat = Literal["apibench", "openai-tools", "openapi"]
IMPORT_FORMATS: tuple[ImportFormat, ...] = get_args(ImportFormat)

# The hubs of the bundled APIBench catalog.
ApibenchHub = Literal["huggingface", "torchhub", "tensorflowhub"]
APIBENCH_HUBS: tuple[ApibenchHub, ...] = get_args(ApibenchHub)

# APIBench's protocol: choices are tuned on the dev split (`question_id % 5 == 0`) and
# figures are reported on the held-out rest; `all` mixes both.
ApibenchSplit = Literal["heldout", "dev", "all"]
