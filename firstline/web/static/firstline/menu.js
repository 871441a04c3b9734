/* The desk header's menus: the «Меню» button that folds the header on a narrow screen
 * (app.css shows the panel while the button's aria-expanded is "true") and the «Настройки»
 * group (<details class="nav-group">), which opens by itself.
 *
 *   the button, Enter or Space   open or close the panel
 *   Esc                          close the open panel or group, focus back on its button
 *   a click outside              closes them
 *
 * A static file with no inline handlers: the pages run under a strict CSP.
 */
(function () {
  "use strict";

  function toggleButton() {
    return document.querySelector("[data-menu-toggle]");
  }

  function setOpen(button, open) {
    button.setAttribute("aria-expanded", open ? "true" : "false");
  }

  function isOpen(button) {
    return Boolean(button) && button.getAttribute("aria-expanded") === "true";
  }

  function panelOf(button) {
    return document.getElementById(button.getAttribute("aria-controls"));
  }

  function openGroups() {
    return Array.prototype.slice.call(document.querySelectorAll("details.nav-group[open]"));
  }

  document.addEventListener("click", function (event) {
    var target = event.target;
    var button = toggleButton();
    if (button && target.closest && target.closest("[data-menu-toggle]") === button) {
      setOpen(button, !isOpen(button));
      return;
    }
    if (isOpen(button) && !panelOf(button).contains(target)) setOpen(button, false);
    openGroups().forEach(function (group) {
      if (!group.contains(target)) group.open = false;
    });
  });

  document.addEventListener("keydown", function (event) {
    if (event.key !== "Escape" || event.defaultPrevented) return;
    var active = document.activeElement;
    // Esc in a dialog (the shortcuts) closes that dialog only.
    if (active && active.closest && active.closest("dialog[open]")) return;
    // The innermost first: an open group inside the panel closes before the panel.
    var group = active && active.closest ? active.closest("details.nav-group[open]") : null;
    if (group) {
      group.open = false;
      group.querySelector("summary").focus();
      event.preventDefault();
      return;
    }
    var button = toggleButton();
    if (isOpen(button)) {
      setOpen(button, false);
      button.focus();
      event.preventDefault();
    }
  });
})();
