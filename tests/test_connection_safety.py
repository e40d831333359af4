"""The clear-text warning of the settings window (issue 21, point 2), without GIMP: which addresses send
the token unencrypted to another computer, and the plain words the window shows before it saves one."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "gimp_plugin" / "neural_style_transfer"))

import connection_safety as S  # noqa: E402


@pytest.mark.parametrize("host", ["localhost", "LOCALHOST", "localhost.", "gimp.localhost", "127.0.0.1",
                                  "127.8.9.10", "::1", "[::1]", "0:0:0:0:0:0:0:1", "::ffff:127.0.0.1"])
def test_loopback_hosts(host):
    assert S.is_loopback(host)


@pytest.mark.parametrize("host", ["192.168.1.20", "10.0.0.1", "0.0.0.0", "::", "gpu-box", "localhost.example.org",
                                  "mylocalhost", "128.0.0.1", "::ffff:192.168.1.20", "fe80::1%eth0", "example.com"])
def test_other_hosts(host):
    assert not S.is_loopback(host)


@pytest.mark.parametrize("url", ["http://192.168.1.20:8765", "http://gpu-box:8765/", " http://10.0.0.5 ",
                                 "HTTP://gpu-box:8765", "http://[2001:db8::1]:8765"])
def test_http_to_another_computer_with_a_token_warns_in_plain_words(url):
    what, advice = S.clear_text_warning(url, "a-token")
    assert url.strip() in what and "clear text" in what and "https://" in what and "password" in what
    assert "--tls-cert" in advice and "SSH tunnel" in advice and "http://127.0.0.1" in advice
    whole = S.warning_text(url, "a-token")
    assert whole.startswith(what) and whole.endswith(advice)


@pytest.mark.parametrize("url", ["http://127.0.0.1:8765", "http://localhost:8765", "http://[::1]:8765",
                                 "https://192.168.1.20:8765", "https://gpu-box", "ftp://gpu-box", "http://"])
def test_loopback_https_and_non_http_addresses_never_warn(url):
    assert S.clear_text_warning(url, "a-token") is None and S.warning_text(url, "a-token") is None


@pytest.mark.parametrize("token", [None, "", "   "])
def test_no_token_nothing_to_leak(token):
    assert S.clear_text_warning("http://192.168.1.20:8765", token) is None


def test_the_buttons_and_the_not_saved_line_agree():
    """The line shown after Go Back names the button that saves, as the question labels it."""
    assert S.SAVE_ANYWAY.replace("_", "") in S.NOT_SAVED and "Not saved" in S.NOT_SAVED
    assert S.TEST_ANYWAY.replace("_", "") in S.NOT_TESTED and "Not tested" in S.NOT_TESTED
    assert S.GO_BACK.startswith("_") and S.SAVE_ANYWAY.count("_") == 1
