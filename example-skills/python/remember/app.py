"""remember: a small fact store in the skill's memory.

    remember the wifi password is hunter2   -> OK, I'll remember the wifi password is hunter2
    what is the wifi password?              -> the wifi password is hunter2
    forget the wifi password                -> OK, I forgot the wifi password
    how many facts?                         -> I know 2 facts

Facts live in the bot's memory (SQLite), so they survive restarts.
"""
from typing import List, Tuple

import wit_world
from wit_world.imports import chat, memory, types
from componentize_py_types import Err

VERSION = "0.1.0"
# The number of facts kept: not a fact key (those start with `fact:`).
FACTS = "facts"


def regex(id: str, pattern: str, help: str) -> types.Matcher:
    """A case-insensitive regex matcher; named groups become captures."""
    kind = types.MatcherKind_Regex(types.RegexMatcher(pattern=pattern, case_sensitive=False))
    return types.Matcher(id=id, kind=kind, help=help)


def key_of(name: str) -> str:
    """One memory key per fact, whatever case it was said in."""
    return "fact:" + " ".join(name.lower().split())


class WitWorld(wit_world.WitWorld):
    def describe(self) -> types.Manifest:
        return types.Manifest(
            name="remember",
            version=VERSION,
            description="Remembers facts for you (a Python skill)",
            matchers=[
                regex("remember", r"^remember (?P<key>.+?) is (?P<value>.+)$",
                      "remember <thing> is <value> — I keep it in mind"),
                regex("recall", r"^what is (?P<key>.+?)\s*\??$",
                      "what is <thing>? — I tell you what I remember"),
                regex("forget", r"^forget (?P<key>.+?)$",
                      "forget <thing> — I forget it"),
                regex("count", r"^how many facts\??$",
                      "how many facts? — how many things I remember"),
            ],
        )

    async def handle(self, event: types.Event, matcher_id: str,
                     captures: List[Tuple[str, str]]) -> None:
        if not isinstance(event, types.Event_Message):
            return
        cap = dict(captures)
        name = cap.get("key", "").strip()
        if matcher_id == "remember":
            value = cap.get("value", "").strip()
            # Written only if the fact is new (compare-and-swap with None):
            # then it is counted, in one atomic step. A known fact is
            # overwritten and counted once already.
            if memory.compare_and_swap(key_of(name), None, value):
                memory.increment(FACTS, 1)
            else:
                memory.put(key_of(name), value)
            chat.respond(f"OK, I'll remember {name} is {value}")
        elif matcher_id == "recall":
            value = memory.get(key_of(name))
            if value is None:
                chat.respond(f"I don't know what {name} is")
            else:
                chat.respond(f"{name} is {value}")
        elif matcher_id == "forget":
            if memory.get(key_of(name)) is None:
                chat.respond(f"I didn't know anything about {name}")
            else:
                memory.delete(key_of(name))
                memory.increment(FACTS, -1)
                chat.respond(f"OK, I forgot {name}")
        elif matcher_id == "count":
            known = memory.increment(FACTS, 0)  # adding 0 reads it
            chat.respond(f"I know {known} fact{'' if known == 1 else 's'}")
        else:
            raise Err(f"unknown matcher {matcher_id}")
