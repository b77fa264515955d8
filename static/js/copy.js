/* Copy buttons: <button data-copy="#id"> copies the text of the element it names (a new API key,
 * a ready curl line), and says so. A file, not inline script: the Content-Security-Policy. */
(function () {
  "use strict";

  function fallbackCopy(text) {
    var area = document.createElement("textarea");
    area.value = text;
    area.setAttribute("readonly", "");
    area.style.position = "fixed";
    area.style.opacity = "0";
    document.body.appendChild(area);
    area.select();
    var copied = false;
    try {
      copied = document.execCommand("copy");
    } finally {
      document.body.removeChild(area);
    }
    return copied ? Promise.resolve() : Promise.reject(new Error("copy refused"));
  }

  function copy(text) {
    if (navigator.clipboard && window.isSecureContext) {
      return navigator.clipboard.writeText(text).catch(function () {
        return fallbackCopy(text);
      });
    }
    return fallbackCopy(text);
  }

  document.addEventListener("click", function (event) {
    var button = event.target instanceof Element ? event.target.closest("button[data-copy]") : null;
    var source = button ? document.querySelector(button.dataset.copy) : null;
    if (!button || !source) {
      return;
    }
    var label = button.dataset.label || button.textContent;
    button.dataset.label = label;
    copy(source.textContent.trim()).then(
      function () {
        button.textContent = "Copied";
      },
      function () {
        button.textContent = "Select and copy it";
      }
    );
    window.setTimeout(function () {
      button.textContent = label;
    }, 2000);
  });
})();
