// The evidence view: the article with its cited sentences highlighted, linked both ways to the key
// points, stances and events that cite them. Builds the DOM with textContent only: article text and
// model output are never parsed as HTML.
"use strict";
(function () {
  const $ = (id) => document.getElementById(id);
  const el = (tag, attrs, ...children) => {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (k === "class") node.className = v;
      else if (k === "text") node.textContent = v;
      else node.setAttribute(k, v);
    }
    for (const c of children) if (c != null) node.append(c);
    return node;
  };
  const list = (x) => (Array.isArray(x) ? x : []);

  // The target of the last click stays marked until the next one: the reader sees where they landed.
  function flash(node) {
    if (!node) return;
    for (const old of document.querySelectorAll(".focus")) old.classList.remove("focus");
    node.scrollIntoView({ block: "center" });
    node.classList.add("focus");
  }

  // Sentence numbers an item cites: its evidence citations, else the numbers it gave.
  const citedBy = (item) => {
    const fromEvidence = list(item.evidence).map((c) => c.sentence).filter(Number.isInteger);
    return [...new Set(fromEvidence.length ? fromEvidence : list(item.sentences))];
  };

  function sentenceSpans(article, items) {
    const spans = list(article.sentences).map(([start, end], i) => ({ n: i + 1, start, end }));
    if (spans.length) return spans;
    // Without sentence offsets, the citations' own offsets still place the evidence.
    const seen = new Map();
    for (const item of items) for (const c of list(item.evidence))
      if (Number.isInteger(c.start) && !seen.has(c.sentence)) seen.set(c.sentence, { n: c.sentence, start: c.start, end: c.end });
    return [...seen.values()].sort((a, b) => a.start - b.start);
  }

  function renderArticle(article, refs, items) {
    const text = article.text || "";
    const box = $("text");
    box.replaceChildren();
    let at = 0;
    for (const s of sentenceSpans(article, items)) {
      if (s.start < at) continue;
      box.append(text.slice(at, s.start));
      const span = el("span", { class: "sent", id: "s-" + s.n, "data-n": String(s.n), text: text.slice(s.start, s.end) });
      const back = refs.get(s.n) || [];
      if (back.length) {
        span.classList.add("cited");
        const links = el("span", { class: "backrefs" });
        for (const r of back) {
          const a = el("a", { href: "#" + r.id, text: r.label, title: r.title });
          a.addEventListener("click", (e) => { e.preventDefault(); e.stopPropagation(); flash($(r.id)); });
          links.append(a);
        }
        span.append(links);
        span.addEventListener("click", () => flash($(back[0].id)));
      }
      box.append(span);
      at = s.end;
    }
    box.append(text.slice(at));
  }

  function cites(numbers) {
    const box = el("span", { class: "cites" });
    for (const n of numbers) {
      const a = el("a", { href: "#s-" + n, text: "[" + n + "]", title: "sentence " + n });
      a.addEventListener("click", (e) => { e.preventDefault(); e.stopPropagation(); flash($("s-" + n)); });
      box.append(a);
    }
    return box;
  }

  function flags(item) {
    const notes = [];
    const unknown = list(item.unknown_names);
    if (unknown.length) notes.push("not in the article: " + unknown.join(", "));
    const check = item.check || {};
    if (list(check.unsupported_entities).length) notes.push("unsupported: " + check.unsupported_entities.join(", "));
    if (check.flagged && !notes.length) notes.push("weakly supported" + (check.support != null ? " (" + check.support.toFixed(2) + ")" : ""));
    return notes.length ? el("div", { class: "flag", text: "⚠ " + notes.join("; ") }) : null;
  }

  // Each cited item gets an id, a short label for the back-links, and its entry in the sentence map.
  function register(refs, id, label, title, numbers) {
    for (const n of numbers) {
      if (!refs.has(n)) refs.set(n, []);
      refs.get(n).push({ id, label, title });
    }
  }

  function itemLi(id, numbers, ...content) {
    const li = el("li", { id }, ...content, cites(numbers));
    li.addEventListener("click", () => numbers.length && flash($("s-" + numbers[0])));
    return li;
  }

  function render(analysis) {
    const refs = new Map();
    const article = analysis.article || {};
    $("title").textContent = article.title || "Article";

    const summaryBox = $("summary");
    summaryBox.replaceChildren();
    const summary = analysis.summary;
    const keyPoints = summary ? list(summary.key_points) : [];
    if (summary) {
      const checks = summary.checks || {};
      for (const node of [el("h2", { id: "headline", text: summary.headline }), flags({ check: checks.headline }),
        el("p", { text: summary.summary }), flags({ check: checks.summary })]) if (node) summaryBox.append(node);
      const ol = el("ol", { class: "items", id: "key-points" });
      keyPoints.forEach((kp, i) => {
        const kpText = typeof kp === "string" ? kp : kp.text;
        const numbers = typeof kp === "string" ? [] : citedBy(kp);
        register(refs, "k-" + (i + 1), "K" + (i + 1), kpText, numbers);
        ol.append(itemLi("k-" + (i + 1), numbers, el("span", { text: kpText }), flags(kp)));
      });
      summaryBox.append(el("h3", { text: "Key points" }), ol);
    }

    const stances = list(analysis.stances);
    const bar = $("polarity");
    bar.replaceChildren();
    const counts = {};
    for (const s of stances) counts[s.polarity] = (counts[s.polarity] || 0) + 1;
    for (const p of ["supports", "opposes", "mixed", "neutral"]) {
      if (!counts[p]) continue;
      // Through the CSSOM, not a style attribute: the page's Content-Security-Policy forbids inline styles.
      const part = el("span", { class: p, title: counts[p] + " " + p });
      part.style.flex = String(counts[p]);
      bar.append(part);
    }
    const stanceList = $("stances");
    stanceList.replaceChildren();
    stances.forEach((s, i) => {
      const numbers = citedBy(s);
      register(refs, "st-" + (i + 1), "S" + (i + 1), s.actor + " " + s.polarity + " " + s.target, numbers);
      stanceList.append(itemLi("st-" + (i + 1), numbers,
        el("span", { class: "badge " + s.polarity, text: s.polarity }), " ",
        el("strong", { text: s.actor }), " → ", el("strong", { text: s.target }), ": ",
        el("span", { text: s.position }), flags(s)));
    });
    if (!stances.length) stanceList.append(el("li", { class: "meta", text: "none" }));

    const events = list(analysis.events).map((e, i) => ({ e, i }));
    const startOf = (x) => (x.e.date && x.e.date.resolved ? x.e.date.resolved.start : "9999");
    events.sort((a, b) => startOf(a).localeCompare(startOf(b)) || a.i - b.i);
    const timeline = $("timeline");
    timeline.replaceChildren();
    for (const { e, i } of events) {
      const numbers = citedBy(e);
      register(refs, "ev-" + (i + 1), "E" + (i + 1), e.description, numbers);
      const resolved = e.date && e.date.resolved;
      const when = resolved
        ? resolved.start + (resolved.end !== resolved.start ? " – " + resolved.end : "")
        : e.date ? "“" + e.date.text + "” (unresolved)" : e.date_text || "undated";
      timeline.append(itemLi("ev-" + (i + 1), numbers,
        el("span", { class: "when", text: when }), " ",
        resolved && resolved.scheduled ? el("span", { class: "scheduled", text: "scheduled" }) : null, " ",
        el("span", { class: "badge neutral", text: e.event_type }), " ",
        el("span", { text: e.description }), " ",
        el("span", { class: "meta", text: list(e.actors).join(", ") + (list(e.recipients).length ? " → " + e.recipients.join(", ") : "") }),
        flags(e)));
    }
    if (!events.length) timeline.append(el("li", { class: "meta", text: "none" }));

    renderArticle(article, refs, [...keyPoints, ...stances, ...list(analysis.events)]);
    const m = analysis.metadata || {};
    const usage = m.usage || {};
    $("meta").textContent = [m.model, m.endpoint, usage.total_tokens != null ? usage.total_tokens + " tokens" : null,
      m.seconds != null ? m.seconds + " s" : null].filter(Boolean).join(" · ");
    $("result").hidden = false;
  }

  function showError(message) {
    const box = $("error");
    box.textContent = message;
    box.hidden = !message;
  }

  async function submit(event) {
    event.preventDefault();
    const form = $("form");
    const body = { tasks: [...form.querySelectorAll("input[name=task]:checked")].map((x) => x.value), strict: $("strict").checked };
    const content = $("article").value;
    if (form.dataset.html === content) body.html = content; else body.text = content;
    if ($("published").value) body.published = $("published").value;
    const headers = { "Content-Type": "application/json" };
    const key = $("key").value.trim();
    if (key) { headers.Authorization = "Bearer " + key; sessionStorage.setItem("summarizer-key", key); }
    showError("");
    $("status").textContent = "analysing…";
    $("submit").disabled = true;
    try {
      const response = await fetch("v1/analyses", { method: "POST", headers, body: JSON.stringify(body) });
      const data = await response.json().catch(() => ({}));
      if (!response.ok) { showError((data.title || response.statusText) + ": " + (data.detail || response.status)); return; }
      render(data);
      $("status").textContent = "";
    } catch (err) {
      showError("the service did not answer: " + err.message);
    } finally {
      $("submit").disabled = false;
      if ($("status").textContent === "analysing…") $("status").textContent = "";
    }
  }

  function setUpForm() {
    const form = $("form");
    $("key").value = sessionStorage.getItem("summarizer-key") || "";
    form.addEventListener("submit", submit);
    form.addEventListener("dragover", (e) => { e.preventDefault(); form.classList.add("drop"); });
    form.addEventListener("dragleave", () => form.classList.remove("drop"));
    form.addEventListener("drop", async (e) => {
      e.preventDefault();
      form.classList.remove("drop");
      const file = e.dataTransfer.files[0];
      if (!file) return;
      const content = await file.text();
      $("article").value = content;
      // A dropped page goes to the service as HTML, which extracts its text and metadata.
      if (/\.x?html?$/i.test(file.name) || /^\s*<(!doctype|html)/i.test(content)) form.dataset.html = content;
      else delete form.dataset.html;
    });
  }

  const embedded = $("analysis-data");
  if (embedded) render(JSON.parse(embedded.textContent));
  if ($("form")) setUpForm();
  window.summarizerRender = render;
})();
