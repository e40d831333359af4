"""Whether saving an engine address with its token would send the token across a network in clear text.

Why: the token is the engine's password, sent in every request's header. Over `http://` to another
computer anyone on the network between the two can read it and use the engine (issue 21). Loopback
(this computer, or the near end of an SSH tunnel) and `https://` are safe; every other `http://`
address gets a warning in plain words before the settings window saves it or tests it (a test sends the
token too). Standard library only, no GTK: the window shows these words, tests/test_connection_safety.py
checks them.
"""

from __future__ import annotations

import ipaddress
import urllib.parse

import plugin_messages as M

WARNING_TITLE = "Send the token unencrypted?"
SAVE_ANYWAY = "Save _Anyway"
TEST_ANYWAY = "Test _Anyway"
GO_BACK = "_Go Back"
NOT_TESTED = ("Not tested: the token would have crossed the network unencrypted. Change the address above to the "
              "engine's https:// address (or an SSH tunnel's http://127.0.0.1), or press Test connection again "
              "and choose Test Anyway.")
NOT_SAVED = ("Not saved: the token would have crossed the network unencrypted. Change the address above to the "
             "engine's https:// address (or an SSH tunnel's http://127.0.0.1), or press Save again and choose "
             "Save Anyway.")


def is_loopback(host: str) -> bool:
    """True for this computer only: localhost (and *.localhost, RFC 6761), 127.0.0.0/8, ::1 and
    IPv4-mapped loopback. Names are not looked up: a name that happens to resolve to 127.0.0.1 here
    could resolve elsewhere tomorrow, so it is treated as another computer."""
    name = host.strip().strip("[]").rstrip(".").lower()
    if name == "localhost" or name.endswith(".localhost"):
        return True
    try:
        address = ipaddress.ip_address(name.split("%", 1)[0])  # an IPv6 zone (fe80::1%eth0) names no host
    except ValueError:
        return False
    mapped = getattr(address, "ipv4_mapped", None)
    return bool(address.is_loopback or (mapped is not None and mapped.is_loopback))


def clear_text_warning(url: str, token: str | None) -> tuple[str, str] | None:
    """(what would happen, what to do instead) when saving `token` for `url` sends it unencrypted to
    another computer; None when it would not (https, loopback, no token, or not an http address)."""
    parts = urllib.parse.urlsplit(url.strip())
    if parts.scheme != "http" or not parts.hostname or not (token or "").strip():
        return None
    if is_loopback(parts.hostname):
        return None
    what = (f"The address {url.strip()} leads to another computer without encryption (http://, not https://). "
            "The token is the engine's password: it would cross the network in clear text, where anyone on "
            "the network in between can read it and then use the engine.")
    advice = ("Safer: start the engine there with --tls-cert and --tls-key and use its https:// address, or "
              "reach it through an SSH tunnel and use http://127.0.0.1 (see \u201cRunning the engine on "
              "another machine\u201d in the engine's documentation). Go on anyway only on a network you trust, "
              "such as your own home network.")
    return what, advice


def warning_text(url: str, token: str | None) -> str | None:
    """The whole warning as one message (for scripts and logs), or None."""
    warning = clear_text_warning(url, token)
    return M.PluginError(*warning).message if warning else None
