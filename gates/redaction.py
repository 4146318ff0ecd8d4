"""Redaction: an internal and an external version of a postmortem, with a report that never holds a value.

Speed comes from letting the C regex engine skip text: every pass starts with a literal (a token
prefix such as `AKIA`, a keyword such as `password`, a character such as `@` or `://`; where the
first letter is a frequent one, a rarer letter with a lookbehind for the rest, like the "J" of
"eyJ"), so the engine jumps between occurrences instead of trying each detector at each position.
Digit and hex shapes (IP addresses, card and phone numbers) are found on translated copies of the
text in which every digit is `0`, every letter `a` and every separator a space, so they too start
with a literal (" 0": a number that starts a token). Python only runs for candidates, to validate
them (Luhn, entropy, address syntax, allowlist) and to resolve overlaps.
The whole document is processed as UTF-8 bytes: every pattern is ASCII, and `bytes.lower()` keeps
offsets, so case-insensitive keywords cost nothing extra.

Technical identifiers that look like secrets or personal data — commit SHAs, UUIDs, trace ids, image
digests, versions, timestamps, PromQL — are either never matched or rejected by a validator; the
labelled corpus in tests/gates/corpus/ keeps it that way.
"""

from __future__ import annotations

import bisect
import functools
import ipaddress
import itertools
import json
import math
import operator
import re
import string
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field
from importlib import resources
from typing import Any, Literal, NamedTuple, get_args

from afterword.policies.gates_schema import Audience, PersonalCategory, RedactionPolicy, SecretCategory

SECRET_CATEGORIES: tuple[str, ...] = get_args(SecretCategory)
PERSONAL_CATEGORIES: tuple[str, ...] = get_args(PersonalCategory)
EXTERNAL_CATEGORIES: tuple[str, ...] = ("hostname", "term")

Source = Literal["raw", "lower", "dec", "hex"]

# --- translated views: digits -> "0", letters -> "a" (dec); hex digits -> "0", other letters -> "a" (hex)


def _table(zero: str, letter: str) -> bytes:
    table = bytearray(range(256))
    for char in zero:
        table[ord(char)] = ord("0")
    for char in letter:
        table[ord(char)] = ord("a")
    return bytes(table)


_DEC = _table(string.digits, string.ascii_letters + "_")
# Bytes after which a number starts a token (whitespace and punctuation, not "." "-" "/" ":" which also
# occur inside versions, dates, paths and times): all become " " in the dec view.
_BOUNDARY_BYTES = frozenset(b" \t\r\n([{|,;=\"'`<>*!?&#~^$%@:")
for _byte in _BOUNDARY_BYTES - {ord(":")}:
    _DEC = _DEC[:_byte] + b" " + _DEC[_byte + 1 :]
_HEX = _table(string.hexdigits, "".join(c for c in string.ascii_letters + "_" if c not in string.hexdigits))
_TOKEN_CHARS = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_")

# --- validators -------------------------------------------------------------------------------------


def luhn_ok(digits: str) -> bool:
    total = 0
    for index, char in enumerate(reversed(digits)):
        value = ord(char) - 48
        if index % 2:
            value *= 2
            if value > 9:
                value -= 9
        total += value
    return total % 10 == 0


def card_issuer_ok(digits: str) -> bool:
    """Known issuer prefixes and lengths: keeps epoch-millisecond timestamps and numeric ids out."""
    n = len(digits)
    if digits[0] == "4":
        return n in (13, 16, 19)
    two, three, four = int(digits[:2]), int(digits[:3]), int(digits[:4])
    if 51 <= two <= 55 or 2221 <= four <= 2720:
        return n == 16
    if two in (34, 37):
        return n == 15
    if four == 6011 or two == 65 or 644 <= three <= 649 or 3528 <= four <= 3589:
        return 16 <= n <= 19
    if two in (36, 38) or 300 <= three <= 305:
        return 14 <= n <= 19
    return False


def entropy(value: str) -> float:
    counts = Counter(value)
    total = len(value)
    return -sum(c / total * math.log2(c / total) for c in counts.values())


def looks_random(value: str) -> bool:
    """A value nobody typed as words: long enough, mixed character classes, high Shannon entropy."""
    if len(value) < 12:
        return False
    lower = any(c.islower() for c in value)
    upper = any(c.isupper() for c in value)
    digit = any(c.isdigit() for c in value)
    classes = lower + upper + digit
    if classes < 2 or (not digit and classes < 3):
        return False
    longest_word = max((len(w) for w in re.findall(r"[A-Za-z]+", value)), default=0)
    if longest_word >= 10 and classes < 3:
        return False
    return entropy(value) >= (3.0 if len(value) < 20 else 3.3)


_PLACEHOLDER_VALUE = re.compile(
    r"(?i)^(?:\*+|x{3,}|\.+|-+|<[^>]*>|\$\{[^}]*\}?|\$[A-Z_][A-Z0-9_]*|\{\{.*\}\}|%\([^)]*\)s|redacted|null"
    r"|none|nil|true|false|empty|hidden|masked|unset|\[redacted[^\]]*\]?|\[[a-z -]+ \d+\]|env:\S*|vault:\S*"
    r"|(?:file|secret|ref)://\S*)$"
)
# What a number's left context says about it (searched on the bytes before it, without decoding).
_VERSION_BEFORE = re.compile(rb"(?i)(?:version|release|ver\.?|rev|@|==|>=|<=|~=|/v)\s*[:=]?\s*\Z")
_ID_BEFORE = re.compile(rb"(?i)(?:id|seq|offset|ts|timestamp|epoch|count)[\"']?\s*[:=#]\s*[\"']?\Z")


def _context_says(rx: re.Pattern[bytes], raw: bytes, start: int) -> bool:
    return rx.search(raw, max(0, start - 24), start) is not None


_PROSE_AFTER = re.compile(r" [a-z]{2,}")
_KEY_NAME = re.compile(
    r"(?:api|access|secret|private|auth|signing|encryption|master|client|app|application|service|license|deploy"
    r"|account|storage|webhook|secretaccess|integration|routing|ingest|write|admin|consumer|hmac|shared|session"
    r"|personal|user|server|management|partner)[_.-]?key$"
)
# a value made of words (letters joined by - _ . or spaces): a name ("db-credentials"), not a credential
_WORDISH = re.compile(r"[A-Za-z]+(?:[-_. ][A-Za-z]+)*")
_HEX_VALUE = re.compile(r"[0-9a-fA-F]+")
_AWS_NAME = re.compile(r"(?:aws.*secret|secret_?access)")


# --- candidates and the passes that find them -------------------------------------------------------


class Hit(NamedTuple):
    category: str
    start: int  # byte offsets into the UTF-8 text
    end: int
    line: int = 0
    column: int = 0
    priority: int = 0  # among overlapping hits, the lowest claims the span


class _Scan:
    """One document being redacted, with its byte views (raw, lower, dec, hex), built when first used."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.raw = text.encode("utf-8")
        self._views: dict[str, bytes] = {"raw": self.raw}

    def view(self, source: Source) -> bytes:
        cached = self._views.get(source)
        if cached is None:
            if source == "lower":
                cached = self.raw.lower()
            elif source == "dec":
                cached = self.raw.translate(_DEC)
            else:
                cached = self.raw.translate(_HEX)
            self._views[source] = cached
        return cached

    def value(self, start: int, end: int) -> str:
        return self.raw[start:end].decode("utf-8", "replace")

    def after(self, end: int, width: int = 24) -> str:
        return self.raw[end : end + width].decode("utf-8", "replace")

    def starts_token(self, start: int) -> bool:
        return start == 0 or self.raw[start - 1] not in _TOKEN_CHARS


Handler = Callable[[_Scan, "re.Match[bytes]"], "Hit | None"]


@dataclass(frozen=True)
class _Pass:
    category: str  # the category this pass reports ...
    source: Source
    regex: re.Pattern[bytes]
    handler: Handler
    refined: tuple[str, ...] = ()  # ... and those its handler may report instead

    def needed(self, disabled: AbstractSet[str]) -> bool:
        """Worth running unless every category it can report is disabled (the rest are filtered per hit)."""
        return not {self.category, *self.refined} <= disabled


def _token(category: str, priority: int = 0, back: int = 0) -> Handler:
    """A self-identifying token (prefix + body): reported when it starts a token. `back`: the regex is
    anchored `back` bytes into the token (on a rarer letter; a lookbehind checks the bytes before)."""

    def handle(scan: _Scan, match: re.Match[bytes]) -> Hit | None:
        start, end = match.span()
        start -= back
        return Hit(category, start, end, 0, 0, priority) if scan.starts_token(start) else None

    return handle


def _whole(category: str) -> Handler:
    def handle(scan: _Scan, match: re.Match[bytes]) -> Hit | None:
        return Hit(category, *match.span())

    return handle


def _value_group(category: str, check: Callable[[str], bool], priority: int = 0) -> Handler:
    def handle(scan: _Scan, match: re.Match[bytes]) -> Hit | None:
        start, end = match.span("v")
        value = scan.value(start, end)
        if _PLACEHOLDER_VALUE.match(value) or not check(value):
            return None
        return Hit(category, start, end, 0, 0, priority)

    return handle


def credential_like(value: str) -> bool:
    """What a secret-named key (`api_key`, `token`, `client_secret`) is assigned, whatever its alphabet: a
    32-digit hex key is as much a credential as a mixed-case one. Not words ("db-credentials", "rotated"),
    short values, or a short number."""
    if looks_random(value):
        return True
    if len(value) < 8 or any(c.isspace() for c in value):
        return False
    if len(value) < 24 and _WORDISH.fullmatch(value):
        return False
    if value.isdigit():
        return len(value) >= 12
    return True


def _vendor_by_name(name: str, value: str) -> str | None:
    """Vendor keys without a prefix of their own, known by the name they are assigned to and their shape."""
    hexadecimal = _HEX_VALUE.fullmatch(value) is not None
    if hexadecimal and len(value) in (32, 40) and ("datadog" in name or name.startswith(("dd_", "dd-", "dd."))):
        return "datadog-key"
    if "pagerduty" in name or name.endswith(("routing_key", "integration_key", "service_key")):
        return "pagerduty-key" if len(value) == 32 and value.isalnum() else None
    if "twilio" in name and hexadecimal and len(value) == 32:
        return "twilio-key"
    if ("newrelic" in name or "new_relic" in name) and hexadecimal and len(value) == 40:
        return "newrelic-key"
    return None


def _bearer_value(value: str) -> bool:
    return len(value) >= 16 or (len(value) >= 8 and any(c.isdigit() for c in value))


# GitLab's token prefixes (personal, deploy, runner, pipeline trigger, feed, CI job, incoming mail, agent,
# OAuth application secret, service account, feature flag client, workspace)
_GITLAB = r"gl(?:pat|dt|rt|ptt|ft|cbt|imt|agent|oas|soat|ffct|wt)-[A-Za-z0-9_-][A-Za-z0-9_.-]{18,}[A-Za-z0-9_-]"

_SPECIFIC_FORMATS: list[tuple[str, re.Pattern[str]]] = [
    ("jwt", re.compile(r"eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]*")),
    ("aws-access-key", re.compile(r"A(?:KIA|SIA|BIA|CCA|GPA|IDA|IPA|NPA|NVA|PKA|ROA|SCA)[A-Z0-9]{16}")),
    ("github-token", re.compile(r"g(?:h[pousr]_[A-Za-z0-9]{36,255}|ithub_pat_[A-Za-z0-9_]{22,255})")),
    ("slack-token", re.compile(r"xox[abposr]-[A-Za-z0-9-]{10,}|xapp-\d-[A-Za-z0-9-]{10,}")),
    ("stripe-key", re.compile(r"(?:sk|rk)_(?:live|test)_[A-Za-z0-9]{16,}|whsec_[A-Za-z0-9]{24,}")),
    ("google-api-key", re.compile(r"AIza[0-9A-Za-z_-]{35}")),
    ("npm-token", re.compile(r"npm_[A-Za-z0-9]{36}")),
    ("newrelic-key", re.compile(r"NR(?:AK-[A-Z0-9]{27}|II-[A-Za-z0-9_-]{32}|JS-[a-f0-9]{19})|[a-f0-9]{36}NRAL")),
    ("sentry-token", re.compile(r"sntry[su]_[A-Za-z0-9+/=_-]{30,}")),
    ("pypi-token", re.compile(r"pypi-Ag[A-Za-z0-9_-]{50,}")),
    ("gitlab-token", re.compile(_GITLAB)),
    ("twilio-key", re.compile(r"SK[0-9a-fA-F]{32}")),
    ("sendgrid-key", re.compile(r"SG\.[A-Za-z0-9_-]{22}\.[A-Za-z0-9_-]{43}")),
]


_NAME_TAIL = re.compile(rb"[a-z0-9_.-]*\Z")


def _assignment(password: bool) -> Handler:
    """`name = value`, `name: value`, `"name": "value"`, `--name value`; the keyword ends the name."""

    def handle(scan: _Scan, match: re.Match[bytes]) -> Hit | None:
        # The regex is anchored on a rare letter of the keyword (the "k" of "token"); the identifier
        # before the anchor — the rest of the keyword and any prefix such as "db_" — is read back here.
        anchor = match.start()
        prefix = _NAME_TAIL.search(scan.view("lower"), max(0, anchor - 48), anchor)
        name = (prefix.group(0) if prefix else b"") + match.group("k")
        name_start = anchor - (len(name) - len(match.group("k")))
        if name_start > 0 and scan.raw[name_start - 1] in _TOKEN_CHARS:
            return None
        if match.group("sp") is not None and not name.startswith(b"-"):
            return None  # "password reset" is prose; only --flags take a space-separated value
        lowered = name.decode("ascii", "replace")
        if name.endswith(b"key") and not _KEY_NAME.search(lowered):
            return None  # cache_key, partition_key: not credentials
        start, end = next(match.span(g) for g in ("q", "s", "u") if match.group(g) is not None)
        value = scan.value(start, end)
        if _PLACEHOLDER_VALUE.match(value):
            return None
        if password:
            if len(value) < 3 or (value.isalpha() and value.islower() and _PROSE_AFTER.match(scan.after(end))):
                return None
            return Hit("password-assignment", start, end, 0, 0, 1)
        if not credential_like(value):
            return None
        for category, rx in _SPECIFIC_FORMATS:
            if rx.fullmatch(value):
                return Hit(category, start, end, 0, 0, 1)
        if len(value) == 40 and _AWS_NAME.search(lowered.replace("-", "_")):
            return Hit("aws-secret-key", start, end, 0, 0, 1)
        return Hit(_vendor_by_name(lowered, value) or "secret-assignment", start, end, 0, 0, 1)

    return handle


_LOCAL_PART = re.compile(rb"[A-Za-z0-9._%+-]{1,64}\Z")


def _email(scan: _Scan, match: re.Match[bytes]) -> Hit | None:
    at = match.start()
    local = _LOCAL_PART.search(scan.raw, max(0, at - 64), at)
    if local is None:
        return None
    start = at - len(local.group(0))
    if local.group(0) == b"git" and scan.raw[match.end() : match.end() + 1] == b":":
        return None  # an scp-style git remote, not a person's address
    return Hit("email", start, match.end(), priority=2)


def _digits(scan: _Scan, match: re.Match[bytes]) -> Hit | None:
    start, end = match.span()
    if start < len(scan.raw) and scan.raw[start] in _BOUNDARY_BYTES:  # the match starts at the boundary
        start += 1
    raw = scan.raw
    shape = match.lastgroup
    if shape == "ip4":
        if _context_says(_VERSION_BEFORE, raw, start):
            return None
        octets = [int(part) for part in raw[start:end].split(b"/")[0].split(b".")]
        if max(octets) > 255 or octets[0] == 127 or not any(octets):
            return None  # not an address, loopback or unspecified
        return Hit("ipv4", start, end, 0, 0, 2)
    if _context_says(_ID_BEFORE, raw, start) or _context_says(_VERSION_BEFORE, raw, start):
        return None
    if shape == "card":
        digits = raw[start:end].replace(b" ", b"").replace(b"-", b"").decode()
        if 13 <= len(digits) <= 19 and card_issuer_ok(digits) and luhn_ok(digits):
            return Hit("card", start, end, 0, 0, 2)
        return None
    return Hit("phone", start, end, 0, 0, 2)


def _phone(scan: _Scan, match: re.Match[bytes]) -> Hit | None:
    start, end = match.span()
    if start > 0 and (scan.raw[start - 1] in _TOKEN_CHARS or scan.raw[start - 1] == ord("+")):
        return None
    if _context_says(_ID_BEFORE, scan.raw, start):
        return None
    digits = sum(c.isdigit() for c in scan.value(start, end))
    return Hit("phone", start, end, 0, 0, 2) if 8 <= digits <= 15 else None


_IPV6_RUN = re.compile(rb"[0-9A-Fa-f:]*\Z")


def _ipv6(scan: _Scan, match: re.Match[bytes]) -> Hit | None:
    colon = match.start()
    back = _IPV6_RUN.search(scan.raw[max(0, colon - 5) : colon])
    start = colon - (len(back.group(0)) if back else 0)
    end = match.end()
    while end > start and scan.raw[end - 1 : end] in (b".", b":") and scan.raw[end - 2 : end] != b"::":
        end -= 1
    if start > 0 and (scan.raw[start - 1] in _TOKEN_CHARS or scan.raw[start - 1 : start] in (b".", b":")):
        return None
    value = scan.value(start, end)
    bare = value.split("/")[0]
    if "::" not in bare and bare.count(":") != 7:
        return None
    if sum(1 for part in bare.split(":") if part) < 2:
        return None  # "::1", "fe80::": not about anybody
    try:
        ipaddress.IPv6Address(bare)
    except ValueError:
        return None
    return Hit("ipv6", start, end, 0, 0, 2)


def _hostname(scan: _Scan, match: re.Match[bytes]) -> Hit | None:
    dot = match.start()
    labels = re.search(
        rb"(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)*[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\Z",
        scan.view("lower")[max(0, dot - 253) : dot],
    )
    if labels is None:
        return None
    start = dot - len(labels.group(0))
    if start > 0 and scan.raw[start - 1] in _TOKEN_CHARS | {ord("-"), ord(".")}:
        return None
    return Hit("hostname", start, match.end(), priority=3)


def _term(scan: _Scan, match: re.Match[bytes]) -> Hit | None:
    start, end = match.span()
    return Hit("term", start, end, 0, 0, 3) if scan.starts_token(start) else None


_TOKEN_END = rb"(?![A-Za-z0-9_])"
_VALUE = rb"(?:\"(?P<q>[^\"\n]{1,256})\"|'(?P<s>[^'\n]{1,256})'|(?P<u>[^\s\"'`,;)\]}<>|]{1,256}))"
_SEPARATOR = rb"(?:[\"']?[ \t]*[:=][ \t]*|(?P<sp>[ \t]+))"


def _rx(pattern: bytes) -> re.Pattern[bytes]:
    return re.compile(pattern)


_SECRET_PASSES: list[_Pass] = [
    _Pass(
        "private-key",
        "raw",
        _rx(
            rb"-----BEGIN[ A-Z0-9]{0,20}PRIVATE KEY(?: BLOCK)?-----[\s\S]*?"
            rb"(?:-----END[ A-Z0-9]{0,20}PRIVATE KEY(?: BLOCK)?-----|(?=\n[ \t]*\n)|\Z)"
        ),
        _whole("private-key"),
    ),
    _Pass(
        "slack-webhook",
        "raw",
        _rx(rb"https://hooks\.slack\.com/(?:services|workflows|triggers)/[A-Za-z0-9_/-]{8,}"),
        _whole("slack-webhook"),
    ),
    _Pass(
        "url-password",
        "raw",
        _rx(rb"://[^\s:/@\[\]]{0,64}:(?P<v>[^\s/@]{1,128})@"),
        _value_group("url-password", lambda v: True, 1),
    ),
    _Pass(  # anchored on the "J" of "eyJ": "e" is the most frequent letter of English
        "jwt",
        "raw",
        _rx(rb"J(?<=eyJ)[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]*"),
        _token("jwt", back=2),
    ),
    _Pass(
        "aws-access-key",
        "raw",
        _rx(rb"A(?:KIA|SIA|BIA|CCA|GPA|IDA|IPA|NPA|NVA|PKA|ROA|SCA)[A-Z0-9]{16}" + _TOKEN_END),
        _token("aws-access-key"),
    ),
    _Pass(
        "github-token",
        "raw",
        _rx(rb"g(?:h[pousr]_[A-Za-z0-9]{36,255}|ithub_pat_[A-Za-z0-9_]{22,255})" + _TOKEN_END),
        _token("github-token"),
    ),
    _Pass(
        "slack-token",
        "raw",
        _rx(rb"x(?:ox[abposr]-[A-Za-z0-9-]{10,}|app-\d-[A-Za-z0-9-]{10,})"),
        _token("slack-token"),
    ),
    _Pass(  # sk_/rk_ anchored on "k_" ("s" and "r" are frequent letters)
        "stripe-key",
        "raw",
        _rx(rb"k(?<=[sr]k)_(?:live|test)_[A-Za-z0-9]{16,}" + _TOKEN_END),
        _token("stripe-key", back=1),
    ),
    _Pass("stripe-key", "raw", _rx(rb"whsec_[A-Za-z0-9]{24,}" + _TOKEN_END), _token("stripe-key")),
    _Pass("google-api-key", "raw", _rx(rb"AIza[0-9A-Za-z_-]{35}(?![0-9A-Za-z_-])"), _token("google-api-key")),
    _Pass("npm-token", "raw", _rx(rb"npm_[A-Za-z0-9]{36}" + _TOKEN_END), _token("npm-token")),
    _Pass(
        "newrelic-key",
        "raw",
        _rx(rb"NR(?:AK-[A-Z0-9]{27}|II-[A-Za-z0-9_-]{32}|JS-[a-f0-9]{19})" + _TOKEN_END),
        _token("newrelic-key"),
    ),
    # an ingest license key: 36 hex digits and "NRAL", anchored on the suffix
    _Pass("newrelic-key", "raw", _rx(rb"NRAL(?<=[a-f0-9]{36}NRAL)" + _TOKEN_END), _token("newrelic-key", back=36)),
    _Pass(  # a DSN's key (and a legacy DSN's secret): https://<32 hex>@o1.ingest.sentry.io/42
        "sentry-dsn",
        "raw",
        _rx(rb"://(?P<v>[0-9a-f]{32}(?::[0-9a-f]{32})?)@[A-Za-z0-9.-]+(?::\d+)?/"),
        _value_group("sentry-dsn", lambda v: True),
    ),
    _Pass("sentry-token", "raw", _rx(rb"sntry[su]_[A-Za-z0-9+/=_-]{30,}"), _token("sentry-token")),
    _Pass(  # an Events API integration key in a URL, and a REST API key in its `Token token=` header
        "pagerduty-key",
        "raw",
        _rx(rb"/integration/(?P<v>[A-Za-z0-9]{32})/enqueue"),
        _value_group("pagerduty-key", lambda v: True),
    ),
    _Pass(
        "pagerduty-key",
        "lower",
        _rx(rb"token[ \t]+token=(?P<v>[a-z0-9_+-]{20})(?![a-z0-9_+-])"),
        _value_group("pagerduty-key", lambda v: True),
    ),
    _Pass("pypi-token", "raw", _rx(rb"pypi-Ag[A-Za-z0-9_-]{50,}"), _token("pypi-token")),
    _Pass("gitlab-token", "raw", _rx(_GITLAB.encode() + rb"(?![A-Za-z0-9_-])"), _token("gitlab-token")),
    _Pass("twilio-key", "raw", _rx(rb"SK[0-9a-fA-F]{32}" + _TOKEN_END), _token("twilio-key")),
    _Pass(
        "sendgrid-key",
        "raw",
        _rx(rb"SG\.[A-Za-z0-9_-]{22}\.[A-Za-z0-9_-]{43}(?![A-Za-z0-9_-])"),
        _token("sendgrid-key"),
    ),
    _Pass(
        "bearer-token",
        "lower",
        _rx(rb"bearer[ \t]+(?P<v>[a-z0-9._~+/-]{8,}=*)"),
        _value_group("bearer-token", _bearer_value, 1),
    ),
    _Pass(
        "bearer-token",
        "lower",
        _rx(rb"authorization[\"']?[ \t]*[:=][ \t]*[\"']?(?:basic|token)[ \t]+(?P<v>[a-z0-9._~+/-]{8,}=*)"),
        _value_group("bearer-token", _bearer_value, 1),
    ),
]
# "token" is anchored on its "k" (a lookbehind checks "to"): measured faster, as "t" is so frequent.
# Anchoring on c, d, w or y was measured slower than the plain literal, so the others stay literal.
for _keyword in (b"pass(?:word|wd|phrase)", b"pwd"):
    _SECRET_PASSES.append(
        _Pass(
            "password-assignment",
            "lower",
            _rx(b"(?P<k>" + _keyword + b")" + _SEPARATOR + _VALUE),
            _assignment(password=True),
        )
    )
for _keyword in (rb"k(?<=tok)en", b"key", b"secret", b"passcode", b"credentials?"):
    _SECRET_PASSES.append(
        _Pass(
            "secret-assignment",
            "lower",
            _rx(b"(?P<k>" + _keyword + b")" + _SEPARATOR + _VALUE),
            _assignment(password=False),
        )
    )

# On the dec view (0 = a digit, a = a letter, " " = a boundary), after the boundary the match starts with.
_DIGIT_SHAPES = (
    rb"0(?:(?P<ip4>0{0,2}(?:\.0{1,3}){3}(?:/0{1,2})?(?![a0]|\.0))"
    rb"|(?P<card>(?:[ -]?0){12,18}(?![a0-]))"
    rb"|(?P<tel>00[ .-]000[ .-]0000(?![a0])))"
)

_DIGIT_CATEGORIES = ("card", "phone")  # what _digits reports besides addresses

_PERSONAL_PASSES: list[_Pass] = [
    _Pass(
        "email",
        "raw",
        _rx(rb"@[A-Za-z0-9-]{1,63}(?:\.[A-Za-z0-9-]{1,63})*\.[A-Za-z]{2,24}(?![A-Za-z0-9-])"),
        _email,
    ),
    # on the "dec" view: 0 = any digit, a = any letter or underscore
    _Pass("ipv4", "dec", _rx(rb" " + _DIGIT_SHAPES), _digits, _DIGIT_CATEGORIES),
    _Pass("ipv4", "dec", _rx(rb":" + _DIGIT_SHAPES), _digits, _DIGIT_CATEGORIES),
    _Pass("ipv4", "dec", _rx(rb"\A" + _DIGIT_SHAPES), _digits, _DIGIT_CATEGORIES),  # a number opening the document
    _Pass(
        "phone",
        "raw",
        _rx(rb"\+[1-9]\d{0,2}(?:[ .-]?\(?\d{1,4}\)?)(?:[ .-]?\d{2,5}){1,4}(?![\w])"),
        _phone,
    ),
    _Pass("phone", "raw", _rx(rb"\([2-9]\d{2}\)[ .-]?\d{3}[ .-]\d{4}(?![\w])"), _phone),
    # on the "hex" view: 0 = any hex digit; an IPv6 address has "::" or seven colons
    _Pass(
        "ipv6",
        "hex",
        _rx(rb":(?<=[0:]:)(?:(?<=::)|(?=:)|(?=[0:]{0,39}::)|(?=(?:0{1,4}:){5,6}0{1,4}))[0:.]{1,45}(?:/0{1,3})?"),
        _ipv6,
    ),
]

_ROLE_LABELS = {
    "sre": "SRE",
    "incident-commander": "Incident commander",
    "reviewer": "Reviewer",
    "security": "Security engineer",
    "legal": "Legal counsel",
    "cirt": "CIRT member",
    "manager": "Manager",
    "responder": "Responder",
}
_FIRST_NAME_WORDS = frozenset(
    "Will Mark Grant May June April Bill Rob Pat Sue Art Jack Frank Hope Faith Grace Joy Rose Dawn Summer "  # noqa: SIM905
    "Guy Drew Chase Max Page Bob Sky Ray Dean Gene Lane Miles Rich Sam Bo Al Ed".split()
)


# --- the roster -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Person:
    key: str  # handle, or name when there is no handle
    role: str
    spellings: tuple[str, ...]


def roster_from_policy(people: object) -> list[Person]:
    """The policy's `[[people]]`, read defensively: entries without a name or a handle are skipped.

    A person is found by full name, aliases, handle (bare or @), and by first name when it is not
    also an everyday word ("Will", "Mark"): replacing those would damage ordinary sentences.
    """
    roster: list[Person] = []
    if not isinstance(people, list):
        return roster
    for entry in people:
        if not isinstance(entry, Mapping):
            continue
        name = " ".join(str(entry.get("name") or "").split())
        handle = str(entry.get("handle") or "").strip().lstrip("@")
        if not (name or handle):
            continue
        raw_aliases = entry.get("aliases")
        aliases = [str(a).strip() for a in raw_aliases] if isinstance(raw_aliases, list) else []
        raw_roles = entry.get("roles")
        roles = [str(r) for r in raw_roles] if isinstance(raw_roles, list) else []
        spellings = [name, *aliases]
        words = name.split()
        if len(words) > 1 and words[0][:1].isupper() and len(words[0]) > 2 and words[0] not in _FIRST_NAME_WORDS:
            spellings.append(words[0])
        if handle:
            spellings.append("@" + handle)
            if len(handle) >= 4:  # shorter bare handles ("ops", "al") are too often ordinary words
                spellings.append(handle)
        unique = tuple(dict.fromkeys(s for s in spellings if s))
        roster.append(Person(handle or name, roles[0] if roles else "responder", unique))
    return roster


def _bare_handle(person: Person) -> str | None:
    """The person's handle as written without "@" (the roster gives `@handle` for everyone with one)."""
    return person.key if "@" + person.key in person.spellings else None


# --- handles: every one, however short, wherever it stands as a word; a handle that is also an everyday
# word ("art", "may", "max") only where the text uses it as a name

_TECH_WORDS = frozenset(
    "max min avg sum ops dev prod api app cpu gpu ram db sql log env cli sdk ssh tls ssl dns cdn vpn url uri "  # noqa: SIM905
    "http tcp udp ack syn get put post top tmp var lib bin etc usr opt src dst pkg cmd arg args err ui ux qa "
    "ci cd git npm pip aws gcp lb pod job cron eta sla slo sli rca pr mr tag ok".split()
)


@functools.cache
def everyday_words() -> frozenset[str]:
    """Common English words (gates/common_words.txt, from SCOWL) and words of operations ("max", "ops")."""
    text = resources.files("afterword.gates").joinpath("common_words.txt").read_text("utf-8")
    return frozenset(w for w in text.split() if not w.startswith("#")) - {"#"} | _TECH_WORDS


_HANDLE_BEFORE = frozenset(b"abcdefghijklmnopqrstuvwxyz0123456789_@./-")  # a handle never follows these
# what says the word is a person: the words before it on its line ...
_NAME_BEFORE = re.compile(
    rb"(?:\bby|\bowners?|\bassignee|\bassigned to|\bpaged|\bpinged|\bping|\bcc|\bthanks(?: to)?|\bthank you"
    rb"|\basked|\btold|\breviewers?|\bapprovers?|\bauthors?|\bdeployer|\bon-?call|\blead|\bcommander"
    rb"|\bresponders?|\bhandle|\d{1,2}:\d{2}(?::\d{2})?\]?)[ \t]*[:=]?[ \t]*\Z"
)
# ... or a person's doing after it
_NAME_AFTER = re.compile(
    rb"[ \t]*,?[ \t]*(?:deployed|rolled back|restarted|paged|acked|acknowledged|approved|merged|reviewed|said|wrote"
    rb"|noticed|reported|pushed|reverted|confirmed|escalated|joined|declared|investigated|owns|took over"
    rb"|(?:is|was) on[ -]call)\b"
)


def used_as_name(raw: bytes, start: int, end: int) -> bool:
    """Whether the word at raw[start:end] stands where a person's name does: alone in a table cell (an
    Owner column, a deploy row), after "by", "owner", "paged", "thanks to", ..., or before what a person does."""
    line_start = raw.rfind(b"\n", 0, start) + 1
    line_end = raw.find(b"\n", end)
    before = raw[line_start:start].lower()
    after = raw[end : len(raw) if line_end < 0 else line_end].lower()
    if before.rstrip().endswith(b"|") and after.lstrip().startswith(b"|"):
        return True
    return _NAME_BEFORE.search(before) is not None or _NAME_AFTER.match(after) is not None


def _handle(scan: _Scan, match: re.Match[bytes]) -> Hit | None:
    start, end = match.span()
    if start > 0 and scan.view("lower")[start - 1] in _HANDLE_BEFORE:
        return None
    word = match.group(0).decode("ascii", "replace")
    if word in everyday_words() and not used_as_name(scan.raw, start, end):
        return None
    return Hit("person", start, end, 0, 0, 2)


# --- the redactor -----------------------------------------------------------------------------------


@dataclass
class Redaction:
    """The redacted text and what was removed. Line and column are worked out on demand (`located`):
    a report that lists only the first thousand removals need not place the rest."""

    text: str
    found: list[Hit]  # byte offsets, in text order, not yet placed
    labels: dict[str, str] = field(default_factory=dict)  # person key -> label used
    raw: bytes = b""
    ascii_only: bool = True

    @property
    def counts(self) -> dict[str, int]:
        return dict(Counter(hit.category for hit in self.found))

    def located(self, limit: int | None = None) -> list[Hit]:
        hits = self.found if limit is None else self.found[:limit]
        return _locate(self.raw, hits, ascii_only=self.ascii_only)

    @property
    def hits(self) -> list[Hit]:
        return self.located()


class Redactor:
    """Compiled once per (policy, roster, audience); `redact(text)` then runs its literal-led passes."""

    def __init__(self, policy: RedactionPolicy, audience: Audience, roster: Sequence[Person] = ()) -> None:
        self.policy = policy
        self.audience = audience
        settings = policy.audience(audience)
        disabled = set(policy.disabled)
        self._disabled = frozenset(disabled)
        self._allow = frozenset(policy.allowlist)
        self._allow_rx = [re.compile(p) for p in policy.allowlist_patterns]
        self._custom = [(c.name, re.compile(c.pattern)) for c in policy.patterns if audience in c.audiences]
        passes = [p for p in _SECRET_PASSES if p.needed(disabled)]
        if settings.personal_data:
            passes += [p for p in _PERSONAL_PASSES if p.needed(disabled)]
        self._people: dict[bytes, Person] = {}
        self._handles: dict[bytes, Person] = {}  # bare handles, lower case: found by a pass of their own
        if settings.names and "person" not in disabled:
            for person in roster:
                handle = _bare_handle(person)
                for spelling in person.spellings:
                    if spelling != handle:
                        self._people.setdefault(spelling.encode(), person)
                if handle:
                    self._handles.setdefault(handle.lower().encode(), person)
            for group in _by_prefix(self._handles):
                words = b"|".join(re.escape(h) for h in group)
                rx = _rx(b"(?:" + words + rb")(?![a-z0-9_@-]|\.[a-z0-9])")
                passes.append(_Pass("person", "lower", rx, _handle))
            for group in _name_groups(self._people):
                if len(group) == 1 and not group[0][:1].isupper() and b" " not in group[0]:
                    anchored, back = _anchored_literal(group[0])
                    rx = _rx(anchored + rb"(?![\w@-]|\.\w)")
                    passes.append(_Pass("person", "raw", rx, self._person_handler(back)))
                    continue
                names = b"|".join(rb"[ \t]+".join(re.escape(w) for w in a.split()) for a in group)
                rx = _rx(b"(?:" + names + rb")(?![\w@-]|\.\w)")
                passes.append(_Pass("person", "raw", rx, self._person_handler(0)))
        if settings.hostnames and policy.internal_domains and "hostname" not in disabled:
            # one pass for every internal domain (measured: a third of the time of one pass per domain,
            # dots being common but an alternation of rare suffixes quick to refuse)
            domains = b"|".join(re.escape(d.lower().encode()) for d in sorted(policy.internal_domains, key=len,
                                                                                reverse=True))
            rx = _rx(rb"\.(?:" + domains + rb")(?![a-z0-9_-]|\.[a-z0-9])")
            passes.append(_Pass("hostname", "lower", rx, _hostname))
        if settings.terms and policy.terms and "term" not in disabled:
            for group in _by_prefix([t.lower().encode() for t in policy.terms]):
                if len(group) == 1:
                    anchored, back = _anchored_literal(group[0])
                    passes.append(_Pass("term", "lower", _rx(anchored + rb"(?![a-z0-9_])"), _token("term", 3, back)))
                    continue
                terms = b"|".join(re.escape(t) for t in group)
                passes.append(_Pass("term", "lower", _rx(b"(?:" + terms + rb")(?![a-z0-9_])"), _term))
        self._passes = passes

    @staticmethod
    def _person_handler(back: int) -> Handler:
        def handle(scan: _Scan, match: re.Match[bytes]) -> Hit | None:
            start, end = match.span()
            start -= back
            before = scan.raw[start - 1] if start > 0 else 32
            if before in _TOKEN_CHARS or before in b"@.-":
                return None
            return Hit("person", start, end, 0, 0, 2)

        return handle

    def _allowed(self, value: str) -> bool:
        return value in self._allow or any(rx.fullmatch(value) for rx in self._allow_rx)

    def candidates(self, scan: _Scan) -> list[Hit]:
        found: list[Hit] = []
        append = found.append
        for spec in self._passes:
            view = scan.view(spec.source)
            handler = spec.handler
            for match in spec.regex.finditer(view):
                hit = handler(scan, match)
                if hit is not None:
                    append(hit)
        found.extend(self._custom_hits(scan))
        if self._disabled:
            found = [hit for hit in found if hit.category not in self._disabled]
        if self._allow or self._allow_rx:
            found = [hit for hit in found if not self._allowed(scan.value(hit.start, hit.end))]
        return found

    def _custom_hits(self, scan: _Scan) -> list[Hit]:
        """The policy's own patterns run on the text as written (str offsets, turned into byte offsets
        incrementally: matches arrive in order)."""
        hits: list[Hit] = []
        text = scan.text
        ascii_only = len(scan.raw) == len(text)
        for name, regex in self._custom:
            char_at = byte_at = 0
            for match in regex.finditer(text):
                start, end = match.span()
                if start == end:
                    continue
                if not ascii_only:
                    byte_start = byte_at + len(text[char_at:start].encode())
                    byte_at, char_at = byte_start + len(text[start:end].encode()), end
                    start, end = byte_start, byte_at
                hits.append(Hit(name, start, end, 0, 0, -1))
        return hits

    def redact(self, text: str) -> Redaction:
        scan = _Scan(text)
        chosen = _resolve(self.candidates(scan))
        labels: dict[str, str] = {}
        placeholders: dict[str, bytes] = {}
        person_labels: dict[bytes, bytes] = {}
        pieces: list[bytes] = []
        raw = scan.raw
        cursor = 0
        for hit in chosen:
            category = hit.category
            if category == "person":
                matched = raw[hit.start : hit.end]
                replacement = person_labels.get(matched) or person_labels.setdefault(
                    matched, self._label(matched, labels).encode()
                )
            else:
                replacement = placeholders.get(category) or placeholders.setdefault(
                    category, self.policy.placeholder.format(category=category).encode()
                )
            pieces.append(raw[cursor : hit.start])
            pieces.append(replacement)
            cursor = hit.end
        pieces.append(raw[cursor:])
        out = b"".join(pieces).decode("utf-8") if chosen else text
        return Redaction(out, chosen, labels, raw, ascii_only=len(raw) == len(text))

    def _label(self, matched: bytes, labels: dict[str, str]) -> str:
        person = self._people.get(b" ".join(matched.split())) or self._handles.get(matched.lower())
        if person is None:
            return self.policy.placeholder.format(category="person")
        label = labels.get(person.key)
        if label is None:
            role = _ROLE_LABELS.get(person.role, person.role.replace("-", " ").capitalize())
            same_role = sum(1 for existing in labels.values() if existing.startswith(f"[{role} "))
            label = labels[person.key] = f"[{role} {same_role + 1}]"
        return label


_MAX_LITERAL_PASSES = 16


def _name_groups(spellings: Iterable[bytes]) -> list[list[bytes]]:
    """Capitalised names in one alternation (capitals are rare in prose, so the engine's first-character
    check skips most text), @handles in one led by "@", any other spelling grouped by prefix."""
    words = sorted(set(spellings), key=len, reverse=True)
    capitalised = [w for w in words if w[:1].isupper()]
    handles = [w for w in words if w[:1] == b"@"]
    others = [w for w in words if w not in capitalised and w not in handles]
    literal_groups = _by_prefix(capitalised)
    if len(literal_groups) <= _MAX_LITERAL_PASSES:  # a small roster: one fast literal scan per prefix
        return literal_groups + ([handles] if handles else []) + _by_prefix(others)
    return [g for g in (capitalised, handles) if g] + _by_prefix(others)


# Bytes rare enough in prose that a regex led by one of them (with a lookbehind for the bytes before)
# beats the plain literal; measured: "k" and "J" win, "c", "d", "w", "y" lose.
_RARITY = b"0123456789_zqxjkv"


def _anchored_literal(word: bytes) -> tuple[bytes, int]:
    """A regex for `word` that starts on its rarest byte, with a lookbehind for the bytes before it, so
    the engine stops less often; and how many bytes the match starts after the word does."""
    ranks = [(_RARITY.find(word[i : i + 1].lower()), i) for i in range(len(word))]
    rare = [(rank, i) for rank, i in ranks if rank >= 0]
    index = min(rare)[1] if rare else 0
    if index == 0:
        return re.escape(word), 0
    head, rest = word[: index + 1], word[index + 1 :]
    return re.escape(word[index : index + 1]) + b"(?<=" + re.escape(head) + b")" + re.escape(rest), index


def _by_prefix(words: Iterable[bytes]) -> list[list[bytes]]:
    """Words grouped by their first two bytes, longest first: each group's regex then starts with a
    literal the engine can jump to, instead of one alternation tried at every position."""
    groups: dict[bytes, list[bytes]] = {}
    for word in sorted(set(words), key=len, reverse=True):
        groups.setdefault(word[:2], []).append(word)
    return list(groups.values())


_BY_START = operator.itemgetter(1)
_BY_END = operator.itemgetter(2)
_BY_PRIORITY = operator.itemgetter(5)
_BY_PRIORITY_START = operator.itemgetter(5, 1)


def _resolve(found: list[Hit]) -> list[Hit]:
    """Non-overlapping hits, in text order. Specific detectors claim their spans first (a GitHub token
    inside `token: ...@host` is a github-token, not a generic assignment); within one priority the
    earliest, then the longest, wins. Linear per priority class, so dense documents stay fast."""
    # (priority, start, longest first) with C-level keys: two stable sorts
    found.sort(key=_BY_END, reverse=True)
    found.sort(key=_BY_PRIORITY_START)
    chosen: list[Hit] = []
    for _, group in itertools.groupby(found, key=_BY_PRIORITY):
        starts = [h.start for h in chosen]
        accepted: list[Hit] = []
        last_end = -1
        for hit in group:
            if hit.start < last_end:
                continue
            index = bisect.bisect_right(starts, hit.start)
            if (index > 0 and chosen[index - 1].end > hit.start) or (
                index < len(chosen) and chosen[index].start < hit.end
            ):
                continue
            accepted.append(hit)
            last_end = hit.end
        chosen = sorted(chosen + accepted, key=_BY_START) if chosen else accepted
    return chosen


def _locate(raw: bytes, hits: list[Hit], ascii_only: bool = False) -> list[Hit]:
    """Line and column (1-based, in characters of the original text) of each hit, in text order."""
    located: list[Hit] = []
    append = located.append
    line, line_start, cursor = 1, 0, 0
    for category, start, end, _, _, priority in hits:
        newlines = raw.count(b"\n", cursor, start)
        if newlines:
            line += newlines
            line_start = raw.rfind(b"\n", cursor, start) + 1
        cursor = start
        column = start - line_start if ascii_only else len(raw[line_start:start].decode("utf-8", "replace"))
        append(Hit(category, start, end, line, column + 1, priority))
    return located


# --- entry points -----------------------------------------------------------------------------------

_CACHE: dict[tuple[str, str, str], Redactor] = {}


def redactor_for(policy: Mapping[str, Any] | None, audience: Audience) -> Redactor:
    """The compiled redactor for a whole effective policy dict (`rules.policy`), cached by its content."""
    policy = policy or {}
    section = policy.get("redaction") or {}
    people = policy.get("people") or []
    key = (json.dumps(section, sort_keys=True, default=str), json.dumps(people, sort_keys=True, default=str), audience)
    cached = _CACHE.get(key)
    if cached is None:
        cached = Redactor(RedactionPolicy.model_validate(section), audience, roster_from_policy(people))
        if len(_CACHE) >= 64:
            _CACHE.clear()
        _CACHE[key] = cached
    return cached


def redact(text: str, audience: Audience = "internal", policy: Mapping[str, Any] | None = None) -> Redaction:
    return redactor_for(policy, audience).redact(text)
