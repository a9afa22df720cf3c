from __future__ import annotations

import json

from variations.export import rows_to_json_text


def test_rows_as_json_keep_text_and_missing_values() -> None:
    rows = [{"text": "Café <b>", "divergence": None, "sample": 0}]

    text = rows_to_json_text(rows)

    assert json.loads(text) == rows
    assert "Café" in text
