"""Writes the labelled redaction corpus: fake secrets and personal data of realistic formats, look-alikes
that must survive, and whole postmortem documents with every planted value labelled.

Every value is generated here from a fixed seed: none is, or was, a real credential. Run it again
(`python tests/gates/corpus/make_corpus.py`) after changing it; the files it writes are committed so
that tests and the benchmark read the same corpus.
"""

from __future__ import annotations

import base64
import json
import random
import string
from collections.abc import Callable
from pathlib import Path

HERE = Path(__file__).parent
rnd = random.Random(20261123)

ALNUM = string.ascii_letters + string.digits
UPPER_DIGITS = string.ascii_uppercase + string.digits
B64 = string.ascii_letters + string.digits + "+/"


def pick(chars: str, n: int) -> str:
    return "".join(rnd.choice(chars) for _ in range(n))


def mixed(chars: str, n: int) -> str:
    """Random, but with at least one lower, one upper and one digit (as real generated keys have)."""
    while True:
        value = pick(chars, n)
        if any(c.islower() for c in value) and any(c.isupper() for c in value) and any(c.isdigit() for c in value):
            return value


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


# --- secret generators: (value, the text it appears in) ---------------------------------------------


def aws_access_key() -> tuple[str, str]:
    value = rnd.choice(["AKIA", "ASIA"]) + pick("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", 16)
    ctx = rnd.choice(
        [
            "The deploy role used access key {v} until it was rotated.",
            "aws_access_key_id = {v}",
            'export AWS_ACCESS_KEY_ID="{v}"',
            "CloudTrail showed calls signed with {v}, which we disabled at 10:42.",
            '{{"AccessKeyId": "{v}", "Expiration": "2026-11-23T10:00:00Z"}}',
        ]
    )
    return value, ctx.format(v=value)


def aws_secret_key() -> tuple[str, str]:
    value = mixed(B64, 40)
    ctx = rnd.choice(
        [
            "aws_secret_access_key = {v}",
            'export AWS_SECRET_ACCESS_KEY="{v}"',
            '"SecretAccessKey": "{v}",',
            "AWS_SECRET_ACCESS_KEY={v} terraform apply",
            "secret_access_key: {v}",
        ]
    )
    return value, ctx.format(v=value)


def github_token() -> tuple[str, str]:
    kind = rnd.choice(["ghp", "gho", "ghs", "ghu", "pat"])
    value = f"github_pat_{mixed(ALNUM, 22)}_{mixed(ALNUM, 59)}" if kind == "pat" else f"{kind}_{mixed(ALNUM, 36)}"
    ctx = rnd.choice(
        [
            "The CI job printed the token {v} in its log.",
            "GITHUB_TOKEN={v}",
            "git clone https://x-access-token:{v}@github.com/acme/payments.git",
            "- uses a personal token ({v}) that never expired",
            "gh auth login --with-token <<< {v}",
        ]
    )
    return value, ctx.format(v=value)


def slack_token() -> tuple[str, str]:
    prefix = rnd.choice(["xoxb", "xoxp", "xoxa"])
    value = f"{prefix}-{pick(string.digits, 12)}-{pick(string.digits, 13)}-{mixed(ALNUM, 24)}"
    ctx = rnd.choice(
        [
            "SLACK_BOT_TOKEN={v}",
            "The notifier was configured with {v} in plain text.",
            'slack: {{token: "{v}"}}',
        ]
    )
    return value, ctx.format(v=value)


def slack_webhook() -> tuple[str, str]:
    value = f"https://hooks.slack.com/services/T{pick(UPPER_DIGITS, 8)}/B{pick(UPPER_DIGITS, 10)}/{mixed(ALNUM, 24)}"
    ctx = rnd.choice(
        [
            "Alerts were posted to {v} which had been shared in the wiki.",
            "webhook_url: {v}",
            'curl -X POST -d \'{{"text":"deploy done"}}\' {v}',
        ]
    )
    return value, ctx.format(v=value)


def stripe_key() -> tuple[str, str]:
    value = rnd.choice(
        [
            f"sk_live_{mixed(ALNUM, 24)}",
            f"rk_live_{mixed(ALNUM, 24)}",
            f"sk_test_{mixed(ALNUM, 24)}",
            f"whsec_{mixed(ALNUM, 32)}",
        ]
    )
    ctx = rnd.choice(
        [
            "STRIPE_SECRET_KEY={v}",
            "The billing worker logged its key {v} on start-up.",
            'stripe.api_key = "{v}"',
        ]
    )
    return value, ctx.format(v=value)


def google_api_key() -> tuple[str, str]:
    value = "AIza" + mixed(ALNUM + "-_", 35)
    ctx = rnd.choice(
        [
            "The maps widget embedded {v} in the page source.",
            "GOOGLE_API_KEY={v}",
            "https://maps.googleapis.com/maps/api/geocode/json?address=x&key={v}",
        ]
    )
    return value, ctx.format(v=value)


def npm_token() -> tuple[str, str]:
    value = "npm_" + mixed(ALNUM, 36)
    ctx = rnd.choice(
        [
            "//registry.npmjs.org/:_authToken={v}",
            "NPM_TOKEN={v} npm publish",
            "The publish step used {v} from the shared vault.",
        ]
    )
    return value, ctx.format(v=value)


def jwt() -> tuple[str, str]:
    header = b64url(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    payload = b64url(
        json.dumps({"sub": str(rnd.randint(1000, 99999)), "iat": rnd.randint(1.6e9, 1.8e9), "scope": "admin"}).encode()
    )
    value = f"{header}.{payload}.{b64url(rnd.randbytes(32))}"
    ctx = rnd.choice(
        [
            "The session cookie held {v} for the admin user.",
            "Authorization: Bearer {v}",
            "token={v}",
            "The request log line was: GET /api/v2/orders jwt={v} 200",
        ]
    )
    return value, ctx.format(v=value)


def private_key() -> tuple[str, str]:
    kind = rnd.choice(["RSA PRIVATE KEY", "PRIVATE KEY", "OPENSSH PRIVATE KEY", "EC PRIVATE KEY"])
    body = "\n".join(pick(B64, 64) for _ in range(rnd.randint(4, 8))) + "\n" + pick(B64, 20) + "=="
    value = f"-----BEGIN {kind}-----\n{body}\n-----END {kind}-----"
    return value, f"The key found in the image layer:\n\n{value}\n"


def url_password() -> tuple[str, str]:
    value = rnd.choice([mixed(ALNUM, 14), mixed(ALNUM, 10) + "!", "Pa55-" + mixed(ALNUM, 8) + "~x"])
    user = rnd.choice(["app", "admin", "replicator", ""])
    host = rnd.choice(["db.example.com:5432/payments", "cache.example.net:6379", "mq.example.org/vhost"])
    scheme = rnd.choice(["postgres", "redis", "amqp", "https", "mysql"])
    url = f"{scheme}://{user}:{value}@{host}"
    ctx = rnd.choice(
        [
            "DATABASE_URL={u}",
            "The worker connected to {u} directly.",
            "- connection string: `{u}`",
        ]
    )
    return value, ctx.format(u=url)


def password_assignment() -> tuple[str, str]:
    value = rnd.choice(
        [
            mixed(ALNUM, 12),
            "Winter2026!" + pick(string.digits, 2),
            "hunter2-" + pick(ALNUM, 6),
            "correcthorse" + pick(string.digits, 3),
        ]
    )
    ctx = rnd.choice(
        [
            'password = "{v}"',
            "DB_PASSWORD={v}",
            '"password": "{v}"',
            "psql --password {v} -h db",
            "PGPASSWORD={v} pg_dump payments",
            "admin_password: {v}",
            "redis_passwd={v}",
        ]
    )
    return value, ctx.format(v=value)


def bearer_token() -> tuple[str, str]:
    value = mixed(ALNUM + "-._~", rnd.randint(28, 48))
    ctx = rnd.choice(
        [
            'curl -H "Authorization: Bearer {v}" https://api.example.com/v1/refunds',
            "The proxy logged the header Authorization: Bearer {v} at debug level.",
            "Authorization: Token {v}",
        ]
    )
    return value, ctx.format(v=value)


def secret_assignment() -> tuple[str, str]:
    value = rnd.choice([mixed(ALNUM, 32), pick("0123456789abcdef", 40), mixed(ALNUM + "-_", 43)])
    if not any(c.isdigit() for c in value):
        value = value[:-1] + "7"
    ctx = rnd.choice(
        [
            "api_key = {v}",
            "client_secret: {v}",
            "SENTRY_AUTH_TOKEN={v}",
            '"webhook_secret": "{v}"',
            "x-api-key: {v}",
            "DATADOG_API_KEY={v}",
            "signing_key = '{v}'",
            "--auth-token {v}",
        ]
    )
    return value, ctx.format(v=value)


SECRETS: dict[str, Callable[[], tuple[str, str]]] = {
    "aws-access-key": aws_access_key,
    "aws-secret-key": aws_secret_key,
    "github-token": github_token,
    "slack-token": slack_token,
    "slack-webhook": slack_webhook,
    "stripe-key": stripe_key,
    "google-api-key": google_api_key,
    "npm-token": npm_token,
    "jwt": jwt,
    "private-key": private_key,
    "url-password": url_password,
    "password-assignment": password_assignment,
    "bearer-token": bearer_token,
    "secret-assignment": secret_assignment,
}

# --- vendor keys known by their shape (and a Datadog key by the name it is assigned to) -------------
# Drawn from their own seed, so that adding them left every file written before them as it was.
vrnd = random.Random(20261124)
HEX = "0123456789abcdef"


def vpick(chars: str, n: int) -> str:
    return "".join(vrnd.choice(chars) for _ in range(n))


def vmixed(chars: str, n: int) -> str:
    while True:
        value = vpick(chars, n)
        if any(c.islower() for c in value) and any(c.isupper() for c in value) and any(c.isdigit() for c in value):
            return value


def _in(value: str, contexts: list[str]) -> tuple[str, str]:
    return value, vrnd.choice(contexts).format(v=value)


def datadog_key() -> tuple[str, str]:
    return _in(vpick(HEX, vrnd.choice([32, 40])), [
        "DD_API_KEY={v}", "-H 'DD-API-KEY: {v}'",
        "datadog_api_key: {v}", "DD_APP_KEY={v}", "-H \"DD-APPLICATION-KEY: {v}\"",
    ]) if vrnd.random() < 0.5 else _in(vpick(HEX, 32), ["dd_api_key = \"{v}\"", "DATADOG_API_KEY={v}"])


def newrelic_key() -> tuple[str, str]:
    value = vrnd.choice([
        "NRAK-" + vpick(string.ascii_uppercase + string.digits, 27),
        vpick(HEX, 36) + "NRAL",
        "NRII-" + vmixed(ALNUM + "_-", 32),
        "NRJS-" + vpick(HEX, 19),
    ])
    return _in(value, ["NEW_RELIC_API_KEY={v}", "The agent reported with license {v} from the image.",
                       "-H 'Api-Key: {v}'", "newrelic.license_key = {v}"])


def sentry_dsn() -> tuple[str, str]:
    value = vpick(HEX, 32)
    host = vrnd.choice([f"o{vrnd.randint(10000, 999999)}.ingest.sentry.io", "sentry.example.com",
                        f"o{vrnd.randint(1000, 99999)}.ingest.us.sentry.io"])
    dsn = f"https://{value}@{host}/{vrnd.randint(1, 9999999)}"
    return value, vrnd.choice(["SENTRY_DSN={d}", "Sentry.init({{ dsn: \"{d}\" }})",
                               "The web bundle shipped the DSN {d} to every browser."]).format(d=dsn)


def sentry_token() -> tuple[str, str]:
    value = vrnd.choice(["sntryu_" + vpick(HEX, 64), "sntrys_" + vmixed(ALNUM, 44) + "_" + vmixed(ALNUM, 43)])
    return _in(value, ["sentry-cli --auth-token {v} releases new", "The release job printed {v}."])


def pagerduty_key() -> tuple[str, str]:
    integration = vpick(HEX, 32) if vrnd.random() < 0.6 else vmixed(ALNUM, 32)
    rest = vmixed(ALNUM + "_+-", 20)
    return vrnd.choice([
        (integration, f'"routing_key": "{integration}",'),
        (integration, f"PAGERDUTY_INTEGRATION_KEY={integration}"),
        (integration, f"https://events.pagerduty.com/integration/{integration}/enqueue"),
        (integration, f"service_key: {integration}"),
        (rest, f'curl -H "Authorization: Token token={rest}" https://api.pagerduty.com/incidents'),
    ])


def pypi_token() -> tuple[str, str]:
    value = "pypi-AgEIcHlwaS5vcmc" + vmixed(ALNUM + "_-", vrnd.randint(60, 160))
    return _in(value, ["TWINE_PASSWORD={v}", "password = {v}", "The upload token {v} was in the CI log."])


def gitlab_token() -> tuple[str, str]:
    prefix = vrnd.choice(["glpat", "glpat", "gldt", "glrt", "glptt", "glcbt"])
    value = f"{prefix}-{vmixed(ALNUM + '_-', 20)}" if vrnd.random() < 0.7 else (
        f"{prefix}-{vmixed(ALNUM + '_-', 27)}.01.{vpick(HEX + 'ghijk', 9)}"
    )
    return _in(value, ["GITLAB_TOKEN={v}", "git clone https://oauth2:{v}@gitlab.example.com/acme/app.git",
                       "The runner was registered with {v}."])


def twilio_key() -> tuple[str, str]:
    return _in("SK" + vpick(HEX, 32), ["TWILIO_API_KEY={v}", "client = twilio({v}, secret)",
                                      "The SMS job used API key {v}."])


def sendgrid_key() -> tuple[str, str]:
    value = f"SG.{vmixed(ALNUM + '_-', 22)}.{vmixed(ALNUM + '_-', 43)}"
    return _in(value, ["SENDGRID_API_KEY={v}", "The mailer logged {v} on start-up.", "sg = SendGridAPIClient('{v}')"])


VENDOR_SECRETS: dict[str, Callable[[], tuple[str, str]]] = {
    "datadog-key": datadog_key,
    "newrelic-key": newrelic_key,
    "sentry-dsn": sentry_dsn,
    "sentry-token": sentry_token,
    "pagerduty-key": pagerduty_key,
    "pypi-token": pypi_token,
    "gitlab-token": gitlab_token,
    "twilio-key": twilio_key,
    "sendgrid-key": sendgrid_key,
}

# --- personal data ----------------------------------------------------------------------------------

FIRST = ["maria", "john", "wei", "fatima", "lars", "aisha", "diego", "yuki", "olga", "kwame"]
LAST = ["garcia", "smith", "chen", "khan", "berg", "okafor", "lopez", "tanaka", "ivanova", "mensah"]


def email() -> tuple[str, str]:
    value = rnd.choice(
        [
            f"{rnd.choice(FIRST)}.{rnd.choice(LAST)}@example.com",
            f"{rnd.choice(FIRST)}+alerts@mail.example.org",
            f"{rnd.choice(FIRST)[0]}{rnd.choice(LAST)}{rnd.randint(1, 99)}@customer.example.net",
        ]
    )
    ctx = rnd.choice(
        [
            "The customer ({v}) reported the double charge first.",
            "Escalation went to {v} at 09:14.",
            "- reporter: {v}",
            "| 09:20 | support ticket from {v} | zendesk |",
        ]
    )
    return value, ctx.format(v=value)


def ipv4() -> tuple[str, str]:
    value = rnd.choice(
        [
            f"10.{rnd.randint(0, 255)}.{rnd.randint(0, 255)}.{rnd.randint(1, 254)}",
            f"192.168.{rnd.randint(0, 255)}.{rnd.randint(1, 254)}",
            f"203.0.113.{rnd.randint(1, 254)}",
            f"{rnd.randint(11, 223)}.{rnd.randint(0, 255)}.{rnd.randint(0, 255)}.{rnd.randint(1, 254)}",
        ]
    )
    ctx = rnd.choice(
        [
            "Requests from {v} made up 80% of the traffic.",
            "client_ip={v} status=429",
            "The primary ({v}) stopped answering health checks.",
            "| 09:31 | failover to {v} | ha log |",
            "blocked {v}/32 at the edge",
        ]
    )
    return value, ctx.format(v=value)


def ipv6() -> tuple[str, str]:
    groups = [f"{rnd.randint(0, 0xFFFF):x}" for _ in range(8)]
    value = rnd.choice(
        [
            "2001:db8::" + ":".join(groups[:3]),
            "fe80::" + ":".join(groups[:4]),
            ":".join(groups),
            f"2a02:{groups[1]}:{groups[2]}::{groups[3]}",
        ]
    )
    ctx = rnd.choice(
        [
            "The client at {v} retried 4,000 times.",
            "remote_addr={v} path=/checkout",
            "Traffic from [{v}]:443 was dropped.",
        ]
    )
    return value, ctx.format(v=value)


def phone() -> tuple[str, str]:
    value = rnd.choice(
        [
            f"+1 415 555 {rnd.randint(100, 199):04d}",
            f"+44 20 7946 {rnd.randint(0, 999):04d}",
            f"({rnd.randint(201, 989)}) 555-{rnd.randint(100, 199):04d}",
            f"{rnd.randint(201, 989)}-555-{rnd.randint(100, 199):04d}",
            f"+49 30 {rnd.randint(1000000, 9999999)}",
            f"+33 1 {rnd.randint(10, 99)} {rnd.randint(10, 99)} {rnd.randint(10, 99)} {rnd.randint(10, 99)}",
        ]
    )
    ctx = rnd.choice(
        [
            "The customer called from {v} twice.",
            "On-call bridge: {v}",
            "- callback number: {v}",
        ]
    )
    return value, ctx.format(v=value)


def luhn_complete(prefix: str, length: int) -> str:
    body = prefix + pick(string.digits, length - len(prefix) - 1)
    for check in string.digits:
        candidate = body + check
        total = 0
        for i, ch in enumerate(reversed(candidate)):
            d = int(ch)
            if i % 2:
                d = d * 2 - 9 if d > 4 else d * 2
            total += d
        if total % 10 == 0:
            return candidate
    raise AssertionError("unreachable")


def card() -> tuple[str, str]:
    prefix, length = rnd.choice(
        [("4", 16), ("51", 16), ("55", 16), ("2221", 16), ("34", 15), ("37", 15), ("6011", 16), ("4", 13)]
    )
    digits = luhn_complete(prefix, length)
    style = rnd.choice(["plain", "spaces", "dashes"])
    if style == "plain" or length not in (16,):
        value = digits
    else:
        sep = " " if style == "spaces" else "-"
        value = sep.join(digits[i : i + 4] for i in range(0, 16, 4))
    ctx = rnd.choice(
        [
            "The payload contained the card number {v} in clear text.",
            "card={v} amount=42.00",
            "| 09:12 | charge retried for {v} | payments log |",
        ]
    )
    return value, ctx.format(v=value)


PERSONAL: dict[str, Callable[[], tuple[str, str]]] = {
    "email": email,
    "ipv4": ipv4,
    "ipv6": ipv6,
    "phone": phone,
    "card": card,
}

# --- look-alikes that must survive both audiences ---------------------------------------------------


def lookalikes() -> list[dict[str, str]]:
    hexd = "0123456789abcdef"
    out: list[dict[str, str]] = []

    def add(kind: str, value: str, text: str) -> None:
        out.append({"kind": kind, "value": value, "text": text.format(v=value)})

    for _ in range(12):
        add(
            "commit-sha",
            pick(hexd, 40),
            rnd.choice(["Commit {v} changed the pool size.", "git revert {v}", "sha={v}", "Fixed in {v}."]),
        )
        add(
            "short-sha",
            pick(hexd, rnd.choice([7, 8, 12])),
            rnd.choice(["Deploy {v} went out at 09:00.", "rolled back to {v}"]),
        )
        u = pick(hexd, 32)
        add(
            "uuid",
            f"{u[:8]}-{u[8:12]}-4{u[13:16]}-a{u[17:20]}-{u[20:]}",
            rnd.choice(["request_id={v}", "Incident {v} was opened.", "tenant {v}", '"id": "{v}"']),
        )
        add(
            "trace-id",
            pick(hexd, 32),
            rnd.choice(["trace_id={v}", "See trace {v} in Tempo.", "traceparent: 00-{v}-00f067aa0ba902b7-01"]),
        )
        add("span-id", pick(hexd, 16), "span_id={v}")
        add(
            "image-digest",
            "sha256:" + pick(hexd, 64),
            rnd.choice(["image: registry.example.com/api@{v}", "digest {v}", "FROM python:3.11@{v}"]),
        )
        add(
            "version",
            rnd.choice(
                [
                    f"v{rnd.randint(0, 9)}.{rnd.randint(0, 30)}.{rnd.randint(0, 40)}",
                    f"{rnd.randint(1, 5)}.{rnd.randint(0, 30)}.{rnd.randint(0, 9)}-rc.{rnd.randint(1, 5)}",
                    f"v{rnd.randint(1, 9)}.{rnd.randint(0, 9)}.{rnd.randint(0, 9)}.{rnd.randint(0, 9)}",
                ]
            ),
            rnd.choice(["Upgraded to {v} last week.", "version: {v}", "release {v} contains the fix"]),
        )
        add(
            "version4",
            f"{rnd.randint(1, 9)}.{rnd.randint(0, 20)}.{rnd.randint(0, 9)}.{rnd.randint(0, 300)}",
            rnd.choice(["kernel version {v}", "release {v}", "version={v}", "pip install app=={v}"]),
        )
        add(
            "timestamp",
            f"2026-{rnd.randint(1, 12):02d}-{rnd.randint(1, 28):02d}T{rnd.randint(0, 23):02d}:"
            f"{rnd.randint(0, 59):02d}:{rnd.randint(0, 59):02d}Z",
            rnd.choice(["at {v}", "| {v} | alert fired | alertmanager |", "started_at={v}"]),
        )
        add(
            "timestamp-ms",
            f"2026-{rnd.randint(1, 12):02d}-{rnd.randint(1, 28):02d} {rnd.randint(0, 23):02d}:"
            f"{rnd.randint(0, 59):02d}:{rnd.randint(0, 59):02d}.{rnd.randint(0, 999):03d}+00:00",
            "logged {v} ERROR pool exhausted",
        )
        add(
            "epoch-ms",
            str(rnd.randint(1_700_000_000_000, 1_800_000_000_000)),
            rnd.choice(["ts={v}", "timestamp: {v}", "the event at {v} ms"]),
        )
        add("epoch", str(rnd.randint(1_700_000_000, 1_800_000_000)), rnd.choice(["time={v}", "at epoch {v}"]))
        add(
            "clock",
            f"{rnd.randint(0, 23):02d}:{rnd.randint(0, 59):02d}:{rnd.randint(0, 59):02d}",
            "| {v} | rollback finished | deploy log |",
        )
        add("mac", ":".join(pick(hexd, 2) for _ in range(6)), "NIC {v} flapped")
    promql = [
        'sum(rate(http_requests_total{job="api",code=~"5.."}[5m])) / sum(rate(http_requests_total{job="api"}[5m]))',
        "histogram_quantile(0.99, sum by (le) (rate(http_request_duration_seconds_bucket[5m]))) > 0.3",
        'max_over_time(pg_replication_lag_seconds{instance="db-2:9187"}[10m]) > 30',
        'increase(kube_pod_container_status_restarts_total{namespace="payments"}[15m]) > 3',
        "avg_over_time(up[1h:5m]) < 0.99",
        'sum by (instance) (rate(node_cpu_seconds_total{mode!="idle"}[5m]))',
        'absent(up{job="checkout"} == 1)',
        "rate(errors_total[5m]) / ignoring(code) group_left rate(requests_total[5m]) > 0.02",
    ]
    for query in promql:
        add("promql", query, "Alert expression: `{v}`")
        add("promql-bare", query, "The rule was {v} for 10 minutes.")
    others = [
        ("pod", "api-7d9f8b6c5-x2x9z", "pod {v} was OOM-killed"),
        ("ticket", "INC-20311", "tracked in {v}"),
        ("ticket", "PAY-4411", "see {v}"),
        ("path", "/var/lib/postgresql/14/main/pg_wal", "the disk under {v} filled up"),
        ("public-host", "api.example.com", "requests to {v} timed out"),
        ("number", "12,345,678", "{v} requests failed"),
        ("decimal", "99.95", "the SLO is {v}%"),
        ("duration", "2h 14m", "the incident lasted {v}"),
        ("date", "2026-11-23", "on {v}"),
        ("port", "5432", "port {v} was closed"),
        ("go-path", "github.com/acme/payments/internal/pool", "package {v}"),
        ("config", "token_ttl = 3600", "{v}"),
        ("config", "max_tokens: 4096", "{v}"),
        ("config", "password_min_length = 12", "{v}"),
        ("config", "secret_name: db-credentials", "{v}"),
        ("config", "api_key: ${API_KEY}", "{v}"),
        ("config", "password: <redacted>", "{v}"),
        ("config", "primary_key = id", "{v}"),
        ("config", "cache_key=user:42:profile", "{v}"),
        ("config", 'client_secret: "env:CLIENT_SECRET"', "{v}"),
        ("prose", "The password reset flow sent two e-mails.", "{v}"),
        ("prose", "Password: rotated by the vault job at 10:05.", "{v}"),
        ("prose", "The token bucket refilled at 100 tokens per second.", "{v}"),
        ("prose", "The bearer of the pager acknowledged within 2 minutes.", "{v}"),
        ("http", "HTTP 503", "the gateway returned {v}"),
        ("base64-config", "bWF4X2Nvbm5lY3Rpb25zPTEwMA==", "config checksum {v}"),
        ("k8s", "10Gi", "requests.memory: {v}"),
        ("ssh-remote", "git@github.com:acme/payments.git", "cloned {v}"),
        ("localhost", "127.0.0.1", "listening on {v}:8080"),
        ("sri", "sha384-oqVuAfXRKap7fdgcCY5uykM6+R9GqQ8K/uxy9rx7HNQlGYl1kPzQho1wx4JwY8wC", "integrity {v}"),
        ("cve", "CVE-2024-3094", "not affected by {v}"),
        ("ulid", "01HX7Z8K3M4N5P6Q7R8S9T0V1W", "job {v} retried"),
    ]
    for kind, value, text in others:
        add(kind, value, text)
    return out


# --- documents --------------------------------------------------------------------------------------

ROSTER = [
    {"name": "Alice Example", "handle": "alice", "aliases": ["Ally"], "team": "payments", "roles": ["sre"]},
    {"name": "Bruno Silva", "handle": "bsilva", "team": "payments", "roles": ["incident-commander"]},
    {"name": "Chen Wei", "handle": "chenw", "team": "platform", "roles": ["reviewer", "sre"]},
    {"name": "Dara Okafor", "handle": "dokafor", "team": "security", "roles": ["security"]},
    {"name": "Emeka Obi", "handle": "emeka", "team": "platform", "roles": ["manager"]},
]
POLICY = {"people": ROSTER, "redaction": {"terms": ["Globex", "Project Falcon"]}}

DOC_TEMPLATE = """# Postmortem: {title}

| | |
|---|---|
| Severity | SEV2 |
| Owner | {owner} |
| Started (UTC) | 2026-11-20 09:02:11 |

## Summary

Between 09:02 and 10:14 UTC checkout requests failed for about 18% of customers after release {version}
changed the connection pool size. Globex, our largest customer, saw the most errors. {person_a} led the
response and {person_b} coordinated communication.

## Impact

About 41,000 checkout attempts failed; the error budget for the month was exhausted. Project Falcon was
paused for a day. Customer {email} reported duplicate charges; one payload contained {card}.

## Timeline

| Time (UTC) | Event | Evidence |
|---|---|---|
| 09:02 | alert `CheckoutErrorRate` fired: `{promql}` | `{sha}` |
| 09:05 | {person_a} acknowledged the page | pagerduty |
| 09:14 | traffic from {ipv4} identified as retry storm | trace {trace} |
| 09:31 | rollback of image `api@{digest}` started | deploy log |
| 10:14 | error rate back under 0.1% | dashboard |

## Root cause analysis

The release reduced `max_connections` from 100 to 10. Under the retry policy each failed request was
retried three times, so the pool saturated within seconds. The configuration was shipped with
credentials inline:

```
{secret_block}
```

The connection string also held a password: `{url}`. Requests from {ipv6} and the support line
{phone} are in the raw logs.

## Detection

The alert fired 3 minutes after the release; request {uuid} is the first failure.

## Resolution

The release was rolled back to {version_old}; the leaked key was revoked at 10:20.

## What went well

The rollback took 6 minutes.

## What went poorly

Secrets sat in the repository; internal host db-primary.payments.internal was named in public logs.

## Where we got lucky

The leaked key had read-only scope.

## Action items

| Type | Action | Owner | Due | Success criterion | Ticket |
|---|---|---|---|---|---|
| prevent | move credentials to the vault | @{handle_a} | 2026-12-15 | no credential in scans for 30 days | PAY-4411 |
| mitigate | cap retries at one | {person_b} | 2026-12-01 | retry ratio below 1.2 in a saturation test | PAY-4412 |

## Lessons learned

Configuration changes need the same canary as code.
"""


def documents() -> list[dict[str, object]]:
    docs: list[dict[str, object]] = []
    hexd = "0123456789abcdef"
    for index in range(6):
        a, b = rnd.sample(ROSTER, 2)
        secrets = [rnd.choice(list(SECRETS)) for _ in range(3)]
        planted_secrets = [(cat, *SECRETS[cat]()) for cat in secrets]
        url_value = mixed(ALNUM, 12) + "!"
        url = f"postgres://app:{url_value}@db.example.com:5432/payments"
        values = {
            "email": email()[0],
            "card": card()[0],
            "ipv4": ipv4()[0],
            "ipv6": ipv6()[0],
            "phone": phone()[0],
        }
        u = pick(hexd, 32)
        keep = {
            "sha": pick(hexd, 40),
            "trace": pick(hexd, 32),
            "digest": "sha256:" + pick(hexd, 64),
            "uuid": f"{u[:8]}-{u[8:12]}-4{u[13:16]}-a{u[17:20]}-{u[20:]}",
            "version": f"v{rnd.randint(1, 9)}.{rnd.randint(0, 20)}.{rnd.randint(0, 9)}",
            "version_old": f"v{rnd.randint(1, 9)}.{rnd.randint(0, 20)}.{rnd.randint(0, 9)}",
            "promql": 'sum(rate(http_requests_total{job="checkout",code=~"5.."}[5m])) > 0.05',
        }
        text = DOC_TEMPLATE.format(
            title=f"checkout errors after pool change ({index + 1})",
            owner=a["handle"],
            person_a=a["name"],
            person_b=b["name"],
            handle_a=a["handle"],
            secret_block="\n".join(ctx for _, _, ctx in planted_secrets),
            url=url,
            **values,
            **keep,
        )
        remove_internal = [[cat, value] for cat, value, _ in planted_secrets] + [["url-password", url_value]]
        person_values = [
            ["person", a["name"]],
            ["person", b["name"]],
            ["person", "@" + a["handle"]],
            ["person", a["handle"]],
        ]
        remove_external = [
            *remove_internal,
            *([cat, v] for cat, v in values.items()),
            *person_values,
            ["hostname", "db-primary.payments.internal"],
            ["term", "Globex"],
            ["term", "Project Falcon"],
        ]
        docs.append(
            {
                "name": f"postmortem-{index + 1}",
                "text": text,
                "remove": {"internal": remove_internal, "external": remove_external},
                "keep": list(keep.values()),
            }
        )
    return docs


def main() -> None:
    with open(HERE / "secrets.jsonl", "w", encoding="utf-8") as fh:
        for category, make in SECRETS.items():
            for _ in range(20):
                value, text = make()
                fh.write(json.dumps({"category": category, "value": value, "text": text}) + "\n")
    with open(HERE / "vendor_secrets.jsonl", "w", encoding="utf-8") as fh:
        for category, make in VENDOR_SECRETS.items():
            for _ in range(12):
                value, text = make()
                fh.write(json.dumps({"category": category, "value": value, "text": text}) + "\n")
    with open(HERE / "personal.jsonl", "w", encoding="utf-8") as fh:
        for category, make in PERSONAL.items():
            for _ in range(40):
                value, text = make()
                fh.write(json.dumps({"category": category, "value": value, "text": text}) + "\n")
        for person in ROSTER:
            for spelling, ctx in (
                (person["name"], "{v} restarted the primary at 09:20."),
                ("@" + str(person["handle"]), "Paged {v} for the database."),
                (str(person["name"]).split()[0], "Thanks to {v} for the quick rollback."),
            ):
                fh.write(json.dumps({"category": "person", "value": spelling, "text": ctx.format(v=spelling)}) + "\n")
    with open(HERE / "lookalikes.jsonl", "w", encoding="utf-8") as fh:
        for item in lookalikes():
            fh.write(json.dumps(item) + "\n")
    (HERE / "policy.json").write_text(json.dumps(POLICY, indent=2) + "\n", encoding="utf-8")
    for doc in documents():
        (HERE / "documents" / f"{doc['name']}.md").write_text(str(doc["text"]), encoding="utf-8")
        labels = {"remove": doc["remove"], "keep": doc["keep"]}
        (HERE / "documents" / f"{doc['name']}.labels.json").write_text(
            json.dumps(labels, indent=2) + "\n", encoding="utf-8"
        )


if __name__ == "__main__":
    main()
