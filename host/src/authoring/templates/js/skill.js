// {{name}}: a sandbot skill in JavaScript. Say `{{name}}` (or `{{name}} something`).
// componentize-js cannot export async functions yet: this implements the
// `skill-sync` world.
import { respond } from 'sandbot:skill/chat@0.1.0';

export function describe() {
  return {
    name: '{{name}}',
    version: '0.1.0',
    description: 'What {{name}} does',
    matchers: [
      {
        id: 'main',
        kind: { tag: 'regex', val: { pattern: '^{{name}}(?:\\s+(?P<rest>.+))?$', caseSensitive: false } },
        help: '{{name}} [text] — answers you',
      },
    ],
  };
}

export function handle(event, matcherId, captures) {
  if (event.tag !== 'message') return;
  const user = event.val.user;
  const rest = (captures.find(([name]) => name === 'rest') || [])[1];
  respond(rest ? `{{name}} heard ${rest}, ${user}` : `Hello from {{name}}, ${user}`);
}
