"""Which capitalised words are people's first names: a lexicon from maintained packages, not a roster.

The names come from gender-guesser's dictionary (`nam_dict.txt`, about 48,000 first names from some
fifty countries, with spelling variants); only the names are used, never the genders. A name that is
also an everyday English word ("Will", "Grant", "May", "Jane", "Bob", "Sandy") is *ambiguous*: it is
taken for a person only where the sentence treats it as one (the subject of a verb, a possessive, a
counterfactual). The English word list is Webster's Second International from the `english-words`
package, case-preserving: "jane" is listed in lower case (a word as well), "Daniel" only capitalised (a
name only), which is the distinction needed here.

Both are loaded once per process (about 0.5 s) and shared by every linter.
"""

from __future__ import annotations

import functools
import pickle
from dataclasses import dataclass
from importlib import resources
from typing import Literal

NameKind = Literal["name", "ambiguous"]

# Well-known software and products that share a spelling with a first name or look like one to the
# lexicon ("Cassandra", "Hugo", "Phoenix") or are unknown capitalised words that would otherwise be taken
# for a name nobody has heard of ("Kubernetes", "Ansible"). An organisation's own services come from its
# policy (the service catalogue, `[language] not_people`) and from the document itself.
_SYSTEMS = """
    airflow akamai alertmanager alexa android angular ansible apache apollo argo artifactory athena
    atlas aurora auth0 azure bamboo bigquery buildkite calico cassandra ceph chef cilium circleci
    clickhouse cloudflare cloudfront cockroachdb consul containerd cortana crossplane datadog debian
    deno django docker druid dynamodb echo elasticsearch elixir envoy erlang etcd fastapi fastly flink
    fluentd flux gcp github gitlab gluster grafana gunicorn hadoop haproxy harbor helm heroku hive
    honeycomb hugo icinga ios istio ivy jaeger java jenkins jira julia kafka kibana kong kotlin
    kubernetes lambda laravel lightstep linkerd linux logstash loki macos mariadb memcached minio mongo
    mongodb mysql nagios netlify nexus nginx node nomad nova okta opsgenie packer pagerduty phoenix
    pinot podman postgres postgresql presto prometheus puma pulumi puppet python rabbitmq rails react
    redis redshift resque ruby rust salt scala sentry sidekiq siri slack snowflake spark spinnaker
    splunk stripe svelte swift tekton teamcity tempo terraform traefik travis trino twilio ubuntu
    unicorn uvicorn vagrant varnish vault vercel vitess vue windows zabbix zipkin zookeeper zoom
"""
KNOWN_SYSTEMS = frozenset(_SYSTEMS.split())


_INFLECTIONS = (("ies", "y"), ("es", ""), ("s", ""), ("ed", ""), ("ed", "e"), ("ing", ""), ("ing", "e"))


@dataclass(frozen=True)
class NameLexicon:
    names: frozenset[str]  # first names, as spelled in the dictionary ("Zofia", "Lucía", "Jean-Luc")
    words: frozenset[str]  # English words in lower case ("will", "jane", "page")

    def kind(self, word: str) -> NameKind | None:
        """"name" for a first name that is not also a word, "ambiguous" for one that is, else None."""
        if word not in self.names:
            return None
        return "ambiguous" if word.lower() in self.words else "name"

    def is_word(self, word: str) -> bool:
        """An English word, inflected or not: the list holds lemmas ("action", not "actions")."""
        low = word.lower()
        if low in self.words:
            return True
        for suffix, stem_end in _INFLECTIONS:
            if low.endswith(suffix) and len(low) > len(suffix) + 2 and low[: -len(suffix)] + stem_end in self.words:
                return True
        return False


def _first_names() -> frozenset[str]:
    raw = resources.files("gender_guesser").joinpath("data/nam_dict.txt").read_bytes().decode("utf-8")
    names: set[str] = set()
    for line in raw.splitlines():
        if not line or line[0] in "#=":
            continue
        fields = line.split(None, 2)
        if len(fields) < 2:
            continue
        name = fields[1]
        if "+" in name:  # the dictionary's compound names: "Jean+Luc" is Jean-Luc, Jean Luc and JeanLuc
            names.update(name.replace("+", joiner) for joiner in ("", "-"))
        elif len(name) > 1:
            names.add(name)
    return frozenset(names)


def _english_words() -> frozenset[str]:
    # the package's own data file: a pickled set of strings (web2, case-preserving)
    data = resources.files("english_words").joinpath("data", "web2.pickle").read_bytes()
    loaded = pickle.loads(data)
    return frozenset(w for w in loaded if w[:1].islower())


@functools.cache
def lexicon() -> NameLexicon:
    return NameLexicon(_first_names(), _english_words())
