// lit_draw attention viewer: draws the page from the JSON in #viewer-data (see lit_draw/viewer/build.py).
// No network, no libraries: canvases for pictures, plain DOM for bars, inline SVG for charts.
"use strict";
(function () {
  const data = JSON.parse(document.getElementById("viewer-data").textContent);
  const H = data.canvas.height, W = data.canvas.width, C = data.num_classes;
  const VIEW = 280;                       // display pixels of the canvas's longer side
  const SCALE = VIEW / Math.max(H, W);    // display pixels per canvas pixel
  const PATCH = 96;                       // display pixels of an enlarged glimpse
  const PALETTE = ["#3b528b", "#e07b39", "#21918c", "#b5367a", "#5ec962", "#6a3d9a", "#8c564b", "#17becf"];
  const checkpoints = data.checkpoints;
  const maxGlimpses = Math.max(1, ...checkpoints.map((c) => c.glimpses));
  // the page opens on canvas i, glimpse t when its address ends in #canvas=i&glimpse=t (1-based)
  const start = new URLSearchParams(location.hash.slice(1));
  const clamp = (value, n) => Math.min(Math.max((parseInt(value, 10) || 1) - 1, 0), n - 1);
  const state = {
    canvas: clamp(start.get("canvas"), data.canvases.length),
    glimpse: clamp(start.get("glimpse"), maxGlimpses),
    timer: null,
  };
  const app = document.getElementById("app");

  // ------------------------------------------------------------------ small helpers
  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (k === "class") node.className = v;
      else if (k === "text") node.textContent = v;
      else node.setAttribute(k, v);
    }
    for (const child of children) node.append(child);
    return node;
  }

  function svg(tag, attrs, text) {
    const node = document.createElementNS("http://www.w3.org/2000/svg", tag);
    for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, v);
    if (text !== undefined) node.textContent = text;
    return node;
  }

  // uint8 greyscale (a base64-decoded string, row-major, w x h, from offset) -> an off-screen canvas
  function greyImage(bytes, w, h, offset = 0) {
    const image = new ImageData(w, h);
    for (let i = 0; i < w * h; i++) {
      const v = bytes.charCodeAt(offset + i);
      image.data[4 * i] = image.data[4 * i + 1] = image.data[4 * i + 2] = v;
      image.data[4 * i + 3] = 255;
    }
    const canvas = document.createElement("canvas");
    canvas.width = w;
    canvas.height = h;
    canvas.getContext("2d").putImageData(image, 0, 0);
    return canvas;
  }

  function blit(target, source) {
    const ctx = target.getContext("2d");
    ctx.imageSmoothingEnabled = false;
    ctx.drawImage(source, 0, 0, target.width, target.height);
    return ctx;
  }

  const canvasImages = data.canvases.map((c) => greyImage(atob(c.pixels), W, H));

  // ------------------------------------------------------------------ layout
  app.append(el("h1", { text: data.title }));
  if (data.errors.length) {
    const list = el("ul");
    for (const e of data.errors) list.append(el("li", {}, el("b", { text: e.name }), ": " + e.reason));
    app.append(el("div", { class: "errors", id: "errors" }, el("b", { text: "Not shown:" }), list));
  }
  if (!checkpoints.length) {
    app.append(el("p", { class: "empty", text: "No checkpoint could be loaded." }));
    return;
  }

  const picker = el("div", { class: "picker", id: "picker" });
  data.canvases.forEach((c, i) => {
    const thumb = el("canvas", { width: 48, height: Math.round((48 * H) / W) });
    blit(thumb, canvasImages[i]);
    const button = el("button", { class: "thumb", "data-index": i, title: `canvas ${i + 1}, label ${c.label}` },
      thumb, el("span", { text: `#${i + 1} · ${c.label}` }));
    button.addEventListener("click", () => { state.canvas = i; render(); });
    picker.append(button);
  });
  app.append(el("h3", { text: `Test canvases (the same fixed set for every checkpoint)` }), picker);

  const prev = el("button", { id: "prev", title: "previous glimpse (←)", text: "◀" });
  const next = el("button", { id: "next", title: "next glimpse (→)", text: "▶" });
  const slider = el("input", { id: "slider", type: "range", min: 1, max: maxGlimpses, value: 1, step: 1 });
  const play = el("button", { id: "play", title: "play / pause (space)", text: "Play" });
  const label = el("span", { id: "glimpse-label" });
  app.append(el("div", { class: "controls" }, prev, next, slider, label, play,
    el("span", { class: "hint", text: "← → glimpse · ↑ ↓ canvas · space play/pause" })));

  function step(delta) {
    state.glimpse = (state.glimpse + delta + maxGlimpses) % maxGlimpses;
    render();
  }
  function togglePlay() {
    if (state.timer === null) state.timer = setInterval(() => step(1), 800);
    else { clearInterval(state.timer); state.timer = null; }
    play.textContent = state.timer === null ? "Play" : "Pause";
  }
  prev.addEventListener("click", () => step(-1));
  next.addEventListener("click", () => step(1));
  play.addEventListener("click", togglePlay);
  slider.addEventListener("input", () => { state.glimpse = Number(slider.value) - 1; render(); });
  document.addEventListener("keydown", (event) => {
    if (event.target === slider && event.key.startsWith("Arrow")) return;  // the slider moves itself
    if (event.key === " " && event.target.tagName === "BUTTON") return;  // space presses the focused button
    const n = data.canvases.length;
    if (event.key === "ArrowRight") step(1);
    else if (event.key === "ArrowLeft") step(-1);
    else if (event.key === "ArrowDown") { state.canvas = (state.canvas + 1) % n; render(); }
    else if (event.key === "ArrowUp") { state.canvas = (state.canvas + n - 1) % n; render(); }
    else if (event.key === " ") togglePlay();
    else return;
    event.preventDefault();
  });

  const panels = el("div", { class: "panels", id: "panels" });
  const views = checkpoints.map((ck, i) => {
    const colour = PALETTE[i % PALETTE.length];
    const view = el("canvas", { class: "view", width: Math.round(W * SCALE), height: Math.round(H * SCALE) });
    const patches = el("div", { class: "patches" });
    const bars = el("div", { class: "bars" });
    const fills = [];
    for (let c = 0; c < C; c++) {
      const fill = el("div", { class: "fill" });
      fills.push(fill);
      bars.append(el("div", { class: "bar", "data-class": c }, fill, el("span", { class: "digit", text: c })));
    }
    const prediction = el("p", { class: "prediction" });
    const panel = el("section", { class: "panel", "data-name": ck.name, style: `--colour: ${colour}` },
      el("h2", {}, ck.name + " ", el("span", { class: "model", text: `${ck.model}, T = ${ck.glimpses}` })),
      view, patches, bars, prediction);
    panels.append(panel);
    return { ck, colour, view, patches, bars, fills, prediction };
  });
  app.append(panels);

  // ------------------------------------------------------------------ one checkpoint at one glimpse
  function drawWindow(ctx, ck, sample, t, colour) {
    const px = (v) => (v + 0.5) * SCALE;  // canvas coordinate (pixel a at a) -> display
    // the path of the earlier glimpses' centres
    ctx.strokeStyle = colour;
    ctx.fillStyle = colour;
    ctx.globalAlpha = 0.6;
    ctx.lineWidth = 1;
    ctx.beginPath();
    for (let s = 0; s <= t; s++) {
      const [x, y] = sample.center[s].map(px);
      if (s === 0) ctx.moveTo(x, y); else ctx.lineTo(x, y);
    }
    ctx.stroke();
    for (let s = 0; s < t; s++) {
      const [x, y] = sample.center[s].map(px);
      ctx.beginPath();
      ctx.arc(x, y, 2, 0, 2 * Math.PI);
      ctx.fill();
    }
    ctx.globalAlpha = 1;
    const [cx, cy] = sample.center[t].map(px);
    const side = sample.size[t] * SCALE;
    if (sample.delta) {
      // DRAW: the N x N grid's extent, with a band of one filter standard deviation either side
      const sigma = Math.sqrt(sample.sigma2[t]) * SCALE;
      ctx.globalAlpha = 0.3;
      ctx.lineWidth = Math.max(2 * sigma, 1);
      ctx.shadowColor = colour;
      ctx.shadowBlur = sigma;
      ctx.strokeRect(cx - side / 2, cy - side / 2, side, side);
      ctx.shadowBlur = 0;
      ctx.globalAlpha = 1;
      ctx.lineWidth = 2;
      ctx.strokeRect(cx - side / 2, cy - side / 2, side, side);
      const n = Math.round(sample.size[t] / sample.delta[t]);
      const stride = sample.delta[t] * SCALE;
      ctx.globalAlpha = 0.8;
      for (let i = 0; i < n; i++) {
        for (let j = 0; j < n; j++) {
          ctx.beginPath();
          ctx.arc(cx + (i - (n - 1) / 2) * stride, cy + (j - (n - 1) / 2) * stride, 1.2, 0, 2 * Math.PI);
          ctx.fill();
        }
      }
      ctx.globalAlpha = 1;
    } else {
      // retina: nested squares of side size * 2^k
      for (let k = 0; k < ck.n_scales; k++) {
        const s = side * 2 ** k;
        ctx.lineWidth = k === 0 ? 2 : 1;
        ctx.strokeRect(cx - s / 2, cy - s / 2, s, s);
      }
    }
    ctx.beginPath();
    ctx.arc(cx, cy, 3, 0, 2 * Math.PI);
    ctx.fill();
    return [cx, cy, side];
  }

  function renderView(v) {
    const ck = v.ck;
    const sample = ck.samples[state.canvas];
    const t = Math.min(state.glimpse, ck.glimpses - 1);
    const ctx = blit(v.view, canvasImages[state.canvas]);
    const geometry = drawWindow(ctx, ck, sample, t, v.colour);
    v.view.dataset.window = geometry.map((g) => g.toFixed(2)).join(",");
    v.view.dataset.glimpse = t + 1;

    v.patches.replaceChildren();
    if (sample.patches) {
      const [scales, ph, pw] = sample.patches.shape;
      const bytes = atob(sample.patches.pixels[t]);
      for (let k = 0; k < scales; k++) {
        const image = greyImage(bytes, pw, ph, k * ph * pw);
        const big = el("canvas", { width: PATCH, height: Math.round((PATCH * ph) / pw) });
        blit(big, image);
        const caption = scales > 1 ? `scale ${k + 1} (×${2 ** k})` : `glimpse ${t + 1} (${ph}×${pw})`;
        v.patches.append(el("div", {}, big, el("div", { class: "caption", text: caption })));
      }
    } else {
      v.patches.append(el("span", { class: "empty", text: "(no glimpse patches in this trace)" }));
    }

    const probs = sample.probs[t];
    const truth = data.canvases[state.canvas].label;
    const predicted = probs.indexOf(Math.max(...probs));
    v.fills.forEach((fill, c) => {
      fill.style.height = `${(100 * probs[c]).toFixed(1)}%`;
      fill.parentElement.title = `class ${c}: ${probs[c].toFixed(3)}`;
      fill.parentElement.dataset.p = probs[c].toFixed(4);
      fill.parentElement.classList.toggle("true", c === truth);
      fill.parentElement.classList.toggle("predicted", c === predicted);
    });
    const verdict = predicted === truth ? "right" : "wrong";
    // a net with a halting head: where this canvas stopped, and whether this glimpse comes after it
    const halting = sample.halt == null ? "" : t + 1 < sample.halt
      ? ` · λ = ${sample.lambdas[t].toFixed(2)}, stops at glimpse ${sample.halt}`
      : t + 1 === sample.halt ? ` · λ = ${sample.lambdas[t].toFixed(2)}: stops here`
        : ` · after the stop (glimpse ${sample.halt})`;
    v.view.dataset.halt = sample.halt == null ? "" : sample.halt;
    v.view.classList.toggle("after-halt", sample.halt != null && t + 1 > sample.halt);
    v.prediction.textContent =
      `glimpse ${t + 1}/${ck.glimpses}: predicted ${predicted} (${probs[predicted].toFixed(2)}), true ${truth}: ${verdict}${halting}`;
  }

  function render() {
    picker.querySelectorAll(".thumb").forEach((b, i) => b.classList.toggle("selected", i === state.canvas));
    slider.value = state.glimpse + 1;
    label.textContent = `glimpse ${state.glimpse + 1} / ${maxGlimpses}`;
    views.forEach(renderView);
  }

  // ------------------------------------------------------------------ summary panels
  function lineChart(title, xLabel, yLabel, series, xRange) {
    const w = 360, h = 240, m = { l: 44, r: 12, t: 24, b: 36 };
    const ys = series.flatMap((s) => s.points.map((p) => p[1]));
    const yMin = Math.max(0, Math.floor(Math.min(...ys) * 10 - 0.5) / 10), yMax = 1;
    const yStep = yMax - yMin > 0.5 ? 0.2 : 0.1;
    const [xMin, xMax] = xRange;
    const X = (x) => m.l + ((x - xMin) / Math.max(xMax - xMin, 1e-9)) * (w - m.l - m.r);
    const Y = (y) => h - m.b - ((y - yMin) / (yMax - yMin)) * (h - m.t - m.b);
    const chart = svg("svg", { width: w, height: h, viewBox: `0 0 ${w} ${h}`, role: "img", "aria-label": title });
    chart.append(svg("text", { x: w / 2, y: 14, "text-anchor": "middle", "font-weight": "bold" }, title));
    chart.append(svg("line", { x1: m.l, y1: h - m.b, x2: w - m.r, y2: h - m.b, stroke: "#999" }));
    chart.append(svg("line", { x1: m.l, y1: m.t, x2: m.l, y2: h - m.b, stroke: "#999" }));
    for (let y = yMax; y >= yMin - 1e-9; y -= yStep) {
      chart.append(svg("line", { x1: m.l, y1: Y(y), x2: w - m.r, y2: Y(y), stroke: "#eee" }));
      chart.append(svg("text", { x: m.l - 4, y: Y(y) + 4, "text-anchor": "end" }, y.toFixed(2)));
    }
    const xTicks = Math.min(10, Math.round(xMax - xMin) || 1);
    for (let i = 0; i <= xTicks; i++) {
      const x = xMin + ((xMax - xMin) * i) / xTicks;
      chart.append(svg("text", { x: X(x), y: h - m.b + 14, "text-anchor": "middle" }, Number(x.toFixed(1))));
    }
    chart.append(svg("text", { x: (m.l + w - m.r) / 2, y: h - 4, "text-anchor": "middle" }, xLabel));
    chart.append(svg("text", { x: 12, y: (m.t + h - m.b) / 2, "text-anchor": "middle",
      transform: `rotate(-90 12 ${(m.t + h - m.b) / 2})` }, yLabel));
    for (const s of series) {
      const d = s.points.map((p, i) => `${i ? "L" : "M"}${X(p[0]).toFixed(1)},${Y(p[1]).toFixed(1)}`).join("");
      chart.append(svg("path", { d, fill: "none", stroke: s.colour, "stroke-width": 2 }));
      for (const p of s.points) {
        const dot = svg("circle", { cx: X(p[0]), cy: Y(p[1]), r: 3, fill: s.colour });
        dot.append(svg("title", {}, `${s.name}: (${p[0]}, ${p[1]})`));
        chart.append(dot);
      }
    }
    return chart;
  }

  function legend() {
    const box = el("div", { class: "legend" });
    views.forEach((v) => {
      const swatch = el("i");
      swatch.style.background = v.colour;
      box.append(el("span", {}, swatch, v.ck.name));
    });
    return box;
  }

  function confusionTable(matrix, signed) {
    const peak = Math.max(1, ...matrix.flat().map(Math.abs));
    const table = el("table", { class: "confusion" });
    const head = el("tr", {}, el("th", { text: "true \\ pred" }));
    for (let c = 0; c < matrix.length; c++) head.append(el("th", { text: c }));
    table.append(head);
    matrix.forEach((row, r) => {
      const tr = el("tr", {}, el("th", { text: r }));
      row.forEach((value) => {
        const a = Math.abs(value) / peak;
        const cell = el("td", { text: value === 0 ? "" : (signed && value > 0 ? "+" : "") + value });
        cell.style.background = !signed ? `rgba(59, 82, 139, ${a})`
          : value > 0 ? `rgba(33, 102, 172, ${a})` : `rgba(214, 60, 60, ${a})`;
        if (a > 0.6) cell.style.color = "#fff";
        tr.append(cell);
      });
      table.append(tr);
    });
    return table;
  }

  const summary = el("div", { class: "summary", id: "summary" });
  const accuracyCard = el("div", { class: "card" },
    lineChart("Accuracy at each glimpse", "glimpse", "accuracy",
      views.map((v) => ({ name: v.ck.name, colour: v.colour,
        points: v.ck.summary.acc_glimpse.map((a, t) => [t + 1, a]) })), [1, maxGlimpses]),
    legend());
  const tradeoffCard = el("div", { class: "card" },
    lineChart("Speed-accuracy trade-off (stop at confidence τ)", "mean glimpses used", "accuracy",
      views.map((v) => ({ name: v.ck.name, colour: v.colour,
        points: v.ck.summary.tradeoff.glimpses.map((g, k) => [g, v.ck.summary.tradeoff.acc[k]])
          .sort((a, b) => a[0] - b[0]) })), [1, maxGlimpses]),
    legend());
  const numbers = el("table", { class: "numbers" });
  numbers.append(el("tr", {}, el("th", { text: "checkpoint" }), el("th", { text: "model" }),
    el("th", { text: "canvases" }), el("th", { text: "final acc" }), el("th", { text: "acc per glimpse" }),
    el("th", { text: "learned halting: acc at mean glimpses" })));
  for (const v of views) {
    const acc = v.ck.summary.acc_glimpse;
    const halting = v.ck.summary.halting;
    numbers.append(el("tr", {}, el("td", { text: v.ck.name }), el("td", { text: v.ck.model }),
      el("td", { text: v.ck.summary.count }), el("td", { text: acc[acc.length - 1].toFixed(3) }),
      el("td", { text: acc.map((a) => a.toFixed(3)).join(" ") }),
      el("td", { text: halting ? `${halting.acc.toFixed(3)} at ${halting.glimpses.toFixed(2)}` : "–" })));
  }
  const confusionCard = el("div", { class: "card", id: "confusion" });
  if (data.confusion_difference) {
    const d = data.confusion_difference;
    confusionCard.append(el("h3", { text: `Confusion matrix difference: ${d.second} − ${d.first}` }),
      confusionTable(d.matrix, true),
      el("p", { class: "hint", text: "last glimpse; blue: more canvases in that cell for the second checkpoint, red: fewer" }));
  } else {
    confusionCard.append(el("h3", { text: `Confusion matrix: ${views[0].ck.name}` }),
      confusionTable(views[0].ck.summary.confusion, false),
      el("p", { class: "hint", text: "last glimpse; give two checkpoints to see their difference" }));
  }
  summary.append(accuracyCard, tradeoffCard, confusionCard, el("div", { class: "card" }, numbers));
  app.append(el("h3", { class: "summary-title", text: "Summary on the fixed test set" }), summary);

  render();
})();
