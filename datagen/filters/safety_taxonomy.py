"""The hazard taxonomy (after Llama Guard 3's S1..S14), request patterns per category, and refusal templates.

Patterns describe requests to do harm ("how do I make a pipe bomb"), not topics ("the history of the atomic bomb"),
so that ordinary questions about hard subjects pass the fast screen.
"""
from __future__ import annotations

import re

CATEGORIES: dict[str, str] = {
    "S1": "Violent Crimes", "S2": "Non-Violent Crimes", "S3": "Sex-Related Crimes",
    "S4": "Child Sexual Exploitation", "S5": "Defamation", "S6": "Specialized Advice", "S7": "Privacy",
    "S8": "Intellectual Property", "S9": "Indiscriminate Weapons", "S10": "Hate", "S11": "Suicide & Self-Harm",
    "S12": "Sexual Content", "S13": "Elections", "S14": "Code Interpreter Abuse",
}

_ASK = r"(?:how (?:do|can|could|would|should) (?:i|we|you|one|someone)|help me|teach me(?: how)? to|show me how to|" \
       r"tell me how to|steps to|instructions (?:for|to)|guide to|i want to|i'm going to|i am going to|ways to|" \
       r"explain (?:step by step )?how to|describe (?:the steps|how) to|tips (?:to|for|on how to)|" \
       r"(?:best|easiest|quickest|good|surest|safest) way to)"
# "... and not get caught": a request to hide a harm, whatever the wording of the harm itself
_UNDETECTED = r"(?:without (?:being (?:detected|caught|seen|noticed)|getting caught|the police (?:finding out|knowing)|" \
              r"anyone (?:knowing|noticing)|leaving (?:marks|bruises|a mark|evidence|a trace|traces))|and not get caught|" \
              r"look like an accident)"

_PATTERNS: dict[str, list[str]] = {
    "S1": [rf"{_ASK} (?:kill|murder|assassinate|kidnap|torture|strangle|stab|shoot|poison) (?:him|her|them|someone|somebody|people|my \w+|(?:a|an|the) (?:person|man|woman|child|kid|baby|cop|police officer|witness|judge|president|neighbou?r|stranger|family))\b",
           r"\b(?:get away with|cover up) (?:a )?murder\b",
           r"\bhire (?:a|an) (?:hitman|assassin|contract killer)\b",
           rf"\b(?:kill|murder|poison|hurt|injure|get rid of)\b[^.?!]{{0,60}}\b{_UNDETECTED}",
           r"\b(?:poison|dose|overdose|amount)\b[^.?!]{0,40}\bwould kill (?:a|an|my|the|someone|somebody|him|her)\b",
           r"\bget rid of (?:my|her|his|a|the) \w+ permanently\b"],
    "S2": [rf"{_ASK} (?:hack|break) into (?:my \w+'?s?|someone(?: else)?'?s?|her|his|their|(?:a|an|the) \w+'?s?) "
           r"(?:\w+ )?(?:e-?mail|account|phone|computer|wi-?fi|network)\b",
           rf"{_ASK} (?:launder money|shoplift|steal (?:a|an|from|money|someone)|hot-?wire a car|evade (?:taxes|the police)|break into (?:a|my neighbou?r'?s?|someone'?s?) (?:house|home|car))",
           r"\b(?:cook|make|synthesi[sz]e|produce) (?:meth|methamphetamine|crack cocaine|heroin|fentanyl) at home\b",
           rf"{_ASK} (?:cook|make|synthesi[sz]e) (?:meth|methamphetamine|crack|heroin|fentanyl)\b",
           r"\bwrite (?:a|an) phishing (?:email|message|text)\b",
           r"\b(?:recipe|instructions|steps) (?:for|to make) (?:meth|methamphetamine|crack|heroin|fentanyl)\b",
           r"\b(?:cheat on|evade|dodge) (?:my |our )?taxes\b",
           r"\b(?:guns?|firearms?|weapons?) (?:at home )?that (?:cannot|can't|can not|won't) be traced\b",
           r"\b(?:write|create|build) (?:a |an )?(?:ransomware|keylogger|credit card skimmer)\b"],
    "S3": [r"\b(?:spike|drug) (?:her|his|their|someone'?s?|a girl'?s?|a woman'?s?) drink\b",
           r"\bsex(?:ual)? (?:acts? )?with (?:someone|her|him) (?:who is )?(?:unconscious|asleep|passed out)\b",
           rf"{_ASK} (?:secretly )?(?:film|record|photograph) (?:someone|people|women|my \w+) (?:undressing|naked|in the shower)"],
    "S4": [r"\b(?:sexual|explicit|erotic|nude|naked)\b[^.?!]{0,60}\b(?:child|children|minor|minors|underage|kid|kids|(?:[1-9]|1[0-7])[- ]year[- ]olds?)\b",
           r"\b(?:child|minor|underage|(?:[1-9]|1[0-7])[- ]year[- ]old)\b[^.?!]{0,60}\b(?:sexual|explicit|erotic|nude|naked)\b"],
    "S5": [r"\b(?:spread|start) (?:a )?(?:rumou?rs?|lies?) (?:that|about) (?:my|a|an|the|her|his)\b",
           r"\b(?:write|make up|invent|create) (?:a |an )?(?:fake|false|fabricated|made-up) (?:news )?(?:story|article|report|rumou?r|review|claim)s? (?:saying|claiming|that|about how) [A-Z]?[^.?!]{0,60}\b(?:is a|was|were|committed|cheated|stole|abused|molested|pedophile|criminal|fraud)\b"],
    "S6": [r"\b(?:stop|quit) taking my (?:prescribed )?(?:medication|medicine|insulin|antidepressants|pills) without (?:telling|asking|consulting) (?:my|a) doctor\b",
           rf"{_ASK} (?:perform|do) (?:surgery|an abortion|stitches) on (?:myself|my \w+) at home\b"],
    "S7": [r"\b(?:find|get|look up|give me|tell me) (?:the )?(?:home address|social security number|ssn|private phone number|bank details|passwords?) (?:of|for) (?:my|a|an|this|that|the) (?:ex|neighbou?r|coworker|co-worker|boss|girl|guy|person|woman|man|celebrity|journalist)\b",
           rf"{_ASK} (?:dox|doxx|stalk|track the location of) (?:my|a|an|someone|this|that|her|him)\b",
           rf"{_ASK} (?:read|hack into|access) (?:my|someone'?s?|her|his) (?:\w+'?s? )?(?:emails?|texts|messages|phone) without (?:them|her|him) knowing\b",
           r"\b(?:get|break|hack) into (?:someone(?: else)?'?s?|my \w+'?s?|her|his|their) (?:\w+ )?(?:email|account|phone)\b[^.?!]{0,30}\bwithout (?:their|the|her|his) password\b"],
    "S8": [r"\b(?:give me|print|paste|write out|reproduce) the (?:full|complete|entire|whole) (?:text|lyrics|script|chapter)s? of\b",
           rf"{_ASK} (?:crack|bypass|remove) (?:the )?(?:drm|license (?:key|check)|activation|copy protection)\b(?!-free)",
           r"\b(?:download|stream|get) (?:pirated|cracked) (?:movies|games|software|books|music)\b"],
    "S9": [rf"{_ASK} (?:build|make|assemble|construct|create|synthesi[sz]e|produce) (?:a |an )?(?:home-?made )?(?:bomb|pipe bomb|explosive device|ied|nerve agent|sarin|vx gas|bioweapon|biological weapon|chemical weapon|dirty bomb|nuclear weapon|anthrax|napalm)\b",
           r"\b(?:recipe|instructions|blueprint|formula) for (?:a |an )?(?:bomb|pipe bomb|explosive|nerve agent|sarin|bioweapon|chemical weapon|dirty bomb|napalm)\b",
           r"\benrich uranium (?:at home|for a (?:bomb|weapon))\b",
           r"\b(?:make|mix|produce|create) (?:a )?(?:toxic|poisonous|deadly|lethal) gas\b[^.?!]{0,30}\b(?:hurt|kill|harm|poison)\b", r"\bweaponi[sz]e (?:a |an )?(?:virus|pathogen|anthrax|smallpox)\b"],
    "S10": [r"\b(?:write|compose|create|make|tell me) (?:a |an |some )?(?:\w+ )?(?:insults?|slurs?|jokes?|rant|speech|post|essay|tweet)s? (?:about|against|mocking|attacking|targeting) (?:black|white|asian|jewish|muslim|christian|gay|lesbian|trans|transgender|disabled|mexican|arab|indian|african|immigrant|refugee) (?:people|folks|men|women|persons|immigrants|refugees|kids)\b",
            r"\b(?:black|asian|jewish|muslim|gay|trans|disabled|mexican|arab|african) (?:people|men|women) are (?:inferior|subhuman|animals|vermin|genetically stupid)\b",
            r"\bwhy (?:are )?(?:black|asian|jewish|muslim|gay|trans|disabled|mexican|arab|african) (?:people|men|women) (?:so )?(?:inferior|stupid|evil|subhuman)\b"],
    "S11": [r"\b(?:tell|telling|urge|urging|encourage|encouraging|convince|convincing) (?:someone|somebody|him|her|them|"
            r"people|(?:a|my) \w+) to (?:kill|hurt|harm|cut) (?:themselves|himself|herself|themself)\b",
            r"\b(?:best|easiest|quickest|fastest|painless|least painful|surest) (?:way|ways|method|methods) to (?:kill myself|commit suicide|end my (?:own )?life|hurt myself|cut myself|self-harm)\b",
            rf"{_ASK} (?:kill myself|commit suicide|end my (?:own )?life|hurt myself|cut myself without)",
            r"\bhow (?:many|much) [^.?!]{0,40} (?:to|would|will) (?:kill me|overdose|end my life)\b"],
    "S12": [r"\b(?:write|describe|create|generate) (?:a |an |me )?(?:very |extremely )?(?:explicit|graphic|hardcore|pornographic|x-rated) (?:sex|sexual|erotic|porn)\w*\b",
            r"\b(?:write|create) (?:a |an )?(?:porn|pornographic) (?:story|scene|script)\b"],
    "S13": [r"\b(?:tell|text|convince|trick) (?:\w+ )?voters? [^.?!]{0,40}(?:wrong (?:day|date|polling place)|vote by (?:text|phone)|election (?:is|was|has been) (?:moved|cancelled|postponed))\b",
            rf"{_ASK} (?:rig|steal|hack) (?:into )?(?:an |the )?(?:election|vote|voting machines?|ballots?)\b",
            r"\b(?:write|create) (?:a |an )?(?:fake|false) (?:message|post|flyer) (?:saying|telling people) (?:that )?the election\b"],
    "S14": [r"\b(?:run|execute|eval)\b[^.?!\n]{0,40}(?:rm -rf /(?:\s|$|\*)|:\(\)\s*\{\s*:\|:&\s*\};:|mkfs\.|dd if=/dev/(?:zero|random) of=/dev/sd)",
            r"\b(?:escape|break out of) (?:the |this |your )?(?:sandbox|container|code interpreter|python environment)\b",
            r"\b(?:read|print|cat|dump|show|exfiltrate) [^.?!\n]{0,30}(?:/etc/shadow|/etc/passwd|environment variables|api keys?|ssh keys?) (?:of|on|from) (?:the|this|your) (?:server|host|machine|sandbox|interpreter)\b"],
}

PATTERNS: dict[str, list[re.Pattern]] = {
    code: [re.compile(p, re.IGNORECASE) for p in patterns] for code, patterns in _PATTERNS.items()}

# short redirections per category; a refusal is "{opening} {redirect}"
_REDIRECT = {
    "S1": "If you or someone else is in danger, please contact local emergency services.",
    "S2": "I'm happy to explain the law or legal ways to reach the same goal.",
    "S3": "If you or someone you know has been affected, a local support service can help.",
    "S4": "Content that sexualizes minors is never acceptable.",
    "S5": "I can help write a fair, factual piece instead.",
    "S6": "Please talk to a qualified professional, who can advise on your situation safely.",
    "S7": "Personal information about other people should stay private.",
    "S8": "I can summarize the work or point you to legitimate ways to access it.",
    "S9": "I can share general, historical or safety information instead.",
    "S10": "I'm glad to help with writing that treats every group with respect.",
    "S11": "You don't have to go through this alone: please reach out to a crisis line or someone you trust now.",
    "S12": "I can help with a story that keeps intimate moments off the page.",
    "S13": "Official election authorities publish accurate voting information.",
    "S14": "I can explain safely what such a command would do instead.",
}
_OPENINGS = ["I can't help with that request.", "I won't be able to help with this.", "Sorry, but I can't assist with that."]


def screen(text: str) -> list[str]:
    """Category codes whose request patterns match `text`."""
    return [code for code, patterns in PATTERNS.items() if any(p.search(text) for p in patterns)]


def refusal(categories: list[str], variant: int) -> str:
    opening = _OPENINGS[variant % len(_OPENINGS)]
    return f"{opening} {_REDIRECT.get(categories[0], '') if categories else ''}".strip()


def describe(categories: list[str]) -> str:
    return ", ".join(f"{c} {CATEGORIES.get(c, 'unknown')}" for c in categories)
