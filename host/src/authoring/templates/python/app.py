"""{{name}}: a sandbot skill in Python. Say `{{name}}` (or `{{name}} something`)."""
from typing import List, Tuple

import wit_world
from wit_world.imports import chat, types


class WitWorld(wit_world.WitWorld):
    def describe(self) -> types.Manifest:
        kind = types.MatcherKind_Regex(
            types.RegexMatcher(pattern=r"^{{name}}(?:\s+(?P<rest>.+))?$", case_sensitive=False))
        return types.Manifest(
            name="{{name}}",
            version="0.1.0",
            description="What {{name}} does",
            matchers=[types.Matcher(id="main", kind=kind, help="{{name}} [text] — answers you")],
        )

    async def handle(self, event: types.Event, matcher_id: str,
                     captures: List[Tuple[str, str]]) -> None:
        if not isinstance(event, types.Event_Message):
            return
        user = event.value.user
        rest = dict(captures).get("rest")
        if rest:
            chat.respond(f"{{name}} heard {rest}, {user}")
        else:
            chat.respond(f"Hello from {{name}}, {user}")
