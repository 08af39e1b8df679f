// keyglide demo: a suggestion strip above a text area. Every keystroke asks the server for
// three suggestions for the text before the cursor; only the answer to the latest request is
// shown. Choosing one replaces the word being typed (the server says how many characters)
// and adds a space, as a phone keyboard does.
"use strict";

(function () {
  const K = 3;
  const text = document.getElementById("text");
  const strip = document.getElementById("strip");
  const buttons = Array.from(strip.querySelectorAll(".suggestion"));
  const status = document.getElementById("status");
  const error = document.getElementById("error");
  const storeLabel = document.getElementById("store");
  const versionSelect = document.getElementById("version");

  let info = null; // the langdb answering: /api/info
  let sequence = 0; // the latest request sent
  let shown = null; // {forText, replace}: what the strip shows suggestions for
  let latency = null; // {serverUs, roundTripMs} of the latest prediction shown

  async function api(path, body) {
    const options = body === undefined ? {} : {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(body),
    };
    const response = await fetch(path, options);
    const data = await response.json();
    if (!response.ok) throw new Error(data.error || response.statusText);
    return data;
  }

  function showError(message) {
    error.textContent = message || "";
    error.hidden = !message;
  }

  function beforeCursor() {
    return text.value.slice(0, text.selectionStart);
  }

  function renderStatus() {
    if (!info) return;
    const parts = [
      info.language || "und",
      "data " + (info.data_version || "?"),
      "format " + info.format,
      "engine " + info.engine,
    ];
    if (latency) {
      parts.push(latency.serverUs.toFixed(1) + " µs server");
      parts.push(latency.roundTripMs.toFixed(1) + " ms round trip");
    }
    status.textContent = parts.join(" · ");
  }

  function renderStore() {
    const store = info && info.store;
    storeLabel.hidden = !store;
    if (!store) return;
    versionSelect.replaceChildren(...store.versions.map((v) => {
      const option = document.createElement("option");
      option.value = v.version;
      option.textContent = v.version + (v.state === "active" ? " (active)" : "");
      return option;
    }));
    versionSelect.value = store.active;
  }

  async function loadInfo() {
    info = await api("/api/info");
    renderStore();
    renderStatus();
  }

  async function predict() {
    const forText = beforeCursor();
    const mine = ++sequence;
    strip.classList.add("stale");
    const started = performance.now();
    let data;
    try {
      data = await api("/api/predict", { text: forText, k: K });
    } catch (e) {
      if (mine === sequence) showError("prediction failed: " + e.message);
      return;
    }
    if (mine !== sequence) return; // a newer keystroke has asked since: this answer is stale
    latency = { serverUs: data.server_us, roundTripMs: performance.now() - started };
    shown = { forText: forText, replace: data.replace };
    buttons.forEach((button, i) => {
      const s = data.suggestions[i];
      button.textContent = s ? s.word : "";
      button.title = s ? "score " + s.score : "";
    });
    strip.classList.remove("stale");
    strip.dataset.sequence = String(mine);
    showError("");
    if (info && data.data_version !== info.data_version) {
      await loadInfo(); // the store switched (here or from elsewhere)
    }
    renderStatus();
  }

  function choose(button) {
    const word = button.textContent;
    if (!word || !shown || shown.forText !== beforeCursor()) return;
    // The server counts code points; JavaScript strings count UTF-16 units.
    const before = Array.from(shown.forText);
    const kept = before.slice(0, before.length - shown.replace).join("");
    const after = text.value.slice(text.selectionEnd);
    const inserted = kept + word + " ";
    text.value = inserted + after;
    text.selectionStart = text.selectionEnd = inserted.length;
    text.focus();
    predict();
  }

  buttons.forEach((button) => {
    // Keep the focus (and the cursor) in the text area, as a keyboard's strip does.
    button.addEventListener("mousedown", (event) => event.preventDefault());
    button.addEventListener("click", () => choose(button));
  });
  text.addEventListener("input", predict);
  text.addEventListener("click", predict); // the cursor moved
  text.addEventListener("keyup", (event) => {
    if (event.key.startsWith("Arrow") || event.key === "Home" || event.key === "End") predict();
  });

  versionSelect.addEventListener("change", async () => {
    try {
      info = await api("/api/activate", { version: versionSelect.value });
      renderStore();
      renderStatus();
      showError("");
    } catch (e) {
      showError("could not activate " + versionSelect.value + ": " + e.message);
      await loadInfo();
    }
    text.focus();
    predict();
  });

  loadInfo().then(predict, (e) => showError("the demo server does not answer: " + e.message));
})();
