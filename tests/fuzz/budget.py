"""How long the fuzz targets run: briefly on CI, at length by hand.

    TRACECAR_FUZZ_EXAMPLES=200000 .venv/bin/python -m pytest tests/fuzz -q

Each target feeds its parser inputs built to sit near the grammar (valid pieces, mutated, spliced,
repeated) as well as arbitrary bytes, and checks one thing: the parser answers with its documented
result or its documented error, never anything else.
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

EXAMPLES = int(os.environ.get("TRACECAR_FUZZ_EXAMPLES", "300"))

fuzz = settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much],
    database=None,
)
