// Sorting and filtering of the findings tables. Plain JavaScript, no network, no eval.
(function () {
  "use strict";

  function sortKey(cell) {
    var value = cell.getAttribute("data-sort");
    return value === null ? cell.textContent.trim().toLowerCase() : value;
  }

  function compare(a, b, numeric) {
    if (a === b) { return 0; }
    if (a === "") { return 1; }
    if (b === "") { return -1; }
    if (numeric) {
      var x = parseFloat(a);
      var y = parseFloat(b);
      if (!isNaN(x) && !isNaN(y) && x !== y) { return x < y ? -1 : 1; }
    }
    return a < b ? -1 : (a > b ? 1 : 0);
  }

  function makeSortable(table) {
    var body = table.tBodies[0];
    var headers = Array.prototype.slice.call(table.tHead.rows[0].cells);
    Array.prototype.forEach.call(body.rows, function (row, index) {
      row.setAttribute("data-index", String(index));
    });
    headers.forEach(function (th, column) {
      var button = th.querySelector("button");
      if (!button) { return; }
      button.addEventListener("click", function () {
        var ascending = th.getAttribute("aria-sort") !== "ascending";
        var numeric = th.getAttribute("data-type") === "number";
        headers.forEach(function (other) { other.removeAttribute("aria-sort"); });
        th.setAttribute("aria-sort", ascending ? "ascending" : "descending");
        var rows = Array.prototype.slice.call(body.rows).map(function (row) {
          return { row: row, key: sortKey(row.cells[column]), index: Number(row.getAttribute("data-index")) };
        });
        rows.sort(function (p, q) {
          var order = compare(p.key, q.key, numeric);
          if (order !== 0 && (p.key === "" || q.key === "")) { return order; }
          return (ascending ? order : -order) || p.index - q.index;
        });
        rows.forEach(function (item) { body.appendChild(item.row); });
      });
    });
  }

  function makeFilter(form) {
    var ids = (form.getAttribute("data-filter-for") || "").split(" ");
    var tables = ids.map(function (id) { return document.getElementById(id); }).filter(Boolean);
    var text = form.querySelector("input[name=q]");
    var severity = form.querySelector("select[name=severity]");
    var output = form.querySelector("output");
    var empty = form.nextElementSibling;
    function apply() {
      var words = text.value.toLowerCase().split(/\s+/).filter(Boolean);
      var wanted = severity.value;
      var shown = 0;
      var total = 0;
      tables.forEach(function (table) {
        Array.prototype.forEach.call(table.tBodies[0].rows, function (row) {
          var haystack = row.textContent.toLowerCase();
          var visible = (!wanted || row.getAttribute("data-severity") === wanted) &&
            words.every(function (word) { return haystack.indexOf(word) !== -1; });
          row.hidden = !visible;
          total += 1;
          if (visible) { shown += 1; }
        });
      });
      var noun = total === 1 ? " finding" : " findings";
      output.textContent = shown === total ? total + noun : shown + " of " + total + noun + " shown";
      if (empty && empty.classList.contains("no-match")) { empty.hidden = shown > 0 || total === 0; }
    }
    form.addEventListener("submit", function (event) { event.preventDefault(); });
    text.addEventListener("input", apply);
    severity.addEventListener("change", apply);
    apply();
  }

  // On paper every finding shows its evidence. The stylesheet opens closed <details> where
  // the browser supports ::details-content; elsewhere they are opened for the printing and
  // closed again after it.
  var openedForPrint = [];
  window.addEventListener("beforeprint", function () {
    openedForPrint = Array.prototype.slice.call(document.querySelectorAll("details:not([open])"));
    openedForPrint.forEach(function (details) { details.open = true; });
  });
  window.addEventListener("afterprint", function () {
    openedForPrint.forEach(function (details) { details.open = false; });
    openedForPrint = [];
  });

  Array.prototype.forEach.call(document.querySelectorAll("table.sortable"), makeSortable);
  Array.prototype.forEach.call(document.querySelectorAll("form[data-filter-for]"), makeFilter);
}());
