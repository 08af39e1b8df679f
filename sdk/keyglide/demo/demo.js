// keyglide demo: a phone keyboard's suggestion strip above a text area, and an on-screen
// keyboard below it. Every keystroke asks the server for the strip for the text before the
// cursor (LangDB.suggest); only the answer to the latest request is shown. Choosing a
// suggestion replaces the word being typed (the server says how many characters) and adds a
// space. When the server says a space would autocorrect the word being typed, the strip marks
// the correction, and a space or sentence punctuation replaces the word with it before going
// in; Backspace right after that brings the word back as typed. A tap on the on-screen
// keyboard also sends where the key was touched, in the layout's coordinates.
"use strict";

(function () {
  const K = 3;
  // Typed right after a word, these end it: a pending autocorrection replaces it first.
  const SEPARATORS = " .,!?;:";
  const MAX_TOUCHES = 64; // touch points kept for the characters just before the cursor
  const KEPT_ANSWERS = 64; // answers kept for the look-up a separator makes
  const ROW_SQUASH = 0.62; // the on-screen keys are drawn flatter than the layout's keys

  const text = document.getElementById("text");
  const strip = document.getElementById("strip");
  const buttons = Array.from(strip.querySelectorAll(".suggestion"));
  const status = document.getElementById("status");
  const error = document.getElementById("error");
  const storeLabel = document.getElementById("store");
  const versionSelect = document.getElementById("version");
  const layoutSelect = document.getElementById("layout");
  const letters = document.getElementById("letters");
  const controls = document.getElementById("controls");

  let info = null; // the langdb answering: /api/info
  let sequence = 0; // the latest request sent
  let shown = null; // {forText, replace}: what the strip shows suggestions for
  let latency = null; // {serverUs, roundTripMs} of the latest prediction shown
  let layoutName = "qwerty";
  let layout = null; // the on-screen keyboard: /api/layout, with its bounds
  let shift = false; // the on-screen shift key: the next letter is a capital
  const answers = new Map(); // request body (JSON) -> the promise of its answer
  // Where the characters just before the cursor were touched (null: typed otherwise); the
  // last point is for the last character of `before`.
  let trail = { before: "", points: [] };
  let corrections = Promise.resolve(); // autocorrections, applied one after the other
  const pending = []; // {word, sep, touches}: the words they wait to correct
  let undo = null; // {value, cursor, typed, touches}: what Backspace restores after one
  let kept = null; // text ending in a word whose correction was undone: a space keeps it

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

  function codePoints(s) {
    return Array.from(s).length;
  }

  // The strip for `forText` (the text before the cursor) typed with `touches`: asked once,
  // so that a separator typed while the answer is on its way waits for the same answer.
  function ask(forText, touches, fresh) {
    const body = { text: forText, k: K, layout: layoutName };
    if (touches && touches.some((p) => p !== null)) body.touches = touches;
    const key = JSON.stringify(body);
    let answer = fresh ? undefined : answers.get(key);
    if (!answer) {
      answer = api("/api/predict", body);
      answers.delete(key);
      answers.set(key, answer);
      answer.catch(() => {
        if (answers.get(key) === answer) answers.delete(key);
      });
      while (answers.size > KEPT_ANSWERS) answers.delete(answers.keys().next().value);
    }
    return answer;
  }

  function touchesFor(forText) {
    if (trail.before !== forText || !trail.points.length) return null;
    return trail.points.slice(-Math.min(MAX_TOUCHES, codePoints(forText)));
  }

  // A suggestion in the case its word was typed in: "Teh" gives "The" and "TEH" gives
  // "THE"; a word with capitals of its own (a name) stays as it is.
  function matchCase(typed, word) {
    const cased = Array.from(typed).filter((c) => c.toLowerCase() !== c.toUpperCase());
    if (!cased.length || word !== word.toLowerCase()) return word;
    const upper = (c) => c === c.toUpperCase();
    if (cased.length > 1 && cased.every(upper)) return word.toUpperCase();
    if (!upper(cased[0])) return word;
    const [first, ...rest] = Array.from(word);
    return first.toUpperCase() + rest.join("");
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

  function renderStrip(forText, data) {
    const written = Array.from(forText);
    const typedAs = written.slice(written.length - data.replace).join("");
    // What a space would put in place of the word being typed, unless the user undid it.
    const fix = data.autocorrect && data.correction && forText !== kept
      ? data.correction.word : null;
    let marked = null;
    buttons.forEach((button, i) => {
      const s = data.suggestions[i];
      const word = s ? matchCase(typedAs, s.word) : "";
      const isFix = s !== undefined && marked === null && s.word === fix;
      if (isFix) marked = word;
      button.textContent = word;
      button.classList.toggle("autocorrect", isFix);
      if (isFix) {
        const label = "space will correct " + typedAs + " to " + word;
        button.title = label;
        button.setAttribute("aria-label", word + ": " + label);
      } else {
        button.title = s ? "score " + s.score : "";
        button.removeAttribute("aria-label");
      }
    });
    strip.dataset.autocorrect = marked || "";
    shown = { forText: forText, replace: data.replace };
  }

  async function loadInfo() {
    info = await api("/api/info");
    answers.clear(); // the langdb may have changed
    if (!layoutSelect.options.length) {
      layoutSelect.replaceChildren(...(info.layouts || [layoutName]).map((name) => {
        const option = document.createElement("option");
        option.value = option.textContent = name;
        return option;
      }));
    }
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
      data = await ask(forText, touchesFor(forText), true);
    } catch (e) {
      if (mine === sequence) showError("prediction failed: " + e.message);
      return;
    }
    if (mine !== sequence) return; // a newer keystroke has asked since: this answer is stale
    latency = { serverUs: data.server_us, roundTripMs: performance.now() - started };
    renderStrip(forText, data);
    strip.classList.remove("stale");
    strip.dataset.sequence = String(mine);
    showError("");
    if (info && data.data_version !== info.data_version) {
      await loadInfo(); // the store switched (here or from elsewhere)
    }
    renderStatus();
  }

  // After an edit of the text (kind: an InputEvent's inputType, data: what was inserted,
  // point: where the on-screen key was touched): autocorrect the word a separator ended,
  // follow the touches, ask for the strip.
  function edited(kind, data, point) {
    undo = null;
    const before = beforeCursor();
    const collapsed = text.selectionStart === text.selectionEnd;
    let sep = null;
    if (kind === "insertText" && data && data.length === 1 && SEPARATORS.includes(data)) {
      sep = data;
    } else if (kind === "insertLineBreak" || kind === "insertParagraph") {
      sep = "\n";
    }
    if (sep !== null && collapsed && before.endsWith(sep)) {
      const word = before.slice(0, before.length - sep.length);
      autocorrect(word, sep, touchesFor(word));
    } else {
      kept = null;
    }
    track(kind, data, point, before);
    predict();
  }

  function track(kind, data, point, now) {
    const previous = trail.before;
    if (kind === "insertText" && data && now.endsWith(data)) {
      if (now !== previous + data) trail.points = []; // typed elsewhere: a new trail
      for (const _ of data) trail.points.push(null);
      if (point) trail.points[trail.points.length - 1] = point;
    } else if (kind === "deleteContentBackward" && previous.startsWith(now)) {
      const removed = codePoints(previous) - codePoints(now);
      trail.points.splice(Math.max(0, trail.points.length - removed));
    } else {
      trail.points = [];
    }
    trail.points = trail.points.slice(-MAX_TOUCHES);
    trail.before = now;
  }

  function autocorrect(word, sep, touches) {
    if (word === kept) { // its correction was undone: the word stays as typed
      kept = null;
      return;
    }
    kept = null;
    const item = { word: word, sep: sep, touches: touches };
    pending.push(item);
    corrections = corrections
      .then(() => correct(item))
      .catch((e) => showError("autocorrection failed: " + e.message))
      .finally(() => pending.splice(pending.indexOf(item), 1));
  }

  async function correct(item) {
    const ends = () => text.value.startsWith(item.word + item.sep);
    if (!ends()) return; // the word was edited since: leave it
    const data = await ask(item.word, item.touches, false);
    if (!data.autocorrect || !data.correction || data.replace === 0 || !ends()) return;
    const written = Array.from(item.word);
    const typedAs = written.slice(written.length - data.replace).join("");
    const word = matchCase(typedAs, data.correction.word);
    if (word === typedAs) return;
    const corrected = written.slice(0, written.length - data.replace).join("") + word;
    const old = item.word.length;
    const moved = (p) => (p >= old ? p + corrected.length - old : Math.min(p, corrected.length));
    const start = moved(text.selectionStart);
    const end = moved(text.selectionEnd);
    text.value = corrected + text.value.slice(old);
    text.setSelectionRange(start, end);
    for (const other of pending) { // words typed after this one: they follow the change
      if (other !== item && other.word.startsWith(item.word)) {
        other.word = corrected + other.word.slice(old);
      }
    }
    if (trail.before.startsWith(item.word)) {
      trail.before = corrected + trail.before.slice(old);
    }
    if (start === end && start === corrected.length + item.sep.length) {
      undo = { value: text.value, cursor: start, typed: item.word, touches: item.touches };
    }
    predict();
  }

  // Backspace right after an autocorrection: the word as typed, without the separator.
  function undoCorrection() {
    const u = undo;
    undo = null;
    if (!u || text.value !== u.value || text.selectionStart !== u.cursor ||
        text.selectionEnd !== u.cursor) return false;
    text.value = u.typed + text.value.slice(u.cursor);
    text.setSelectionRange(u.typed.length, u.typed.length);
    kept = u.typed;
    trail = { before: u.typed, points: u.touches ? u.touches.slice() : [] };
    predict();
    return true;
  }

  function choose(button) {
    const word = button.textContent;
    if (!word || !shown || shown.forText !== beforeCursor()) return;
    // The server counts code points; JavaScript strings count UTF-16 units.
    const before = Array.from(shown.forText);
    const head = before.slice(0, before.length - shown.replace).join("");
    const after = text.value.slice(text.selectionEnd);
    const inserted = head + word + " ";
    text.value = inserted + after;
    text.selectionStart = text.selectionEnd = inserted.length;
    text.focus();
    undo = null;
    kept = null;
    trail = { before: inserted, points: [] };
    predict();
  }

  // --- the on-screen keyboard ---------------------------------------------------------

  async function loadLayout(name) {
    const data = await api("/api/layout?name=" + encodeURIComponent(name));
    const left = Math.min(...data.keys.map((k) => k.x - k.width / 2));
    const top = Math.min(...data.keys.map((k) => k.y - k.height / 2));
    const right = Math.max(...data.keys.map((k) => k.x + k.width / 2));
    const bottom = Math.max(...data.keys.map((k) => k.y + k.height / 2));
    layoutName = data.name;
    layout = { ...data, left: left, top: top, width: right - left, height: bottom - top };
    layoutSelect.value = data.name;
    drawKeyboard();
  }

  function percent(v) {
    return (v * 100).toFixed(4) + "%";
  }

  function drawKeyboard() {
    letters.style.aspectRatio = layout.width + " / " + layout.height * ROW_SQUASH;
    letters.setAttribute("aria-label", layout.title);
    letters.replaceChildren(...layout.keys.map((key) => {
      const button = document.createElement("button");
      button.type = "button";
      button.className = "key";
      button.tabIndex = -1;
      button.dataset.char = key.char;
      button.textContent = shift ? key.char.toUpperCase() : key.char;
      button.style.left = percent((key.x - key.width / 2 - layout.left) / layout.width);
      button.style.top = percent((key.y - key.height / 2 - layout.top) / layout.height);
      button.style.width = percent(key.width / layout.width);
      button.style.height = percent(key.height / layout.height);
      return button;
    }));
    controls.querySelector('[data-action="shift"]').classList.toggle("on", shift);
  }

  // Where a click landed, in the layout's coordinates (a click from the keyboard, without a
  // pointer, lands on the key's centre).
  function touchPoint(event, button) {
    const area = letters.getBoundingClientRect();
    let x = event.clientX;
    let y = event.clientY;
    if (event.detail === 0) {
      const r = button.getBoundingClientRect();
      x = r.left + r.width / 2;
      y = r.top + r.height / 2;
    }
    const round = (v) => Math.round(v * 1000) / 1000;
    return [
      round(layout.left + (x - area.left) / area.width * layout.width),
      round(layout.top + (y - area.top) / area.height * layout.height),
    ];
  }

  function insert(s, point) {
    text.focus();
    text.setRangeText(s, text.selectionStart, text.selectionEnd, "end");
    edited("insertText", s, point);
  }

  function backspace() {
    text.focus();
    if (undoCorrection()) return;
    let start = text.selectionStart;
    const end = text.selectionEnd;
    if (start === end) {
      if (start === 0) return;
      const cp = Array.from(text.value.slice(0, start)).pop();
      start -= cp.length; // a character outside the BMP is two UTF-16 units
    }
    text.setRangeText("", start, end, "end");
    edited("deleteContentBackward", null, null);
  }

  // Keep the focus (and the cursor) in the text area, as a keyboard does.
  for (const area of [strip, letters, controls]) {
    area.addEventListener("mousedown", (event) => event.preventDefault());
  }
  letters.addEventListener("click", (event) => {
    const button = event.target.closest(".key");
    if (!button || !layout) return;
    const ch = shift ? button.dataset.char.toUpperCase() : button.dataset.char;
    const point = touchPoint(event, button);
    if (shift) {
      shift = false;
      drawKeyboard();
    }
    insert(ch, point);
  });
  controls.addEventListener("click", (event) => {
    const button = event.target.closest("button");
    if (!button) return;
    const action = button.dataset.action;
    if (action === "shift") {
      shift = !shift;
      drawKeyboard();
      text.focus();
    } else if (action === "backspace") {
      backspace();
    } else if (action === "insert") {
      insert(button.dataset.text, null);
    }
  });

  buttons.forEach((button) => button.addEventListener("click", () => choose(button)));
  text.addEventListener("beforeinput", (event) => {
    if (event.inputType === "deleteContentBackward" && undoCorrection()) event.preventDefault();
  });
  text.addEventListener("input", (event) => edited(event.inputType, event.data, null));
  text.addEventListener("click", predict); // the cursor moved
  text.addEventListener("keyup", (event) => {
    if (event.key.startsWith("Arrow") || event.key === "Home" || event.key === "End") predict();
  });

  layoutSelect.addEventListener("change", async () => {
    try {
      await loadLayout(layoutSelect.value);
      trail = { before: beforeCursor(), points: [] }; // touches on another layout
      showError("");
    } catch (e) {
      showError("could not load the layout " + layoutSelect.value + ": " + e.message);
    }
    text.focus();
    predict();
  });

  versionSelect.addEventListener("change", async () => {
    try {
      info = await api("/api/activate", { version: versionSelect.value });
      answers.clear();
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

  loadInfo()
    .then(() => loadLayout(layoutName))
    .then(predict, (e) => showError("the demo server does not answer: " + e.message));
})();
