"""The blameless-language rule sets, one per language: the words and phrasings each rule looks for.

A `RuleSet` holds only vocabulary (regular-expression fragments and word sets); the engine in
`gates/lint.py` is the same for every language: it finds a trigger (a failure verb, a counterfactual, a
root-cause label, ...) and then asks who the subject is, a person or a system. English is complete;
French covers the common patterns, and an organisation adds its own phrases per language in `[language]`.
"""

from __future__ import annotations

from dataclasses import dataclass


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


@dataclass(frozen=True)
class RuleSet:
    code: str  # "en", "fr"
    # after a subject: omission and failure ("forgot", "did not check"), harm ("deleted", "took down"),
    # counterfactual modals ("should have"), blame predicates ("is to blame")
    failure: str
    harm: str
    modal: str
    blame_predicate: str
    # before a person: "caused by", "the fault of", "down to"
    attribution: str
    # after "X's": "mistake", "typo" (English); French says "l'erreur de X", which is an attribution
    possessive: str | None
    # an omission at the end of a clause, about the clause's opening subject: "X merged it without a review"
    omission_tail: str
    # a clause opening a counterfactual about its subject: "Had X ...", and "if X had ..." (lead, tail)
    had_lead: str | None
    if_lead: str
    if_tail: str
    root_cause: str  # "Root cause:", "The root cause was"
    judgement: tuple[str, ...]
    human_error: str
    human_error_negated: str  # "not", "rather than" right before it: the author rules it out
    vague_alone: str  # words that point at a culprit wherever they stand ("whoever")
    roles: frozenset[str]  # nouns for a person by role
    vague_roles: frozenset[str]  # roles that only say "some person" ("intern", "new hire")
    vague_modifiers: frozenset[str]  # "a junior engineer", "some developer"
    teams: frozenset[str]
    vague_people: frozenset[str]  # "someone", "nobody"
    pronouns: frozenset[str]  # people: "he", "she"
    plural_pronouns: frozenset[str]  # "they": a person only when the sentence opened with one
    collective: frozenset[str]  # "we", "I": the authors speaking for themselves are not blamed
    determiners: frozenset[str]
    clause_words: frozenset[str]  # words that end a subject looking backwards ("because", "when")
    joiners: frozenset[str]  # "and", "then": the verb shares the sentence's first subject
    adverbs: frozenset[str]  # skipped between a subject and its verb
    fillers: frozenset[str]  # skipped after "Root cause:" ("simply", "that")
    past_irregular: frozenset[str]  # past tenses without -ed, for "Sam ran ..." (a name doing something)
    timeline_sections: frozenset[str]
    root_cause_sections: frozenset[str]


_PERSONAL = r"(?:his|her|their|my|your)"

ENGLISH = RuleSet(
    code="en",
    failure=(
        r"(?:failed|forgot|neglected|omitted|refused|didn't\s+bother|did\s+not\s+bother|bothered|"
        r"was\s+supposed|were\s+supposed|needed)\s+to\b"
        r"|(?:forgot|forgotten|overlooked|ignored|disregarded|missed|skipped|neglected|omitted|misread|"
        r"misjudged|mistyped|fat-fingered|messed\s+up|screwed\s+up|botched|left\s+out)\b"
        r"|(?:did(?:n't|\s+not)|never|wouldn't|would\s+not|couldn't\s+be\s+bothered\s+to)\s+"
        r"(?:check|checked|test|tested|verify|verified|follow|followed|read|notice|noticed|escalate|escalated|"
        r"acknowledge|acknowledged|bother|bothered|confirm|confirmed|review|reviewed|look|looked|monitor|"
        r"monitored|update|updated|tell|told|notify|notified|ask|asked|wait|waited|validate|validated|"
        r"coordinate|coordinated|announce|announced|document|documented|report|reported|run|ran|respond|"
        r"responded|double-check|double-checked|pay\s+attention|answer|answered|hand\s+over|handed\s+over)\b"
    ),
    harm=(
        r"(?:broke|deleted|dropped|wiped|erased|purged|destroyed|corrupted|truncated|overwrote|overwritten|"
        r"caused|misconfigured|crashed|overloaded|force-pushed|"
        r"hard-coded|hardcoded|leaked|exposed|nuked|trashed)\b"
        r"|(?:took|brought|knocked|shut|turned)\s+(?:down|out|off|over)\b"
        # routine work too ("removed the temporary rule"), harm only when the sentence says so
        r"|(?:removed|revoked|killed|flushed|disabled|purged|reset|stopped|deleted)\s+(?:[\w-]+\s+){0,4}?"
        r"(?:by\s+mistake|by\s+accident|wrong|whole|entire|every|all|production|prod)\b"
        r"|(?:locked)\s+out\b"
        r"|(?:pushed|shipped|deployed|released|merged|committed|applied|ran|introduced|installed|let)\s+"
        r"(?:a\s+|an\s+|the\s+)?(?:bad|broken|faulty|buggy|wrong|untested|unreviewed|incorrect)\b"
        r"|(?:pushed|deployed|merged)\s+(?:straight|directly|without)\b"
        r"|(?:ran|typed|restarted|rebooted|rotated|selected|tagged|edited|changed|reverted|pointed|scaled|"
        r"cleared|copied|applied|targeted|picked|chose|used|opened|closed|stopped|started|updated)\s+"
        r"(?:(?:the|a|an|every|all|his|her|their|its)\s+)?(?:[\w-]+\s+){0,4}?(?:wrong|whole|entire)\b"
        r"|(?:committed|pasted|hard-?coded|leaked|posted|shared|published)\s+(?:(?:the|a|an|our|his|her|their)\s+)?"
        r"(?:[\w-]+\s+){0,2}?(?:credentials?|secrets?|passwords?|api\s+keys?|tokens?|private\s+keys?)\b"
        r"|approved\s+(?:his|her|their)\s+own\b"
        r"|(?:ran|applied|deployed|pushed|copied|executed)\s+(?:(?:the|a|an|his|her|their)\s+)?(?:[\w-]+\s+){0,3}?"
        r"(?:against|to|in|into|on)\s+(?:production|prod|all\s+regions|every\s+region)\b"
        r"|(?:flipped|turned\s+off|switched\s+off|disabled|silenced|muted)\s+(?:(?:the|a|an|every|all)\s+)?"
        r"(?:[\w-]+\s+){0,2}?(?:kill\s+switch|alerts?|alerting|monitoring|backups?|health\s+checks?|pager)\b"
        r"|(?:made)\s+(?:the\s+outage|it|things|matters|the\s+incident)\s+worse\b"
        r"|(?:introduced)\s+(?:the|a)\s+(?:regression|bug|outage)\b"
    ),
    modal=(
        r"(?:should|could|would|ought\s+to|must|might)(?:n't|\s+not|\s+never)?\s+have\b"
        r"|should've|could've|would've|shouldn't've|must've"
    ),
    blame_predicate=(
        r"(?:is|are|was|were)\s+(?:(?:entirely|solely|fully|clearly|directly)\s+)?(?:to\s+blame|at\s+fault|"
        r"responsible\s+for\s+(?:the|this|that|our)\s+(?:\w+\s+)?(?:outage|incident|failure|breakage|mess|"
        r"loss|downtime|problem|data\s+loss|corruption))\b"
    ),
    attribution=(
        r"(?:(?:entirely\s+|largely\s+|mostly\s+)?(?:down\s+to|due\s+to|because\s+of|caused\s+by|triggered\s+by|"
        r"introduced\s+by|attributable\s+to|thanks\s+to|traces?\s+back\s+to|traced\s+back\s+to|blamed\s+on|"
        r"the\s+fault\s+of|the\s+doing\s+of|the\s+work\s+of|started\s+by|put\s+(?:this|it|that)(?:\s+one)?\s+on|"
        r"(?:is|was)\s+on)"
        r"|(?:fault|blame|responsibility)\s+(?:\w+\s+){0,3}?(?:lies|lay|is|was|rests|falls|fell|goes|went)\s+"
        r"(?:with|on|to)"
        r"|(?:fault|blame)\s+(?:on|with)"
        r"|(?:the\s+)?(?:fault|blame)\s+(?:was|is)\s+(?:with|on))\s+"
    ),
    possessive=(
        r"(?:own\s+)?(?:(?:bad|wrong|sloppy|botched|careless|hasty|rushed|silly|stupid|dumb|untested)\s+)?"
        r"(?:mistakes?|fault|errors?|blunders?|oversights?|slip(?:-up)?s?|lapses?|missteps?|typos?|"
        r"carelessness|negligence|screw-?ups?|misconfigurations?|doing|goofs?|fat[- ]finger(?:ing)?|"
        r"bad\s+(?:merge|call|change|deploy|command|commit|push|decision)|wrong\s+(?:command|change|call)|"
        r"botched\s+\w+|sloppy\s+\w+)"
        r"\b"
    ),
    omission_tail=(
        r"without\s+(?:a\s+|an\s+|any\s+)?(?:review|reviews|reviewing|approval|ticket|tests?|testing|checking|"
        r"asking|telling|waiting|reading|confirmation|a\s+dry\s+run|backups?|permission|a\s+second\s+pair)\b"
    ),
    had_lead=r"had\s+",
    if_lead=r"if\s+(?:only\s+)?",
    if_tail=r"(?:had(?:n't|\s+not|\s+never)?|would\s+have)\b",
    root_cause=(
        r"(?:(?:the\s+)?(?:root|primary|underlying|real|main|contributing|proximate|actual|direct)\s+causes?"
        r"(?:\s+of\s+(?:this|the|our)\s+(?:\w+\s+)?(?:incident|outage|failure|problem|issue))?"
        r"|(?:the\s+)?cause\s+of\s+(?:this|the|our)\s+(?:\w+\s+)?(?:incident|outage|failure|problem|issue)"
        r"|\bcause|what\s+caused\s+(?:it|this|the\s+outage))"
        r"\s*(?:[:\u2014\u2013]|\s-\s|\s(?:was|is|turned\s+out\s+to\s+be|seems\s+to\s+be|appears\s+to\s+be)\b)"
    ),
    judgement=(
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
        r"foolish(?:ly|ness)?",
        r"idiot(?:ic|s)?",
        r"clueless",
        r"thoughtless(?:ly|ness)?",
        r"bone-?head(?:ed)?",
        r"blunder(?:ed|s)?",
        r"inattentive",
        r"amateurish",
        r"half-assed",
        r"unprofessional(?:ly)?",
        r"should\s+have\s+known\s+better",
        r"dropped\s+the\s+ball",
        r"asleep\s+at\s+the\s+wheel",
        r"rookie\s+(?:mistake|error|move)",
        r"(?:was|were)(?:n't|\s+not)\s+paying\s+attention",
        r"(?:made|makes|making)\s+(?:a|an|another|the|this|that)\s+(?:\w+\s+)?mistake",
        r"mistake\s+(?:by|of)",
        _PERSONAL + r"\s+(?:own\s+)?(?:mistake|fault|error|blunder|oversight)",
    ),
    human_error=(
        r"(?:human|operator|user|engineer|pilot|personnel|manual|people|staff|individual|employee)[ -]"
        r"(?:error|mistake|failure|fault|slip)s?"
    ),
    human_error_negated=r"(?:\bnot|\bnever|rather\s+than|instead\s+of|\bno|\bisn't|\bwasn't|\bwithout)\s+(?:an?\s+|just\s+)?$",
    vague_alone=r"whoever|whomever",
    roles=_words(
        """engineer engineers developer developers dev devs operator operators admin admins administrator
        administrators sre sres dba dbas on-call oncall on-caller on-callers intern interns hire hires junior
        juniors contractor contractors consultant consultants employee employees staffer staffers person
        reviewer reviewers author authors manager managers lead leads tester testers analyst analysts
        architect architects responder responders commander commanders colleague colleagues teammate
        teammates coworker coworkers co-worker co-workers programmer programmers newbie newbies newcomer
        newcomers trainee trainees starter starters temp temps technician technicians guy guys member
        members specialist specialists coder coders maintainer maintainers approver approvers"""
    ),
    vague_roles=_words(
        "intern interns hire hires newbie newcomer trainee trainees starter starters temp temps guy guys"
    ),
    vague_modifiers=_words("some new junior outside summer random certain one"),
    teams=_words("team teams squad squads department departments devops ops qa crew folks vendor vendors"),
    vague_people=_words("someone somebody anyone anybody nobody whoever whomever"),
    pronouns=_words("he she him her"),
    plural_pronouns=_words("they them"),
    collective=_words("we us i you me"),
    determiners=_words("the a an our this their its his her my your one another some every each any"),
    clause_words=_words(
        """and but because when while so after before since as although though if that which who whom where
        then until unless or once than whether why how what"""
    ),
    joiners=_words("and then but also"),
    adverbs=_words(
        """also then again just simply accidentally mistakenly inadvertently unfortunately clearly apparently
        obviously still never somehow once later quickly repeatedly allegedly probably immediately finally
        already initially actually really basically honestly frankly even only manually personally"""
    ),
    fillers=_words("simply that just probably clearly basically really essentially ultimately actually was is"),
    past_irregular=_words(
        """ran took made wrote put set shut sent left let cut hit built broke drove gave got went did told
        brought bought caught chose dug drew fed felt fought found flew forgot froze held hid kept knew laid
        led lent lost meant met paid quit read rode rang rose saw sold shook shot sang sank sat slept slid
        spoke spent split spread stood stole stuck struck swore swept swam threw understood woke wore won
        wound overwrote undid upset withdrew"""
    ),
    timeline_sections=_words("timeline") | frozenset({"timeline of events", "sequence of events", "events"}),
    root_cause_sections=frozenset(
        {"root cause", "root causes", "root cause analysis", "causes", "cause", "contributing factors"}
    ),
)

FRENCH = RuleSet(
    code="fr",
    failure=(
        r"(?:a|ont|avait|avaient)\s+(?:oubli\u00e9|n\u00e9glig\u00e9|omis|ignor\u00e9|rat\u00e9|manqu\u00e9|"
        r"saut\u00e9|zapp\u00e9|mal\s+lu)\b"
        r"|(?:oublie|n\u00e9glige|ignore)\s+(?:de|d')"
        r"|n'(?:a|ont|avait|avaient)\s+(?:pas|jamais|rien)\s+(?:v\u00e9rifi\u00e9|test\u00e9|suivi|lu|relu|"
        r"regard\u00e9|pr\u00e9venu|signal\u00e9|escalad\u00e9|confirm\u00e9|surveill\u00e9|attendu|"
        r"r\u00e9pondu|valid\u00e9|contr\u00f4l\u00e9|pris\s+la\s+peine)\b"
        r"|(?:a|ont)\s+\u00e9chou\u00e9\s+\u00e0\b"
    ),
    harm=(
        r"(?:a|ont)\s+(?:cass\u00e9|supprim\u00e9|effac\u00e9|d\u00e9truit|corrompu|\u00e9cras\u00e9|"
        r"provoqu\u00e9|caus\u00e9|mal\s+configur\u00e9|d\u00e9sactiv\u00e9|arr\u00eat\u00e9\s+le\s+mauvais|"
        r"red\u00e9marr\u00e9\s+le\s+mauvais|fait\s+tomber|plant\u00e9|vid\u00e9|tu\u00e9)\b"
        r"|(?:a|ont)\s+(?:d\u00e9ploy\u00e9|pouss\u00e9|livr\u00e9|fusionn\u00e9)\s+(?:\w+\s+){0,2}?"
        r"(?:sans|d\u00e9fectueu\w*|bogu\u00e9\w*|non\s+test\u00e9\w*|en\s+production)"
    ),
    modal=(
        r"(?:aurait|auraient|aurais)\s+(?:d\u00fb|pu)\b"
        r"|n'(?:aurait|auraient)\s+(?:pas|jamais)\s+(?:d\u00fb|pu)\b"
        r"|(?:devait|devaient)\s+(?:v\u00e9rifier|tester|pr\u00e9venir|surveiller|valider|relire|suivre)\b"
    ),
    blame_predicate=r"(?:est|sont|\u00e9tait|\u00e9taient)\s+(?:\u00e0\s+bl\u00e2mer|fautifs?|fautives?|responsables?\s+de\s+(?:la|cette|l')\s*(?:panne|incident|perte))\b",
    attribution=(
        r"(?:(?:\u00e0\s+cause|par\s+la\s+faute|la\s+faute|faute)\s+(?:de\s+la\s+|de\s+l'|de\s+|du\s+|des\s+|d')"
        r"|(?:l'|une\s+|la\s+)?(?:erreur|faute|oubli|n\u00e9gligence|b\u00e9vue|boulette|maladresse)\s+"
        r"(?:de\s+la\s+|de\s+l'|de\s+|du\s+|des\s+|d')"
        r"|(?:caus\u00e9e?s?|provoqu\u00e9e?s?|d\u00e9clench\u00e9e?s?)\s+par\s+"
        r"|(?:imputable|attribuable|d\u00fbe?s?)\s+(?:\u00e0\s+la\s+|\u00e0\s+l'|\u00e0\s+|au\s+|aux\s+))"
    ),
    possessive=None,  # French puts the owner after the noun: "l'erreur de Pierre" is an attribution
    omission_tail=(
        r"sans\s+(?:relecture|validation|test|tests|tester|v\u00e9rifier|v\u00e9rification|pr\u00e9venir|"
        r"ticket|autorisation|sauvegarde)\b"
    ),
    had_lead=None,
    if_lead=r"si\s+",
    if_tail=r"(?:avait|avaient|n'avait|n'avaient)\b",
    root_cause=(
        r"(?:(?:la\s+)?causes?\s+(?:racines?|principales?|profondes?|premi\u00e8res?|r\u00e9elles?)|\bcause)"
        r"\s*(?:[:\u2014\u2013]|\s-\s|\s(?:est|\u00e9tait|a\s+\u00e9t\u00e9|fut)\b)"
    ),
    judgement=(
        r"n\u00e9gligen(?:t|te|ts|tes|ce)",
        r"imprudent(?:e|s|es)?",
        r"imprudence",
        r"irresponsables?",
        r"incomp\u00e9ten(?:t|te|ts|tes|ce)",
        r"b\u00e2cl\u00e9(?:e|s|es)?",
        r"stupides?",
        r"stupidit\u00e9",
        r"idiot(?:e|s|es)?",
        r"inexcusables?",
        r"laxisme",
        r"d\u00e9sinvolture",
        r"manque\s+de\s+s\u00e9rieux",
        r"je-m'en-foutisme",
        r"amateurisme",
        r"(?:une\s+)?erreur\s+de\s+d\u00e9butant",
        r"aurait\s+d\u00fb\s+savoir",
    ),
    human_error=(
        r"(?:erreurs?|fautes?)\s+(?:humaines?|d'op\u00e9rat(?:eur|rice)|de\s+l'op\u00e9rat(?:eur|rice)|"
        r"de\s+manipulation|de\s+l'utilisat(?:eur|rice)|d'utilisat(?:eur|rice))"
    ),
    human_error_negated=r"(?:\bpas|\bjamais|\bplut\u00f4t\s+qu'|\bni)\s+(?:une?\s+)?$",
    vague_alone=r"quiconque",
    roles=_words(
        """ing\u00e9nieur ing\u00e9nieure ing\u00e9nieurs ing\u00e9nieures d\u00e9veloppeur d\u00e9veloppeuse
        d\u00e9veloppeurs d\u00e9veloppeuses op\u00e9rateur op\u00e9ratrice op\u00e9rateurs administrateur
        administratrice administrateurs admin admins stagiaire stagiaires prestataire prestataires sous-traitant
        sous-traitants consultant consultante consultants astreinte responsable responsables relecteur
        relectrice relecteurs technicien technicienne techniciens recrue recrues arrivant arrivants coll\u00e8gue
        coll\u00e8gues employ\u00e9 employ\u00e9e employ\u00e9s dba sre"""
    ),
    vague_roles=_words("stagiaire stagiaires recrue recrues arrivant arrivants"),
    vague_modifiers=_words("nouveau nouvelle nouvel jeune un une certain certaine"),
    teams=_words("\u00e9quipe \u00e9quipes ops devops"),
    vague_people=_words("quelqu'un personne quiconque"),
    pronouns=_words("il elle lui"),
    plural_pronouns=_words("ils elles"),
    collective=_words("nous on je vous"),
    determiners=_words("le la les l' un une notre nos cet cette ce son sa ses leur leurs du des"),
    clause_words=_words(
        "et mais car quand lorsque parce que qui puis donc si comme pendant avant apr\u00e8s o\u00f9 ou"
    ),
    joiners=_words("et puis mais"),
    adverbs=_words("aussi encore alors ensuite malheureusement visiblement apparemment simplement par erreur"),
    fillers=_words("simplement que qu' est \u00e9tait"),
    past_irregular=frozenset(),
    timeline_sections=frozenset({"chronologie", "d\u00e9roulement", "chronologie des \u00e9v\u00e9nements"}),
    root_cause_sections=frozenset({"causes racines", "cause racine", "causes", "analyse des causes"}),
)

RULE_SETS: dict[str, RuleSet] = {"en": ENGLISH, "fr": FRENCH}
