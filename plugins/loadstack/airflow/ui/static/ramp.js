// The ramp page: polls the ramp app's /live JSON, draws the charts as SVG and sends Pause / Resume /
// Terminate. No library and no network beyond the api-server (the login cookie goes along: same origin).
"use strict";
(function () {
  const config = JSON.parse(document.getElementById("ramp-config").textContent);
  const rampUrl = config.base + [config.dag_id, config.run_id, config.task_id].map(encodeURIComponent).join("/");
  const FINISHED_TASK_STATES = ["success", "failed", "skipped", "upstream_failed", "removed"];
  const TERMINAL_PHASES = ["done", "aborted", "terminated"];
  // Marks on the QPS chart, by action (colours as in the report's charts); waits are not marked.
  const MARKS = {
    start: "#555555", step_up: "#2a9d3f", step_down: "#e08a00", stage_reached: "#1f5fbf",
    hold_started: "#1b7f3a", done: "#111111", pause: "#7a5195", resume: "#7a5195",
    terminate: "#8b0000", abort: "#d62728", drain: "#d62728", drain_step: "#d62728",
  };
  const PHASE_LINES = ["stage_reached", "hold_started", "pause", "resume", "done", "terminate", "abort"];
  const QUANTILES = [["p50_ms", "p50", "#6baed6"], ["p95_ms", "p95", "#3182bd"], ["p99_ms", "p99", "#08519c"]];
  const MAX_ROWS = 400;

  let epoch = null;
  let samples = [];
  let decisions = [];
  let last = null;
  let polling = false;
  let sentSeq = null;

  const $ = (id) => document.getElementById(id);
  const fmt = (v, digits = 1) => (v === null || v === undefined ? "no data" : Number(v).toFixed(digits));

  document.getElementById("title").textContent = "Ramp " + config.task_id;
  $("where").textContent = `DAG ${config.dag_id} · run ${config.run_id} · signed in as ${config.user}`;

  function showError(message) {
    $("error").hidden = !message;
    $("error").textContent = message || "";
  }

  async function detail(response) {
    try {
      const body = await response.json();
      return typeof body.detail === "string" ? body.detail : JSON.stringify(body.detail);
    } catch (e) {
      return response.statusText;
    }
  }

  async function poll() {
    if (polling) return;
    polling = true;
    try {
      const query = `?samples_from=${samples.length}&decisions_from=${decisions.length}`;
      const response = await fetch(rampUrl + "/live" + query, { credentials: "same-origin", cache: "no-store" });
      if (!response.ok) {
        showError(`HTTP ${response.status}: ${await detail(response)}`);
        return;
      }
      const complete = merge(await response.json());
      showError("");
      render();
      if (!complete) setTimeout(poll, 0);
    } catch (e) {
      showError("cannot reach the api-server: " + e);
    } finally {
      polling = false;
    }
  }

  // Adds what the server sent to what the page holds; false when the page must ask for everything again.
  function merge(view) {
    last = view;
    if (!view.found) return true;
    const continues = view.epoch === epoch && view.samples.from === samples.length
      && view.decisions.from === decisions.length;
    if (!continues) {
      samples = [];
      decisions = [];
      if (view.samples.from !== 0 || view.decisions.from !== 0) {
        // The tail of another checkpoint (the ramp started again from zero).
        epoch = null;
        return false;
      }
    }
    epoch = view.epoch;
    samples = samples.concat(view.samples.items);
    decisions = decisions.concat(view.decisions.items);
    return true;
  }

  function render() {
    const view = last;
    if (!view) return;
    $("task-state").textContent = view.task_state || "not started";
    const control = view.control;
    const applied = control && view.found && control.seq <= view.state.applied_control_seq;
    $("control").textContent = control
      ? `${control.action} #${control.seq}` + (control.by ? ` by ${control.by}` : "") + (control.reason ? `: ${control.reason}` : "") +
        (applied ? " (applied)" : view.found ? " (not applied yet)" : "")
      : "none";
    // The note of the last command sent stays only until the ramp has applied it.
    if (sentSeq !== null && applied && control.seq >= sentSeq) {
      $("command-result").textContent = "";
      sentSeq = null;
    }
    if (!view.found) {
      $("phase").textContent = "no checkpoint yet";
      $("phase").className = "phase";
      $("reason").textContent = `The ramp has not checkpointed to ${view.checkpoint} yet.`;
      setButtons(view);
      return;
    }
    const state = view.state;
    const params = view.params;
    $("phase").textContent = state.phase;
    $("phase").className = "phase " + state.phase;
    document.body.dataset.phase = state.phase;
    $("stage").textContent = `${state.stage} of ${state.stages}`;
    $("buckets").textContent = String(state.buckets);
    $("generated").textContent = fmt(state.generated_qps);
    $("achieved").textContent = view.latest ? fmt(view.latest.qps) : "no data";
    $("target").textContent = `${fmt(params.target_qps, 0)} (${fmt(params.low_watermark, 0)}..${fmt(params.high_watermark, 0)})`;
    $("hold").textContent = `${fmt(state.in_band_s, 0)} / ${fmt(state.hold_s, 0)} s`;
    $("sample-age").textContent = view.latest ? `${fmt(view.latest.age_s)} s old` : "none";
    const lastDecision = decisions.length ? decisions[decisions.length - 1] : null;
    $("reason").textContent = state.end_reason || (lastDecision ? `${lastDecision.action}: ${lastDecision.reason}` : "");
    setButtons(view);
    drawCharts(view);
    renderDecisions();
  }

  function setButtons(view) {
    const taskOver = FINISHED_TASK_STATES.includes(view.task_state);
    const phase = view.found ? view.state.phase : null;
    const live = view.found && !taskOver && !TERMINAL_PHASES.includes(phase);
    $("pause").disabled = !live || phase === "paused";
    $("resume").disabled = !live || phase !== "paused";
    $("terminate").disabled = !live;
  }

  // Terminate takes a second click within a few seconds. Not window.confirm(): the Airflow UI shows the
  // page in a sandboxed iframe without allow-modals, where confirm() returns false without asking.
  let terminateArmedUntil = 0;
  const TERMINATE_LABEL = "Terminate";

  function armTerminate() {
    terminateArmedUntil = Date.now() + 5000;
    $("terminate").textContent = "Confirm terminate";
    $("command-result").textContent = "Terminate drains the ramp's traffic and fails the task: click again to confirm";
    setTimeout(() => {
      if (Date.now() >= terminateArmedUntil) $("terminate").textContent = TERMINATE_LABEL;
    }, 5100);
  }

  async function send(action) {
    if (action === "terminate") {
      if (Date.now() >= terminateArmedUntil) {
        armTerminate();
        return;
      }
      terminateArmedUntil = 0;
      $("terminate").textContent = TERMINATE_LABEL;
    }
    $("command-result").textContent = `sending ${action}...`;
    try {
      const response = await fetch(rampUrl + "/" + action, {
        method: "POST",
        credentials: "same-origin",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ reason: $("command-reason").value }),
      });
      if (!response.ok) {
        $("command-result").textContent = `${action} refused: HTTP ${response.status}: ${await detail(response)}`;
        return;
      }
      const record = await response.json();
      $("command-result").textContent = `${record.action} #${record.seq} sent; the ramp applies it at its next tick`;
      sentSeq = record.seq;
      $("command-reason").value = "";
      poll();
    } catch (e) {
      $("command-result").textContent = `${action} failed: ${e}`;
    }
  }

  ["pause", "resume", "terminate"].forEach((action) => $(action).addEventListener("click", () => send(action)));
  $("hide-waits").addEventListener("change", renderDecisions);

  // --- charts ---------------------------------------------------------------------------------------
  const SVG = "http://www.w3.org/2000/svg";
  const MARGIN = { left: 58, right: 12, top: 12, bottom: 24 };

  function el(name, attrs, text) {
    const node = document.createElementNS(SVG, name);
    for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function niceStep(span, count) {
    const raw = span / count;
    const magnitude = Math.pow(10, Math.floor(Math.log10(raw)));
    const n = raw / magnitude;
    return (n <= 1 ? 1 : n <= 2 ? 2 : n <= 5 ? 5 : 10) * magnitude;
  }

  // opts: {xMax, yMax, yFmt, series: [{color, points: [[x, y|null]], dash}], band: {y0, y1, color},
  //        hlines: [{y, color, dash}], vlines: [{x, color, title}], marks: [{x, color, title}]}
  function drawChart(svg, opts) {
    const [, , width, height] = svg.getAttribute("viewBox").split(" ").map(Number);
    const w = width - MARGIN.left - MARGIN.right;
    const h = height - MARGIN.top - MARGIN.bottom;
    const xMax = Math.max(opts.xMax, 1);
    const yMax = opts.yMax > 0 ? opts.yMax : 1;
    const X = (x) => MARGIN.left + (x / xMax) * w;
    const Y = (y) => MARGIN.top + h - (Math.min(y, yMax) / yMax) * h;
    svg.replaceChildren();
    const yStep = niceStep(yMax, 4);
    for (let y = 0; y <= yMax + 1e-9; y += yStep) {
      svg.appendChild(el("line", { x1: MARGIN.left, x2: MARGIN.left + w, y1: Y(y), y2: Y(y), stroke: "#eee" }));
      svg.appendChild(el("text", { x: MARGIN.left - 6, y: Y(y) + 4, "text-anchor": "end" }, opts.yFmt(y)));
    }
    const xStep = niceStep(xMax, 8);
    for (let x = 0; x <= xMax + 1e-9; x += xStep) {
      svg.appendChild(el("text", { x: X(x), y: height - 6, "text-anchor": "middle" }, `${Math.round(x)} s`));
    }
    if (opts.band) {
      const top = Y(opts.band.y1);
      svg.appendChild(el("rect", { x: MARGIN.left, width: w, y: top, height: Math.max(Y(opts.band.y0) - top, 0),
        fill: opts.band.color, "fill-opacity": 0.15, class: "band" }));
    }
    for (const line of opts.hlines || []) {
      svg.appendChild(el("line", { x1: MARGIN.left, x2: MARGIN.left + w, y1: Y(line.y), y2: Y(line.y),
        stroke: line.color, "stroke-dasharray": line.dash || "", "stroke-width": 1.2 }));
    }
    for (const line of opts.vlines || []) {
      const v = el("line", { x1: X(line.x), x2: X(line.x), y1: MARGIN.top, y2: MARGIN.top + h, stroke: line.color,
        "stroke-dasharray": "5 3", "stroke-width": 1, class: "stage-mark" });
      v.appendChild(el("title", {}, line.title));
      svg.appendChild(v);
    }
    for (const series of opts.series) {
      let path = "";
      let pen = false;
      for (const [x, y] of series.points) {
        if (y === null || y === undefined) { pen = false; continue; }
        path += `${pen ? "L" : "M"}${X(x).toFixed(1)},${Y(y).toFixed(1)}`;
        pen = true;
      }
      if (path) {
        svg.appendChild(el("path", { d: path, fill: "none", stroke: series.color, "stroke-width": 1.6,
          "stroke-dasharray": series.dash || "", class: "series" }));
      }
    }
    for (const mark of opts.marks || []) {
      const x = X(mark.x);
      const m = el("path", { d: `M${x - 5},${MARGIN.top}L${x + 5},${MARGIN.top}L${x},${MARGIN.top + 8}Z`,
        fill: mark.color, class: "action-mark" });
      m.appendChild(el("title", {}, mark.title));
      svg.appendChild(m);
    }
  }

  function legend(id, items) {
    $(id).replaceChildren(...items.map(([label, color]) => {
      const span = document.createElement("span");
      const swatch = document.createElement("i");
      swatch.style.background = color;
      span.append(swatch, label);
      return span;
    }));
  }

  function drawCharts(view) {
    const params = view.params;
    const origin = epoch !== null && epoch !== undefined ? epoch : (samples.length ? samples[0].at : view.now);
    const end = Math.max(view.state.ended_at || view.now, ...samples.map((s) => s.at), ...decisions.map((d) => d.at));
    const xMax = Math.max(end - origin, 10);
    const t = (at) => at - origin;
    const shown = decisions.filter((d) => d.action !== "wait");
    const vlines = shown.filter((d) => PHASE_LINES.includes(d.action))
      .map((d) => ({ x: t(d.at), color: MARKS[d.action], title: `${d.action}: ${d.reason}` }));
    const marks = shown.filter((d) => !PHASE_LINES.includes(d.action))
      .map((d) => ({ x: t(d.at), color: MARKS[d.action] || "#999", title: `${d.action}: ${d.reason}` }));

    const qps = samples.map((s) => [t(s.at), s.qps]);
    const qpsMax = Math.max(params.high_watermark, params.target_qps, ...samples.map((s) => s.qps || 0)) * 1.1;
    const stageLines = params.stage_targets_qps.slice(0, -1).map((y) => ({ y, color: "#1f5fbf", dash: "2 4" }));
    const qpsChart = $("qps-chart");
    drawChart(qpsChart, {
      xMax, yMax: qpsMax, yFmt: (y) => y.toFixed(0),
      band: { y0: params.low_watermark, y1: params.high_watermark, color: "#2a9d3f" },
      hlines: [{ y: params.target_qps, color: "#1b7f3a", dash: "6 3" }, ...stageLines],
      vlines, marks,
      series: [{ color: "#d1495b", points: qps }],
    });
    qpsChart.dataset.samples = String(samples.length);
    legend("qps-legend", [["achieved QPS", "#d1495b"], ["target", "#1b7f3a"], ["band (watermarks)", "#9fd4ab"],
      ["stage targets", "#1f5fbf"], ["stage / hold / pause / end (dashed lines)", "#7a5195"]]);

    const limits = (metric) => params.abort_rules.filter((r) => r.metric === metric);
    const latencyMax = Math.max(...samples.map((s) => s.p99_ms || s.p95_ms || 0),
      ...params.abort_rules.filter((r) => r.metric !== "error_ratio").map((r) => r.limit), 1) * 1.1;
    drawChart($("latency-chart"), {
      xMax, yMax: latencyMax, yFmt: (y) => `${y.toFixed(0)} ms`, vlines,
      hlines: [...limits("p95_ms"), ...limits("p99_ms"), ...limits("p50_ms")]
        .map((r) => ({ y: r.limit, color: "#d62728", dash: r.window_s ? "6 3" : "" })),
      series: QUANTILES.map(([key, , color]) => ({ color, points: samples.map((s) => [t(s.at), s[key]]) })),
    });
    legend("latency-legend", [...QUANTILES.map(([, label, color]) => [label, color]), ["abort limits", "#d62728"]]);

    const errorMax = Math.max(...samples.map((s) => s.error_ratio || 0),
      ...limits("error_ratio").map((r) => r.limit), 0.01) * 1.1;
    drawChart($("errors-chart"), {
      xMax, yMax: errorMax, yFmt: (y) => `${(y * 100).toFixed(y < 0.1 ? 1 : 0)} %`, vlines,
      hlines: limits("error_ratio").map((r) => ({ y: r.limit, color: "#d62728", dash: r.window_s ? "6 3" : "" })),
      series: [{ color: "#b5651d", points: samples.map((s) => [t(s.at), s.error_ratio]) }],
    });
    legend("errors-legend", [["error ratio", "#b5651d"], ["abort limits", "#d62728"]]);
  }

  // --- decision log ---------------------------------------------------------------------------------
  function kv(object) {
    return Object.entries(object || {})
      .map(([k, v]) => `${k}=${typeof v === "number" ? Number(v.toPrecision(6)) : JSON.stringify(v)}`).join("\n");
  }

  function renderDecisions() {
    const hideWaits = $("hide-waits").checked;
    const origin = epoch !== null && epoch !== undefined ? epoch : (decisions.length ? decisions[0].at : 0);
    const rows = decisions.filter((d) => !hideWaits || d.action !== "wait").slice(-MAX_ROWS).reverse();
    $("decision-count").textContent = `(${decisions.length} in all, newest first` +
      (rows.length === MAX_ROWS ? `, the last ${MAX_ROWS} shown)` : ")");
    $("decision-rows").replaceChildren(...rows.map((d) => {
      const tr = document.createElement("tr");
      tr.className = d.action;
      const cells = [
        fmt(d.at - origin), d.action, String(d.stage), `${d.buckets_before} → ${d.buckets_after}`, fmt(d.rate_qps),
        kv(d.values), kv(d.thresholds), d.sample_age_s === null ? "-" : fmt(d.sample_age_s), d.reason,
      ];
      cells.forEach((text, i) => {
        const td = document.createElement("td");
        if (i === 5 || i === 6) td.className = "kv";
        td.textContent = text;
        tr.appendChild(td);
      });
      return tr;
    }));
  }

  poll();
  setInterval(poll, config.poll_s * 1000);
})();
