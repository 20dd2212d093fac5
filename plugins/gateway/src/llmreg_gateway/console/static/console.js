// llmreg console: a small layer over pages that work without it.
// - a form with data-busy says so and cannot be sent twice while it runs;
// - a form with data-stream (the playground) shows answers as they stream
//   (NDJSON over fetch), then the server's final HTML; without fetch streams,
//   or when the server refuses the form, it is sent the plain way;
// - an element with data-copy gets a "Copy" button (the new key's secret).
"use strict";

function liveColumns(box, targets) {
  box.innerHTML = "<h2>Answers</h2>";
  var grid = document.createElement("div");
  grid.className = "columns";
  var texts = targets.map(function (uri) {
    var col = document.createElement("section");
    col.className = "column";
    col.setAttribute("aria-label", "Answer of " + uri);
    var head = document.createElement("h3");
    head.textContent = uri;
    var text = document.createElement("p");
    text.className = "answer";
    col.appendChild(head);
    col.appendChild(text);
    grid.appendChild(col);
    return text;
  });
  box.appendChild(grid);
  return texts;
}

function streamForm(form) {
  var box = document.getElementById("answers");
  if (!box || !window.fetch || !window.ReadableStream || !window.TextDecoder) { return; }
  form.addEventListener("submit", function (event) {
    event.preventDefault();
    var button = form.querySelector("button[type=submit]");
    var body = new URLSearchParams(new FormData(form));
    var texts = [];
    fetch(form.dataset.stream, { method: "POST", body: body, credentials: "same-origin" })
      .then(function (response) {
        if (!response.ok || !response.body) { throw new Error("refused"); }
        var reader = response.body.getReader();
        var decoder = new TextDecoder();
        var pending = "";
        function handle(line) {
          if (!line) { return; }
          var event = JSON.parse(line);
          if (event.targets) { texts = liveColumns(box, event.targets); }
          else if (event.html !== undefined) { box.innerHTML = event.html; }
          else if (event.error !== undefined) { texts[event.i].textContent = "Error: " + event.error; }
          else if (event.text !== undefined) { texts[event.i].textContent += event.text; }
        }
        function pump() {
          return reader.read().then(function (step) {
            pending += decoder.decode(step.value || new Uint8Array(), { stream: !step.done });
            var lines = pending.split("\n");
            pending = lines.pop();
            lines.forEach(handle);
            if (step.done) { handle(pending); return; }
            return pump();
          });
        }
        return pump();
      })
      .then(function () {
        if (button) { button.disabled = false; button.textContent = "Compare"; }
      })
      .catch(function () { HTMLFormElement.prototype.submit.call(form); });
  });
}

document.addEventListener("DOMContentLoaded", function () {
  document.querySelectorAll("form[data-stream]").forEach(streamForm);
  document.querySelectorAll("form[data-busy]").forEach(function (form) {
    form.addEventListener("submit", function () {
      var button = form.querySelector("button[type=submit]");
      if (button) { button.disabled = true; button.textContent = form.dataset.busy; }
    });
  });
  document.querySelectorAll("[data-copy]").forEach(function (node) {
    var button = document.createElement("button");
    button.type = "button";
    button.textContent = "Copy";
    button.addEventListener("click", function () {
      navigator.clipboard.writeText(node.textContent).then(function () {
        button.textContent = "Copied";
      });
    });
    node.insertAdjacentElement("afterend", button);
  });
});
