"""The blameless-language lint: rule-based, pure, fast, and exact about where each finding is.

Postmortems stay useful only when people can describe what they did without fear, so wording that
blames is a finding: naming people, judgement words, "human error" as a cause, counterfactuals about
what someone should have done, a person or role as the subject of a failure or as the root cause, blame
put on a team, vague culprits ("whoever", "the intern"). The same verbs with a system as their subject
("the scheduler failed to renew its lease") are not findings: every structural rule finds its trigger
first and then decides who the subject is.

People are recognised without a roster: first names come from a maintained lexicon
(`gates/name_lexicon.py`), full names, @handles and e-mail-like handles from their shape; the roster adds
aliases and roles. Capitalised words for systems are told apart by the policy's service catalogue and
`[language] not_people`, well-known product names, and the document's own vocabulary ("the Jane
service", "Hermes, our gateway", `service=jane`).

The rule sets are per language (`gates/lint_rules.py`); the engine here is shared. What is not read
(code, quotes, comments, front matter) is masked, not cut (`gates/lint_markdown.py`), so every finding's
line, column and end column point at its words in the original text.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from afterword.gates.fast_regex import Encoded, Finder, starts_word
from afterword.gates.lint_markdown import Prepared, prepare, section_key
from afterword.gates.lint_rules import RULE_SETS, RuleSet
from afterword.gates.name_lexicon import KNOWN_SYSTEMS, NameLexicon, lexicon
from afterword.policies.gates_schema import LANGUAGE_RULES, LanguagePolicy, Severity
from afterword.workflows.models import Finding

# --- suggestions ------------------------------------------------------------------------------------

_SUGGEST: dict[str, str] = {
    "naming": 'refer to the role instead of the person, e.g. "the on-call engineer"',
    "judgement": "describe what happened and what made it possible, without judging the person",
    "human-error": 'name the conditions that allowed the action, e.g. "the tool accepted a production '
    'target without confirmation"',
    "counterfactual": 'say what the system lacked instead of what someone should have done, e.g. "no check '
    'flagged the change before it reached production"',
    "person-failure": 'make the system the subject, e.g. "the deploy pipeline did not require the migration check"',
    "team-blame": 'describe the change and the missing safeguard, e.g. "a schema change reached production '
    'without a review gate"',
    "root-cause": 'give the conditions as the cause, e.g. "the console allowed a delete without confirmation"',
    "vague-culprit": 'describe the action and what allowed it, e.g. "a manual change to the crontab was not '
    'reviewed"',
}

# Subject kinds, by how sure the lint is that they are people.
_NAMED = frozenset({"roster", "name", "fullname", "handle", "email", "ambiguous", "unknown-full"})
_STRONG = frozenset({"roster", "name", "fullname", "handle", "email", "ambiguous", "role", "team", "vague", "pronoun"})
_WEAK = _STRONG | {"unknown", "unknown-full"}
_HARM_OK = _STRONG | {"unknown-full"}
_DESCRIBE = {
    "roster": "a person on the roster",
    "name": "a first name (name lexicon)",
    "ambiguous": "a first name that is also a word, used here for a person",
    "unknown": "a capitalised word that is neither an English word nor a known system, used here for a person",
    "unknown-full": "a full name",
    "fullname": "a full name",
    "handle": "an @handle",
    "email": "an e-mail-like handle",
    "role": "a person by role",
    "team": "a team",
    "vague": "a vague culprit",
    "pronoun": "a person (pronoun)",
}

_TOKEN = re.compile(r"@?[^\W_](?:[\w'\u2019@+.-]*[^\W_])?")
# What ends a sentence or a clause for the subject search (see `_sentence_start`).
_SEPARATORS = (
    ". ", ".\n", "! ", "!\n", "? ", "?\n", "; ", ";\n", ": ", ":\n", "(", ")", "[", "]", "|", " - ",
    "\u2014", "\u2013", "\u2026", "\x1f",
)
_LEAD = re.compile(r"[\s:\u2014\u2013-]*")  # between a label and what it introduces ("Cause racine : ...")
# `_SEPARATORS` spelled backwards, for `_sentence_start`'s backwards search (". " is " ." there)
_REVERSED_SEPARATOR = re.compile(
    r"[ \n][.!?;:]|[()\[\]|\u2014\u2013\u2026\x1f]| - "
)
_BLOCK_START = re.compile(r"[ \t]*(?:[-*+]|\d+[.)]|#{1,6})[ \t]+")
_CAPITALISED = re.compile(r"[A-Z\u00c0-\u00d6\u00d8-\u00de][\w'\u2019-]*")
_HANDLE = re.compile(r"[A-Za-z0-9](?:[\w.-]*[A-Za-z0-9])?")
_LOCAL_PART = re.compile(r"[\w.+-]+")  # read backwards from an "@"
_INITIAL_DOT = re.compile(r"[a-z]\.[a-z]{2,}$", re.IGNORECASE)  # "j.doe@": an initial and a surname
_DOMAIN = re.compile(r"[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+")
_PAST = re.compile(r"[a-z]{2,}(?:ed|'d)$")
_NOT_PAST_WORDS = "need seed bed red shed speed feed embed weed breed proceed exceed succeed indeed"
_NOT_PAST = frozenset(_NOT_PAST_WORDS.split())
_PREPOSITIONS = frozenset(["on", "in", "from", "of", "at", "with", "within"])
_POSSESSIVE_END = ("'s", "\u2019s", "'", "\u2019")
_UNSEEN = "unseen"
_ELISION = re.compile(r"^(?:l|d|qu|j|n|s|c)['\u2019](?=\w)")
# Short words that say which language a text is in (see `Linter._languages_of`).
_MARKERS: dict[str, tuple[str, ...]] = {
    "en": (" the ", " and "),
    "fr": (" les ", " des ", " une "),
}
# Sentence-initial capitals that are never a person, whatever the name lexicon says ("The" is a name there).
_FUNCTION_WORDS = frozenset(
    w
    for rs in RULE_SETS.values()
    for group in (
        rs.determiners, rs.clause_words, rs.pronouns, rs.plural_pronouns, rs.collective, rs.adverbs, rs.fillers
    )
    for w in group
)


def _unelided(word: str) -> str:
    return _ELISION.sub("", word) if "'" in word or "\u2019" in word else word


def _bare(token: str) -> str:
    if "'" not in token and "\u2019" not in token:
        return token
    for end in _POSSESSIVE_END:
        if token.endswith(end) and len(token) > len(end):
            return token[: -len(end)]
    return token


@dataclass(frozen=True)
class Person:
    spellings: tuple[str, ...]
    role: str | None


def roster(people: object) -> list[Person]:
    """The policy's `[[people]]` as spellings (name, aliases, first name, handle) and a role."""
    found: list[Person] = []
    if not isinstance(people, list):
        return found
    for entry in people:
        if not isinstance(entry, Mapping):
            continue
        name = " ".join(str(entry.get("name") or "").split())
        handle = str(entry.get("handle") or "").strip().lstrip("@")
        aliases = entry.get("aliases") if isinstance(entry.get("aliases"), list) else []
        roles = entry.get("roles") if isinstance(entry.get("roles"), list) else []
        spellings = [name, *(str(a) for a in aliases or [])]
        words = name.split()
        if len(words) > 1 and len(words[0]) > 2:
            spellings.append(words[0])
        if handle:
            spellings.append("@" + handle)
            if len(handle) >= 4:
                spellings.append(handle)
        role = str(roles[0]) if roles else None
        found.append(Person(tuple(dict.fromkeys(s for s in spellings if s.strip())), role))
    return found


def policy_services(policy: Mapping[str, Any]) -> set[str]:
    """The service catalogue a policy holds: the services its evidence sources are scoped to and the
    services its Prometheus queries are keyed by."""
    names: set[str] = set()
    evidence = policy.get("evidence") or {}
    if not isinstance(evidence, Mapping):
        return names
    for value in evidence.values():
        sources = value if isinstance(value, list) else [value]
        for source in sources:
            if isinstance(source, Mapping):
                names.update(str(s) for s in source.get("services") or [] if s)
                queries = source.get("queries")
                if isinstance(queries, Mapping):
                    names.update(str(k) for k in queries if k != "*")
    return names


@dataclass(frozen=True)
class Subject:
    kind: str
    start: int
    end: int
    text: str


@dataclass(frozen=True)
class Hit:
    rule: str
    start: int
    end: int
    message: str
    suggestion: str
    severity: Severity | None = None  # custom phrases carry their own
    why: str = ""  # what fired and why: `afterword lint --explain`
    text: str = ""  # the words, as written
    language: str = ""  # the rule set that fired ("en", "fr"); empty for names and the policy's phrases


_PRIORITY = {
    "root-cause": 0,
    "counterfactual": 1,
    "person-failure": 2,
    "vague-culprit": 3,
    "team-blame": 4,
    "naming": 4,
    "judgement": 6,
    "human-error": 6,
    "custom": 8,
}
_INDEPENDENT = frozenset({"judgement", "human-error", "custom"})  # they say something the others do not


_WORD_START = r"(?:\A|[^\w'\u2019-])"  # RE2's \w is ASCII: a non-ASCII letter passes, then `starts_word` refuses it
_NEVER = r"\b\B"  # matches nothing: a rule set without this kind of trigger
# "the API's error rate", "Postgres' error log": a system's metric, not a person's fault
_POSSESSIVE_SYSTEM = re.compile(
    r"\s+(?:rates?|budgets?|logs?|messages?|codes?|pages?|handling|counts?|paths?|spikes?|tolerance|domains?|"
    r"injection|detection|reporting|metrics?|responses?|states?|classes?|types?)\b",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class _Compiled:
    rules: RuleSet
    failure: Finder
    harm: Finder
    modal: Finder
    predicate: Finder
    attribution: Finder
    possessive: Finder
    omission: Finder
    had: Finder
    if_lead: Finder
    if_tail: re.Pattern[str]
    root_cause: Finder
    judgement: Finder
    human_error: Finder
    human_error_negated: re.Pattern[str]
    vague_alone: Finder
    # the triggers with few matches, a few kinds per pass (each RE2 pass costs ~5 ms/MB however few match);
    # kinds that can follow one another ("down to" + "user error") are in different passes
    rare: tuple[Finder, ...]


def _compile(rules: RuleSet, extra_judgement: Sequence[str]) -> _Compiled:
    def rx(source: str | None) -> Finder:
        # a word start, by Unicode (RE2's \b is ASCII-only): the character before is consumed, then skipped
        return Finder(_WORD_START + r"(?:" + (source or _NEVER) + r")")

    words = [*rules.judgement, *(r"\s+".join(re.escape(w) for w in word.split()) for word in extra_judgement)]
    return _Compiled(
        rules=rules,
        failure=rx(rules.failure),
        harm=rx(rules.harm),
        modal=rx(rules.modal),
        predicate=rx(rules.blame_predicate),
        attribution=rx(rules.attribution),
        possessive=Finder(r"(?:'s|\u2019s|s'|s\u2019)\s+(?:" + (rules.possessive or _NEVER) + ")"),
        omission=rx(rules.omission_tail),
        had=rx(rules.had_lead),
        if_lead=rx(rules.if_lead),
        if_tail=re.compile(r"\s*(?:" + rules.if_tail + ")", re.IGNORECASE),
        root_cause=rx(rules.root_cause),
        judgement=Finder(_WORD_START + r"(?:" + "|".join(words) + r")"),
        human_error=rx(rules.human_error),
        human_error_negated=re.compile(rules.human_error_negated, re.IGNORECASE),
        vague_alone=Finder(_WORD_START + r"(?:" + rules.vague_alone + r")"),
        rare=tuple(
            Finder(
                _WORD_START + "(?:" + "|".join("(" + _rare_source(rules, name, words) + ")" for name in group) + ")",
                capture=True,
            )
            for group in _RARE_PASSES
        ),
    )


# Trigger kinds scanned together (`_Compiled.rare`): each finds a few matches per MB.
_RARE_PASSES = (
    ("predicate", "attribution", "omission", "if_lead", "root_cause", "vague_alone"),
    ("judgement", "human_error"),
)
_RARE = frozenset(name for group in _RARE_PASSES for name in group)


def _rare_source(rules: RuleSet, name: str, judgement: Sequence[str]) -> str:
    sources = {
        "predicate": rules.blame_predicate,
        "attribution": rules.attribution,
        "omission": rules.omission_tail,
        "if_lead": rules.if_lead,
        "root_cause": rules.root_cause,
        "judgement": "|".join(judgement),
        "human_error": rules.human_error,
        "vague_alone": rules.vague_alone,
    }
    return sources[name] or _NEVER


class _Match:
    """A trigger's span in the masked text, with the accessors of `re.Match` the rules use."""

    __slots__ = ("_end", "_start", "_text")

    def __init__(self, text: str, start: int, end: int) -> None:
        self._text, self._start, self._end = text, start, end

    def start(self) -> int:
        return self._start

    def end(self) -> int:
        return self._end

    def group(self, index: int = 0) -> str:
        return self._text[self._start : self._end]


def _whole_word(text: str, start: int, end: int, anywhere: bool = False) -> _Match | None:
    """A trigger's match as a whole-word span: it begins after the non-word character its pattern consumed
    (`_WORD_START`) and ends before one (a trigger is words, not the start of a longer word). `anywhere`:
    the pattern is not word-led ("'s mistake")."""
    if not anywhere and start < end and not text[start].isalnum():
        start += 1
    while end > start and not text[end - 1].isalnum():
        end -= 1  # the non-word character a boundary consumed (see fast_regex)
    if end < len(text) and text[end].isalnum():
        return None
    if anywhere or starts_word(text, start):
        return _Match(text, start, end)
    return None


def _words_at(finder: Finder, doc: Prepared, anywhere: bool = False) -> Iterator[_Match]:
    text = doc.masked
    for start, end in finder.spans(doc.encoded or Encoded(text)):
        found = _whole_word(text, start, end, anywhere)
        if found is not None:
            yield found


class Linter:
    """Compiled once per policy and roster; `lint(text)` returns findings in document order."""

    def __init__(
        self,
        policy: LanguagePolicy,
        people: Sequence[Person] = (),
        services: Iterable[str] = (),
        names: NameLexicon | None = None,
    ) -> None:
        self.policy = policy
        self.people = list(people)
        self.names = names or lexicon()
        self._spelling_role: dict[str, str | None] = {}
        for person in self.people:
            for spelling in person.spellings:
                self._spelling_role.setdefault(" ".join(spelling.split()).lower(), person.role)
        roster_words = sorted(self._spelling_role, key=len, reverse=True)
        self._roster_rx = (
            Finder(r"(?:" + "|".join(r"\s+".join(re.escape(w) for w in s.split()) for s in roster_words) + r")")
            if roster_words
            else None
        )
        self.not_people = {" ".join(n.name.split()).lower(): n.reason for n in policy.not_people}
        self.services = {s.lower() for s in services}
        self._system_words = frozenset(KNOWN_SYSTEMS | self.services | set(self.not_people))
        self._sets = [_compile(RULE_SETS[code], policy.judgement_words) for code in dict.fromkeys(policy.languages)]
        self._custom = [
            (p, re.compile(p.regex(), re.IGNORECASE))
            for p in policy.phrases
            if p.language is None or p.language in policy.languages
        ]
        self._exceptions = [(e, re.compile(e.regex(), re.IGNORECASE)) for e in policy.exceptions]
        self._allow = (
            re.compile("|".join(re.escape(a) for a in sorted(policy.allowlist, key=len, reverse=True)), re.IGNORECASE)
            if policy.allowlist
            else None
        )
        self._row_sections = [s for c in self._sets for s in c.rules.timeline_sections]
        self._kinds: dict[str, str | None] = {}  # capitalised word -> its lexical kind, for every document
        self._settings: dict[str, tuple[bool, Severity]] = {rule: policy.setting(rule) for rule in LANGUAGE_RULES}

    # -- who is this? -----------------------------------------------------------------------------------

    def _is_system(self, word: str, doc: Prepared) -> bool:
        low = word.lower()
        return low in self._system_words or low in doc.system_words

    def _capitalised_kind(self, word: str, doc: Prepared) -> str | None:
        bare = _bare(word)
        kind = self._kinds.get(bare, _UNSEEN)
        if kind is _UNSEEN:
            if len(self._kinds) > 200_000:  # a bound for archive-wide scans of many documents
                self._kinds.clear()
            kind = self._kinds[bare] = self._lexical_kind(bare)
        if kind is None or self._is_system(bare, doc):
            return None
        return kind

    def _lexical_kind(self, bare: str) -> str | None:
        """What a capitalised word is, by itself: a first name, an ambiguous one, an unknown word, or nothing."""
        if len(bare) < 2 or not bare[0].isupper() or bare.lower() in _FUNCTION_WORDS:
            return None
        if bare.isupper() and len(bare) > 1:
            return None  # DNS, API, SRE: acronyms (the roles among them are looked up in lower case)
        kind = self.names.kind(bare)
        if kind is not None:
            return kind
        if len(bare) < 3 or self.names.is_word(bare) or not bare.replace("-", "").isalpha():
            return None
        if any(c.isupper() for c in bare[1:]):
            return None  # CamelCase: GitHub, PagerDuty, CloudFront
        return "unknown"

    def _classify(self, tokens: Sequence[tuple[str, int, int]], doc: Prepared, rs: RuleSet) -> Subject | None:
        """The noun phrase that ends with the last token, if it is a person: what kind, and where it starts."""
        word, start, end = tokens[-1]
        bare = _bare(word)
        low = _unelided(bare.lower())  # "l'ing\u00e9nieur" is "ing\u00e9nieur"
        if low in rs.collective:
            return None
        if word.startswith("@"):
            return Subject("handle", start, end, word)
        if "@" in word and "." in word.split("@", 1)[1]:
            return Subject("email", start, end, word)
        if self._spelling_role:  # roster spellings may be several words ("Alice Example")
            for size in (3, 2, 1) if word[:1].isupper() else (1,):
                if len(tokens) >= size:
                    phrase = " ".join(_bare(t[0]) for t in tokens[-size:]).lower()
                    if phrase in self._spelling_role:
                        return Subject("roster", tokens[-size][1], end, doc.text[tokens[-size][1] : end])
        if low in rs.vague_people:
            return Subject("vague", start, end, word)
        if low in rs.pronouns:
            return Subject("pronoun", start, end, word)
        singular = low[:-1] if low.endswith("s") else low
        if low in rs.roles or low in rs.teams or singular in rs.roles:
            kind = "team" if low in rs.teams else "role"
            if low in rs.vague_roles:
                kind = "vague"
            first = len(tokens) - 1
            index = first - 1
            while index >= 0 and first - index <= 4:
                before = _unelided(_bare(tokens[index][0]).lower())
                if before in rs.determiners:
                    first = index
                    if before in ("some", "any") or before == "one":
                        kind = "vague"
                    index -= 1
                    if index >= 1 and tokens[index][0].lower() in _PREPOSITIONS:
                        owner = tokens[index - 1][0].lower()
                        if owner in rs.vague_people or owner == "one":
                            first, kind = index - 1, "vague"  # "someone on the payments team"
                    break
                if before in _PREPOSITIONS:
                    if index >= 1 and (tokens[index - 1][0].lower() in rs.vague_people):
                        first, kind = index - 1, "vague"  # "somebody in ops"
                    break
                if before in rs.clause_words or before in rs.adverbs or before in rs.collective:
                    break
                if before in rs.vague_modifiers:
                    kind = "vague"
                first = index
                index -= 1
            s = tokens[first][1]
            return Subject(kind, s, end, doc.text[s:end])
        name_kind = self._capitalised_kind(word, doc)
        if name_kind is None:
            return None
        if len(tokens) >= 2:
            before_word = tokens[-2][0]
            if _bare(before_word).lower() in rs.determiners:
                return None  # "the Jane service", "our Hermes": a thing, not a person
            before_kind = self._capitalised_kind(before_word, doc) if before_word[:1].isupper() else None
            if before_kind is not None and not before_word.endswith(_POSSESSIVE_END):
                s = tokens[-2][1]
                known = name_kind == "name" or before_kind in ("name", "ambiguous")
                full = "fullname" if known or "unknown" not in (name_kind, before_kind) else "unknown-full"
                return Subject(full, s, end, doc.text[s:end])
        return Subject(name_kind, start, end, word)

    def _tokens(self, doc: Prepared, start: int, end: int) -> list[tuple[str, int, int]]:
        return [(m.group(0), m.start(), m.end()) for m in _TOKEN.finditer(doc.masked, start, end)]

    def _sentence_start(self, doc: Prepared, end: int) -> int:
        """Where the sentence (or clause, list item, table cell, paragraph) holding `end` starts, at most 240
        characters back. A few `rfind`s over the window: cheaper than a boundary pattern over the document,
        whose tables alone hold tens of thousands of cells per MB."""
        text = doc.masked
        low = max(0, end - 240)
        # one search over the window read backwards finds the nearest separator
        found = _REVERSED_SEPARATOR.search(text[low:end][::-1])
        cut = end - found.start() if found else low
        line_end = end
        for _ in range(4):  # the lines the window reaches: a blank line, a list item or a heading starts a block
            line_start = text.rfind("\n", low, line_end) + 1
            if line_start <= cut:
                break
            block = _BLOCK_START.match(text, line_start, line_end)
            if block is not None:
                cut = max(cut, block.end())
                break
            if line_start <= low + 1:
                break
            previous = text.rfind("\n", low, line_start - 1) + 1
            if not text[previous : line_start - 1].strip():
                cut = max(cut, line_start)  # the line before is blank: a new paragraph
                break
            line_end = line_start - 1
        return cut

    def _sentence_end(self, doc: Prepared, start: int, limit: int = 160) -> int:
        text = doc.masked
        end = min(len(text), start + limit)
        for separator in _SEPARATORS:
            at = text.find(separator, start + 1, end)
            if at >= 0:
                end = at
        return end

    def _subject(self, doc: Prepared, end: int, rs: RuleSet) -> Subject | None:
        """The subject of a verb that starts at `end`, when it is a person or a role."""
        sentence = self._sentence_start(doc, end)
        comma = doc.masked.rfind(",", sentence, end)
        tokens = self._tokens(doc, comma + 1 if comma >= 0 else sentence, end)
        while tokens and tokens[-1][0].lower() in rs.adverbs:
            tokens.pop()
        if len(tokens) >= 2 and [t[0].lower() for t in tokens[-2:]] in (["on", "call"], ["on", "duty"]):
            tokens = tokens[:-2]
        if not tokens:
            # "Zofia, who was on call, missed ...": the verb follows a parenthetical
            return self._opening(doc, sentence, end, rs) if comma >= 0 else None
        last = tokens[-1][0].lower()
        if last in rs.joiners and len(tokens) > 1:
            return self._opening(doc, sentence, end, rs)
        if last in rs.clause_words:
            return None
        found = self._classify(tokens, doc, rs)
        if found is None and last in rs.plural_pronouns:
            opening = self._opening(doc, sentence, end, rs)
            if opening is not None and opening.kind in ("role", "team", "vague", "roster", "name", "fullname"):
                return Subject("pronoun", tokens[-1][1], tokens[-1][2], tokens[-1][0])
        return found

    def _opening(self, doc: Prepared, start: int, end: int, rs: RuleSet) -> Subject | None:
        """The noun phrase a sentence opens with: "The new hire ...", "Sarah ...", "The network team ..."."""
        tokens = [t for t in self._tokens(doc, start, min(end, start + 120)) if t[0].lower() not in rs.adverbs]
        return self._np_in(tokens[:6], doc, rs)

    def _np_in(self, tokens: Sequence[tuple[str, int, int]], doc: Prepared, rs: RuleSet) -> Subject | None:
        for size in range(1, len(tokens) + 1):
            head = tokens[size - 1][0]
            if head.lower() in rs.clause_words and size > 1:
                return None
            found = self._classify(tokens[:size], doc, rs)
            if found is not None:
                if size < len(tokens) and tokens[size][0][:1].isupper():
                    longer = self._classify(tokens[: size + 1], doc, rs)
                    if longer is not None and longer.start == found.start:
                        return longer  # "Lena Fischer", not "Lena"
                return found
        return None

    def _np_after(self, doc: Prepared, start: int, rs: RuleSet, limit: int = 4) -> Subject | None:
        """The person a phrase names right after `start` ("Root cause: the contractor ...")."""
        lead = _LEAD.match(doc.masked, start)
        start = lead.end() if lead else start
        end = self._sentence_end(doc, start)
        tokens = self._tokens(doc, start, end)
        while tokens and tokens[0][0].lower() in rs.fillers:
            tokens.pop(0)
        return self._np_in(tokens[:limit], doc, rs)

    # -- the rules ---------------------------------------------------------------------------------------

    def _triggers(self, doc: Prepared, c: _Compiled, name: str) -> list[_Match]:
        """The whole-word matches of one kind of trigger (`_words_at`); the rare kinds come from one shared
        pass, split by the group that matched."""
        if name not in _RARE:
            return list(_words_at(getattr(c, name), doc))
        key = (c.rules.code, name)
        if key not in doc.triggers:
            text = doc.masked
            buckets: dict[str, list[tuple[int, int]]] = {kind: [] for kind in _RARE}
            for kinds, finder in zip(_RARE_PASSES, c.rare, strict=True):
                for start, end, group in finder.alternatives(doc.encoded or Encoded(text)):
                    if group:
                        buckets[kinds[group - 1]].append((start, end))
            for kind, spans in buckets.items():
                doc.triggers[(c.rules.code, kind)] = spans
        return [m for m in (_whole_word(doc.masked, s, e) for s, e in doc.triggers[key]) if m is not None]

    def _subjects_before(
        self, doc: Prepared, matches: Iterable[_Match], rs: RuleSet, accepted: frozenset[str]
    ) -> Iterator[tuple[_Match, Subject]]:
        """Each trigger whose subject (the noun phrase before it) is a person of an accepted kind."""
        for m in matches:
            subject = self._subject(doc, m.start(), rs)
            if subject is not None and subject.kind in accepted:
                yield m, subject

    def _people_after(
        self, doc: Prepared, matches: Iterable[_Match], rs: RuleSet, accepted: frozenset[str]
    ) -> Iterator[tuple[_Match, Subject]]:
        """Each label or phrase followed by a person of an accepted kind ("Root cause: the contractor")."""
        for m in matches:
            subject = self._np_after(doc, m.end(), rs)
            if subject is not None and subject.kind in accepted:
                yield m, subject

    def _structural(self, doc: Prepared, c: _Compiled) -> Iterator[Hit]:
        rs = c.rules
        text = doc.masked
        lang = rs.code

        def who(subject: Subject) -> str:
            return f'"{subject.text}" is {_DESCRIBE[subject.kind]}'

        def hit(rule: str, start: int, end: int, message: str, why: str, suggest: str | None = None) -> Hit:
            return Hit(rule, start, end, message, _SUGGEST[suggest or rule], why=why, language=lang)

        for m, subject in self._subjects_before(doc, self._triggers(doc, c, "failure"), rs, _WEAK):
            yield hit("person-failure", subject.start, m.end(),
                f'makes a person the subject of a failure ("{subject.text} {m.group(0)}")',
                f'failure or omission verb "{m.group(0)}" with a person as its subject: {who(subject)}')
        for m in self._triggers(doc, c, "omission"):
            sentence = self._sentence_start(doc, m.start())
            person = self._opening(doc, sentence, m.start(), rs)
            if person is None or person.kind not in _STRONG:
                continue
            yield hit("person-failure", person.start, person.end,
                f'puts an omission on a person ("{person.text} ... {m.group(0)}")',
                f'"{m.group(0)}" about the sentence\'s person, and {who(person)}')
        for m in self._triggers(doc, c, "harm"):
            if doc.in_row(m.start()):
                continue  # a timeline row records what was done; only judging words are findings there
            person = self._subject(doc, m.start(), rs)
            if person is None or person.kind not in _HARM_OK:
                continue
            if person.kind in _NAMED:
                rule = "naming"
                message = f'names a person as the cause ("{person.text} {m.group(0)}")'
            elif person.kind == "vague":
                rule = "vague-culprit"
                message = f'blames a vague culprit ("{person.text} {m.group(0)}")'
            else:
                rule = "team-blame"
                message = f'makes a person or team the cause ("{person.text} {m.group(0)}")'
            section = doc.section_at(m.start())
            if section is not None and section_key(section.title) in rs.root_cause_sections:
                rule = "root-cause"
                message = f'gives a person as the root cause ("{person.text} {m.group(0)}")'
            yield hit(rule, person.start, m.end(),
                message,
                f'harmful action "{m.group(0)}" with a person as its agent: {who(person)}')
        for m, subject in self._subjects_before(doc, self._triggers(doc, c, "modal"), rs, _WEAK):
            yield hit("counterfactual", subject.start, m.end(),
                f'counterfactual about a person ("{subject.text} {m.group(0)}")',
                f'"{m.group(0)}" with a person as its subject: {who(subject)}')
        for m in self._triggers(doc, c, "had"):
            before = m.start() - 1
            while before >= 0 and text[before] in " \t\n":
                before -= 1
            if before >= 0 and (text[before].isalnum() or text[before] in "'\u2019"):
                continue  # "the cache had expired": "Had" opens a counterfactual only at the start of a clause
            sentence = self._sentence_start(doc, m.start())
            comma = text.rfind(",", sentence, m.start())
            if self._tokens(doc, max(sentence, comma + 1), m.start()):
                continue  # "Had" opens a counterfactual only at the start of a clause
            person = self._np_after(doc, m.end(), rs, limit=3)
            if person is None or person.kind not in _WEAK:
                continue
            yield hit("counterfactual", m.start(), person.end,
                f'counterfactual about a person ("{text[m.start() : person.end]}")',
                f'"Had ..." opening a clause about a person: {who(person)}')
        for m in self._triggers(doc, c, "if_lead"):
            person = self._np_after(doc, m.end(), rs, limit=4)
            if person is None or person.kind not in _WEAK or not c.if_tail.match(text, person.end):
                continue
            tail = c.if_tail.match(text, person.end)
            end = tail.end() if tail else person.end
            yield hit("counterfactual", m.start(), end,
                f'counterfactual about a person ("{text[m.start() : end]}")',
                f'"if ... had" about a person: {who(person)}')
        for m, subject in self._people_after(doc, self._triggers(doc, c, "root_cause"), rs, _WEAK):
            yield hit("root-cause", subject.start, subject.end,
                f'gives a person as the root cause ("{text[m.start() : subject.end].strip()}")',
                f'root-cause label "{m.group(0).strip()}" followed by a person: {who(subject)}')
        for m, subject in self._people_after(doc, self._triggers(doc, c, "attribution"), rs, _STRONG):
            rule = "naming" if subject.kind in _NAMED else "team-blame"
            yield Hit(
                rule,
                m.start(),
                subject.end,
                f'assigns blame to a person ("{text[m.start() : subject.end]}")'
                if rule == "naming"
                else f'assigns blame to a role or team ("{text[m.start() : subject.end]}")',
                _SUGGEST["naming" if rule == "naming" else "team-blame"],
                why=f'blame phrase "{m.group(0).strip()}" followed by a person: {who(subject)}',
                language=lang,
            )
        for m, subject in self._subjects_before(doc, self._triggers(doc, c, "predicate"), rs, _STRONG):
            rule = "naming" if subject.kind in _NAMED else "team-blame"
            yield hit(rule, subject.start, m.end(),
                f'assigns blame ("{subject.text} {m.group(0).strip()}")',
                f'"{m.group(0).strip()}" said of a person: {who(subject)}', suggest="team-blame")
        for m in _words_at(c.possessive, doc, anywhere=True):
            if _POSSESSIVE_SYSTEM.match(text, m.end()):
                continue
            person = self._subject(doc, m.start() + (0 if m.group(0)[0] in "'\u2019" else 1), rs)
            if person is None or person.kind not in _WEAK:
                continue
            rule = "team-blame" if person.kind in ("role", "team", "vague") else "naming"
            yield Hit(
                rule,
                person.start,
                m.end(),
                f'puts the blame on a person ("{text[person.start : m.end()]}")',
                "describe the conditions that made the failure possible, not whose it was",
                why=f'possessive of a fault ("{m.group(0).strip()}") owned by a person: {who(person)}',
                language=lang,
            )
        for m in self._triggers(doc, c, "vague_alone"):
            yield hit("vague-culprit", m.start(), m.end(),
                f'points at a culprit without naming what happened ("{m.group(0)}")',
                f'"{m.group(0)}" looks for someone to hold responsible')

    def _words_rules(self, doc: Prepared, c: _Compiled) -> Iterator[Hit]:
        text = doc.masked
        for m in self._triggers(doc, c, "judgement"):
            word = " ".join(m.group(0).split())
            yield Hit(
                "judgement",
                m.start(),
                m.end(),
                f'judgement word ("{word}")',
                _SUGGEST["judgement"],
                why=f'"{word}" judges a person or their work',
                language=c.rules.code,
            )
        for m in self._triggers(doc, c, "human_error"):
            if c.human_error_negated.search(text, max(0, m.start() - 24), m.start()):
                continue
            yield Hit(
                "human-error",
                m.start(),
                m.end(),
                f'"{m.group(0)}" given as a cause: it ends the analysis where it should start',
                _SUGGEST["human-error"],
                why=f'"{m.group(0)}" names a person\'s error as the cause',
                language=c.rules.code,
            )

    def _mentions(self, doc: Prepared) -> Iterator[Hit]:
        """People named in prose (not in rows, where who did what is recorded)."""
        text = doc.masked
        if self._roster_rx is not None:
            for m in _words_at(self._roster_rx, doc):
                after = text[m.end() : m.end() + 2]
                if m.start() and text[m.start() - 1] in "@.":
                    continue
                if after[:1].isalnum() or after[:1] in "_-" or (after[:1] in ".@" and after[1:2].isalnum()):
                    continue  # part of a longer word, an address or a host name
                if doc.in_row(m.start()):
                    continue
                role = self._spelling_role.get(" ".join(m.group(0).split()).lower())
                replacement = f'"the {role.replace("-", " ")}"' if role else "the person's role"
                yield Hit(
                    "naming",
                    m.start(),
                    m.end(),
                    f'names a person ("{m.group(0)}")',
                    f"refer to the role instead, e.g. {replacement}",
                    why=f'"{m.group(0)}" is a person on the policy\'s roster',
                )
        at = text.find("@")
        while at >= 0:
            after_at = at + 1
            local = _LOCAL_PART.match(text[max(0, at - 64) : at][::-1])
            local_part = local.group(0)[::-1] if local else ""
            start = at - len(local_part)
            if local_part and not (start and (text[start - 1].isalnum() or text[start - 1] in "_.+-")):
                domain = _DOMAIN.match(text, after_at)
                parts = re.split(r"[._+-]", local_part)
                personal = any(self.names.kind(p.capitalize()) is not None for p in parts if len(p) > 1)
                personal = personal or bool(_INITIAL_DOT.match(local_part))
                if domain and local_part[0].isalpha() and not doc.in_row(start) and personal:
                    address = text[start : domain.end()]
                    yield Hit(
                        "naming",
                        start,
                        domain.end(),
                        f"names a person by e-mail address ({address})",
                        _SUGGEST["naming"],
                        why=f"{address} is an e-mail-like handle with a first name in it",
                    )
                # an address without a person's name in it (oncall@, alerts@) is a contact, not blame
            elif not local_part and not (at and (text[at - 1].isalnum() or text[at - 1] in "/.@")):
                handle = _HANDLE.match(text, after_at)
                if handle and not doc.in_row(at):
                    yield Hit(
                        "naming",
                        at,
                        handle.end(),
                        f"mentions a person ({text[at : handle.end()]})",
                        _SUGGEST["naming"],
                        why=f"{text[at : handle.end()]} is an @handle",
                    )
            at = text.find("@", after_at)
        # Classify each distinct capitalised token once (findall runs in C), then visit only the occurrences of
        # the tokens that are names: a few dozen per document, among tens of thousands of capitalised words.
        kinds: dict[str, tuple[str, str]] = {}
        for token in set(_CAPITALISED.findall(text)):
            word = _bare(token)
            kind = None if word.lower() in self._spelling_role else self._capitalised_kind(word, doc)
            if kind == "name" or kind == "ambiguous":
                kinds[token] = (word, kind)
        if not kinds:
            return
        finder = Finder("|".join(re.escape(t) for t in sorted(kinds, key=len, reverse=True)), ignore_case=False)
        size = len(text)
        for start, stop in finder.spans(doc.encoded or Encoded(text)):
            if start and (text[start - 1].isalnum() or text[start - 1] in "@./#'\u2019-_"):
                continue
            if stop < size and (text[stop].isalnum() or text[stop] in "_'\u2019-"):
                continue  # part of a longer capitalised word
            word, kind = kinds[text[start:stop]]
            if doc.in_row(start):
                continue
            before = text[max(0, start - 12) : start].split()
            if before and before[-1].lower() in ("the", "a", "an", "our", "their", "le", "la", "les", "notre"):
                continue
            end = start + len(word)
            following = _TOKEN.match(text, end + 1) if end < len(text) and text[end] == " " else None
            if following is not None and following.group(0)[:1].isupper():
                surname = _bare(following.group(0))
                if self._capitalised_kind(surname, doc) in ("name", "unknown"):
                    end = following.start() + len(surname)  # a full name: "Marta Kowalski"
            if kind == "ambiguous" and end == start + len(word):
                if following is None:
                    continue
                verb = following.group(0).lower()
                if not ((_PAST.match(verb) and verb not in _NOT_PAST) or verb in RULE_SETS["en"].past_irregular):
                    continue  # "Will", "Grace period", "May traffic": a person only when they act
            what = "a full name" if end > start + len(word) else _DESCRIBE[kind]
            yield Hit(
                "naming",
                start,
                end,
                f'names a person ("{text[start:end]}")',
                _SUGGEST["naming"],
                why=f'"{text[start:end]}" is {what}',
            )

    def _custom_phrases(self, doc: Prepared) -> Iterator[Hit]:
        for phrase, regex in self._custom:
            for m in regex.finditer(doc.masked):
                if m.end() > m.start():
                    yield Hit(
                        "custom",
                        m.start(),
                        m.end(),
                        f'{phrase.message} ("{m.group(0)}")',
                        phrase.suggestion or "reword it",
                        phrase.severity,
                        why=f'the policy\'s phrase {phrase.phrase or phrase.pattern!r}'
                        + (f": {phrase.reason}" if phrase.reason else ""),
                    )

    def _setting(self, rule: str) -> tuple[bool, Severity]:
        return self._settings.get(rule, (True, "warning"))

    # -- putting it together -----------------------------------------------------------------------------

    def prepare(self, text: str) -> Prepared:
        doc = prepare(text, self.policy.skip_sections, self._row_sections)
        if self._allow is not None:
            doc.masked = self._allow.sub(lambda m: " " * len(m.group(0)), doc.masked)
            doc.encoded = Encoded(doc.masked)
        return doc

    def hits(self, text: str) -> list[Hit]:
        if not self.policy.enabled:
            return []
        doc = self.prepare(text)
        produced: list[Hit] = []
        for compiled in self._languages_of(doc):
            produced.extend(self._structural(doc, compiled))
            produced.extend(self._words_rules(doc, compiled))
        produced.extend(self._mentions(doc))
        produced.extend(self._custom_phrases(doc))
        return self._resolve(doc, produced)

    def _languages_of(self, doc: Prepared) -> list[_Compiled]:
        """The rule sets for the languages a document is written in: each language's commonest short words
        counted (C-speed `str.count`); a language with under 5% of them is not run, unless its section names
        are there ("Chronologie"). Too few words to tell: every configured language."""
        if len(self._sets) == 1:
            return self._sets
        text = doc.masked
        counts = [sum(text.count(marker) for marker in _MARKERS.get(c.rules.code, ())) for c in self._sets]
        total = sum(counts)
        if total < 3:
            return self._sets
        titles = {section_key(s.title) for s in doc.sections}
        return [
            c
            for c, count in zip(self._sets, counts, strict=True)
            if count >= 0.05 * total or titles & (c.rules.timeline_sections | c.rules.root_cause_sections)
        ]

    def _resolve(self, doc: Prepared, produced: list[Hit]) -> list[Hit]:
        """One finding per blaming phrase (the most specific rule wins), spans made exact, exceptions applied."""
        excepted = [(e, m.span()) for e, rx in self._exceptions for m in rx.finditer(doc.masked) if m.end() > m.start()]
        produced.sort(key=lambda h: (_PRIORITY.get(h.rule, 5), h.start, -h.end))
        taken: list[tuple[int, int]] = []  # structural spans, sorted
        per_rule: dict[str, list[tuple[int, int]]] = {}
        found: list[Hit] = []
        for hit in produced:
            if not self._setting(hit.rule)[0]:
                continue
            hit = self._exact(doc, hit)
            if hit.end <= hit.start:
                continue
            if any(
                (not e.rules or hit.rule in e.rules) and s < hit.end and hit.start < t for e, (s, t) in excepted
            ):
                continue
            same = per_rule.setdefault(hit.rule, [])
            if _overlaps(same, hit.start, hit.end):
                continue
            if hit.rule not in _INDEPENDENT:
                if _overlaps(taken, hit.start, hit.end):
                    continue
                bisect.insort(taken, (hit.start, hit.end))
            bisect.insort(same, (hit.start, hit.end))
            found.append(hit)
        found.sort(key=lambda h: (h.start, h.end))
        return found

    def _exact(self, doc: Prepared, hit: Hit) -> Hit:
        """Keep a span on one line and on words that are really there: a span that crosses a line break keeps
        the line of its end (the verb, for a wrapped sentence); masked characters inside end it."""
        start, end = hit.start, hit.end
        words = doc.masked[start:end]
        if doc.text[start:end] == words and "\n" not in words and words and words[-1] not in " \t":
            return replace(hit, text=words)
        newline = doc.masked.rfind("\n", start, end)
        if newline >= 0:
            line_end = doc.masked.find("\n", newline + 1, end)
            start = newline + 1 if line_end < 0 else start
            while start < end and doc.masked[start] in " \t":
                start += 1
        original, masked = doc.text[start:end], doc.masked[start:end]
        if original != masked:
            cut = next(i for i, (a, b) in enumerate(zip(original, masked, strict=True)) if a != b)
            end = start + len(masked[:cut].rstrip())
        while end > start and doc.masked[end - 1] in " \t":
            end -= 1
        return replace(hit, start=start, end=end, text=doc.text[start:end])

    def located(self, text: str) -> list[tuple[Finding, Hit]]:
        """Each finding with the hit it came from (for --explain)."""
        hits = self.hits(text)
        newlines = [m.start() for m in re.finditer("\n", text)] if hits else []
        out: list[tuple[Finding, Hit]] = []
        for hit in hits:
            line_index = bisect.bisect_left(newlines, hit.start)
            line_start = newlines[line_index - 1] + 1 if line_index else 0
            out.append(
                (
                    Finding(
                        gate="language",
                        rule=hit.rule,
                        severity=hit.severity or self._setting(hit.rule)[1],
                        message=hit.message,
                        line=line_index + 1,
                        column=hit.start - line_start + 1,
                        end_column=hit.end - line_start + 1,
                        suggestion=hit.suggestion,
                    ),
                    hit,
                )
            )
        return out

    def lint(self, text: str) -> list[Finding]:
        return [finding for finding, _ in self.located(text)]


def linter_for(policy: Mapping[str, Any] | None) -> Linter:
    """The linter for a whole-policy dict (`rules.policy`): its `[language]`, roster and service catalogue."""
    policy = policy or {}
    return Linter(
        LanguagePolicy.model_validate(policy.get("language") or {}),
        roster(policy.get("people")),
        policy_services(policy),
    )


def lint(text: str, policy: Mapping[str, Any] | None = None) -> list[Finding]:
    return linter_for(policy).lint(text)


def _overlaps(spans: list[tuple[int, int]], start: int, end: int) -> bool:
    """Whether [start, end) overlaps one of the sorted, disjoint `spans` (a bisect: a long document's
    thousands of findings must not be compared pairwise)."""
    i = bisect.bisect_left(spans, (start, start))
    return (i > 0 and spans[i - 1][1] > start) or (i < len(spans) and spans[i][0] < end)
