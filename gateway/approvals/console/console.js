// The approvals console: loads the session, lists pending requests live
// (server-sent events from api/events, with a full refresh on every
// (re)connection), and sends decisions with the session's CSRF token.
// Every value from a request is set with textContent, never as HTML.
"use strict";

(function () {
  const pendingList = document.querySelector('[data-testid="pending"]');
  const noPending = document.querySelector('[data-testid="no-pending"]');
  const recentList = document.querySelector('[data-testid="recent"]');
  const approverName = document.querySelector('[data-testid="approver"]');
  const connection = document.querySelector('[data-testid="connection"]');
  const consoleError = document.querySelector('[data-testid="console-error"]');
  const template = document.getElementById("request-template");
  const logoutButton = document.querySelector('button[data-action="logout"]');

  const RECENT_LIMIT = 50;
  /** @type {Map<string, object>} pending requests by id */
  const pending = new Map();
  /** @type {Map<string, object>} decided requests by id */
  const decided = new Map();
  let csrfToken = "";
  /** Server clock minus this browser's clock, in ms. */
  let clockOffset = 0;
  let events;

  function serverNow() {
    return Date.now() + clockOffset;
  }

  function loggedOut() {
    // The login page is what ./ serves without a session.
    globalThis.location.assign("./");
  }

  function showConsoleError(message) {
    consoleError.textContent = message;
    consoleError.hidden = message === "";
  }

  async function api(path, init) {
    const response = await fetch(path, {
      credentials: "same-origin",
      cache: "no-store",
      ...init,
    });
    if (response.status === 401) {
      loggedOut();
      throw new Error("Not logged in");
    }
    let body;
    try {
      body = await response.json();
    } catch {
      body = {};
    }
    if (!response.ok) {
      throw new Error(
        typeof body.message === "string"
          ? body.message
          : `The server answered ${response.status}`,
      );
    }
    return body;
  }

  function duration(ms) {
    const total = Math.max(0, Math.floor(ms / 1000));
    const minutes = Math.floor(total / 60);
    const seconds = total % 60;
    return minutes > 0 ? `${minutes} min ${seconds} s` : `${seconds} s`;
  }

  function target(request) {
    if (request.host === undefined) return "";
    return request.port === undefined
      ? request.host
      : `${request.host}:${request.port}`;
  }

  function credential(request) {
    const path = `${request.safe}/${request.object}`;
    return request.username === undefined
      ? path
      : `${path} (user ${request.username})`;
  }

  function setField(root, name, value) {
    const element = root.querySelector(`[data-field="${name}"]`);
    if (element !== null) element.textContent = value ?? "";
  }

  function tick() {
    const now = serverNow();
    for (const element of pendingList.querySelectorAll("[data-request-id]")) {
      const request = pending.get(element.dataset.requestId);
      if (request === undefined) continue;
      setField(element, "age", duration(now - request.createdAt));
      const left = request.expiresAt - now;
      setField(
        element,
        "time-left",
        left > 0 ? duration(left) : "expired, no decision possible",
      );
    }
  }

  async function decide(id, verdict, article) {
    const comment = article.querySelector('textarea[name="comment"]').value;
    const error = article.querySelector('[data-field="error"]');
    error.textContent = "";
    for (const button of article.querySelectorAll("button")) {
      button.disabled = true;
    }
    try {
      const body = await api(
        `api/requests/${encodeURIComponent(id)}/${verdict}`,
        {
          method: "POST",
          headers: {
            "Content-Type": "application/json",
            "X-CSRF-Token": csrfToken,
          },
          body: JSON.stringify({ comment }),
        },
      );
      upsert(body.request);
    } catch (e) {
      error.textContent = e instanceof Error ? e.message : String(e);
      for (const button of article.querySelectorAll("button")) {
        button.disabled = false;
      }
    }
  }

  function pendingElement(request) {
    const article = template.content.firstElementChild.cloneNode(true);
    article.dataset.requestId = request.id;
    setField(article, "principal", request.principal);
    setField(article, "client-ip", request.clientIp);
    setField(article, "tool", request.tool);
    setField(article, "target", target(request));
    setField(article, "credential", credential(request));
    setField(article, "database", request.database);
    setField(article, "rule", request.rule);
    setField(article, "reason", request.reason);
    setField(article, "handle-id", request.handleId);
    setField(article, "command", request.command);
    // Rows that do not apply (no database for ssh_execute, no reason given)
    // are hidden rather than shown empty.
    for (const name of ["database", "reason", "handle-id", "client-ip"]) {
      const dd = article.querySelector(`dd[data-field="${name}"]`);
      if (dd !== null && dd.textContent === "") {
        dd.hidden = true;
        dd.previousElementSibling.hidden = true;
      }
    }
    article.querySelector('button[data-action="approve"]').addEventListener(
      "click",
      () => decide(request.id, "approve", article),
    );
    article.querySelector('button[data-action="deny"]').addEventListener(
      "click",
      () => decide(request.id, "deny", article),
    );
    return article;
  }

  function renderPending() {
    const shown = new Map();
    for (const element of pendingList.querySelectorAll("[data-request-id]")) {
      if (pending.has(element.dataset.requestId)) {
        shown.set(element.dataset.requestId, element);
      } else {
        element.remove();
      }
    }
    // Oldest first: the one closest to expiring on top. Elements already
    // shown are kept, so a comment being typed survives an update.
    const ordered = [...pending.values()].sort((a, b) =>
      a.createdAt - b.createdAt
    );
    for (const request of ordered) {
      const element = shown.get(request.id) ?? pendingElement(request);
      pendingList.appendChild(element);
    }
    noPending.hidden = pending.size > 0;
    tick();
  }

  function cell(row, field, value, className) {
    const td = document.createElement("td");
    if (field !== undefined) td.dataset.field = field;
    if (className !== undefined) td.className = className;
    td.textContent = value ?? "";
    row.appendChild(td);
  }

  function renderRecent() {
    const ordered = [...decided.values()].sort((a, b) =>
      (b.decidedAt ?? b.createdAt) - (a.decidedAt ?? a.createdAt)
    ).slice(0, RECENT_LIMIT);
    const rows = ordered.map((request) => {
      const row = document.createElement("tr");
      row.dataset.requestId = request.id;
      cell(
        row,
        "when",
        new Date(request.decidedAt ?? request.createdAt).toLocaleString(),
      );
      cell(row, "state", request.state, `state-${request.state}`);
      cell(row, "approver", request.approver);
      cell(row, "comment", request.comment);
      cell(row, "principal", request.principal);
      cell(row, "tool", request.tool);
      cell(row, "target", target(request));
      cell(row, "command", request.command, "command");
      return row;
    });
    recentList.replaceChildren(...rows);
  }

  function upsert(request) {
    if (typeof request !== "object" || request === null) return;
    if (typeof request.id !== "string") return;
    if (request.state === "pending") {
      pending.set(request.id, request);
      decided.delete(request.id);
    } else {
      pending.delete(request.id);
      decided.set(request.id, request);
    }
  }

  async function refresh() {
    const body = await api("api/requests?limit=200");
    clockOffset = body.now - Date.now();
    pending.clear();
    decided.clear();
    for (const request of body.requests) upsert(request);
    renderPending();
    renderRecent();
  }

  function listen() {
    events?.close();
    events = new EventSource("api/events");
    events.addEventListener("open", () => {
      connection.textContent = "live";
      connection.classList.add("ok");
      refresh().then(
        () => showConsoleError(""),
        (e) => showConsoleError(e.message),
      );
    });
    events.addEventListener("request", (event) => {
      upsert(JSON.parse(event.data));
      renderPending();
      renderRecent();
    });
    events.addEventListener("session-ended", () => {
      events.close();
      loggedOut();
    });
    events.addEventListener("error", () => {
      connection.textContent = "reconnecting…";
      connection.classList.remove("ok");
      // A stream refused with 401 (session over) does not reconnect.
      // A 401 from api/session goes to the login page; anything else (the
      // gateway restarting, a proxy error) tries again.
      if (events.readyState === EventSource.CLOSED) {
        api("api/session").then(
          () => setTimeout(listen, 2000),
          () => setTimeout(listen, 5000),
        );
      }
    });
  }

  async function logout() {
    try {
      await api("logout", {
        method: "POST",
        headers: { "X-CSRF-Token": csrfToken },
      });
    } finally {
      events?.close();
      loggedOut();
    }
  }

  async function start() {
    const session = await api("api/session");
    csrfToken = session.csrfToken;
    clockOffset = session.now - Date.now();
    approverName.textContent = session.approver;
    logoutButton.addEventListener("click", () => {
      logout().catch((e) => showConsoleError(e.message));
    });
    noPending.hidden = false;
    setInterval(tick, 1000);
    await refresh();
    listen();
  }

  start().catch((e) => showConsoleError(e.message));
})();
