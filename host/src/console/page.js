// The console's page: everything through /api/v1, everything a skill or a
// user wrote shown as text (textContent, never markup).
"use strict";
const $ = (id) => document.getElementById(id);
let me = null;

function say(text, isError) {
  $("status").textContent = text;
  $("status").className = isError ? "error" : "";
}

async function api(method, path, body, contentType) {
  const headers = { "content-type": contentType || "application/json" };
  if (me && me.csrf && method !== "GET") headers["x-csrf-token"] = me.csrf;
  const response = await fetch(path, {
    method, headers, credentials: "same-origin",
    body: body === undefined ? undefined : contentType ? body : JSON.stringify(body),
  });
  const text = await response.text();
  let json = null;
  try { json = text ? JSON.parse(text) : null; } catch (_) { json = null; }
  if (!response.ok) {
    const why = (json && json.error) || text || response.statusText;
    const error = new Error(why);
    error.status = response.status;
    throw error;
  }
  return json;
}

function cell(row, text, className) {
  const td = document.createElement("td");
  td.textContent = text;
  if (className) td.className = className;
  row.appendChild(td);
  return td;
}

function list(row, items) {
  const td = document.createElement("td");
  const ul = document.createElement("ul");
  for (const item of items) {
    const li = document.createElement("li");
    li.textContent = item;
    ul.appendChild(li);
  }
  td.appendChild(ul);
  row.appendChild(td);
}

async function showSkills() {
  $("upload").hidden = me.role !== "admin";
  const { skills } = await api("GET", "/api/v1/skills");
  const rows = $("skill-rows");
  rows.replaceChildren();
  for (const skill of skills) {
    const row = document.createElement("tr");
    row.dataset.skill = skill.name;
    cell(row, skill.version ? `${skill.name} ${skill.version}` : skill.name);
    let state = skill.state;
    if (skill.error) state += `: ${skill.error}`;
    if (skill.new_file_failed) state += ` (its new file did not load: ${skill.new_file_failed})`;
    cell(row, state, `state state-${skill.state}`);
    list(row, (skill.matchers || []).map((m) => m.help || m.kind));
    const kept = skill.memory ? [`keeps now ${skill.memory.keys} of ${skill.memory.max_keys} keys, ${skill.memory.bytes} of ${skill.memory.max_bytes} bytes`] : [];
    list(row, [...(skill.grants || []), ...kept]);
    list(row, (skill.recent || []).map((r) =>
      `${r.outcome} ${new Date(r.started_at).toLocaleString()}, ${(r.micros / 1000).toFixed(1)} ms${r.error ? `: ${r.error}` : ""}`));
    const td = document.createElement("td");
    if (me.role !== "viewer" && (skill.state === "serving" || skill.state === "disabled")) {
      const button = document.createElement("button");
      button.type = "button";
      const turnOn = skill.state === "disabled";
      button.textContent = turnOn ? "Enable" : "Disable";
      button.setAttribute("aria-label", `${button.textContent} ${skill.name}`);
      button.addEventListener("click", async () => {
        try {
          await api("POST", `/api/v1/skills/${encodeURIComponent(skill.name)}/${turnOn ? "enable" : "disable"}`);
          say(`${skill.name} ${turnOn ? "enabled" : "disabled"}.`);
          await showSkills();
        } catch (e) { say(e.message, true); }
      });
      td.appendChild(button);
    }
    row.appendChild(td);
    rows.appendChild(row);
  }
}

let waiting = null;

function items(id, texts) {
  const ul = $(id);
  ul.replaceChildren();
  for (const text of texts) {
    const li = document.createElement("li");
    li.textContent = text;
    ul.appendChild(li);
  }
}

// An upload checked by the bot: what it is and what it may do, to approve.
async function checkUpload() {
  const file = $("upload-file").files[0];
  if (!file) return;
  const name = $("upload-name").value.trim() || file.name.replace(/\.wasm$/, "");
  const shown = await api("POST", `/api/v1/skills/${encodeURIComponent(name)}/upload`, file, "application/wasm");
  waiting = shown;
  $("preview-title").textContent = `${shown.name} ${shown.version}, waiting for approval`;
  $("preview-about").textContent = shown.description || "(no description)";
  $("preview-replaces").textContent = shown.replaces ? `version ${shown.replaces}` : "nothing: a new skill";
  $("preview-sha").textContent = shown.sha256;
  items("preview-matchers", shown.matchers.map((m) => m.help || m.kind));
  items("preview-grants", shown.grants);
  $("preview").hidden = false;
  say(`${shown.name} checked: read what it may do, then approve or reject it.`);
}

async function decideUpload(approve) {
  if (!waiting) return;
  const { id, name } = waiting;
  waiting = null;
  $("preview").hidden = true;
  $("upload").reset();
  if (approve) {
    const done = await api("POST", `/api/v1/uploads/${encodeURIComponent(id)}/approve`);
    say(done.change);
  } else {
    await api("POST", `/api/v1/uploads/${encodeURIComponent(id)}/reject`);
    say(`${name}: rejected.`);
  }
  await showSkills();
}

let watchingExecutions = null;

// The list, as the filters say; read again every 2 s while it is shown, so
// new executions appear (an open execution stays open).
async function showExecutions(again) {
  clearTimeout(watchingExecutions);
  const query = new URLSearchParams();
  for (const [key, value] of new FormData($("filters"))) if (value) query.set(key, value);
  query.set("limit", "50");
  const records = await api("GET", `/api/v1/executions?${query}`);
  watchingExecutions = setTimeout(() => {
    if (!$("executions").hidden && me) showExecutions(true).catch((e) => say(e.message, true));
  }, 2000);
  const rows = $("execution-rows");
  const shown = [...rows.children].map((row) => row.dataset.id).join(" ");
  if (again && shown === records.map((r) => r.id).join(" ")) return;
  rows.replaceChildren();
  if (!again) {
    $("detail").hidden = true;
    $("detail-tree").hidden = true;
  }
  for (const r of records) {
    const row = document.createElement("tr");
    row.tabIndex = 0;
    row.dataset.id = r.id;
    cell(row, new Date(r.started_at).toLocaleString());
    cell(row, r.skill);
    cell(row, r.user || "");
    cell(row, r.text || r.trigger || "");
    cell(row, r.outcome, r.outcome === "ok" ? "" : "error");
    const open = () => openExecution(r.id).catch((e) => say(e.message, true));
    row.addEventListener("click", open);
    row.addEventListener("keydown", (e) => { if (e.key === "Enter") open(); });
    rows.appendChild(row);
  }
  if (!again) say(`${records.length} executions.`);
}

function executionLine(r) {
  const what = r.matcher ? `${r.skill}/${r.matcher}` : r.skill;
  return `${r.id} ${what}: ${r.outcome}${r.error ? ` (${r.error})` : ""}`;
}

// One execution: a workflow run's tasks under it as a tree (each opens in
// turn, a task that started a run showing that run's), and all of it as JSON.
async function openExecution(id) {
  const one = await api("GET", `/api/v1/executions/${encodeURIComponent(id)}`);
  const root = document.createElement("li");
  root.textContent = executionLine(one);
  if (one.children) {
    const ul = document.createElement("ul");
    for (const child of one.children) {
      const li = document.createElement("li");
      const button = document.createElement("button");
      button.type = "button";
      button.className = "link";
      button.dataset.id = child.id;
      button.textContent = executionLine(child);
      button.addEventListener("click", () => openExecution(child.id).catch((e) => say(e.message, true)));
      li.appendChild(button);
      ul.appendChild(li);
    }
    root.appendChild(ul);
  }
  if (one.parent) {
    const up = document.createElement("button");
    up.type = "button";
    up.className = "link";
    up.textContent = `↑ ${one.parent}`;
    up.addEventListener("click", () => openExecution(one.parent).catch((e) => say(e.message, true)));
    const upLine = document.createElement("li");
    upLine.appendChild(up);
    $("detail-tree").replaceChildren(upLine, root);
  } else {
    $("detail-tree").replaceChildren(root);
  }
  $("detail-tree").hidden = false;
  $("detail").textContent = JSON.stringify(one, null, 2);
  $("detail").hidden = false;
  $("detail").focus();
}

async function showWorkflows() {
  const { workflows } = await api("GET", "/api/v1/workflows");
  const rows = $("workflow-rows");
  rows.replaceChildren();
  for (const w of workflows) {
    const row = document.createElement("tr");
    cell(row, w.description ? `${w.name} — ${w.description}` : w.name);
    const ways = [...w.aliases, ...w.crontab.map((c) => `crontab ${c}`)];
    if (w.webhook) ways.push(`POST /workflow/${w.name}`);
    ways.push(`workflow run ${w.name}`);
    list(row, ways);
    list(row, w.tasks.map((t) => `${t.name} (${t.action})`));
    rows.appendChild(row);
  }
  await showRuns();
}

async function showRuns() {
  const { runs } = await api("GET", "/api/v1/workflows/runs?limit=50");
  const rows = $("run-rows");
  rows.replaceChildren();
  for (const r of runs) {
    const row = document.createElement("tr");
    row.tabIndex = 0;
    row.dataset.run = r.id;
    cell(row, `#${r.id}`);
    cell(row, r.workflow);
    cell(row, r.error ? `${r.status}: ${r.error}` : r.status, r.status === "failed" ? "error" : "");
    cell(row, r.waiting.join(", "));
    const open = () => showRun(r.id).catch((e) => say(e.message, true));
    row.addEventListener("click", open);
    row.addEventListener("keydown", (e) => { if (e.key === "Enter") open(); });
    rows.appendChild(row);
  }
}

// A run's tasks as an indented tree: each start task, then where it led,
// each task drawn once (a task reached again is named, not redrawn).
function graph(run) {
  const byName = new Map(run.tasks.map((t) => [t.name, t]));
  const led = new Set(run.tasks.flatMap((t) => t.next.flatMap((n) => n.to)));
  const starts = run.tasks.filter((t) => !led.has(t.name));
  const drawn = new Set();
  const item = (task, when) => {
    const li = document.createElement("li");
    li.dataset.task = task.name;
    if (when) {
      const w = document.createElement("span");
      w.className = "when";
      w.textContent = `${when} → `;
      li.appendChild(w);
    }
    const name = document.createElement("span");
    let text = `${task.name}: ${task.state}`;
    if (task.error) text += ` (${task.error})`;
    if (task.children.length) text += ` — runs ${task.children.map((c) => `#${c}`).join(", ")}`;
    name.textContent = text;
    name.className = `state-${task.state.replace(/ /g, "-")}`;
    li.appendChild(name);
    if (drawn.has(task.name)) { name.textContent = `${task.name} (above)`; return li; }
    drawn.add(task.name);
    if (task.answer) {
      const said = document.createElement("pre");
      said.textContent = task.answer;
      li.appendChild(said);
    }
    const ul = document.createElement("ul");
    for (const edge of task.next) {
      for (const to of edge.to) {
        const next = byName.get(to);
        if (next) ul.appendChild(item(next, edge.when));
        else {
          const end = document.createElement("li");
          end.textContent = `${edge.when} → ${to}`;
          ul.appendChild(end);
        }
      }
    }
    if (ul.children.length) li.appendChild(ul);
    return li;
  };
  return starts.map((t) => item(t));
}

let watchingRun = null;

async function showRun(id) {
  clearTimeout(watchingRun);
  const run = await api("GET", `/api/v1/workflows/runs/${id}`);
  // A running run is followed: read again every 2 s while it is shown.
  if (run.status === "running") {
    watchingRun = setTimeout(() => {
      if (!$("workflows").hidden && !$("run").hidden && $("run").dataset.run === String(id)) {
        showRun(id).then(showRuns).catch((e) => say(e.message, true));
      }
    }, 2000);
  }
  $("run").dataset.run = String(run.id);
  $("run").hidden = false;
  $("run-title").textContent = `#${run.id} ${run.workflow}: ${run.status}`;
  $("run-graph").replaceChildren(...graph(run));
  const actions = $("run-actions");
  actions.replaceChildren();
  if (me.role !== "viewer" && run.status === "running") {
    const answers = [];
    for (const task of run.waiting) answers.push(["approve", task], ["deny", task]);
    answers.push(["cancel", null]);
    for (const [verb, task] of answers) {
      const button = document.createElement("button");
      button.type = "button";
      button.textContent = task ? `${verb[0].toUpperCase()}${verb.slice(1)} ${task}` : "Cancel the run";
      button.setAttribute("aria-label", `${button.textContent} of #${run.id}`);
      button.addEventListener("click", async () => {
        try {
          const said = await api("POST", `/api/v1/workflows/runs/${run.id}/${verb}`, task ? { task } : undefined);
          say(said.answer);
          await showRuns();
          await showRun(run.id);
        } catch (e) { say(e.message, true); }
      });
      actions.appendChild(button);
    }
  }
}

async function showConnectors() {
  const { connectors, cluster } = await api("GET", "/api/v1/connectors");
  const rows = $("connector-rows");
  rows.replaceChildren();
  for (const c of connectors) {
    const row = document.createElement("tr");
    cell(row, c.name);
    cell(row, c.type);
    cell(row, c.state, c.state === "connected" ? "state-serving" : "error");
    rows.appendChild(row);
  }
  $("cluster").hidden = !cluster;
  if (cluster) showHosts(cluster);
}

// On several hosts: each host, its roles, leases and load, and the stream.
function showHosts(cluster) {
  const s = cluster.stream || {};
  $("cluster-stream").textContent = s.unknown
    ? `Stream ${s.name}: its lag is unknown (${s.unknown}).`
    : `Stream ${s.name}: ${s.pending} waiting, ${s.ack_pending} being handled. This is ${cluster.host}.`;
  if (cluster.error) $("cluster-stream").textContent += ` The other hosts cannot be read: ${cluster.error}`;
  const rows = $("host-rows");
  rows.replaceChildren();
  for (const h of cluster.hosts) {
    const row = document.createElement("tr");
    row.dataset.host = h.host;
    cell(row, h.host === cluster.host ? `${h.host} (this one)` : h.host);
    cell(row, h.roles);
    cell(row, h.bus, h.bus === "connected" ? "state-serving" : "error");
    list(row, h.leases);
    cell(row, String(h.in_flight));
    cell(row, String(h.skills));
    cell(row, `${((Date.now() - h.seen_at) / 1000).toFixed(1)} s ago`);
    rows.appendChild(row);
  }
}

async function showConfiguration() {
  const shown = await api("GET", "/api/v1/config");
  $("config-file").textContent = shown.file || "(built-in defaults)";
  $("config-yaml").textContent = shown.yaml;
  $("config-check").hidden = me.role !== "admin";
  if (!$("config-text").value) $("config-text").value = shown.yaml;
}

async function checkConfiguration() {
  const verdict = await api("POST", "/api/v1/config/validate", $("config-text").value, "text/yaml");
  const out = $("config-verdict");
  out.replaceChildren();
  const line = (text, className) => {
    const li = document.createElement("li");
    li.textContent = text;
    if (className) li.className = className;
    out.appendChild(li);
  };
  line(verdict.valid ? "Valid." : "Not valid:", verdict.valid ? "state-serving" : "error");
  for (const e of verdict.errors) line(e, "error");
  for (const n of verdict.notes) line(n);
  if (verdict.summary) line(verdict.summary);
}

let following = null;

function logLine(line) {
  let text = line;
  try {
    const e = JSON.parse(line);
    const fields = Object.entries(e.fields || {})
      .filter(([k]) => k !== "message")
      .map(([k, v]) => `${k}=${v}`)
      .join(" ");
    text = `${e.timestamp} ${e.level} ${(e.fields && e.fields.message) || ""} ${fields}`;
  } catch (_) { /* shown as it is */ }
  const li = document.createElement("li");
  li.textContent = text;
  const lines = $("log-lines");
  lines.appendChild(li);
  while (lines.children.length > 500) lines.firstChild.remove();
}

async function showLog() {
  if (following) following.close();
  const query = new URLSearchParams();
  for (const [key, value] of new FormData($("log-filters"))) if (value) query.set(key, value);
  const lines = await api("GET", `/api/v1/log?${query}`);
  $("log-lines").replaceChildren();
  for (const line of lines) logLine(JSON.stringify(line));
  following = new EventSource(`/api/v1/log/stream?${query}`);
  following.onmessage = (m) => logLine(m.data);
  following.addEventListener("missed", (m) => logLine(`… ${m.data} lines missed`));
}

async function showCommands() {
  $("as-who").textContent = `console:${me.name}`;
  $("command").focus();
}

async function sayCommand(text) {
  const asked = document.createElement("li");
  asked.className = "asked";
  asked.textContent = `› ${text}`;
  $("answers").appendChild(asked);
  const { answers, finished } = await api("POST", "/api/v1/commands", { text });
  for (const answer of answers) {
    const li = document.createElement("li");
    const pre = document.createElement("pre");
    pre.textContent = answer;
    li.appendChild(pre);
    $("answers").appendChild(li);
  }
  if (!finished) say("Still running: its answers will be in the executions.");
}

// Pages another file of the script adds (page_users.js).
const sections = {};

function showPage(name) {
  say("");
  if (name !== "log" && following) { following.close(); following = null; }
  for (const tab of document.querySelectorAll(".tab")) {
    const current = tab.dataset.page === name;
    if (current) tab.setAttribute("aria-current", "page"); else tab.removeAttribute("aria-current");
    $(tab.dataset.page).hidden = !current;
  }
  const show = { skills: showSkills, executions: showExecutions, workflows: showWorkflows, configuration: showConfiguration, connectors: showConnectors, log: showLog, commands: showCommands }[name];
  (show || sections[name])().catch((e) => say(e.message, true));
}

async function start() {
  try {
    me = await api("GET", "/api/v1/me");
  } catch (e) {
    me = null;
  }
  $("login").hidden = !!me;
  $("console").hidden = !me;
  $("who").hidden = !me;
  if (me) {
    const links = me.links && me.links.length ? `, in chat ${me.links.join(", ")}` : "";
    $("account").textContent = `${me.name} (${me.role}${links})`;
    $("users-tab").hidden = me.role !== "admin";
    showPage("skills");
  } else {
    $("name").focus();
  }
}

document.addEventListener("DOMContentLoaded", () => {
  $("login").addEventListener("submit", async (e) => {
    e.preventDefault();
    try {
      await api("POST", "/api/v1/login", { name: $("name").value, password: $("password").value });
      $("password").value = "";
      say("");
      await start();
    } catch (err) { say(err.message, true); }
  });
  $("logout").addEventListener("click", async () => {
    try { await api("POST", "/api/v1/logout"); } catch (_) { /* ended already */ }
    me = null;
    if (following) { following.close(); following = null; }
    say("Logged out.");
    await start();
  });
  for (const tab of document.querySelectorAll(".tab")) {
    tab.addEventListener("click", () => showPage(tab.dataset.page));
  }
  $("command-form").addEventListener("submit", (e) => {
    e.preventDefault();
    const text = $("command").value;
    $("command").value = "";
    sayCommand(text).catch((err) => say(err.message, true));
  });
  $("log-filters").addEventListener("submit", (e) => {
    e.preventDefault();
    showLog().catch((err) => say(err.message, true));
  });
  $("upload").addEventListener("submit", (e) => {
    e.preventDefault();
    checkUpload().catch((err) => say(err.message, true));
  });
  $("approve-upload").addEventListener("click", () => decideUpload(true).catch((err) => say(err.message, true)));
  $("reject-upload").addEventListener("click", () => decideUpload(false).catch((err) => say(err.message, true)));
  $("config-check").addEventListener("submit", (e) => {
    e.preventDefault();
    checkConfiguration().catch((err) => say(err.message, true));
  });
  $("filters").addEventListener("submit", (e) => {
    e.preventDefault();
    showExecutions().catch((err) => say(err.message, true));
  });
  start();
});

// The Skills page's Install section (admins): a registry reference is
// pulled and checked by the bot (POST /api/v1/installs), what it asks for
// is shown, and Approve or Reject decide, as `yes N` does in chat.
let staged = null;

function installSection() {
  let section = $("install");
  if (section) return section;
  const make = (tag, props, ...children) => {
    const el = Object.assign(document.createElement(tag), props);
    el.append(...children);
    return el;
  };
  const details = make("dl", { id: "install-details" });
  details.style.overflowWrap = "anywhere"; // a pinned reference is one long word
  section = make("section", { id: "install", hidden: true },
    make("h3", { id: "install-title", textContent: "Install from a registry" }),
    make("form", { id: "install-form" },
      make("label", { htmlFor: "install-reference", textContent: "Reference" }), " ",
      make("input", { id: "install-reference", name: "reference", size: 50, required: true,
        placeholder: "registry.example.com/skills/hello:1.0" }), " ",
      make("button", { type: "submit", textContent: "Check" })),
    make("div", { id: "install-staged", hidden: true },
      details,
      make("button", { type: "button", id: "install-approve", textContent: "Approve" }), " ",
      make("button", { type: "button", id: "install-reject", textContent: "Reject" })));
  section.setAttribute("aria-labelledby", "install-title");
  $("skills").appendChild(section);
  $("install-form").addEventListener("submit", (e) => {
    e.preventDefault();
    stageInstall($("install-reference").value.trim()).catch((err) => say(err.message, true));
  });
  $("install-approve").addEventListener("click", () => decideInstall("approve").catch((err) => say(err.message, true)));
  $("install-reject").addEventListener("click", () => decideInstall("reject").catch((err) => say(err.message, true)));
  return section;
}

async function stageInstall(reference) {
  staged = null;
  $("install-staged").hidden = true;
  say(`Checking ${reference}…`);
  staged = await api("POST", "/api/v1/installs", { reference });
  const rows = [
    ["Skill", `${staged.name} ${staged.version || "(no version)"}`],
    ["Reference", staged.reference],
    ["Signature", staged.signed_by ? `verified with ${staged.signed_by}` : "UNSIGNED (allowed for this registry)"],
    ["Asks for", staged.asks],
  ];
  const details = $("install-details");
  details.replaceChildren();
  for (const [term, text] of rows) {
    details.append(Object.assign(document.createElement("dt"), { textContent: term }));
    details.append(Object.assign(document.createElement("dd"), { textContent: text }));
  }
  $("install-staged").hidden = false;
  say(`${staged.name} asks for: ${staged.asks}. Approve to install it with these grants.`);
  $("install-approve").focus();
}

async function decideInstall(how) {
  if (!staged) return;
  const { id, name } = staged;
  staged = null;
  $("install-staged").hidden = true;
  const done = await api("POST", `/api/v1/installs/${id}/${how}`);
  if (how === "approve") {
    say(`Installed ${done.name} (sha256 ${done.sha256.slice(0, 12)}…); ${done.reload}`);
    $("install-reference").value = "";
    await showSkillList();
  } else {
    say(`${name} not installed.`);
  }
}

// The section shows with the Skills page, to admins.
const showSkillList = showSkills;
showSkills = async () => {
  await showSkillList();
  installSection().hidden = !me || me.role !== "admin";
};
