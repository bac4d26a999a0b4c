"""A hostile or broken OpenAI-compatible server (issue: the API key leaves): redirects are not followed, URL
credentials appear in no output, answers are capped in size and in time, and control characters in what a server
says never reach the terminal raw. Every server here is a real HTTP server on 127.0.0.1."""

from __future__ import annotations

import base64
import json
import socket

import pytest
from openai_server import MODEL, SECRET, FakeServer, openai_model, tone_request
from plugin_helpers import load_results

from pytest_audiollm.errors import AudioLLMError
from pytest_audiollm.models.adapters.openai_compatible import RemoteModelError

DEMO = ("--audiollm-benchmark", "demo-classification", "--audiollm-limit", "1")


pytestmark = pytest.mark.usefixtures("openai_env")  # no proxy, key or base URL from the environment


def _sample(pytester: pytest.Pytester) -> dict[str, object]:
    (run,) = load_results(pytester.path / "r.json")["runs"]
    sample: dict[str, object] = run["samples"][0]
    return sample


def test_a_redirect_to_another_host_gets_neither_the_key_nor_the_audio(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", SECRET)
    with FakeServer() as other:
        port = other.httpd.server_address[1]
        location = f"http://127.0.0.1:{port}/v1/chat/completions?sig=s3cret-sig"
        with FakeServer([("status", 302, {"Location": location}, b"")] * 20, models_status=404) as first:
            result = pytester.runpytest(
                "--audiollm-model", f"openai:{MODEL}@{first.base_url}", *DEMO, "--audiollm-results", "r.json"
            )
        assert other.requests == []  # not the POST, not a GET, no Authorization header
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    error = str(_sample(pytester)["error"])
    assert f"redirect (HTTP 302) to http://127.0.0.1:{port}/v1/chat/completions?sig=***" in error
    assert "not followed" in error and "API key and the audio" in error and "point the model URL" in error
    output = result.stdout.str() + result.stderr.str() + (pytester.path / "r.json").read_text()
    assert "redirect (HTTP 302)" in output
    for secret in (SECRET, "s3cret-sig"):
        assert secret not in output


@pytest.mark.parametrize("status", [301, 303, 307, 308])
def test_no_redirect_is_followed_not_even_to_the_same_server(chat_server: FakeServer, status: int) -> None:
    """Not even 307/308 to the same server: the model URL is fixed to point at the final address instead."""
    relative = status in (301, 307)
    location = "/v2/chat/completions" if relative else f"http://u:pw-in-location@{chat_server.origin[7:]}/v2/x?k=v"
    chat_server.script = [("status", status, {"Location": location}, b"")]
    with pytest.raises(RemoteModelError) as info:
        openai_model(chat_server.base_url).predict([tone_request(100)])
    shown = (
        f"{chat_server.origin}/v2/chat/completions" if relative else f"http://***@{chat_server.origin[7:]}/v2/x?k=***"
    )
    assert f"redirect (HTTP {status}) to {shown}" in str(info.value) and "pw-in-location" not in str(info.value)
    assert info.value.status == status
    assert [method for method, _, _ in chat_server.requests] == ["POST"]  # no retry, no second request


def test_a_redirect_of_the_model_list_fails_the_load(chat_server: FakeServer) -> None:
    chat_server.models_status = 302
    with pytest.raises(RemoteModelError, match=r"GET .*/v1/models answered a redirect"):
        openai_model(chat_server.base_url).load("cpu")


def test_credentials_in_the_url_appear_in_no_output(chat_server: FakeServer, pytester: pytest.Pytester) -> None:
    """user:password@ is sent as Basic auth and a query string as it is, but every output shows *** instead."""
    port = chat_server.httpd.server_address[1]
    url = f"http://alice:pa55-in-url@127.0.0.1:{port}/v1?api_key=key-in-query&api-version=2024"
    echo = {"error": {"message": f"bad key key-in-query for alice:pa55-in-url at {url}"}}
    chat_server.script = ["ok", ("status", 400, {}, echo)]  # the warm-up, then the first sample: an echo of it all
    result = pytester.runpytest(
        "--audiollm-model", f"openai:{MODEL}@{url}", "--audiollm-benchmark", "demo-classification",
        "--audiollm-limit", "2", "--audiollm-model-arg", "concurrency=1", "-v", "-rA",
        "--audiollm-results", "r.json", "--junitxml", "junit.xml", "--html", "report.html", "--self-contained-html",
    )  # fmt: skip
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    basic = "Basic " + base64.b64encode(b"alice:pa55-in-url").decode()
    query = "?api_key=key-in-query&api-version=2024"
    assert [auth for _, _, auth in chat_server.requests] == [basic] * 4  # GET /models, the warm-up, the two samples
    assert [path for _, path, _ in chat_server.requests] == ["/v1/models" + query] + [
        "/v1/chat/completions" + query
    ] * 3
    shown = f"openai:{MODEL}@http://***@127.0.0.1:{port}/v1?api_key=***&api-version=***"
    results = load_results(pytester.path / "r.json")
    assert results["runs"][0]["model"] == shown
    assert "bad key *** for ***" in str(results["runs"][0]["samples"][0]["error"])
    outputs = [result.stdout.str(), result.stderr.str()]
    outputs += [(pytester.path / name).read_text() for name in ("r.json", "junit.xml", "report.html")]
    assert shown in outputs[0] and shown in outputs[2]
    for text in outputs:
        for secret in ("pa55-in-url", "key-in-query", basic.split()[1]):
            assert secret not in text


def test_a_huge_answer_is_refused_without_reading_it(pytester: pytest.Pytester) -> None:
    size = 100 * 2**20
    with FakeServer(["ok", ("huge", size)]) as fake:
        result = pytester.runpytest("--audiollm-model", f"openai:{MODEL}@{fake.base_url}", *DEMO,
                                    "--audiollm-results", "r.json")  # fmt: skip
        sent = fake.sent_bytes
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    error = str(_sample(pytester)["error"])
    assert "more than max_response_bytes=16777216" in error and "--audiollm-model-arg max_response_bytes=" in error
    assert sent < size // 2  # the client hung up


def test_an_answer_without_length_is_cut_at_the_cap(chat_server: FakeServer) -> None:
    size = 8 * 2**20
    chat_server.script = [("huge", size)]  # with Content-Length: refused at the headers
    with pytest.raises(RemoteModelError, match="more than max_response_bytes=1048576"):
        openai_model(chat_server.base_url, max_response_bytes=2**20).predict([tone_request(100)])
    # a chunked answer announces no length: read until the cap, then refused
    chat_server.script = [("huge", size, "chunked")]
    with pytest.raises(RemoteModelError, match="more than max_response_bytes=1048576"):
        openai_model(chat_server.base_url, max_response_bytes=2**20).predict([tone_request(100)])
    assert chat_server.sent_bytes < 2 * size  # neither was read to the end
    chat_server.script = []
    assert openai_model(chat_server.base_url, max_response_bytes=2**20).predict([tone_request(100)])  # a normal answer


def test_timeout_s_bounds_the_whole_request_not_each_read(pytester: pytest.Pytester) -> None:
    """A server sending one byte every 0.1 s would take 60 s; timeout_s=1 cuts the request near 1 s."""
    with FakeServer(["ok", ("trickle", 600, 0.1)]) as fake:
        result = pytester.runpytest_subprocess(
            "--audiollm-model", f"openai:{MODEL}@{fake.base_url}", *DEMO, "--audiollm-results", "r.json",
            "--audiollm-model-arg", "timeout_s=1", "--audiollm-model-arg", "max_retries=0",
            timeout=45,  # generous: the point is that it ends at all well before the 60 s the trickle takes
        )  # fmt: skip
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    error = str(_sample(pytester)["error"])
    assert "no complete answer within timeout_s=1" in error and "whole request" in error


def test_the_deadline_covers_an_https_server_that_never_answers_the_handshake() -> None:
    with socket.socket() as listener:  # accepts connections (the kernel's backlog) and never says a word
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        model = openai_model(f"https://127.0.0.1:{listener.getsockname()[1]}/v1", timeout_s=1, max_retries=0)
        with pytest.raises(RemoteModelError, match="no complete answer within timeout_s=1"):
            model.predict([tone_request(100)])


@pytest.mark.parametrize(
    "body",
    [
        json.dumps({"error": {"message": "\x1b[2J\x1b[31mPWNED\x07\x9b6n"}}).encode(),
        b"\x1b[2J\x1b[31mPWNED\r\x00",
    ],
    ids=["json-message", "plain-text"],
)
def test_control_characters_from_the_server_never_reach_the_terminal(pytester: pytest.Pytester, body: bytes) -> None:
    with FakeServer(["ok", ("status", 400, {}, body)]) as fake:
        result = pytester.runpytest("--audiollm-model", f"openai:{MODEL}@{fake.base_url}", *DEMO, "-rA",
                                    "--audiollm-results", "r.json")  # fmt: skip
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    output = result.stdout.str() + result.stderr.str()
    assert "PWNED" in output and "\\x1b[2J\\x1b[31mPWNED" in output  # shown, escaped
    for control in ("\x1b", "\x07", "\x9b", "\r", "\x00"):
        assert control not in output
    assert "\x1b" not in str(_sample(pytester)["error"])


def test_control_characters_in_an_answer_are_recorded_as_sent(chat_server: FakeServer) -> None:
    """The prediction is data: kept and recorded as the server sent it; messages quoting a server are escaped."""
    answer = {"choices": [{"message": {"content": "\x1b[31mtone"}}]}
    chat_server.script = [("status", 200, {}, answer)]
    assert openai_model(chat_server.base_url).predict([tone_request(100)]) == ["\x1b[31mtone"]
    chat_server.script = [("status", 200, {}, {"choices": "\x1b[2J"})]
    with pytest.raises(Exception, match="not a chat completion") as info:
        openai_model(chat_server.base_url).predict([tone_request(100)])
    assert "\x1b" not in str(info.value)


def test_user_info_and_an_api_key_together_are_refused(
    chat_server: FakeServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = f"http://alice:pa55-in-url@{chat_server.origin[7:]}/v1"
    monkeypatch.setenv("OPENAI_API_KEY", SECRET)
    with pytest.raises(AudioLLMError, match="one Authorization header") as info:
        openai_model(url)
    assert "pa55-in-url" not in str(info.value) and SECRET not in str(info.value)
    openai_model(url, api_key_env="").predict([tone_request(100)])  # api_key_env= (empty): no key, Basic auth
    assert chat_server.auth_headers == ["Basic " + base64.b64encode(b"alice:pa55-in-url").decode()]


def test_two_models_differing_only_in_credentials_are_refused(pytester: pytest.Pytester) -> None:
    models = [f"openai:{MODEL}@http://127.0.0.1:9/v1?api_key={key}" for key in ("first-key", "other-key")]
    result = pytester.runpytest("--audiollm-model", models[0], "--audiollm-model", models[1], *DEMO)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*two --audiollm-model values differ only in the credentials of their URL*"])
    assert "first-key" not in result.stderr.str() + result.stdout.str()
