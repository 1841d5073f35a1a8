"use strict";
// The settings page: everything goes through the JSON API with the session cookie; text from the
// server is only ever written with textContent.
const $ = (id) => document.getElementById(id);

async function api(method, path, body) {
  const init = { method, credentials: "same-origin", headers: {} };
  if (body !== undefined) {
    init.headers["content-type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  const res = await fetch(path, init);
  const text = await res.text();
  const data = text ? JSON.parse(text) : null;
  if (!res.ok) {
    const message = data && data.error ? data.error.message : res.statusText;
    const err = new Error(message);
    err.status = res.status;
    throw err;
  }
  return data;
}

function cell(row, text) {
  const td = document.createElement("td");
  td.textContent = text;
  row.appendChild(td);
  return td;
}

function when(iso) {
  return iso ? new Date(iso).toLocaleString() : "—";
}

async function loadKeys() {
  const { keys } = await api("GET", "/v1/auth/api-keys");
  const body = $("keys").querySelector("tbody");
  body.replaceChildren();
  for (const key of keys) {
    const row = document.createElement("tr");
    row.dataset.id = key.id;
    cell(row, key.name);
    cell(row, key.prefix + "…");
    cell(row, key.scopes.join(", "));
    cell(row, when(key.createdAt));
    cell(row, key.expiresAt ? when(key.expiresAt) : "never");
    cell(row, when(key.lastUsedAt));
    const button = document.createElement("button");
    button.type = "button";
    button.className = "revoke";
    button.textContent = "Revoke";
    button.setAttribute("aria-label", "Revoke " + key.name);
    button.addEventListener("click", () => revoke(key.id));
    cell(row, "").appendChild(button);
    body.appendChild(row);
  }
  $("keys").hidden = keys.length === 0;
  $("no-keys").hidden = keys.length !== 0;
}

async function revoke(id) {
  $("account-error").textContent = "";
  try {
    await api("DELETE", "/v1/auth/api-keys/" + encodeURIComponent(id));
    await loadKeys();
  } catch (e) {
    $("account-error").textContent = e.message;
  }
}

async function show() {
  try {
    const me = await api("GET", "/v1/auth/me");
    $("who").textContent = me.email || me.userId;
    $("scopes").textContent = me.scopes.join(", ") || "none";
    $("login").hidden = true;
    $("account").hidden = false;
    await loadKeys();
  } catch (e) {
    $("account").hidden = true;
    $("login").hidden = false;
    if (e.status !== 401) $("login-error").textContent = e.message;
  }
}

$("login-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  $("login-error").textContent = "";
  try {
    await api("POST", "/v1/auth/login", { email: $("email").value, password: $("password").value });
    $("password").value = "";
    await show();
  } catch (e) {
    $("login-error").textContent = e.message;
  }
});

$("logout").addEventListener("click", async () => {
  await api("POST", "/v1/auth/logout").catch(() => {});
  $("new-key").hidden = true;
  await show();
});

$("create-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  $("account-error").textContent = "";
  const scopes = $("key-scopes").value.split(",").map((s) => s.trim()).filter(Boolean);
  const request = { name: $("key-name").value, scopes };
  const expires = $("key-expires").value;
  if (expires) request.expiresAt = new Date(expires).toISOString();
  try {
    const created = await api("POST", "/v1/auth/api-keys", request);
    $("new-key-value").textContent = created.key;
    $("new-key").hidden = false;
    $("key-name").value = "";
    await loadKeys();
  } catch (e) {
    $("account-error").textContent = e.message;
  }
});

show();
