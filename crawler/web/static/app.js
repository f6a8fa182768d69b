// raqib web: progressive enhancement only; every page works without this file.
// No inline script anywhere (the Content-Security-Policy forbids it): data reaches this
// file through data-* attributes, which the templates escape.
(function () {
  "use strict";
  var GREG = new Intl.DateTimeFormat("ar-u-nu-latn", { day: "numeric", month: "long", year: "numeric", hour: "2-digit", minute: "2-digit" });
  var HIJRI;
  try { HIJRI = new Intl.DateTimeFormat("ar-u-ca-islamic-umalqura-nu-latn", { day: "numeric", month: "long", year: "numeric" }); } catch (e) { HIJRI = null; }

  function dates(root) {
    root.querySelectorAll("time[datetime]").forEach(function (t) {
      var d = new Date(t.getAttribute("datetime"));
      if (isNaN(d)) return;
      t.textContent = GREG.format(d);
      t.title = (HIJRI ? HIJRI.format(d) + " · " : "") + d.toISOString().replace("T", " ").slice(0, 16) + " UTC";
    });
  }

  function day(ms) { return new Date(ms).toISOString().slice(0, 10); }

  function histogram(root) {
    var el = root.querySelector("#histogram");
    if (!el || !window.uPlot || el.dataset.drawn) return;
    var pts = JSON.parse(el.dataset.points || "[]");
    if (pts.length < 2) { el.hidden = true; return; }
    el.dataset.drawn = "1";
    var xs = pts.map(function (p) { return p[0] / 1000; }), ys = pts.map(function (p) { return p[1]; });
    var u = new uPlot({
      width: el.clientWidth || 600, height: 110, legend: { show: false }, cursor: { drag: { x: true, y: false } },
      axes: [{ size: 24, font: "11px sans-serif" }, { size: 32, font: "11px sans-serif" }],
      series: [{}, { stroke: "#0d5c63", fill: "rgba(13,92,99,.18)", paths: uPlot.paths.bars({ size: [0.9, 40] }) }],
      hooks: { setSelect: [function (u) {
        if (u.select.width < 3) return;
        var a = u.posToVal(u.select.left, "x"), b = u.posToVal(u.select.left + u.select.width, "x");
        var base = el.dataset.base, sep = base.indexOf("?") < 0 ? "?" : "&";
        window.location.href = base + sep + "since=" + day(a * 1000) + "&until=" + day(b * 1000);
      }] }
    }, [xs, ys], el);
    window.addEventListener("resize", function () { u.setSize({ width: el.clientWidth, height: 110 }); });
  }

  var PALETTE = ["#0d5c63", "#e8a33d", "#b3261e", "#5b3cc4", "#2e8540", "#c2185b", "#00838f", "#6d4c41", "#455a64", "#f57c00", "#7cb342", "#8e24aa"];
  function charts(root) {
    var holder = root.querySelector("#chart-data");
    if (!holder || !window.uPlot) return;
    var data = JSON.parse(holder.dataset.charts || "{}");
    root.querySelectorAll(".chart[data-series]").forEach(function (el) {
      var groups = data[el.dataset.series] || {}, names = Object.keys(groups);
      var xsSet = {};
      names.forEach(function (n) { groups[n].forEach(function (p) { xsSet[p[0]] = 1; }); });
      var xs = Object.keys(xsSet).map(Number).sort(function (a, b) { return a - b; });
      if (xs.length < 2) { el.textContent = "—"; return; }
      var cols = [xs.map(function (x) { return x / 1000; })], series = [{}];
      names.forEach(function (n, i) {
        var m = {}; groups[n].forEach(function (p) { m[p[0]] = p[1]; });
        cols.push(xs.map(function (x) { return m[x] || 0; }));
        series.push({ label: n, stroke: PALETTE[i % PALETTE.length], width: 2 });
      });
      new uPlot({ width: el.clientWidth || 500, height: 240, series: series,
                  axes: [{ font: "11px sans-serif" }, { font: "11px sans-serif", size: 36 }] }, cols, el);
    });
  }

  function live() {
    var state = document.getElementById("live-state");
    if (!state) return;
    var list = document.getElementById("live-list"), unread = document.getElementById("live-unread"),
        empty = document.getElementById("live-empty"), badge = document.getElementById("unread"), count = 0;
    function show(n) { count = n; unread.textContent = String(n); badge.textContent = String(n); badge.hidden = n === 0; }
    var es = new EventSource(state.dataset.stream);
    es.onopen = function () { state.textContent = "متصل: بانتظار مقالات جديدة"; state.className = "on"; };
    es.onerror = function () { state.textContent = "انقطع الاتصال؛ إعادة المحاولة…"; state.className = "off"; };
    es.addEventListener("article", function (ev) {
      var tpl = document.createElement("template");
      tpl.innerHTML = ev.data;     // rendered and escaped by the server's template
      var item = tpl.content.firstElementChild;
      if (!item || list.querySelector('[data-id="' + CSS.escape(item.dataset.id) + '"]')) return;
      dates(item.parentNode || item);
      list.insertBefore(item, list.firstChild);
      dates(list);
      empty.hidden = true;
      show(count + 1);
    });
    document.getElementById("mark-read").addEventListener("click", function () { show(0); });
  }

  function autosubmit(root) {
    root.querySelectorAll("select.autosubmit").forEach(function (s) {
      s.addEventListener("change", function () { s.form.submit(); });
    });
  }

  function init(root) { dates(root); histogram(root); charts(root); autosubmit(root); }
  document.addEventListener("DOMContentLoaded", function () { init(document); live(); });
  document.addEventListener("htmx:afterSettle", function () { init(document); });
})();
