// Injected by test_browser.py into a copy of a report. Records the boxes that stick out
// of the viewport (outside any scrolling box), and each table's box and table widths.
window.addEventListener("load", function () {
  var vw = document.documentElement.clientWidth;
  var out = [];
  document.querySelectorAll("body *").forEach(function (el) {
    for (var p = el.parentElement; p; p = p.parentElement) {
      var ox = getComputedStyle(p).overflowX;
      if (ox === "auto" || ox === "scroll" || ox === "hidden") return;
    }
    var r = el.getBoundingClientRect();
    if (r.width > 0 && (r.right > vw + 0.5 || r.left < -0.5)) {
      out.push({what: el.tagName + "." + el.className, right: Math.round(r.right),
                inWide: el.closest(".table-wrap.wide") !== null});
    }
  });
  var tables = [];
  document.querySelectorAll(".table-wrap").forEach(function (w) {
    var t = w.querySelector("table"), cap = w.querySelector("caption");
    tables.push({caption: cap ? cap.textContent : "", wide: w.classList.contains("wide"),
                 box: w.clientWidth, scroll: w.scrollWidth,
                 table: Math.ceil(t.getBoundingClientRect().width)});
  });
  var b = document.body;
  b.setAttribute("data-viewport", String(vw));
  b.setAttribute("data-page-width", String(document.documentElement.scrollWidth));
  b.setAttribute("data-outside", JSON.stringify(out.slice(0, 20)));
  b.setAttribute("data-tables", JSON.stringify(tables));
});
