// The console's Users section, an admin's: each account (its role changed,
// its chat identities linked and unlinked, itself removed), an account
// added, the API tokens revoked. Appended to page.js (the same script).

function button(text, label, action) {
  const b = document.createElement("button");
  b.type = "button";
  b.textContent = text;
  b.setAttribute("aria-label", label);
  b.addEventListener("click", async () => {
    try { await action(); } catch (e) { say(e.message, true); }
  });
  return b;
}

async function showUsers() {
  const { users, tokens } = await api("GET", "/api/v1/users");
  const path = (name, what) => `/api/v1/users/${encodeURIComponent(name)}/${what}`;
  const rows = $("user-rows");
  rows.replaceChildren();
  for (const u of users) {
    const row = document.createElement("tr");
    row.dataset.user = u.name;
    cell(row, u.name === me.name ? `${u.name} (you)` : u.name);
    const roleCell = document.createElement("td");
    const select = document.createElement("select");
    select.setAttribute("aria-label", `Role of ${u.name}`);
    for (const role of ["viewer", "operator", "admin"]) {
      const option = document.createElement("option");
      option.textContent = role;
      option.selected = role === u.role;
      select.appendChild(option);
    }
    select.disabled = u.name === me.name;
    select.addEventListener("change", async () => {
      try {
        await api("POST", path(u.name, "role"), { role: select.value });
        say(`${u.name} is now ${select.value}.`);
      } catch (e) { say(e.message, true); }
      await showUsers();
    });
    roleCell.appendChild(select);
    row.appendChild(roleCell);
    const linksCell = document.createElement("td");
    for (const identity of u.links) {
      const line = document.createElement("div");
      line.textContent = `${identity} `;
      line.appendChild(button("Unlink", `Unlink ${identity} from ${u.name}`, async () => {
        await api("POST", path(u.name, "unlink"), { identity });
        say(`${identity} unlinked from ${u.name}.`);
        await showUsers();
      }));
      linksCell.appendChild(line);
    }
    const input = document.createElement("input");
    input.size = 18;
    input.placeholder = "connector:user-id";
    input.setAttribute("aria-label", `Chat identity to link to ${u.name}`);
    linksCell.appendChild(input);
    linksCell.appendChild(button("Link", `Link the identity to ${u.name}`, async () => {
      await api("POST", path(u.name, "link"), { identity: input.value.trim() });
      say(`${input.value.trim()} is ${u.name}'s.`);
      await showUsers();
    }));
    row.appendChild(linksCell);
    const change = document.createElement("td");
    if (u.name !== me.name) {
      change.appendChild(button("Remove", `Remove ${u.name}`, async () => {
        if (!confirm(`Remove the account ${u.name}?`)) return;
        await api("POST", path(u.name, "remove"));
        say(`${u.name} removed.`);
        await showUsers();
      }));
    }
    row.appendChild(change);
    rows.appendChild(row);
  }
  const tokenRows = $("token-rows");
  tokenRows.replaceChildren();
  for (const t of tokens) {
    const row = document.createElement("tr");
    row.dataset.token = t.id;
    cell(row, t.id);
    cell(row, t.account);
    cell(row, t.role);
    cell(row, t.note);
    cell(row, new Date(t.created_at).toLocaleString());
    const td = document.createElement("td");
    if (t.revoked) td.textContent = "revoked";
    else {
      td.appendChild(button("Revoke", `Revoke token ${t.id}`, async () => {
        await api("POST", `/api/v1/tokens/${encodeURIComponent(t.id)}/revoke`);
        say(`Token ${t.id} revoked.`);
        await showUsers();
      }));
    }
    row.appendChild(td);
    tokenRows.appendChild(row);
  }
}

sections.users = showUsers;

document.addEventListener("DOMContentLoaded", () => {
  $("add-user").addEventListener("submit", async (e) => {
    e.preventDefault();
    const name = $("new-name").value.trim();
    try {
      await api("POST", "/api/v1/users", { name, role: $("new-role").value, password: $("new-password").value });
      $("add-user").reset();
      say(`${name} added.`);
      await showUsers();
    } catch (err) { say(err.message, true); }
  });
});
