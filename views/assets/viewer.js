// express-elmah viewer: the one script. It adds comforts to pages that work without it: "/" and Enter for the
// search, "copy stack" on the detail page, a tick-all box in the groups view, and "new errors" on the first page
// of the list (asking /poll for the newest id). Same-origin, no inline code.
/* global document, window, fetch, setInterval, navigator */
(function () {
  'use strict';
  // "/" focuses the search box, as on many tools; Escape leaves it; Enter runs the search (Shift+Enter breaks the line).
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
    } else if (e.key === 'Enter' && document.activeElement === q && !e.shiftKey && !e.isComposing) {
      e.preventDefault();
      if (q.form && typeof q.form.requestSubmit === 'function') q.form.requestSubmit();
      else if (q.form) q.form.submit();
    }
  });

  // "Copy stack": the button is hidden until this script can make it work.
  var copyButton = document.getElementById('copy-stack');
  var raw = document.getElementById('stack-raw');
  if (copyButton && raw) {
    copyButton.hidden = false;
    copyButton.addEventListener('click', function () {
      var text = raw.textContent || '';
      var done = function (ok) {
        copyButton.textContent = ok ? 'Copied' : 'Copy failed: select the stack by hand';
        window.setTimeout(function () { copyButton.textContent = 'Copy stack'; }, 2000);
      };
      if (navigator.clipboard && window.isSecureContext) {
        navigator.clipboard.writeText(text).then(function () { done(true); }, function () { done(false); });
        return;
      }
      // Plain http on another host: the older way, through a selection.
      var area = document.createElement('textarea');
      area.value = text;
      area.setAttribute('readonly', '');
      area.className = 'offscreen';
      document.body.appendChild(area);
      area.select();
      var ok;
      try { ok = document.execCommand('copy'); } catch (err) { ok = false; }
      document.body.removeChild(area);
      done(ok);
    });
  }

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
  var shownTotal = Number(body.getAttribute('data-total'));
  if (!url || !(seconds > 0) || typeof fetch !== 'function') return;
  var banner = document.getElementById('new-errors');
  var bannerText = document.getElementById('new-errors-text');
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
        // Reload quietly when the reader is idle at the top; otherwise offer the new errors, saying how many.
        if (!userIsBusy()) { window.location.reload(); return; }
        if (!banner) return;
        var n = typeof data.total === 'number' && shownTotal >= 0 ? data.total - shownTotal : 0;
        if (bannerText) bannerText.textContent = n > 0 ? (n === 1 ? '1 new error arrived.' : n + ' new errors arrived.') : 'New errors arrived.';
        banner.hidden = false;
      })
      .catch(function () { /* offline or signed out: try again later */ })
      .then(function () { busy = false; });
  }

  setInterval(check, seconds * 1000);
  document.addEventListener('visibilitychange', function () { if (!document.hidden) check(); });

})();
