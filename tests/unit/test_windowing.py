"""Window spans and joins of long audio."""

from __future__ import annotations

from pytest_audiollm.models.protocol import Request
from pytest_audiollm.models.windowing import join_texts, spans, split_request, window_spans
from pytest_audiollm.testing import make_request, silence


def _request(seconds: float, task: str = "asr") -> Request:
    return make_request(silence(seconds), prompt="p", sample_id="s", task=task)


def test_spans_cover_the_clip_and_the_last_window_ends_with_it() -> None:
    assert spans(100, 10, 10.0) == [(0, 100)]
    assert spans(250, 10, 10.0) == [(0, 100), (100, 200), (200, 250)]
    assert spans(250, 10, 10.0, hop_s=5.0) == [(0, 100), (50, 150), (100, 200), (150, 250)]


def test_short_audio_is_not_split_and_long_audio_is() -> None:
    short = _request(5.0)
    assert split_request(short, 30.0) == [short]
    assert split_request(short, None) == [short]
    parts = split_request(_request(45.0), 30.0)
    assert [len(p.audio) for p in parts] == [480000, 240000]
    assert window_spans(_request(45.0), 30.0) == [(0.0, 30.0), (30.0, 45.0)]


def test_joins_are_natureLM_lines_for_species_and_text_otherwise() -> None:
    windows = [(0.0, 10.0), (10.0, 20.0)]
    assert join_texts(["one two", " three "], windows, "asr") == "one two three"
    assert join_texts(["Green Treefrog", "None"], windows, "species") == (
        "#0.00s - 10.00s#: Green Treefrog\n#10.00s - 20.00s#: None"
    )
    assert join_texts(["only"], windows[:1], "species") == "only"
