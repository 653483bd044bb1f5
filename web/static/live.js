// New alerts on an open queue page, without a reload: the console streams
// each new alert's id and priority (server-sent events); opening it is an
// ordinary request, checked and recorded by the hub.
"use strict";
(function () {
  var live = document.getElementById("live");
  if (!live || !window.EventSource) return;
  var panel = live.getAttribute("data-panel");
  var source = new EventSource("/events?panel=" + encodeURIComponent(panel));
  // Open once the console's fetch of the panel is live: tests wait for it.
  source.addEventListener("open", function () { live.setAttribute("data-state", "open"); });
  source.addEventListener("alert", function (e) {
    var a;
    try { a = JSON.parse(e.data); } catch (err) { return; }
    if (typeof a.id !== "number") return;
    var tbody = document.querySelector("table.queue tbody");
    var row = document.createElement("tr");
    row.className = "new";
    var cell = document.createElement("td");
    var link = document.createElement("a");
    link.href = "/alert/" + a.id;
    link.textContent = String(a.id);
    cell.appendChild(link);
    row.appendChild(cell);
    var pri = document.createElement("td");
    pri.textContent = String(a.priority || "");
    row.appendChild(pri);
    var note = document.createElement("td");
    note.colSpan = 5;
    note.textContent = "new: open it to read";
    row.appendChild(note);
    if (tbody) tbody.appendChild(row);
    live.textContent = "New alert " + a.id + " (" + (a.priority || "") + ") has arrived.";
  });
})();
