"""The blameless-language lint: rule-based, pure, fast.

Postmortems stay useful only when people can describe what they did without fear, so wording that
blames is a finding: naming people, judgement words, "human error" as a cause, counterfactuals about
what someone should have done, a person or role as the subject of a failure, blame put on a team.
System-focused sentences ("the load balancer failed to drain connections") are not findings: the
failure rules look at the subject of the verb and only fire when it is a person, a role or a team.

Not linted: code (fenced blocks, `inline`), link targets, HTML comments, Markdown blockquotes (`>`
lines) and "quoted text", which the author marks as someone's words. Timeline rows and other table
rows (lines starting with a time, or `|`) record who did what; they are exempt from the naming and
role rules, but judgement words and counterfactuals are still findings there.

The text is masked, not cut: masked characters become spaces, so offsets in the masked text are
offsets in the original and every finding has an exact line and column.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from afterword.policies.gates_schema import LANGUAGE_RULES, LanguagePolicy, Severity
from afterword.workflows.models import Finding


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


# --- vocabularies -----------------------------------------------------------------------------------

JUDGEMENT_WORDS: tuple[str, ...] = (
    r"careless(?:ly|ness)?",
    r"negligen(?:t|tly|ce)",
    r"sloppy",
    r"sloppi(?:ly|ness)",
    r"lazy",
    r"lazi(?:ly|ness)",
    r"incompeten(?:t|ce|tly)",
    r"stupid(?:ly|ity)?",
    r"dumb",
    r"reckless(?:ly|ness)?",
    r"irresponsibl[ey]",
    r"inexcusabl[ey]",
    r"foolish(?:ly)?",
    r"idiot(?:ic|s)?",
    r"clueless",
    r"thoughtless(?:ly)?",
    r"bonehead(?:ed)?",
    r"boneheaded",
    r"blunder(?:ed|s)?",
    r"inattentive",
    r"amateurish",
    r"half-assed",
    r"unprofessional(?:ly)?",
    r"should have known better",
    r"dropped the ball",
    r"asleep at the wheel",
    r"rookie mistake",
    r"(?:made|makes|making) (?:a|an|another|the|this|that) (?:\w+ )?mistake",
    r"mistake (?:by|of)",
    r"(?:his|her|their|my|your) (?:own )?(?:mistake|fault|error|blunder|oversight)",
)
PERSON_NOUNS = _words(
    """engineer engineers developer developers dev devs operator operators admin admins administrator
    administrators sre sres dba dbas on-call oncall on-caller on-callers intern interns hire hires junior juniors
    contractor contractors employee employees staff person someone somebody nobody everyone anyone user users
    reviewer reviewers author authors owner manager managers lead tester testers analyst architect responder
    responders commander colleague colleagues teammate teammates coworker coworkers programmer programmers
    he she they i we you him her them guy guys newbie newcomer trainee"""
)
TEAM_NOUNS = _words("team teams squad squads department departments devops ops qa folks crew")
ADVERBS = _words(
    """also then again just simply accidentally mistakenly inadvertently unfortunately clearly apparently
    obviously still never somehow once later quickly repeatedly"""
)
CLAUSE_WORDS = _words(
    """and but because when while so after before since as although though if that which who where then
    until unless or"""
)
_AMBIGUOUS_NAMES = _words(
    "Will Mark Grant May June April Bill Rob Pat Sue Art Jack Frank Hope Faith Grace Joy Rose Dawn Summer Guy "
    "Drew Chase Max Page Sky Ray Dean Gene Lane Miles Rich Amber Ruby Julia Crystal Iris Ivy Lily Olive Chip "
    "Buck Hunter Sandy Penny Holly Melody Carol Christian Jordan Austin Taylor Morgan Casey Riley Quinn Avery "
    "Hugo Oscar"
)
COMMON_FIRST_NAMES = _words(
    """James John Robert Michael David Richard Joseph Thomas Charles Daniel Matthew Anthony Donald Steven Paul
    Andrew Joshua Kenneth Kevin Brian George Timothy Ronald Jason Edward Jeffrey Ryan Jacob Gary Nicholas Eric
    Jonathan Stephen Larry Justin Scott Brandon Benjamin Samuel Gregory Alexander Patrick Jack Dennis Jerry
    Tyler Aaron Jose Adam Nathan Henry Zachary Douglas Peter Kyle Noah Ethan Jeremy Walter Christian Keith
    Roger Terry Austin Sean Gerald Carl Harold Dylan Arthur Lawrence Jordan Jesse Bryan Billy Bruce Gabriel
    Joe Logan Alan Juan Albert Willie Elijah Wayne Randy Vincent Mary Patricia Jennifer Linda Elizabeth
    Barbara Susan Jessica Sarah Karen Lisa Nancy Betty Sandra Margaret Ashley Kimberly Emily Donna Michelle
    Carol Amanda Melissa Deborah Stephanie Dorothy Rebecca Sharon Laura Cynthia Amy Kathleen Angela Shirley
    Brenda Emma Anna Pamela Nicole Samantha Katherine Christine Helen Debra Rachel Carolyn Janet Maria
    Catherine Heather Diane Olivia Julie Joyce Victoria Ruth Virginia Lauren Kelly Christina Joan Evelyn
    Judith Andrea Hannah Megan Cheryl Jacqueline Martha Madison Teresa Gloria Sara Janice Ann Kathryn Abigail
    Sophia Frances Jean Alice Judy Isabella Julia Beverly Denise Marilyn Amber Danielle Brittany Diana
    Natalie Sophie Bob Dave Mike Tom Tim Jim Steve Chris Matt Dan Ben Nick Alex Sam Tony Jake Josh Kate Liz
    Jen Meg Priya Raj Rahul Amit Wei Li Ming Chen Yuki Hiroshi Kenji Olga Ivan Dmitri Sergei Fatima Ahmed
    Mohammed Omar Ali Hassan Lars Sven Anders Pierre Jean Luca Marco Giulia Carlos Miguel Diego Sofia Ana
    Lucia Mateo Hugo Chloe Zoe Mia Leo Finn Oscar Ella Grace Lily Ava Nora Ravi Sanjay Deepak Anil Sunil
    Kwame Ama Kofi Chidi Ngozi Tunde Femi Aisha Zara Yusuf Mehmet Ayse Emre Kai Noor Leila Reza Dara Erin
    Morgan Casey Taylor Jamie Riley Quinn Avery Bruno Emeka Farah Goran Hana Jonas Keiko Lena Bjorn"""
)
_PLAIN_FIRST_NAMES = COMMON_FIRST_NAMES - _AMBIGUOUS_NAMES
_DETERMINERS = _words("the a an our this that their its one another some every each new old")
_NOT_NAMES = _words(
    """The This That These Those It Its We Our Us They Their He She His Her A An In On At By For From To Of
    After Before During When While If Then So But And Or As Because Since Until Once Also Each Every All
    Some No None Nothing Everything There Here What Which Who Why How Monday Tuesday Wednesday Thursday
    Friday Saturday Sunday January February March April May June July August September October November
    December UTC"""
)

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
}

# --- masking ----------------------------------------------------------------------------------------

_FENCE = re.compile(r"^[ \t]{0,3}(`{3,}|~{3,})")
_TIME_ROW = re.compile(r"^[ \t]*(?:[-*+][ \t]+)?(?:\*\*)?(?:\d{4}-\d{2}-\d{2}[ T]?)?\d{1,2}:\d{2}\b")
_BLOCK_START = re.compile(r"^[ \t]*(?:#{1,6}[ \t]|[-*+][ \t]|\d+[.)][ \t]|\||>|$)")
_INLINE_MASKS = re.compile(
    r"`+[^`\n]*`+"  # inline code
    r"|<!--[\s\S]*?-->"  # HTML comments
    r"|\]\([^)\s]*\)"  # link targets
    r"|https?://\S+"  # bare URLs
    r"|[\w.+-]+@[\w-]+(?:\.[\w-]+)+"  # e-mail addresses: contact details, not wording
    r"|\"[^\"\n]{1,400}\"|\u201c[^\u201d\n]{1,400}\u201d"  # quotes the author marks
)


def _blank(text: str) -> str:
    return "".join("\n" if c == "\n" else " " for c in text)


@dataclass(frozen=True)
class Masked:
    """The document with unlintable parts blanked; `prose` also blanks table and timeline rows."""

    full: str
    prose: str


def mask(text: str, skip_sections: Sequence[str] = ()) -> Masked:
    lines = text.split("\n")
    full: list[str] = []
    prose: list[str] = []
    fence: str | None = None
    skipping = False
    skip = {s.strip().lower() for s in skip_sections}
    for index, line in enumerate(lines):
        opener = _FENCE.match(line)
        if fence is not None:
            if opener and opener.group(1)[0] == fence[0] and len(opener.group(1)) >= len(fence):
                fence = None
            full.append(" " * len(line))
            prose.append(" " * len(line))
            continue
        if opener:
            fence = opener.group(1)
            full.append(" " * len(line))
            prose.append(" " * len(line))
            continue
        heading = re.match(r"^[ \t]{0,3}#{1,6}[ \t]+(.*?)[ \t#]*$", line)
        if heading:
            skipping = heading.group(1).strip().lower() in skip
        if skipping or re.match(r"^[ \t]{0,3}>", line):
            full.append(" " * len(line))
            prose.append(" " * len(line))
            continue
        full.append(line)
        is_row = line.lstrip().startswith("|") or bool(_TIME_ROW.match(line))
        prose.append(" " * len(line) if is_row else line)
        # A newline inside a paragraph is a space; one before a new block is a clause boundary (\x1f).
        if index + 1 < len(lines) and _BLOCK_START.match(lines[index + 1]):
            full[-1] += "\x1f"
            prose[-1] += "\x1f"
        else:
            full[-1] += " "
            prose[-1] += " "
    joined_full = "".join(full)[: len(text)]
    joined_prose = "".join(prose)[: len(text)]
    return Masked(_mask_inline(joined_full), _mask_inline(joined_prose))


def _mask_inline(text: str) -> str:
    return _INLINE_MASKS.sub(lambda m: _blank(m.group(0)), text)


# --- the linter -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Person:
    spellings: tuple[str, ...]
    role: str | None


def roster(people: object) -> list[Person]:
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


@dataclass(frozen=True)
class Hit:
    rule: str
    start: int
    end: int
    message: str
    suggestion: str
    severity: Severity | None = None  # custom phrases carry their own


_W = r"[A-Za-z][\w'-]*"
_FAILURE = (
    r"(?:failed|forgot|neglected|omitted|refused|didn't bother|did not bother|bothered) to\b|forgot\b|overlooked\b"
    r"|ignored\b|missed\b|messed up\b|screwed up\b|botched\b|did(?:n't| not) (?:check|test|follow|read|verify|"
    r"review|look|bother)\b|never (?:checked|tested|bothered|verified)\b"
)
_BLAME_ACTION = (
    r"(?:broke|dropped|wiped|took down|brought down|corrupted|truncated|overwrote|caused|misconfigured|"
    r"messed up|screwed up|botched|pushed (?:a |an |the )?(?:bad|broken|faulty|buggy|wrong))\b"
)
_COUNTERFACTUAL = r"(?:should|could|would|ought to|must)(?:n't| not)? have\b|should've\b|could've\b"
_HUMAN_ERROR = re.compile(
    r"\b(?:human|operator|user|engineer|pilot|personnel|manual|people|staff|individual)[ -](?:error|mistake|"
    r"failure|fault)s?\b",
    re.IGNORECASE,
)
_HUMAN_ERROR_NEGATED = re.compile(
    r"(?:\bnot|\bnever|rather than|instead of|\bno|\bisn't|\bwasn't)\s+(?:a\s+)?$", re.IGNORECASE
)
_POSSESSIVE_BLAME = re.compile(
    r"\b(" + _W + r"(?:\s+" + _W + r")?)(?:'s|s')\s+(?:own\s+)?(?:fault|mistake|error|blunder|screw-?up|oversight|"
    r"negligence|carelessness|bad)\b"
    # "the API's error rate", "Postgres' error log", "the zone's fault domain" describe systems
    r"(?!\s+(?:logs?|rates?|messages?|budgets?|codes?|pages?|handling|counts?|paths?|spikes?|tolerance|"
    r"domains?|injection|detection|reporting|metrics?|responses?|states?))",
    re.IGNORECASE,
)
_BLAME_WORDS = re.compile(
    r"\b(?:fault of|blame (?:lies with|goes to|is on|on)|to blame|is to blame|are to blame|blamed?|"
    r"because of|caused by|thanks to)\s+(?:the\s+)?(" + _W + r"(?:\s+" + _W + r")?)",
    re.IGNORECASE,
)
_BLAME_PREDICATE = re.compile(
    r"\b(?:is|are|was|were)\s+(?:to\s+blame|at\s+fault|(?:solely\s+)?responsible\s+for\s+(?:the|this)\s+"
    r"(?:outage|incident|failure|breakage|mess))\b",
    re.IGNORECASE,
)
_IF_HAD = re.compile(r"\bif\s+(?:only\s+)?(" + _W + r"(?:\s+" + _W + r"){0,2}?)\s+had(?:n't)?\b", re.IGNORECASE)
# A capitalised word that is a common first name, unless it is also an everyday word or a product name
# ("Grace period", "Will", "Julia" the language); matched against COMMON_FIRST_NAMES at run time.
_FIRST_NAME = re.compile(r"(?<![\w@.#/-])([A-Z][a-z]{2,})(?:'s)?(?![\w@-]|\.\w)")
_MENTION = re.compile(r"(?<![\w.@/])@([A-Za-z0-9][\w.-]*[A-Za-z0-9]|[A-Za-z0-9])")


def _name_position(text: str, name: str, before: int) -> int:
    """Where the subject `name` of a verb at `before` is written (the finding points at the name)."""
    found = text.rfind(name, max(0, before - 160), before)
    return found if found >= 0 else before


class Linter:
    """Compiled once per policy and roster; `lint(text)` returns findings in document order."""

    def __init__(self, policy: LanguagePolicy, people: Sequence[Person] = ()) -> None:
        self.policy = policy
        self.people = list(people)
        self._spelling_role: dict[str, str | None] = {}
        for person in self.people:
            for spelling in person.spellings:
                self._spelling_role.setdefault(spelling.lower(), person.role)
        roster_words = sorted(self._spelling_role, key=len, reverse=True)
        self._roster_rx = (
            re.compile(
                r"(?<![\w@.-])(?:"
                + "|".join(r"\s+".join(re.escape(w) for w in s.split()) for s in roster_words)
                + r")(?![\w-]|[.@]\w)",
                re.IGNORECASE,
            )
            if roster_words
            else None
        )
        words = list(JUDGEMENT_WORDS) + [re.escape(w) for w in policy.judgement_words]
        self._judgement = re.compile(r"\b(?:" + "|".join(words) + r")\b", re.IGNORECASE)
        self._failure = re.compile(r"\b(?:" + _FAILURE + r")", re.IGNORECASE)
        self._blame_action = re.compile(r"\b" + _BLAME_ACTION, re.IGNORECASE)
        self._counterfactual = re.compile(r"\b(?:" + _COUNTERFACTUAL + r")", re.IGNORECASE)
        self._custom = [(p, re.compile(p.regex(), re.IGNORECASE)) for p in policy.phrases]
        self._allow = (
            re.compile("|".join(re.escape(a) for a in sorted(policy.allowlist, key=len, reverse=True)), re.IGNORECASE)
            if policy.allowlist
            else None
        )

    # -- subject analysis --

    def _subject(self, text: str, end: int) -> tuple[str, str] | None:
        """The head of the noun phrase right before `end`, and its kind: name, person, team or None.

        "X deleted the bucket and caused ..." has its subject at the start of the sentence, so a verb
        right after "and"/"then" takes the sentence's opening noun phrase instead.
        """
        window = text[max(0, end - 160) : end]
        sentence = re.split(r"[.!?;:()\x1f\[\]]|\s-\s|\s\u2014\s", window)[-1]
        clause = sentence.split(",")[-1]
        tokens = re.findall(r"[A-Za-z@][\w'@.-]*", clause)
        while tokens and tokens[-1].lower() in ADVERBS:
            tokens.pop()
        if len(tokens) >= 2 and [t.lower() for t in tokens[-2:]] in (["on", "call"], ["on", "duty"]):
            tokens = tokens[:-2]
        if not tokens:
            return None
        if tokens[-1].lower() in ("and", "then", "but") and len(tokens) > 1:
            return self._opening_subject(re.findall(r"[A-Za-z@][\w'@.-]*", sentence))
        found = self._head(tokens)
        if found is not None and found[0].lower() in ("they", "them"):
            # "The pods restarted, but they failed to ...": "they" is whatever the sentence opened with
            opening = re.findall(r"[A-Za-z@][\w'@.-]*", sentence)
            if opening and opening[0].lower() in _DETERMINERS and self._opening_subject(opening) is None:
                return None
        return found

    def _head(self, tokens: list[str]) -> tuple[str, str] | None:
        for size in (3, 2, 1):  # roster spellings may be several words
            phrase = " ".join(tokens[-size:])
            if len(tokens) >= size and phrase.lower() in self._spelling_role:
                return phrase, "name"
        head = tokens[-1]
        bare = head.lower().removesuffix("'s").removesuffix("s'")
        if head.startswith("@"):
            return head, "name"
        if bare in CLAUSE_WORDS:
            return None
        if head.removesuffix("'s") in COMMON_FIRST_NAMES:
            return head, "name"
        if bare in TEAM_NOUNS or (bare.endswith("s") and bare[:-1] in {"dba", "sre", "admin", "operator"}):
            return head, "team"
        if bare in PERSON_NOUNS:
            return head, "person"
        return None

    def _opening_subject(self, tokens: list[str]) -> tuple[str, str] | None:
        """The noun phrase a sentence opens with: "The new hire ...", "Sarah ...", "The network team ..."."""
        words = [t for t in tokens[:5] if t.lower() not in ADVERBS]
        for size in (3, 2, 1):
            if len(words) >= size and " ".join(words[:size]).lower() in self._spelling_role:
                return " ".join(words[:size]), "name"
        if words and words[0] in COMMON_FIRST_NAMES:
            return words[0], "name"
        for index, word in enumerate(words[:4]):
            found = self._head(words[: index + 1])
            if found is not None:
                return found
            if word.lower() not in _DETERMINERS and index > 0:
                break
        return None

    def _kind_of(self, phrase: str) -> str | None:
        """What a short phrase after "blame goes to", "fault of", "if ... had" names."""
        words = re.findall(r"[A-Za-z@][\w'@.-]*", phrase)
        if not words:
            return None
        found = self._head(words) or self._opening_subject(words)
        if found is not None:
            return found[1]
        first = words[0].removesuffix("'s")
        if first[:1].isupper() and first not in _NOT_NAMES and len(words) == 1:
            return "name"
        return None

    # -- the rules --

    def _naming(self, m: Masked) -> Iterator[Hit]:
        text = m.prose
        if self._roster_rx is not None:
            for match in self._roster_rx.finditer(text):
                role = self._spelling_role.get(" ".join(match.group(0).split()).lower())
                replacement = f'"the {role.replace("-", " ")}"' if role else "the person's role"
                yield Hit(
                    "naming",
                    match.start(),
                    match.end(),
                    f'names a person ("{match.group(0)}")',
                    f"refer to the role instead, e.g. {replacement}",
                )
        for match in _POSSESSIVE_BLAME.finditer(text):
            owner = match.group(1)
            kind = self._kind_of(owner)
            last = owner.split()[-1]
            if kind is None and last[:1].isupper() and last not in _NOT_NAMES:
                kind = "name"  # "X's mistake": whoever X is, the sentence blames them
            # point at the owner ("Bob"), not at a word the two-word capture took before it ("was")
            at = match.start(1) if owner[:1].isupper() else match.start(1) + owner.rfind(last)
            if kind in ("name", "person"):
                yield Hit(
                    "naming",
                    at,
                    match.end(),
                    f'puts the blame on a person ("{text[at : match.end()]}")',
                    "describe the conditions that made the failure possible, not whose it was",
                )
            elif kind == "team":
                yield Hit(
                    "team-blame",
                    at,
                    match.end(),
                    f'puts the blame on a team ("{text[at : match.end()]}")',
                    _SUGGEST["team-blame"],
                )
        for match in _MENTION.finditer(text):
            if self._roster_rx is not None and self._roster_rx.fullmatch(match.group(0)):
                continue
            yield Hit("naming", match.start(), match.end(), f"mentions a person ({match.group(0)})", _SUGGEST["naming"])
        for match in _FIRST_NAME.finditer(text):
            if match.group(1) not in _PLAIN_FIRST_NAMES or match.group(1).lower() in self._spelling_role:
                continue  # roster people are reported above, with their role
            yield Hit(
                "naming", match.start(1), match.end(1), f'names a person ("{match.group(1)}")', _SUGGEST["naming"]
            )

    def _verb_rules(self, m: Masked) -> Iterator[Hit]:
        for match in self._failure.finditer(m.full):
            subject = self._subject(m.full, match.start())
            if subject is None:
                continue
            head, kind = subject
            if kind == "person" and head.lower() == "we" and match.group(0).lower().startswith("missed"):
                continue
            if m.prose[match.start()] == " ":  # a table or timeline row: who did what is recorded there
                continue
            if kind == "name":
                at = _name_position(m.full, head, match.start())
                yield Hit(
                    "naming",
                    at,
                    at + len(head),
                    f'names a person as the subject of a failure ("{head} {match.group(0)}")',
                    _SUGGEST["person-failure"],
                )
            elif kind == "team":
                yield Hit(
                    "team-blame",
                    match.start(),
                    match.end(),
                    f'puts a failure on a team ("{head} {match.group(0)}")',
                    _SUGGEST["team-blame"],
                )
            else:
                yield Hit(
                    "person-failure",
                    match.start(),
                    match.end(),
                    f'makes a person the subject of a failure ("{head} {match.group(0)}")',
                    _SUGGEST["person-failure"],
                )
        for match in self._blame_action.finditer(m.prose):
            subject = self._subject(m.prose, match.start())
            if subject is None:
                continue
            head, kind = subject
            if kind == "name":
                at = _name_position(m.prose, head, match.start())
                yield Hit(
                    "naming",
                    at,
                    at + len(head),
                    f'names a person as the cause ("{head} {match.group(0)}")',
                    _SUGGEST["team-blame"],
                )
            elif kind in ("team", "person") and head.lower() not in ("we", "i", "you"):
                yield Hit(
                    "team-blame",
                    match.start(),
                    match.end(),
                    f'blames a role or team ("{head} {match.group(0)}")',
                    _SUGGEST["team-blame"],
                )
        for match in _BLAME_PREDICATE.finditer(m.prose):
            subject = self._subject(m.prose, match.start())
            if subject is not None:
                rule = "naming" if subject[1] == "name" else "team-blame"
                yield Hit(
                    rule,
                    match.start(),
                    match.end(),
                    f'assigns blame ("{subject[0]} {match.group(0)}")',
                    _SUGGEST["team-blame"],
                )
        for match in _BLAME_WORDS.finditer(m.prose):
            owner_kind = self._kind_of(match.group(1))
            if owner_kind in ("team", "person"):
                yield Hit(
                    "team-blame",
                    match.start(),
                    match.end(),
                    f'assigns blame ("{match.group(0)}")',
                    _SUGGEST["team-blame"],
                )
            elif owner_kind == "name":
                yield Hit(
                    "naming",
                    match.start(),
                    match.end(),
                    f'assigns blame to a person ("{match.group(0)}")',
                    _SUGGEST["naming"],
                )

    def _counterfactuals(self, m: Masked) -> Iterator[Hit]:
        for match in self._counterfactual.finditer(m.full):
            subject = self._subject(m.full, match.start())
            if subject is None or subject[1] not in ("name", "person", "team"):
                continue
            yield Hit(
                "counterfactual",
                match.start(),
                match.end(),
                f'counterfactual about a person ("{subject[0]} {match.group(0)}")',
                _SUGGEST["counterfactual"],
            )
        for match in _IF_HAD.finditer(m.full):
            kind = self._kind_of(match.group(1))
            if kind in ("name", "person", "team"):
                yield Hit(
                    "counterfactual",
                    match.start(),
                    match.end(),
                    f'counterfactual about a person ("{match.group(0)}")',
                    _SUGGEST["counterfactual"],
                )

    def _judgement_words(self, m: Masked) -> Iterator[Hit]:
        for match in self._judgement.finditer(m.full):
            word = " ".join(match.group(0).split())
            yield Hit("judgement", match.start(), match.end(), f'judgement word ("{word}")', _SUGGEST["judgement"])

    def _human_error(self, m: Masked) -> Iterator[Hit]:
        for match in _HUMAN_ERROR.finditer(m.full):
            if _HUMAN_ERROR_NEGATED.search(m.full[max(0, match.start() - 20) : match.start()]):
                continue
            yield Hit(
                "human-error",
                match.start(),
                match.end(),
                f'"{match.group(0)}" given as a cause: it ends the analysis where it should start',
                _SUGGEST["human-error"],
            )

    def _custom_phrases(self, m: Masked) -> Iterator[Hit]:
        for phrase, regex in self._custom:
            for match in regex.finditer(m.full):
                if match.end() > match.start():
                    yield Hit(
                        "custom",
                        match.start(),
                        match.end(),
                        f'{phrase.message} ("{match.group(0)}")',
                        phrase.suggestion or "reword it",
                        phrase.severity,
                    )

    def _setting(self, rule: str) -> tuple[bool, Severity]:
        for known in LANGUAGE_RULES:
            if known == rule:
                return self.policy.setting(known)
        return True, "warning"

    def hits(self, text: str) -> list[Hit]:
        masked = mask(text, self.policy.skip_sections)
        if self._allow is not None:
            masked = Masked(
                self._allow.sub(lambda x: _blank(x.group(0)), masked.full),
                self._allow.sub(lambda x: _blank(x.group(0)), masked.prose),
            )
        produced: list[Iterable[Hit]] = [
            self._verb_rules(masked),  # first: a name as the subject of a failure says more than a mention
            self._naming(masked),
            self._counterfactuals(masked),
            self._judgement_words(masked),
            self._human_error(masked),
        ]
        found: list[Hit] = []
        taken: dict[str, list[tuple[int, int]]] = {}  # per rule: spans already reported, sorted, disjoint
        for hits in produced:
            for hit in hits:
                if not self._setting(hit.rule)[0]:
                    continue
                spans = taken.setdefault(hit.rule, [])
                if _overlaps(spans, hit.start, hit.end):
                    continue  # one finding per blaming phrase: the more specific rule ran first
                bisect.insort(spans, (hit.start, hit.end))
                found.append(hit)
        found.extend(self._custom_phrases(masked))
        found.sort(key=lambda h: (h.start, h.end))
        return found

    def lint(self, text: str) -> list[Finding]:
        if not self.policy.enabled:
            return []
        findings: list[Finding] = []
        line, line_start, cursor = 1, 0, 0
        for hit in self.hits(text):
            newlines = text.count("\n", cursor, hit.start)
            if newlines:
                line += newlines
                line_start = text.rfind("\n", cursor, hit.start) + 1
            cursor = hit.start
            severity = hit.severity or self._setting(hit.rule)[1]
            findings.append(
                Finding(
                    gate="language",
                    rule=hit.rule,
                    severity=severity,
                    message=hit.message,
                    line=line,
                    column=hit.start - line_start + 1,
                    suggestion=hit.suggestion,
                )
            )
        return findings


def linter_for(policy: Mapping[str, Any] | None) -> Linter:
    policy = policy or {}
    return Linter(LanguagePolicy.model_validate(policy.get("language") or {}), roster(policy.get("people")))


def lint(text: str, policy: Mapping[str, Any] | None = None) -> list[Finding]:
    return linter_for(policy).lint(text)


def _overlaps(spans: list[tuple[int, int]], start: int, end: int) -> bool:
    """Whether [start, end) overlaps one of the sorted, disjoint `spans` (a bisect: a long document's
    thousands of findings must not be compared pairwise)."""
    i = bisect.bisect_left(spans, (start, start))
    return (i > 0 and spans[i - 1][1] > start) or (i < len(spans) and spans[i][0] < end)
