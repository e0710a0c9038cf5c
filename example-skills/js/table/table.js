// table: turns comma-separated rows into an aligned table.
//
//   table name,qty apples,3 kiwis,12
//
//   | name   | qty |
//   |--------|----:|
//   | apples |   3 |
//   | kiwis  |  12 |
//
// Rows are separated by spaces, or by `;` when a cell needs spaces
// (`table city,country; New York,USA; Paris,France`). The first row is the
// header; a column whose cells are all numbers is right-aligned.
//
//   tables made?   -> 3 tables made, the last one headed name, qty
//
// componentize-js cannot export async functions yet, so this skill
// implements the `skill-sync` world (see wit/README.md).
import { respond } from 'sandbot:skill/chat@0.1.0';
import { batch, get, increment } from 'sandbot:skill/memory@0.1.0';

const USAGE =
  'usage: table <header> <row> ... with cells separated by commas, ' +
  'e.g. `table name,qty apples,3 kiwis,12` (separate rows with `;` if cells have spaces)';

export function describe() {
  return {
    name: 'table',
    version: '0.1.0',
    description: 'Formats comma-separated rows as a table (a JavaScript skill)',
    matchers: [
      {
        id: 'table',
        kind: { tag: 'regex', val: { pattern: '^table(?:\\s+(?P<rows>.*))?$', caseSensitive: false } },
        help: 'table a,b c,d ... — I format the rows as a table',
      },
      {
        id: 'made',
        kind: { tag: 'regex', val: { pattern: '^tables made\\??$', caseSensitive: false } },
        help: 'tables made? — how many I have made',
      },
    ],
  };
}

export function handle(event, matcherId, captures) {
  if (event.tag !== 'message') return;
  if (matcherId === 'made') {
    // An s64 is a BigInt; adding 0 reads the count.
    const made = increment('made', 0n);
    const last = get('last-header');
    respond(`${made} tables made` + (last === undefined ? '' : `, the last one headed ${last}`));
    return;
  }
  const rows = (captures.find(([name]) => name === 'rows') || [])[1] || '';
  if (rows.trim() === '') {
    respond(USAGE);
    return;
  }
  const parsed = parseRows(rows);
  respond(formatTable(parsed));
  // Counted in one atomic step; the header kept beside it in one batch
  // (a batch writes all of its puts and deletes, or none).
  increment('made', 1n);
  batch([{ tag: 'put', val: ['last-header', parsed[0].join(', ')] }]);
}

function parseRows(text) {
  const lines = text.includes(';') ? text.split(';') : text.trim().split(/\s+/);
  return lines
    .map((line) => line.trim())
    .filter((line) => line !== '')
    .map((line) => line.split(',').map((cell) => cell.trim()));
}

const width = (s) => [...s].length;
const isNumber = (s) => /^[-+]?(\d+(\.\d*)?|\.\d+)([eE][-+]?\d+)?%?$/.test(s);

function formatTable(rows) {
  const columns = Math.max(...rows.map((r) => r.length));
  const cells = rows.map((r) => Array.from({ length: columns }, (_, i) => r[i] ?? ''));
  const widths = Array.from({ length: columns }, (_, i) =>
    Math.max(1, ...cells.map((r) => width(r[i]))),
  );
  const body = cells.slice(1);
  const right = widths.map(
    (_, i) => body.length > 0 && body.every((r) => r[i] === '' || isNumber(r[i])) && body.some((r) => r[i] !== ''),
  );
  const pad = (s, i) => {
    const fill = ' '.repeat(widths[i] - width(s));
    return right[i] ? fill + s : s + fill;
  };
  const line = (r) => '| ' + r.map(pad).join(' | ') + ' |';
  const rule = '|' + widths.map((w, i) => '-'.repeat(w + 1) + (right[i] ? ':' : '-')).join('|') + '|';
  return [line(cells[0]), rule, ...body.map(line)].join('\n');
}
