// The web console: a client of toolroute's own REST API, with the key its user gives.
// The key stays in this browser (sessionStorage) and goes only to this origin.
"use strict";

const KEY_STORAGE = "toolroute.apiKey";
const RECENT_TASKS = 200; // the router charts read this many of the latest tasks

const $ = (id) => document.getElementById(id);
let currentTask = null;

function apiKey() {
  return sessionStorage.getItem(KEY_STORAGE) || "";
}

class ApiError extends Error {}

async function api(path, options = {}) {
  const headers = { Accept: "application/json", ...(options.headers || {}) };
  if (apiKey()) headers.Authorization = `Bearer ${apiKey()}`;
  if (options.body !== undefined) headers["Content-Type"] = "application/json";
  const response = await fetch(path, {
    method: options.method || "GET",
    headers,
    body: options.body === undefined ? undefined : JSON.stringify(options.body),
  });
  const text = await response.text();
  let data = null;
  try {
    data = text ? JSON.parse(text) : null;
  } catch (problem) {
    throw new ApiError(`${response.status}: the answer is not JSON`);
  }
  if (!response.ok) {
    const message = data && data.error ? data.error.message : response.statusText;
    throw new ApiError(`${response.status}: ${message}`);
  }
  return data;
}

function showError(id, problem) {
  const box = $(id);
  box.textContent = problem ? String(problem.message || problem) : "";
  box.hidden = !problem;
}

function cell(row, text, className) {
  const td = document.createElement("td");
  td.textContent = text === null || text === undefined ? "–" : String(text);
  if (className) td.className = className;
  row.appendChild(td);
  return td;
}

function fillTable(table, columns, rows) {
  const head = document.createElement("tr");
  for (const column of columns) {
    const th = document.createElement("th");
    th.textContent = column;
    head.appendChild(th);
  }
  table.replaceChildren(head);
  for (const values of rows) {
    const row = document.createElement("tr");
    values.forEach((value) => cell(row, value));
    table.appendChild(row);
  }
}

const fixed = (value, digits) => (value === null || value === undefined ? null : Number(value).toFixed(digits));

// ------------------------------------------------------------------ the key

async function useKey(event) {
  event.preventDefault();
  sessionStorage.setItem(KEY_STORAGE, $("api-key").value.trim());
  $("key-status").textContent = "checking…";
  try {
    const models = await api("/v1/models");
    $("key-status").textContent = "key accepted";
    fillArms(models.data.map((model) => model.id));
    await refreshRouter();
  } catch (problem) {
    $("key-status").textContent = problem.message;
  }
}

function fillArms(names) {
  const select = $("ask-arm");
  const routed = document.createElement("option");
  routed.value = "";
  routed.textContent = "routed";
  const options = names
    .filter((name) => name !== "toolroute" && name !== "auto")
    .map((name) => {
      const option = document.createElement("option");
      option.value = name;
      option.textContent = name;
      return option;
    });
  select.replaceChildren(routed, ...options);
}

// ------------------------------------------------------------------ a request

async function runRequest(event) {
  event.preventDefault();
  showError("ask-error", null);
  const body = { query: $("ask-query").value };
  if ($("ask-arm").value) body.arm = $("ask-arm").value;
  if ($("ask-hub").value.trim()) body.hub = $("ask-hub").value.trim();
  const button = event.submitter || $("ask-form").querySelector("button");
  button.disabled = true;
  try {
    currentTask = await api("/v1/tasks", { method: "POST", body });
    showTask(currentTask);
    await refreshRouter();
  } catch (problem) {
    showError("ask-error", problem);
  } finally {
    button.disabled = false;
  }
}

function showTask(task) {
  $("task").hidden = false;
  fillTable(
    $("task-hits"),
    ["#", "score", "id", "call"],
    task.hits.map((hit, index) => [index + 1, fixed(hit.score, 3), hit.id, hit.call]),
  );
  const routing = task.routing;
  const scores = routing
    ? Object.entries(routing.scores || {}).map(([arm, score]) => `${arm} ${score === null ? "–" : Number(score).toFixed(3)}`).join(", ")
    : "";
  $("task-routing").textContent = task.arm
    ? `arm ${task.arm}, chosen by ${routing ? routing.policy : "–"} (scores: ${scores || "n/a"})`
      + (task.fallbacks.length ? `; fell back from ${task.fallbacks.map((f) => f.arm).join(", ")}` : "")
    : "no arm: " + (task.selection && task.selection.declined ? task.selection.reason : "none answered");
  $("task-call").textContent = task.calls.length ? task.calls.map((call) => call.code).join("\n") : (task.call || "(no call)");
  const verification = task.calls.length ? task.calls[0].verification : null;
  $("task-grounding").textContent = verification && verification.grounding
    ? "arguments from: " + Object.entries(verification.grounding).map(([name, source]) => `${name} ← ${source}`).join(", ")
    : "";
  const execution = task.execution || {};
  const status = document.createElement("strong");
  status.textContent = execution.status || "–";
  status.className = execution.status === "ok" ? "ok" : "bad";
  const output = document.createElement("pre");
  output.textContent = execution.output || "";
  const attempts = document.createElement("p");
  attempts.textContent = `${task.attempts.length} attempt(s)`;
  $("task-execution").replaceChildren(status, output, attempts);
  $("task-summary").textContent =
    `task ${task.id} · reward ${fixed(task.reward, 3) ?? "–"} · ${fixed(task.latency_ms, 0)} ms · $${Number(task.cost).toFixed(6)}`;
  $("feedback-status").textContent = "";
}

async function sendFeedback(score) {
  if (!currentTask) return;
  try {
    const result = await api(`/v1/tasks/${encodeURIComponent(currentTask.id)}/feedback`, {
      method: "POST",
      body: { score },
    });
    $("feedback-status").textContent = result.recorded ? "thanks: recorded" : "already recorded";
    await refreshRouter();
  } catch (problem) {
    $("feedback-status").textContent = problem.message;
  }
}

// ------------------------------------------------------------------ search

async function search(event) {
  event.preventDefault();
  showError("search-error", null);
  const query = new URLSearchParams({ q: $("search-query").value, k: $("search-k").value });
  try {
    const result = await api(`/v1/search?${query}`);
    fillTable(
      $("search-hits"),
      ["#", "score", "id", "hub", "call"],
      result.hits.map((hit, index) => [index + 1, fixed(hit.score, 3), hit.id, hit.hub, hit.call]),
    );
  } catch (problem) {
    showError("search-error", problem);
  }
}

// ------------------------------------------------------------------ the router

async function recentTasks() {
  const tasks = [];
  let cursor = null;
  while (tasks.length < RECENT_TASKS) {
    const query = new URLSearchParams({ limit: "100" });
    if (cursor) query.set("cursor", cursor);
    const page = await api(`/v1/tasks?${query}`);
    tasks.push(...page.items);
    if (!page.next_cursor) break;
    cursor = page.next_cursor;
  }
  return tasks.slice(0, RECENT_TASKS).reverse(); // oldest first
}

function movingMean(values, width) {
  return values.map((_, index) => {
    const window = values.slice(Math.max(0, index - width + 1), index + 1).filter(Number.isFinite);
    return window.length ? window.reduce((sum, value) => sum + value, 0) / window.length : NaN;
  });
}

async function refreshRouter() {
  showError("router-error", null);
  try {
    const [state, tasks] = await Promise.all([api("/v1/router"), recentTasks()]);
    drawRouter(state, tasks);
  } catch (problem) {
    showError("router-error", problem);
  }
}

function drawRouter(state, tasks) {
  $("router-policy").textContent =
    `policy ${state.policy} · weights accuracy ${state.weights.accuracy}, cost ${state.weights.cost}, latency ${state.weights.latency}`;
  const arms = Object.entries(state.arms);
  fillTable(
    $("router-arms"),
    ["arm", "requests", "mean reward", "accuracy", "$ / 1k", "latency ms", "feedback", "score"],
    arms.map(([name, arm]) => [
      name,
      arm.pulls,
      fixed(arm.mean_reward, 3),
      fixed(arm.accuracy, 3),
      arm.mean_cost === null ? null : (arm.mean_cost * 1000).toFixed(4),
      fixed(arm.mean_latency_ms, 0),
      arm.feedback_count ? `${arm.feedback_count} (${fixed(arm.mean_feedback, 2)})` : "0",
      fixed(arm.score, 3),
    ]),
  );
  const served = tasks.filter((task) => task.arm);
  charts.drawBars($("chart-shares"), arms.map(([name, arm]) => ({ label: name, value: arm.pulls })), "requests per arm");
  charts.drawBars(
    $("chart-cost"),
    arms.map(([name, arm]) => ({ label: name, value: (arm.mean_cost || 0) * 1000 })),
    "USD per 1,000 requests",
  );
  const rewards = served.map((task) => (task.reward === null ? NaN : task.reward));
  charts.drawLines($("chart-reward"), [{ label: "reward", points: movingMean(rewards, 10) }], "reward over time");
  charts.drawLines($("chart-latency"), [{ label: "latency ms", points: served.map((task) => task.latency_ms) }], "latency over time");
}

// ------------------------------------------------------------------ start

document.addEventListener("DOMContentLoaded", () => {
  $("api-key").value = apiKey();
  $("key-form").addEventListener("submit", useKey);
  $("ask-form").addEventListener("submit", runRequest);
  $("search-form").addEventListener("submit", search);
  $("thumbs-up").addEventListener("click", () => sendFeedback(1));
  $("thumbs-down").addEventListener("click", () => sendFeedback(-1));
  $("router-refresh").addEventListener("click", refreshRouter);
  if (apiKey()) $("key-form").requestSubmit();
});
