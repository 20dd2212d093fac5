// llmreg console: a small layer over pages that work without it.
// - a form with data-busy says so and cannot be sent twice while it runs;
// - an element with data-copy gets a "Copy" button (the new key's secret).
"use strict";
document.addEventListener("DOMContentLoaded", function () {
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
