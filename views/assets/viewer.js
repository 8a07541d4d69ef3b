// express-elmah viewer: the one script. It adds "new errors" to the first page of the list, by asking /poll
// for the newest id, and a tick-all box to the groups view; everything else works without it. Same-origin,
// no inline code.
/* global document, window, fetch, setInterval */
(function () {
  'use strict';
  // "/" focuses the search box, as on many tools; Escape leaves it.
  document.addEventListener('keydown', function (e) {
    var q = document.getElementById('q');
    if (!q) return;
    var tag = document.activeElement && document.activeElement.tagName;
    if (e.key === '/' && tag !== 'INPUT' && tag !== 'SELECT' && tag !== 'TEXTAREA' && !e.ctrlKey && !e.metaKey && !e.altKey) {
      e.preventDefault();
      q.focus();
      q.select();
    } else if (e.key === 'Escape' && document.activeElement === q) {
      q.blur();
    }
  });

  // The groups view's boxes: a box that ticks every row of the page, and a count of the ticked rows.
  // Without this script the boxes and buttons work the same; only the page-wide box is missing.
  (function () {
    var form = document.getElementById('bulk');
    var all = document.getElementById('select-all');
    if (!form || !all) return;
    var label = document.getElementById('bulk-label');
    var boxes = form.querySelectorAll('input[type=checkbox][name=group]');
    function update() {
      var n = 0;
      for (var i = 0; i < boxes.length; i++) if (boxes[i].checked) n++;
      all.checked = n > 0 && n === boxes.length;
      all.indeterminate = n > 0 && n < boxes.length;
      if (label) label.textContent = n === 0 ? 'Tick groups, then:' : n === 1 ? '1 group ticked:' : n + ' groups ticked:';
    }
    all.hidden = false;
    all.addEventListener('change', function () {
      for (var i = 0; i < boxes.length; i++) boxes[i].checked = all.checked;
      update();
    });
    form.addEventListener('change', function (e) { if (e.target !== all) update(); });
    update();
  })();

  var body = document.body;
  var url = body.getAttribute('data-poll-url');
  var seconds = Number(body.getAttribute('data-refresh'));
  var shown = body.getAttribute('data-newest') || '';
  if (!url || !(seconds > 0) || typeof fetch !== 'function') return;
  var banner = document.getElementById('new-errors');
  var busy = false;

  function userIsBusy() {
    var el = document.activeElement;
    return (el && el !== body && /^(INPUT|SELECT|TEXTAREA|BUTTON)$/.test(el.tagName)) || window.scrollY > 80 ||
      (window.getSelection && String(window.getSelection()).length > 0);
  }

  function check() {
    if (busy || document.hidden) return;
    busy = true;
    fetch(url, { credentials: 'same-origin', headers: { accept: 'application/json' }, cache: 'no-store' })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (data) {
        if (!data || !data.newest || data.newest === shown) return;
        // Reload quietly when the reader is idle at the top; otherwise offer the new errors.
        if (!userIsBusy()) window.location.reload();
        else if (banner) banner.hidden = false;
      })
      .catch(function () { /* offline or signed out: try again later */ })
      .then(function () { busy = false; });
  }

  setInterval(check, seconds * 1000);
  document.addEventListener('visibilitychange', function () { if (!document.hidden) check(); });

})();
