"""The pattern table of the rule extractor (rules.py): regular expressions for subjects,
clauses and the predicates of each attribute. Data, kept apart from the logic that uses it."""

from __future__ import annotations

import re

from engramdb.encode.facts.model import FAVORITE

CONTRACTIONS = [
    (r"\bI'm\b", "I am"),
    (r"\bI've\b", "I have"),
    (r"\bwe're\b", "we are"),
    (r"\bwe've\b", "we have"),
    (r"\b(he|she)'s\b", r"\1 is"),
    (r"\bcan't\b", "can not"),
    (r"\b(do|does|did|is|are|was|were|have|has|won)n't\b", r"\1 not"),
]
# "Joel, my old flatmate" / "my flatmate Joel": a person the next "he"/"she" may be
INTRODUCED = (
    r"(?<![\w'-])(?-i:(?P<n1>[A-Z][\w'-]+)),\s+(?:my|our)\s+(?:(?:old|new|best|former)\s+)?(?:KIN)\b"
    r"|\b(?:my|our)\s+(?:(?:old|new|best|former)\s+)?(?:KIN)\s+(?-i:(?P<n2>[A-Z][\w'-]+))"
)
KIN = (
    r"brother|sister|mom|mum|mother|dad|father|son|daughter|wife|husband|boyfriend|girlfriend"
    r"|partner|fianc[eé]e?|friend|best friend|boss|cousin|aunt|uncle|grandma|grandmother"
    r"|grandpa|grandfather|roommate|flatmate|housemate|classmate|labmate|teammate|buddy"
    r"|niece|nephew|ex|colleague|coworker|neighbou?r"
)
# one way to read each run of spaces (no "\s+X?\s*"): pasted tables backtracked for seconds
NAME = r"(?-i:[A-Z][\w'’&.-]*(?:\s+(?:(?:of|de|la|the|&|van|von)\s+)?[A-Z][\w'’&.-]*)*)"
PLACE = NAME + r"(?:,\s*(?-i:[A-Z][\w.]*(?:\s[A-Z][\w.]*)?))?"
PHRASE = r"(?P<v>[^.,;!?]{2,60}?)"
STOP = r"(?=\s+(?:at|for|with|in|since|because|now|and|but|so|after|before|this|next|last|right|today|yesterday|anymore|these|here|there|too|instead|over|than)\b|\s*[.,;!?)]|\s*$)"
SUBJECT = re.compile(
    rf"^(?:(?:so|well|oh|and|but|also|actually|now|finally|guess what|anyway|yes|yeah|btw|by the way|honestly|ok|okay|lol|hey|hi|plus|meanwhile|in other news|on the bright side|speaking of which|fun fact|update)\W+)*"
    rf"(?P<subj>I|we|(?P<pair>{NAME})\s+and\s+I"
    rf"|(?:my|our)\s+(?:(?:old|new|best|former|dear|little|big|older|younger)\s+)?"
    rf"(?:(?P<kin>{KIN})(?:\s*,?\s+(?P<kname>{NAME}))?|(?-i:[a-z]+)\s+(?P<rname>{NAME}))"
    rf"|(?P<name>{NAME}))\b",
    re.I,
)
NOT_NAMES = {
    *("the", "this", "that", "today", "yesterday", "it", "there", "here", "what", "when", "my"),
    *("our", "his", "her", "their", "you", "he", "she", "they", "its", "last", "next", "how"),
    *("why", "who", "where", "hey", "hi", "hello", "thanks", "thank", "wow", "great", "good"),
    *("finally", "still", "just", "also", "actually", "honestly", "anyway", "maybe", "really"),
    *("so", "then", "now", "first", "early", "late", "big", "quick", "okay", "ok", "yes", "no"),
    *("mine", "yours", "ours", "everyone", "everything", "someone", "something", "nobody"),
}


INTRODUCES = re.compile(INTRODUCED.replace("KIN", KIN), re.I)


def _p(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern.replace("NAME", NAME).replace("PLACE", PLACE), re.I)


# (pattern, attribute, op); groups: v value, e employer, r relationship word, c category
RULES: list[tuple[re.Pattern[str], str, str]] = [
    (
        _p(
            r"\b(?:handed in|handing in|hand in|gave|giving|give|put in)\s+(?:my\s+|his\s+|her\s+)?notice\s+(?:at|to)\s+(?P<e>NAME)"
        ),
        "employer",
        "end",
    ),
    # "took the sous chef job at Alinea", "staying on at Caltech as a research scientist"
    (
        _p(
            r"\btook\s+(?:the|a|an)\s+(?P<v>[\w\s-]{2,40}?)\s+(?:job|position|role)\s+(?:at|with)\s+(?P<e>NAME)"
        ),
        "job",
        "set",
    ),
    (
        _p(
            r"\b(?:staying on|starting|start|starts|started)\s+at\s+(?P<e>NAME)\s+as\s+(?:an?\s+)?"
            + PHRASE
            + STOP
        ),
        "job",
        "set",
    ),
    (
        _p(
            r"\b(?<!last )(?<!final )(?:day|days|week|weeks|shift|shifts|month|months|lab|office|team|job|position|role|internship|residency|career|onboarding|induction)\s+(?:at|with)\s+(?P<e>NAME)"
        ),
        "employer",
        "set",
    ),
    (
        _p(
            r"\b(?:starts|start|started|starting|begins|began)\s+(?:work\s+|working\s+)?(?:at|with)\s+(?P<e>NAME)"
        ),
        "employer",
        "set",
    ),
    (
        _p(
            r"\b(?:run|runs|manage|manages|own|owns|open|opened|opening)\s+(?:the\s+|a\s+|my\s+|our\s+)?[\w\s-]{0,30}?\s(?:at|called|named)\s+(?P<e>NAME)"
        ),
        "employer",
        "set",
    ),
    (_p(r"\bmoved\s+out\s+of\s+(?P<v>PLACE)"), "home", "end"),
    (_p(r"\b(?:moved|moving)\s+(?:up|down|over|out|across)\s+to\s+(?P<v>PLACE)"), "home", "set"),
    (_p(r"\b(?:back|staying|stay|here)\s+in\s+(?:the\s+)?(?P<v>PLACE)"), "home", "set"),
    (
        _p(
            r"\b(?:renting|rent|rented|bought|buying|unpacked|unpacking)\b[^.;!?]{0,30}?\s(?:in|on)\s+(?:the\s+)?(?P<v>PLACE)"
        ),
        "home",
        "set",
    ),
    (
        _p(
            r"\b(?:quit|left|leaving|resigned from|fired from|laid off from|(?:cleared|clearing) out (?:my|his|her) desk at|(?:last|final) day at)\s+(?:my\s+(?:job|position)\s+(?:at|with)\s+)?(?P<e>NAME)"
        ),
        "employer",
        "end",
    ),
    (
        _p(
            r"\b(?:quit|lost|left)\s+(?:my|his|her|their)\s+job\b|\b(?:got|was|been)\s+(?:laid off|fired)\b|\bretired\b"
        ),
        "job",
        "end",
    ),
    (
        _p(
            r"\b(?:work|works|worked|working|job|position|role|career|employed|hired|start|started|starting|training|trained)\b(?:\s+[\w-]+){0,3}?\s+as\s+(?:an?\s+|the\s+)?"
            + PHRASE
            + STOP
        ),
        "job",
        "set",
    ),
    (_p(r"\b(?:promoted|promotion)\s+to\s+(?:an?\s+)?" + PHRASE + STOP), "job", "set"),
    (
        _p(
            r"\b(?:am|is|are|became|become|becoming)\s+(?:now\s+|currently\s+|still\s+|officially\s+)?(?:an?\s+)(?P<v>[\w\s-]{2,40}?)\s+(?:at|for|with)\s+(?P<e>NAME)"
        ),
        "job",
        "set",
    ),
    (
        _p(
            r"\b(?:work|works|worked|working|job|position|role|started|starting|joined|hired|employed|interning|internship|day|week)\b[^.;!?]{0,30}?\s(?:at|for|with)\s+(?P<e>NAME)"
        ),
        "employer",
        "set",
    ),
    (_p(r"\bjoin(?:ed|ing)?\s+(?P<e>NAME)"), "employer", "set"),
    (_p(r"\b(?:moved|relocated|relocating)\s+(?:back\s+)?to\s+(?P<v>PLACE)"), "home", "set"),
    (
        _p(r"\b(?:live|lives|living|based|settled|reside|resides)\s+in\s+(?:the\s+)?(?P<v>PLACE)"),
        "home",
        "set",
    ),
    (
        _p(
            r"\b(?:apartment|flat|house|home|place|condo|cottage|room)\s+(?:in|on)\s+(?:the\s+)?(?P<v>PLACE)"
        ),
        "home",
        "set",
    ),
    # "first night in the Maple Street house", "taking over the Elm Street apartment"
    (
        _p(
            r"\b(?:the|our|my)\s+(?P<v>(?-i:[A-Z][\w'’-]*\s+){1,3}(?:Street|St\.?|Road|Rd|Avenue|Ave|Lane|Drive|Boulevard|Court|Way|Terrace|Square))\s+(?:house|apartment|flat|place|condo|home|cottage)\b"
        ),
        "home",
        "set",
    ),
    (_p(r"\bmoving\s+(?:back\s+)?to\s+(?P<v>PLACE)"), "plan", "move"),
    (
        _p(r"\b(?:dating|seeing|going out with|in a relationship with)\s+(?P<v>NAME)"),
        "partner",
        "set",
    ),
    (_p(r"\b(?:engaged to|married to|marrying|married)\s+(?P<v>NAME)"), "partner", "set"),
    (
        _p(
            r"\b(?:broke up|split up|separated|break up|breaking up|divorced|signed the divorce papers|divorce (?:is|was) (?:final|finali[sz]ed|through))\b(?:\s+(?:with|from)\s+(?P<v>NAME))?"
        ),
        "partner",
        "end",
    ),
    (
        _p(
            r"\b(?:am|is|are|got|just got)\s+(?:now\s+)?(?P<v>single|married|engaged|divorced|widowed)\b"
        ),
        "relationship_status",
        "set",
    ),
    (
        _p(
            r"\b(?:got|adopted|have|bought|rescued|getting|adopting)\s+(?:a|an)\s+(?:new\s+)?(?:\w+\s+)?(?P<v>(?:dog|puppy|cat|kitten|rabbit|bunny|hamster|parrot|bird|fish|turtle|horse)(?:\s+named\s+NAME)?)"
        ),
        "pet",
        "set",
    ),
    (
        _p(
            r"\b(?:am|became|become|gone|went|turned|going)\s+(?:fully\s+)?(?P<v>vegetarian|vegan|pescatarian|keto|gluten[- ]free)\b"
        ),
        "diet",
        "set",
    ),
    (
        _p(
            r"\bfavou?rite\s+(?P<c>\w+(?:\s\w+)?)\s+(?:is|are|has become|became|these days is|now is|is now)\s+(?:now\s+)?"
            + PHRASE
            + STOP
        ),
        FAVORITE,
        "set",
    ),
    (
        _p(
            r"\b(?:(?:not|no longer)\s+(?:like|liking|drink|drinking|eat|eating|enjoy|enjoying|into)|stopped|gave up|give up|can not stand)\s+"
            + PHRASE
            + STOP
        ),
        "likes",
        "end",
    ),
    (
        _p(
            r"\b(?:love|loves|like|likes|enjoy|enjoys|adore|adores|prefer|prefers|obsessed with|really into|am into|is into|are into)\s+"
            + PHRASE
            + STOP
        ),
        "likes",
        "set",
    ),
    (
        _p(
            r"\b(?:cancel(?:l?ed)?|called off|call off|postponed|scrapped|fell through|falls through|not going to|no longer going to|not moving)\b"
        ),
        "plan",
        "end",
    ),
    (
        _p(
            r"\b(?:am|are|is)\s+(?:planning|going|hoping|about)\s+to\s+(?P<v>[^.;!?]{3,60}?)" + STOP
        ),
        "plan",
        "set",
    ),
    (_p(r"\b(?:plan|plans|intend|intends)\s+to\s+(?P<v>[^.;!?]{3,60}?)" + STOP), "plan", "set"),
    # "I sold the Golf", "I'm car-free now" (a trade-in is read as the new car)
    (
        _p(
            r"\b(?:sold|selling|got rid of|totaled|totalled|wrecked|scrapped)\s+(?:my|the|our)\s+(?:old\s+)?(?:car|(?P<v>(?-i:[A-Z][\w-]*)))|\bcar-free\b|\bno longer (?:have|has|own|owns) a car\b"
        ),
        "car",
        "end",
    ),
    (
        _p(
            r"\b(?:(?:bought|got|drive|drives|driving|leased|own)\s+(?:a|an|my)|picked up\s+(?:a|an))\s+(?:new\s+|used\s+)?(?:(?:19|20)\d\d\s+)?(?P<v>(?-i:[A-Z][\w-]*)(?:\s+[\w-]+)?)"
        ),
        "car",
        "set",
    ),
    (
        _p(
            r"\b(?:study|studying|studies|enrolled|attend|attending|student|grad school|degree)\b[^.;!?]{0,30}?\s(?:at|in)\s+(?P<v>NAME)"
        ),
        "school",
        "set",
    ),
    (
        _p(r"\b(?:am|is|turned|turning)\s+(?P<v>\d{1,3})(?:\s+years?\s+old|\s+today|\s+now|\b)"),
        "age",
        "set",
    ),
    (
        _p(
            r"\b(?:took up|taken up|picked up|got into|getting into|started|learning to|learning)\s+(?P<v>(?!(?:working|going|thinking|looking|trying|getting|doing|feeling|planning|hoping|learning|taking|making|being|having|starting|wondering)\b)\w{3,}ing(?:\s+(?!(?:the|a|an|to|at|in|on|for|with|and|as|my|it|last|next|this|every|now|again|today|yesterday|lately|recently)\b)\w+)?|pottery|yoga|chess|guitar|piano|painting)\b"
        ),
        "hobby",
        "set",
    ),
    (
        _p(
            r"\b(?:am|is)\s+(?:now\s+|officially\s+|finally\s+)?an?\s+(?P<v>(?:[\w-]+\s){0,3}[\w-]+?)(?:\s+now|\s+these days)?(?=\s*[.!,;]|\s*$)"
        ),
        "job",
        "title",
    ),
]
PARTNER_WORD = re.compile(
    r"\bmy\s+(?:new\s+)?(?P<r>boyfriend|girlfriend|partner|fianc[eé]e?|husband|wife)\s*,?\s+(?P<v>"
    + NAME
    + ")",
    re.I,
)
STATUS = {
    "husband": "married",
    "wife": "married",
    "hubby": "married",
    "fiance": "engaged",
    "fiancee": "engaged",
}
# "my husband", "the wife" with no name after it: the speaker's status all the same
SPOUSE_WORD = re.compile(
    r"\b(?:my|the)\s+(?P<r>husband|wife|hubby|fianc[eé]e?)\b(?!\s*,?\s+(?-i:[A-Z])|'s|\s+(?:of|in|on|at|from|who|that|which|with)\b)",
    re.I,
)
CLAUSES = re.compile(
    r"(?<=[.!?;:])\s+|\s+[-–—]+\s+|,\s+(?:and|but|so)\s+|\s+(?:but|and then|so now)\s+"
)
ABBREVIATION = re.compile(r"(?:\b(?:St|Mr|Mrs|Ms|Dr|Jr|Sr|Mt|Inc|Co|Corp|Ltd|vs)|\b[A-Z])\.$")
# a move that may not happen: "thinking about moving to Denver" is no new home
HEDGED = re.compile(
    r"\b(?:thinking|considering|hoping|want|wants|wanted|might|(?-i:may)|could|should)\b", re.I
)
PAST_ONLY = re.compile(
    r"\b(?:(?<!getting )(?<!get )(?<!got )used to|was going to|would|if|wish|maybe|might)\b", re.I
)
PART_OF = re.compile(
    r"\s+(?:[a-z]+\s+){0,2}?(?:team|office|lab|department|division|group|branch|store|shop"
    r"|headquarters|hq|campus|factory|plant|site|unit|kitchen|studio)\b"
)
JOB_NOUNS = re.compile(r"\b(?:job|position|role)$", re.I)
OCCUPATION = re.compile(
    r"(?:er|or|ist|ian|ant|ent|nurse|chef|cook|student|architect|analyst|scientist|engineer"
    r"|teacher|doctor|lawyer|pilot|officer|intern|barista|paramedic|dentist|vet|clerk|agent"
    r"|designer|developer|manager|consultant|coach|professor|researcher|postdoc|surgeon)$",
    re.I,
)
VERBISH = re.compile(
    r"^\s*(?:'s\b|is|was|has|had|just|got|gets|will|would|can|never|already|also|still|now|"
    r"finally|recently|and|\w+ed|\w{2,}s)\b",
    re.I,
)
