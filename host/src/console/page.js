// The console's page: everything through /api/v1, everything a skill or a
// user wrote shown as text (textContent, never markup).
"use strict";
const $ = (id) => document.getElementById(id);
let me = null;

function say(text, isError) {
  $("status").textContent = text;
  $("status").className = isError ? "error" : "";
}

async function api(method, path, body) {
  const headers = { "content-type": "application/json" };
  if (me && me.csrf && method !== "GET") headers["x-csrf-token"] = me.csrf;
  const response = await fetch(path, {
    method, headers, credentials: "same-origin",
    body: body === undefined ? undefined : JSON.stringify(body),
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
    list(row, skill.grants || []);
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

async function showExecutions() {
  const query = new URLSearchParams();
  for (const [key, value] of new FormData($("filters"))) if (value) query.set(key, value);
  query.set("limit", "50");
  const records = await api("GET", `/api/v1/executions?${query}`);
  const rows = $("execution-rows");
  rows.replaceChildren();
  $("detail").hidden = true;
  for (const r of records) {
    const row = document.createElement("tr");
    row.tabIndex = 0;
    row.dataset.id = r.id;
    cell(row, new Date(r.started_at).toLocaleString());
    cell(row, r.skill);
    cell(row, r.user || "");
    cell(row, r.text || r.trigger || "");
    cell(row, r.outcome, r.outcome === "ok" ? "" : "error");
    const open = async () => {
      const one = await api("GET", `/api/v1/executions/${encodeURIComponent(r.id)}`);
      $("detail").textContent = JSON.stringify(one, null, 2);
      $("detail").hidden = false;
      $("detail").focus();
    };
    row.addEventListener("click", open);
    row.addEventListener("keydown", (e) => { if (e.key === "Enter") open(); });
    rows.appendChild(row);
  }
  say(`${records.length} executions.`);
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
  if (cluster) $("cluster").textContent = JSON.stringify(cluster, null, 2);
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

function showPage(name) {
  say("");
  if (name !== "log" && following) { following.close(); following = null; }
  for (const tab of document.querySelectorAll(".tab")) {
    const current = tab.dataset.page === name;
    if (current) tab.setAttribute("aria-current", "page"); else tab.removeAttribute("aria-current");
    $(tab.dataset.page).hidden = !current;
  }
  const show = { skills: showSkills, executions: showExecutions, connectors: showConnectors, log: showLog, commands: showCommands }[name];
  show().catch((e) => say(e.message, true));
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
    $("account").textContent = `${me.name} (${me.role})`;
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
