/* The desk's keyboard shortcuts (listed in the «?» overlay, web/shortcuts.html).
 *
 *   /        focus the page's search field
 *   j / k    move the selection down / up the queue ([data-keyboard-list])
 *   Enter    open the selected ticket
 *   ?        show the list of shortcuts; Esc closes it
 *   ↓ / ↑    from a search field with suggestions ([data-suggestions]) into the list and
 *            along it; Esc goes back to the field
 *
 * Letters are read by physical key too (event.code), so they work on a Russian layout.
 * No shortcut fires while the operator types in a field or holds Ctrl, Alt or Meta.
 * A static file with no inline handlers: the pages run under a strict CSP.
 */
(function () {
  "use strict";

  var SELECTED = "is-selected";

  function typing(target) {
    if (!target || !target.closest) return false;
    return Boolean(target.closest("input, textarea, select, [contenteditable=''], [contenteditable=true]"));
  }

  function searchField() {
    return document.querySelector("main input[type=search], main [data-search]");
  }

  function rows() {
    var list = document.querySelector("[data-keyboard-list]");
    if (!list) return [];
    return Array.prototype.filter.call(list.querySelectorAll("tbody tr"), function (row) {
      return row.querySelector("a[href]");
    });
  }

  function selectedIndex(all) {
    for (var i = 0; i < all.length; i++) {
      if (all[i].classList.contains(SELECTED)) return i;
    }
    return -1;
  }

  function select(all, index) {
    all.forEach(function (row) {
      row.classList.remove(SELECTED);
      row.removeAttribute("aria-current");
    });
    var row = all[index];
    row.classList.add(SELECTED);
    row.setAttribute("aria-current", "true");
    // Focusing the row's link shows where the selection is to a screen reader too, and
    // lets Enter open it like any link.
    row.querySelector("a[href]").focus();
  }

  function move(step) {
    var all = rows();
    if (!all.length) return false;
    var current = selectedIndex(all);
    var next = current === -1 ? (step > 0 ? 0 : all.length - 1)
      : Math.min(all.length - 1, Math.max(0, current + step));
    select(all, next);
    return true;
  }

  function openSelected() {
    var all = rows();
    var current = selectedIndex(all);
    if (current === -1) return false;
    window.location.assign(all[current].querySelector("a[href]").href);
    return true;
  }

  function showShortcuts() {
    var dialog = document.getElementById("shortcuts");
    if (!dialog || dialog.open) return false;
    dialog.showModal();
    return true;
  }

  function letter(event, key, code) {
    return event.key === key || (event.code === code && !event.shiftKey);
  }

  // Suggestions under a search field (the new-ticket form's caller search): the arrows walk
  // from the field into the list of buttons and along it, Esc returns to the field.
  function suggestionKeys(event) {
    var target = event.target;
    if (!target || !target.closest) return false;
    var field = target.closest("[data-suggestions]");
    var box = field ? document.getElementById(field.getAttribute("data-suggestions"))
      : target.closest(".suggestion-box");
    if (!box) return false;
    var items = Array.prototype.slice.call(box.querySelectorAll("button"));
    if (!items.length) return false;
    if (!field) field = document.querySelector("[data-suggestions='" + box.id + "']");
    var index = items.indexOf(target);
    if (event.key === "ArrowDown") {
      items[Math.min(items.length - 1, index + 1)].focus();
      return true;
    }
    if (event.key === "ArrowUp" && index !== -1) {
      (index === 0 && field ? field : items[index - 1]).focus();
      return true;
    }
    if (event.key === "Escape" && index !== -1 && field) {
      field.focus();
      return true;
    }
    return false;
  }

  document.addEventListener("keydown", function (event) {
    if (!event.defaultPrevented && !event.ctrlKey && !event.metaKey && !event.altKey &&
        suggestionKeys(event)) {
      event.preventDefault();
      return;
    }
    if (event.defaultPrevented || event.ctrlKey || event.metaKey || event.altKey) return;
    var target = event.target;
    if (event.key === "Escape" && target && target.matches && target.matches("main input[type=search]")) {
      target.blur();
      return;
    }
    if (typing(target)) return;
    var dialog = document.getElementById("shortcuts");
    if (dialog && dialog.open) return;
    var handled = false;
    if (event.key === "?" || (event.code === "Slash" && event.shiftKey)) {
      handled = showShortcuts();
    } else if (event.key === "/" || (event.code === "Slash" && !event.shiftKey)) {
      var field = searchField();
      if (field) {
        field.focus();
        if (field.select) field.select();
        handled = true;
      }
    } else if (letter(event, "j", "KeyJ")) {
      handled = move(1);
    } else if (letter(event, "k", "KeyK")) {
      handled = move(-1);
    } else if (event.key === "Enter" && !(target && target.closest && target.closest("a, button"))) {
      handled = openSelected();
    }
    if (handled) event.preventDefault();
  });

  document.addEventListener("click", function (event) {
    var opener = event.target.closest && event.target.closest("[data-shortcuts-open]");
    if (opener && showShortcuts()) event.preventDefault();
  });
})();
