"""A model that leaks: the reported peak follows the process's memory, not one call's transient."""

from __future__ import annotations

import pytest
from plugin_helpers import MODEL_CONFTEST, SineDataset, load_results, run_by_benchmark

MiB = 2**20

LEAKY = (
    MODEL_CONFTEST
    + "\nclass Leaky(PitchModel):\n"
    + "    kept = []\n"
    + "    def predict(self, requests):\n"
    + "        type(self).kept.append(np.ones(2 * 2**20))  # 16 MiB a call, written so it is resident, never freed\n"
    + "        return super().predict(requests)\n"
    + "@pytest_audiollm.hookimpl(specname='pytest_audiollm_register_models')\n"
    + "def pytest_audiollm_register_leaky(registry):\n"
    + "    registry.add('leaky', Leaky)\n"
)


def test_a_leaking_model_reports_the_memory_its_calls_kept(pytester: pytest.Pytester) -> None:
    """Before: every predict phase counted only its own transient over the memory at its start, so the report
    said 16 MiB and change while the process had grown by 16 MiB per call."""
    sines = SineDataset(pytester)
    pytester.makeconftest(LEAKY)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "--audiollm-model", "leaky",
                                           "--audiollm-results", "r.json")  # fmt: skip
    result.assert_outcomes(passed=8)
    memory = run_by_benchmark(load_results(sines.root / "r.json"), "tones")["memory"]
    calls = 6  # one predict() per sample (batch size 1); warm-up is its own phase
    assert memory["peak_predict_bytes"] >= calls * 16 * MiB, memory
    assert memory["peak_bytes"] >= memory["peak_predict_bytes"]
