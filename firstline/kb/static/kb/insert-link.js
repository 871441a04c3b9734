// The ticket page's knowledge-base panel: "Insert a link" puts the article's title and
// address into the reply at the cursor. It goes in through execCommand("insertText")
// where the browser has it (Ctrl+Z undoes it), and the "input" event makes HTMX check the
// reply by the reply rules and save the draft, as for typed text.
// The panel is swapped in by HTMX, so the listener is delegated from the document, once.
(function () {
  "use strict";
  if (window.firstlineKbInsert) return;
  window.firstlineKbInsert = true;

  function insert(box, text) {
    box.focus();
    const start = box.selectionStart, end = box.selectionEnd;
    const before = box.value.slice(0, start);
    const piece = (before && !/\s$/.test(before) ? " " : "") + text;
    let done = false;
    try { done = document.execCommand("insertText", false, piece); } catch (e) { done = false; }
    if (!done) {
      box.value = before + piece + box.value.slice(end);
      box.selectionStart = box.selectionEnd = start + piece.length;
      box.dispatchEvent(new Event("input", { bubbles: true }));
    }
  }

  document.addEventListener("click", function (event) {
    const button = event.target.closest && event.target.closest("[data-kb-insert]");
    if (!button) return;
    const box = document.querySelector("#reply-form textarea[name=text]");
    if (!box) return;
    event.preventDefault();
    insert(box, button.dataset.kbInsert);
  });
})();
