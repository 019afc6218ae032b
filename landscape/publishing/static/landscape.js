/* The book's own script (served from this package's static folder).
 *
 * 1. ipywidgets' HTML manager typesets every widget label with MathJax 2's API
 *    (MathJax.Hub.Queue); the book serves MathJax 3, which has no Hub, so each
 *    label threw "Cannot read properties of undefined (reading 'Queue')". Every
 *    object assigned to window.MathJax (the config, then MathJax itself) gets a
 *    Hub whose Queue typesets the element with MathJax 3.
 * 2. Widget figures get alt text (the heading of their section), as cell figures do.
 * 3. Kernel-only controls (landscape.publishing.page.kernel_only) are disabled on
 *    the static page: their inputs get the disabled attribute once the widget
 *    manager has drawn them, so the keyboard cannot move them either.
 */
(function () {
  "use strict";
  function addHub(mj) {
    if (mj && typeof mj === "object" && !mj.Hub) {
      mj.Hub = {
        Queue: function () {
          var el = null;
          for (var i = 0; i < arguments.length; i++) {
            var a = arguments[i];
            if (Array.isArray(a) && a[0] === "Typeset") { el = a[2] || null; }
          }
          var m = window.MathJax;
          if (m && m.startup && m.startup.promise && m.typesetPromise) {
            m.startup.promise.then(function () { return m.typesetPromise(el ? [el] : undefined); })
              .catch(function () {});
          }
        }
      };
    }
    return mj;
  }
  var current = addHub(window.MathJax);
  try {
    Object.defineProperty(window, "MathJax", {
      configurable: true, enumerable: true,
      get: function () { return current; },
      set: function (v) { current = addHub(v); }
    });
  } catch (e) { /* a browser that refuses: the labels stay untypeset */ }

  function disableKernelOnly(root) {
    var boxes = (root || document).querySelectorAll(".landscape-kernel-only");
    boxes.forEach(function (box) {
      box.setAttribute("aria-disabled", "true");
      box.setAttribute("title", "needs a running kernel: open in JupyterLab");
      box.querySelectorAll("input, select, button, textarea").forEach(function (el) { el.disabled = true; });
      box.querySelectorAll(".noUi-handle, [tabindex]").forEach(function (el) { el.setAttribute("tabindex", "-1"); });
    });
  }
  // widget figures are drawn without alt text: give each the heading of its section
  function altText(root) {
    (root || document).querySelectorAll(".jupyter-widgets img:not([alt]), .jupyter-widgets img[alt='']").forEach(function (img) {
      var sec = img.closest("section"), h = sec && sec.querySelector("h1, h2, h3, h4");
      img.alt = "Figure: " + (h ? h.textContent.replace(/#$/, "").trim() : document.title);
    });
  }
  function watch() {
    disableKernelOnly(document);
    altText(document);
    if (!window.MutationObserver) { return; }
    new MutationObserver(function () { disableKernelOnly(document); altText(document); })
      .observe(document.body, {childList: true, subtree: true});
  }
  if (document.readyState === "loading") { document.addEventListener("DOMContentLoaded", watch); } else { watch(); }
})();
